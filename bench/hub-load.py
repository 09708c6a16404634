#!/usr/bin/env python3
"""Load on a running State Hub: CLIENTS threads, each with its own keep-alive
HTTP/1.1 connection, doing WRITES record PUTs (with the version it last got, as
sandboxer does) interleaved with as many note POSTs. Python 3 standard library
only. Bounded in count (CLIENTS x WRITES x 2 requests) and in time (--max-seconds:
clients stop starting requests after it). Prints requests/s and p50/p99/max
latency per kind and overall; exits 1 if any request got an unexpected status.

    hub-load.py --url http://127.0.0.1:PORT [--url ...] --token TOKEN [--clients 50]
                [--writes 40] [--records 5] [--layout per-client|shared]

With several --url (hubs on one PostgreSQL store), client i talks to hub
i mod N.

--layout per-client: client i writes project bench-i (small project files);
--layout shared: every client writes project bench (one file, CLIENTS x RECORDS
records, rewritten whole on every write).
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def record(address, rid, n):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "address": address,
        "id": rid,
        "profile": "profile.local-workspace",
        "driver": "local-workspace",
        "attributes": {
            "host": "localhost",
            "inputs.repo": "/home/dev/projects/my-haskell-app",
            "inputs.workspace_root": "/home/dev/.local/state/sandboxer/workspaces",
            "profile": "profile.local-workspace",
        },
        "spec_hash": "sha256:" + ("%064x" % n),
        "digests": {"repo": "sha256:" + ("%064x" % (n * 7919))},
        "facts": {
            "location": "local",
            "root": "/home/dev/.local/state/sandboxer/workspaces",
            "workspace": "/home/dev/.local/state/sandboxer/workspaces/sbx-" + rid,
        },
        "depends_on": [],
        "created_at": now,
        "updated_at": now,
    }


def client(index, args, host, port, results, errors, stop_at):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + args.token}
    project = "bench" if args.layout == "shared" else "bench-%d" % index
    versions = {}
    for n in range(args.writes):
        if time.monotonic() > stop_at:
            break
        r = n % args.records
        address = "sandbox.c%02d-r%d" % (index, r)
        rid = "c%02dr%d" % (index, r)
        body = json.dumps({"record": record(address, rid, n), "version": versions.get(address, 0)})
        path = "/v1/projects/%s/resources/%s" % (project, address)
        t0 = time.perf_counter()
        conn.request("PUT", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        results.append(("put", time.perf_counter() - t0))
        if resp.status != 200:
            errors.append("PUT %s: %d %s" % (path, resp.status, data[:200]))
            continue
        versions[address] = json.loads(data)["version"]

        note = json.dumps({
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "address": address,
            "level": "info",
            "text": "client %d step %d: synced 120 copied, 0 deleted, 3400 unchanged" % (index, n),
        })
        path = "/v1/sandboxes/%s/notes" % rid
        t0 = time.perf_counter()
        conn.request("POST", path, body=note, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        results.append(("note", time.perf_counter() - t0))
        if resp.status != 201:
            errors.append("POST %s: %d %s" % (path, resp.status, data[:200]))
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, action="append", help="a hub; give it once per hub")
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--writes", type=int, default=40, help="record PUTs per client (and as many note POSTs)")
    parser.add_argument("--records", type=int, default=5, help="distinct records per client")
    parser.add_argument("--layout", choices=["per-client", "shared"], default="per-client")
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()

    urls = [urllib.parse.urlparse(u) for u in args.url]
    results, errors = [], []
    start_gate = threading.Barrier(args.clients + 1)
    stop_at = [0.0]

    def run(i):
        start_gate.wait()
        url = urls[i % len(urls)]
        client(i, args, url.hostname, url.port, results, errors, stop_at[0])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + args.max_seconds
    t0 = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0

    print("layout %s: %d clients x %d writes (%d records each) + as many notes, %d hub(s)"
          % (args.layout, args.clients, args.writes, args.records, len(urls)))
    for kind in ("put", "note", "all"):
        lat = sorted(d for k, d in results if kind == "all" or k == kind)
        if not lat:
            continue
        print("  %-4s %6d requests  %8.0f req/s  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms"
              % (kind, len(lat), len(lat) / wall, percentile(lat, 50) * 1000,
                 percentile(lat, 99) * 1000, lat[-1] * 1000))
    print("  wall %.2f s%s" % (wall, " (stopped at --max-seconds)" if time.monotonic() > stop_at[0] else ""))
    if errors:
        print("  %d unexpected answers, e.g. %s" % (len(errors), errors[:3]))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
