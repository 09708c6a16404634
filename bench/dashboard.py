#!/usr/bin/env python3
"""Fills a running State Hub with VMS VMs' worth of records (SANDBOXES in all,
spread over the VMs and over 20 projects, each with a few notes), then times
the dashboard's pages: RUNS GETs of each, printing the median and p95 of the
whole request as this client sees it. Python 3 standard library only.

    dashboard.py --url http://127.0.0.1:PORT --token TOKEN [--vms 200]
                 [--sandboxes 5000] [--runs 20]
"""

import argparse
import http.client
import json
import time
import urllib.parse


def record(address, rid, vm, n):
    return {
        "address": address,
        "id": rid,
        "profile": "profile.vm-haskell-build",
        "driver": "ssh-workspace",
        "attributes": {"profile": "profile.vm-haskell-build", "inputs.vm": vm,
                       "inputs.repo": "/home/dev/projects/app-%d" % n},
        "spec_hash": "sha256:" + ("%064x" % n),
        "digests": {"repo": "sha256:" + ("%064x" % (n * 7919))},
        "facts": {"vm": vm, "workspace": "/build/sbx-" + rid, "root": "/build"},
        "depends_on": [],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-05T%02d:%02d:%02dZ" % (n % 24, n % 60, n % 60),
        "provenance": {"applied_by": "dev%d@build-host" % (n % 7), "sandboxer_version": "0.1.0",
                       "git": {"commit": "%040x" % n, "branch": "main", "dirty": False}},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--sandboxes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + args.token}

    def call(method, path, body=None):
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data

    t0 = time.perf_counter()
    for n in range(args.sandboxes):
        vm = "vm%03d" % (n % args.vms)
        project = "project-%02d" % (n % 20)
        address = "sandbox.s%05d" % n
        rid = "s%07d" % n
        status, data = call("PUT", "/v1/projects/%s/resources/%s" % (project, address),
                            json.dumps({"record": record(address, rid, vm, n), "version": 0}))
        if status != 200:
            raise SystemExit("PUT %s: %d %s" % (address, status, data[:200]))
        if n % 5 == 0:
            note = {"at": "2026-12-05T12:00:00Z", "address": address, "level": "info",
                    "text": "synced 120 copied, 0 deleted, 3400 unchanged"}
            for _ in range(3):
                call("POST", "/v1/sandboxes/%s/notes" % rid, json.dumps(note))
    print("filled: %d sandboxes on %d VMs in 20 projects in %.1f s"
          % (args.sandboxes, args.vms, time.perf_counter() - t0))

    pages = ["/", "/?page=4", "/vms/vm007", "/projects", "/projects/project-03",
             "/projects/project-03/resources/sandbox.s00003"]
    for path in pages:
        times = []
        size = 0
        for _ in range(args.runs):
            t = time.perf_counter()
            status, data = call("GET", path)
            times.append(time.perf_counter() - t)
            if status != 200:
                raise SystemExit("GET %s: %d" % (path, status))
            size = len(data)
        times.sort()
        print("  %-48s median %7.1f ms  p95 %7.1f ms  %7d bytes"
              % (path, times[len(times) // 2] * 1000, times[int(len(times) * 0.95) - 1] * 1000, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
