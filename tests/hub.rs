//! The State Hub as a real process (`sandboxer hub serve`) with real `sandboxer`
//! clients: the project lease between two applies, a hub killed half-way, the
//! token, a lease left by a killed client, optimistic concurrency over raw HTTP,
//! `state push|pull`, progress notes, restarts and SIGTERM; the token checked
//! before the body, notes cut, dropped past `--notes-keep`/`--notes-max-age`
//! and listed in pages; the VM capability catalog (`/v1/vms`).
//!
//! Every test starts its own hub on a free loopback port with its data folder
//! in the test's temporary folder W (`W/hub-data`), and works on manifests in W
//! whose `hub:` names that hub and the token variable `SBX_TEAM_TOKEN`. Records
//! are checked with HTTP requests straight to the hub ([`support::hub::request`]),
//! workspaces on disk by their marker. Races (a running apply, a hub going away)
//! are polled with a deadline, never waited for with a fixed sleep.
//!
//! Tests that need a lease to run out set `SANDBOXER_HUB_LEASE_TTL` (read by the
//! CLI, docs/state-hub.md) to a few seconds instead of waiting 30 s.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::gated::{Gate, gated};
use support::hub::{HubProcess, Store, now_unix_seconds, request, unix_seconds};
use support::manifests::{local, manifest, manifest_with, of_profile, with_repo};
use support::packer::{PackerDirs, TWO_STEPS, image_manifest_with};
use support::records;
use support::workspaces;
use support::{Cli, Sandboxer, Workdir, sandboxer, wait_until};

/// How long a condition may take to hold before a test gives up.
const DEADLINE: Duration = Duration::from_secs(60);
/// The variable the manifests name in `hub.token_env`.
const TOKEN_ENV: &str = "SBX_TEAM_TOKEN";

// ---------------------------------------------------------------------------
// Helpers

/// A test's folder, its hub and the token both sides use.
struct World {
    work: Workdir,
    hub: HubProcess,
    token: Option<String>,
}

impl World {
    /// A hub on the file store with `token` (None: an open hub).
    fn new(token: Option<&str>) -> World {
        World::on(&Store::Files, token)
    }

    /// A hub keeping its data in `store`, with `token`.
    fn on(store: &Store, token: Option<&str>) -> World {
        let work = Workdir::new();
        let hub = HubProcess::start_in(store, &work.path().join("hub-data"), token, &[]);
        World {
            work,
            hub,
            token: token.map(str::to_string),
        }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    /// The `hub:` line of a manifest for this hub.
    fn hub_line(&self) -> String {
        format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", self.hub.url())
    }

    /// Writes `file`: project `project` on this hub with these sandbox entries.
    fn manifest(&self, file: &str, project: &str, entries: &[String]) {
        self.work.write(file, manifest_with(project, &self.hub_line(), entries));
    }

    /// A request to the hub with the token.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> support::hub::Reply {
        self.hub.call(method, path, body)
    }

    /// The hub's records of `project`: address → (id, version, record).
    fn records(&self, project: &str) -> BTreeMap<String, (String, u64, Value)> {
        let reply = self.call("GET", &format!("/v1/projects/{project}/resources"), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["resources"]
            .as_array()
            .expect("resources is an array")
            .iter()
            .map(|e| {
                let record = e["record"].clone();
                (
                    record["address"].as_str().unwrap_or_default().to_string(),
                    (
                        record["id"].as_str().unwrap_or_default().to_string(),
                        e["version"].as_u64().expect("a version"),
                        record,
                    ),
                )
            })
            .collect()
    }

    /// The project's serial on the hub.
    fn serial(&self, project: &str) -> u64 {
        let reply = self.call("GET", &format!("/v1/projects/{project}/resources"), None);
        reply.json()["serial"].as_u64().expect("a serial")
    }
}

impl Cli for World {
    /// `sandboxer` in W with the team token in `SBX_TEAM_TOKEN`.
    fn cmd(&self) -> Sandboxer {
        let cmd = sandboxer().current_dir(self.dir());
        match &self.token {
            Some(token) => cmd.env(TOKEN_ENV, token),
            None => cmd,
        }
    }
}

/// Marker ids by address of every `sbx-*` folder under `root`; each must have a
/// complete marker.
fn markers(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ws in workspaces::all(root) {
        assert!(ws.complete, "{}: {ws:?}", ws.path.display());
        found.entry(ws.address).or_default().push(ws.id);
    }
    found
}

/// The default workspace root of the manifests in W.
fn root(w: &World) -> PathBuf {
    workspaces::default_root(w.dir())
}

/// Asserts that the hub's records of `project` and the workspaces on disk agree:
/// one complete workspace per record, with the record's id.
fn assert_consistent(w: &World, project: &str, expected: usize) {
    let records = w.records(project);
    let on_disk = markers(&root(w));
    assert_eq!(records.len(), expected, "{records:#?}");
    assert_eq!(on_disk.len(), expected, "one workspace per address: {on_disk:#?}");
    for (address, (id, _, record)) in &records {
        assert_eq!(on_disk.get(address), Some(&vec![id.clone()]), "{address}: {on_disk:#?}");
        let workspace = record["facts"]["workspace"].as_str().expect("a workspace fact");
        assert!(workspace.ends_with(&format!("sbx-{id}")), "{address}: {workspace}");
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("list {}: {e}", d.display())) {
            let path = entry.expect("read a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = fs::read(&path) {
                seen += 1;
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path);
                }
            }
        }
    }
    assert!(seen > 0, "no file at all under {}", dir.display());
    found
}

/// The `lease until` time (seconds since the epoch) in a 423 answer's message.
fn lease_until(reply: &support::hub::Reply) -> i64 {
    let error = reply.json()["error"].as_str().unwrap_or_default().to_string();
    let at = error
        .split("lease until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no `lease until` in {error}"));
    unix_seconds(at).unwrap_or_else(|| panic!("not a time: {at}"))
}

/// A lock request body from a made-up holder.
fn lock_request(pid: u32, ttl_seconds: u64) -> String {
    json!({
        "holder": {"id": "", "pid": pid, "host": "test-host", "user": "tester", "command": "raw test", "since": "2026-01-01T00:00:00Z"},
        "ttl_seconds": ttl_seconds
    })
    .to_string()
}

/// A record body of `address` with `id`.
fn record(address: &str, id: &str, updated_at: &str) -> Value {
    json!({
        "address": address,
        "id": id,
        "profile": "profile.local-workspace",
        "driver": "local-workspace",
        "attributes": {"profile": "profile.local-workspace"},
        "spec_hash": "sha256:00",
        "digests": {},
        "facts": {"vm": "raw-vm"},
        "depends_on": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": updated_at,
    })
}

fn put_body(record: &Value, version: u64) -> String {
    json!({"record": record, "version": version}).to_string()
}

// ---------------------------------------------------------------------------
// 1. The project lease between two applies

fn a_second_apply_fails_naming_the_lease_holder_or_waits_and_versions_count_the_writes(store: Store) {
    let w = World::on(&store, Some("team-token-1"));
    let gate = Gate::install(&w.work);
    w.manifest("sandboxes.yaml", "locked", &[gated("a"), gated("b")]);
    // What the waiting apply wants: a gets a repo (an update), c is new.
    w.work.write("repo/README.md", "hello\n");
    w.manifest(
        "second.yaml",
        "locked",
        &[
            format!("{}    inputs:\n      repo: ./repo\n", gated("a")),
            gated("b"),
            local("c", ""),
        ],
    );

    let first = w.cmd().args(["apply", "--auto-approve"]).spawn();
    wait_until("the first apply runs a setup", DEADLINE, || gate.started() > 0);

    let second = w.run(&["apply", "--auto-approve"]);
    assert_eq!(second.code, 1, "{second}");
    assert!(second.stderr.contains("locked"), "{second}");
    assert!(
        second.stderr.contains(&format!("(pid {})", first.pid())),
        "names the holder's pid\n{second}"
    );
    assert!(second.stderr.contains("lock id"), "{second}");
    assert!(second.stderr.contains("--lock-timeout"), "hints at waiting\n{second}");
    assert!(!second.stderr.contains("creating"), "nothing was changed\n{second}");

    // The lease as the hub tells it: held by the first apply, about 30 s ahead.
    let taken = w.call("POST", "/v1/projects/locked/lock", Some(&lock_request(1, 30)));
    assert_eq!(taken.status, 423, "{taken:?}");
    let holder = &taken.json()["holder"];
    assert_eq!(holder["pid"], first.pid(), "{taken:?}");
    assert_eq!(holder["command"], "apply", "{taken:?}");
    let ahead = lease_until(&taken) - now_unix_seconds();
    assert!(
        (18..=31).contains(&ahead),
        "the lease runs 30 s and is renewed every 10 s: {ahead} s ahead\n{taken:?}"
    );

    let waiting = w
        .cmd()
        .args([
            "apply",
            "-f",
            "second.yaml",
            "--auto-approve",
            "--lock-timeout",
            "30s",
            "-v",
        ])
        .spawn();
    wait_until("the waiting apply is refused the lease", DEADLINE, || {
        waiting.stderr_so_far().contains("waiting for the hub lock")
    });
    gate.release();

    let first = first.wait();
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stderr.contains("Apply complete: 2 created"), "{first}");
    let waiting = waiting.wait();
    assert_eq!(waiting.code, 0, "{waiting}");
    assert!(
        waiting
            .stderr
            .contains("Apply complete: 1 created, 1 updated, 0 replaced, 0 deleted"),
        "the waiting apply planned after it got the lease\n{waiting}"
    );

    // One write per create or update: a twice, b and c once; four writes in all.
    let records = w.records("locked");
    let versions: BTreeMap<&str, u64> = records.iter().map(|(a, (_, v, _))| (a.as_str(), *v)).collect();
    assert_eq!(
        versions,
        BTreeMap::from([("sandbox.a", 2), ("sandbox.b", 1), ("sandbox.c", 1)])
    );
    assert_eq!(w.serial("locked"), 4);
    assert_consistent(&w, "locked", 3);
    let a = &records["sandbox.a"].2;
    assert!(
        a["attributes"]["inputs.repo"]
            .as_str()
            .is_some_and(|r| r.ends_with("/repo")),
        "{a}"
    );

    // Both leases were released: the lock is free.
    let free = w.call("POST", "/v1/projects/locked/lock", Some(&lock_request(1, 30)));
    assert_eq!(free.status, 201, "{free:?}");
}

// ---------------------------------------------------------------------------
// 2. The hub killed half-way through an apply

fn the_hub_killed_mid_apply_fails_the_client_clearly_and_after_a_restart_apply_converges_keeping_every_record(
    store: Store,
) {
    let mut w = World::on(&store, Some("team-token-2"));
    w.work.write(
        "profiles/slow.yaml",
        "name: profile.slow\ndriver: local-workspace\ninputs:\n  workspace_root: { type: local_path, forces_replace: true }\nsync: { excludes: [], delete: true }\nsetup:\n  - 'sleep 0.25'\n",
    );
    let entries: Vec<String> = (0..16)
        .map(|i| of_profile(&format!("s{i:02}"), "profile.slow"))
        .collect();
    w.manifest("sandboxes.yaml", "killed", &entries);

    let mut apply = w
        .cmd()
        .env("SANDBOXER_HUB_LEASE_TTL", "3s")
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .spawn();
    wait_until("the hub holds a few records", DEADLINE, || {
        w.records("killed").len() >= 3
    });
    let before = w.records("killed");
    assert!(apply.is_running(), "the apply must still be running when the hub dies");
    let killed = w.hub.stop_with("KILL");
    assert_eq!(killed.code, -1, "killed by a signal\n{killed}");

    let failed = apply.wait();
    assert_eq!(failed.code, 1, "{failed}");
    let hub_name = format!("State Hub at {}", w.hub.url());
    assert!(failed.stderr.contains(&hub_name), "names the hub\n{failed}");
    assert!(failed.stderr.contains("unreachable"), "{failed}");
    assert!(
        failed
            .stderr
            .contains("hint: check that `sandboxer hub serve` runs there"),
        "{failed}"
    );
    assert!(!failed.stderr.contains("Apply complete"), "{failed}");

    // Nothing is corrupt: the hub starts on its data and still has every record
    // it acknowledged, with the same ids.
    w.hub.restart();
    w.manifest("sandboxes.yaml", "killed", &entries);
    let after = w.records("killed");
    assert!(after.len() < 16, "the kill came half-way ({} recorded)", after.len());
    for (address, (id, version, _)) in &before {
        let (id_after, version_after, _) = after
            .get(address)
            .unwrap_or_else(|| panic!("{address} was lost: {after:#?}"));
        assert_eq!((id_after, version_after), (id, version), "{address}");
    }

    let again = w.ok(&["apply", "--auto-approve", "--parallelism", "2", "--lock-timeout", "60s"]);
    assert!(again.stderr.contains("Apply complete"), "{again}");
    assert_consistent(&w, "killed", 16);
    let last = w.records("killed");
    for (address, (id, _, _)) in &before {
        assert_eq!(&last[address].0, id, "{address} kept its id");
    }
    let third = w.ok(&["apply", "--auto-approve"]);
    assert!(third.stdout.contains("No changes."), "{third}");
}

// ---------------------------------------------------------------------------
// 3. The token

fn writes_without_or_with_a_wrong_token_are_refused_and_the_token_never_reaches_output_or_files(store: Store) {
    let token = format!("tok-{}-Zq7xKp3vW9", std::process::id());
    let w = World::on(&store, Some(&token));
    w.work.write("repo/README.md", "hello\n");
    w.manifest("sandboxes.yaml", "secret", &[with_repo("a", "./repo")]);
    let addr = w.hub.addr();

    // Raw HTTP: health is open, everything else needs the bearer token.
    assert_eq!(request(addr, "GET", "/v1/health", None, &[], None).status, 200);
    let body = put_body(&record("sandbox.raw", "raw00001", "2026-01-01T00:00:00Z"), 0);
    let bare = request(
        addr,
        "PUT",
        "/v1/projects/secret/resources/sandbox.raw",
        None,
        &[],
        Some(&body),
    );
    assert_eq!(bare.status, 401, "{bare:?}");
    let wrong = request(
        addr,
        "PUT",
        "/v1/projects/secret/resources/sandbox.raw",
        Some("not-the-token"),
        &[],
        Some(&body),
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let read = request(addr, "GET", "/v1/projects/secret/resources", None, &[], None);
    assert_eq!(read.status, 401, "reads need the token too: {read:?}");
    assert!(w.records("secret").is_empty(), "no refused write landed");

    // The CLI: without the variable, or with a wrong token, exit 1 saying 401.
    let without = sandboxer().current_dir(w.dir()).args(["apply", "--auto-approve"]).run();
    assert_eq!(without.code, 1, "{without}");
    assert!(without.stderr.contains("401"), "{without}");
    assert!(
        without.stderr.contains(TOKEN_ENV) || without.stderr.contains("token"),
        "{without}"
    );
    assert!(
        without
            .stderr
            .contains(&format!("hint: set {TOKEN_ENV} to the hub's token")),
        "{without}"
    );
    let wrong_token = "wrong-Hq4mZ8";
    let wrong = sandboxer()
        .current_dir(w.dir())
        .env(TOKEN_ENV, wrong_token)
        .args(["apply", "--auto-approve"])
        .run();
    assert_eq!(wrong.code, 1, "{wrong}");
    assert!(wrong.stderr.contains("401 unauthorized"), "{wrong}");
    assert!(wrong.stderr.contains("token"), "{wrong}");
    assert!(
        wrong
            .stderr
            .contains(&format!("hint: {TOKEN_ENV} holds a token the hub does not accept")),
        "{wrong}"
    );
    assert!(
        !format!("{wrong}").contains(wrong_token),
        "a wrong token is not echoed\n{wrong}"
    );
    assert!(markers(&root(&w)).is_empty(), "nothing was created");

    // With the token, at the highest verbosity, it shows up nowhere.
    let runs = [
        w.ok(&["plan", "-vv"]),
        w.ok(&["apply", "--auto-approve", "-vv"]),
        w.ok(&["list", "-vv"]),
        w.ok(&["inspect", "sandbox.a", "-vv"]),
        w.ok(&["inspect", "sandbox.a", "--json", "-vv"]),
    ];
    for out in &runs {
        assert!(out.stderr.contains("DEBUG hub: "), "-vv logs the hub calls\n{out}");
        assert!(!out.stdout.contains(&token), "token on stdout\n{out}");
        assert!(!out.stderr.contains(&token), "token on stderr\n{out}");
    }
    assert!(runs[2].stdout.contains("sandbox.a"), "list reads the hub\n{}", runs[2]);
    assert_eq!(w.records("secret").len(), 1);
    assert!(!w.hub.stderr_so_far().contains(&token), "{}", w.hub.stderr_so_far());
    match w.hub.store_url() {
        None => assert_eq!(files_containing(w.hub.data(), &token), Vec::<PathBuf>::new()),
        Some(url) => {
            let database = url.rsplit('/').next().expect("a database name");
            let dump = support::postgres::shared().dump(database);
            assert!(dump.contains("sandbox.a"), "the dump holds the records: {dump}");
            assert!(!dump.contains(&token), "the token is in the database");
        }
    }
    assert_eq!(
        files_containing(&w.dir().join(".sandboxer"), &token),
        Vec::<PathBuf>::new()
    );
}

// ---------------------------------------------------------------------------
// 4. A lease left by a killed client

fn the_lease_of_a_killed_apply_expires_and_the_next_apply_proceeds(store: Store) {
    let w = World::on(&store, Some("team-token-4"));
    let gate = Gate::install(&w.work);
    w.manifest("sandboxes.yaml", "expiring", &[gated("a"), local("b", "")]);
    let ttl = 6;
    let apply = w
        .cmd()
        .env("SANDBOXER_HUB_LEASE_TTL", format!("{ttl}s"))
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .spawn();
    wait_until("the apply runs the setup of a", DEADLINE, || gate.started() > 0);

    // While the holder lives, it renews: its lease outlives its first expiry.
    let first = w.call("POST", "/v1/projects/expiring/lock", Some(&lock_request(1, 30)));
    assert_eq!(first.status, 423, "{first:?}");
    let first_until = lease_until(&first);
    wait_until("the first lease term is over", DEADLINE, || {
        let reply = w.call("POST", "/v1/projects/expiring/lock", Some(&lock_request(1, 30)));
        assert_eq!(reply.status, 423, "the renewed lease is still held: {reply:?}");
        now_unix_seconds() > first_until + 1
    });

    let pid = apply.pid();
    apply.signal("KILL");
    let killed = apply.wait();
    assert_eq!(killed.code, -1, "killed by a signal\n{killed}");
    let orphaned = w.call("POST", "/v1/projects/expiring/lock", Some(&lock_request(1, 30)));
    assert_eq!(
        orphaned.status, 423,
        "the dead holder's lease is still there: {orphaned:?}"
    );
    assert_eq!(orphaned.json()["holder"]["pid"], pid, "{orphaned:?}");
    assert!(
        orphaned.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("(pid {pid})"))),
        "{orphaned:?}"
    );

    gate.release();
    let next = w
        .cmd()
        .args(["apply", "--auto-approve", "--lock-timeout", "60s", "-v"])
        .run();
    assert_eq!(next.code, 0, "{next}");
    assert!(
        next.stderr.contains("waiting for the hub lock"),
        "it had to wait\n{next}"
    );
    assert!(next.stderr.contains("Apply complete"), "{next}");
    assert_consistent(&w, "expiring", 2);
    let again = w.ok(&["apply", "--auto-approve"]);
    assert!(again.stdout.contains("No changes."), "{again}");
}

// ---------------------------------------------------------------------------
// 5. The HTTP contract, raw

fn raw_http_versions_conflicts_lock_header_and_note_cursors_follow_the_contract(store: Store) {
    let w = World::on(&store, Some("team-token-5"));
    let path = "/v1/projects/raw/resources/sandbox.x";
    let x1 = record("sandbox.x", "rawx0001", "2026-01-01T00:00:00Z");

    let created = w.call("PUT", path, Some(&put_body(&x1, 0)));
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.json(), json!({"version": 1, "serial": 1}));
    let got = w.call("GET", path, None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), json!({"record": x1, "version": 1}));

    // A write against a stale version is refused and changes nothing.
    let x2 = record("sandbox.x", "rawx0002", "2026-02-02T00:00:00Z");
    let stale = w.call("PUT", path, Some(&put_body(&x2, 0)));
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(stale.json()["current_version"], 1, "{stale:?}");
    assert_eq!(w.call("GET", path, None).json(), json!({"record": x1, "version": 1}));
    assert_eq!(w.serial("raw"), 1);
    let updated = w.call("PUT", path, Some(&put_body(&x2, 1)));
    assert_eq!(updated.json(), json!({"version": 2, "serial": 2}), "{updated:?}");

    // Bad requests.
    let mismatch = w.call("PUT", "/v1/projects/raw/resources/sandbox.y", Some(&put_body(&x1, 0)));
    assert_eq!(
        mismatch.status, 400,
        "the body's address must be the path's: {mismatch:?}"
    );
    assert_eq!(
        w.call("GET", "/v1/projects/raw/resources/sandbox.nope", None).status,
        404
    );
    assert_eq!(
        w.call("GET", "/v1/projects/raw/resources/not-an-address", None).status,
        400
    );
    assert_eq!(w.call("GET", "/v1/projects/Bad%20Name/resources", None).status, 400);

    // The lease: one holder; writes of others get 423 until it is released.
    let lock = w.call("POST", "/v1/projects/raw/lock", Some(&lock_request(4242, 60)));
    assert_eq!(lock.status, 201, "{lock:?}");
    let granted = lock.json();
    let lock_id = granted["lock_id"].as_str().expect("a lock id").to_string();
    assert_eq!(granted["holder"]["id"], lock_id.as_str(), "the hub assigns the id");
    assert_eq!(granted["holder"]["pid"], 4242);
    let until = unix_seconds(granted["expires_at"].as_str().expect("expires_at")).expect("RFC 3339");
    assert!((58..=61).contains(&(until - now_unix_seconds())), "{granted}");
    let other = w.call("POST", "/v1/projects/raw/lock", Some(&lock_request(7, 60)));
    assert_eq!(other.status, 423, "{other:?}");
    assert_eq!(other.json()["holder"]["pid"], 4242);
    assert!(other.json()["error"].as_str().unwrap_or_default().contains(&lock_id));
    let x3 = record("sandbox.x", "rawx0003", "2026-03-03T00:00:00Z");
    let blocked = w.call("PUT", path, Some(&put_body(&x3, 2)));
    assert_eq!(blocked.status, 423, "a write without the lock id: {blocked:?}");
    let blocked_delete = w.call("DELETE", &format!("{path}?version=2"), None);
    assert_eq!(blocked_delete.status, 423, "{blocked_delete:?}");
    let with_id = request(
        w.hub.addr(),
        "PUT",
        path,
        Some("team-token-5"),
        &[("X-Sandboxer-Lock-Id", &lock_id)],
        Some(&put_body(&x3, 2)),
    );
    assert_eq!(with_id.status, 200, "{with_id:?}");
    assert_eq!(with_id.json()["version"], 3);
    let renew_body = |id: &str| json!({"lock_id": id, "ttl_seconds": 120}).to_string();
    let renewed = w.call("PUT", "/v1/projects/raw/lock", Some(&renew_body(&lock_id)));
    assert_eq!(renewed.status, 200, "{renewed:?}");
    let until = unix_seconds(renewed.json()["expires_at"].as_str().expect("expires_at")).expect("RFC 3339");
    assert!((118..=121).contains(&(until - now_unix_seconds())), "{renewed:?}");
    assert_eq!(
        w.call("PUT", "/v1/projects/raw/lock", Some(&renew_body("someoneelse1")))
            .status,
        409
    );
    assert_eq!(
        w.call("DELETE", "/v1/projects/raw/lock?lock_id=someoneelse1", None)
            .status,
        409
    );
    let released = w.call("DELETE", &format!("/v1/projects/raw/lock?lock_id={lock_id}"), None);
    assert_eq!(released.status, 204, "{released:?}");
    assert_eq!(
        w.call("DELETE", &format!("/v1/projects/raw/lock?lock_id={lock_id}"), None)
            .status,
        204,
        "releasing a free lock is a no-op"
    );
    assert_eq!(
        w.call("PUT", "/v1/projects/raw/lock", Some(&renew_body(&lock_id)))
            .status,
        409,
        "a released lease cannot be renewed"
    );
    let x4 = record("sandbox.x", "rawx0004", "2026-03-04T00:00:00Z");
    let stale = request(
        w.hub.addr(),
        "PUT",
        path,
        Some("team-token-5"),
        &[("X-Sandboxer-Lock-Id", &lock_id)],
        Some(&put_body(&x4, 3)),
    );
    assert_eq!(stale.status, 423, "a write under a released lease: {stale:?}");
    assert_eq!(w.call("GET", path, None).json()["version"], 3, "nothing was written");

    // Deletes name the version they were made against.
    assert_eq!(w.call("DELETE", &format!("{path}?version=1"), None).status, 409);
    assert_eq!(w.call("GET", path, None).json()["version"], 3);

    // Notes: cursors count notes; `since` pages through them.
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        let note = json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.x", "level": "info", "text": text});
        let posted = w.call("POST", "/v1/sandboxes/rawx0003/notes", Some(&note.to_string()));
        assert_eq!(posted.status, 201, "{posted:?}");
        assert_eq!(posted.json()["cursor"], i + 1);
    }
    let texts = |reply: &support::hub::Reply| -> Vec<String> {
        reply.json()["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|n| n["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let page = w.call("GET", "/v1/sandboxes/rawx0003/notes?since=0&limit=2", None);
    assert_eq!(
        (texts(&page), page.json()["cursor"].clone()),
        (vec!["one".into(), "two".into()], json!(2))
    );
    let page = w.call("GET", "/v1/sandboxes/rawx0003/notes?since=2", None);
    assert_eq!(
        (texts(&page), page.json()["cursor"].clone()),
        (vec!["three".into()], json!(3))
    );
    let page = w.call("GET", "/v1/sandboxes/rawx0003/notes?since=3", None);
    assert_eq!(
        (texts(&page), page.json()["cursor"].clone()),
        (Vec::<String>::new(), json!(3))
    );
    let none = w.call("GET", "/v1/sandboxes/nobody00/notes", None);
    assert_eq!((none.status, texts(&none)), (200, Vec::<String>::new()));

    // Every project's records by VM.
    let on_vm = w.call("GET", "/v1/sandboxes?vm=raw-vm", None);
    assert_eq!(on_vm.status, 200);
    let rows = on_vm.json()["sandboxes"].as_array().expect("sandboxes").clone();
    assert_eq!(rows.len(), 1, "{on_vm:?}");
    assert_eq!(
        (rows[0]["project"].clone(), rows[0]["version"].clone()),
        (json!("raw"), json!(3))
    );
    assert_eq!(
        w.call("GET", "/v1/sandboxes?vm=other-vm", None).json()["sandboxes"],
        json!([])
    );

    let deleted = w.call("DELETE", &format!("{path}?version=3"), None);
    assert_eq!(deleted.json(), json!({"version": 0, "serial": 4}), "{deleted:?}");
    assert_eq!(w.call("GET", path, None).status, 404);
    assert_eq!(w.call("DELETE", &format!("{path}?version=3"), None).status, 404);
}

// ---------------------------------------------------------------------------
// 6. state push | pull

fn state_push_moves_records_to_the_hub_and_pull_back_never_overwriting_a_newer_record(store: Store) {
    let w = World::on(&store, Some("team-token-6"));
    w.work.write("repo/README.md", "hello\n");
    let entries = [with_repo("a", "./repo"), local("b", "")];
    // Same folder, same project: local.yaml keeps its state in .sandboxer/, hub.yaml on the hub.
    w.work.write("local.yaml", manifest("moving", &entries));
    w.manifest("hub.yaml", "moving", &entries);

    w.ok(&["apply", "-f", "local.yaml", "--auto-approve"]);
    let local_ids: BTreeMap<String, String> = local_records(&w);
    assert_eq!(local_ids.len(), 2, "{local_ids:?}");
    let before = w.run(&["plan", "-f", "hub.yaml", "--detailed-exitcode"]);
    assert_eq!(before.code, 2, "the hub has nothing yet\n{before}");

    let pushed = w.ok(&["state", "push", "-f", "hub.yaml"]);
    assert!(
        pushed
            .stderr
            .contains("Pushed project moving: 2 records copied to the State Hub"),
        "{pushed}"
    );
    let on_hub: BTreeMap<String, String> = w.records("moving").into_iter().map(|(a, (id, _, _))| (a, id)).collect();
    assert_eq!(on_hub, local_ids);
    let plan = w.run(&["plan", "-f", "hub.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "no changes against the hub\n{plan}");
    let again = w.ok(&["state", "push", "-f", "hub.yaml"]);
    assert!(again.stderr.contains("0 records copied"), "{again}");
    assert!(again.stderr.contains("2 already there"), "{again}");

    // Someone writes a newer sandbox.a on the hub: a push must not overwrite it.
    let (_, version, mut newer) = w.records("moving")["sandbox.a"].clone();
    newer["updated_at"] = json!("2099-01-01T00:00:00Z");
    newer["facts"]["note"] = json!("written later on the hub");
    let put = w.call(
        "PUT",
        "/v1/projects/moving/resources/sandbox.a",
        Some(&put_body(&newer, version)),
    );
    assert_eq!(put.status, 200, "{put:?}");
    let refused = w.run(&["state", "push", "-f", "hub.yaml"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("not copied: newer at the destination"),
        "{refused}"
    );
    assert!(refused.stderr.contains("sandbox.a"), "names it\n{refused}");
    assert!(!refused.stderr.contains("sandbox.b:"), "{refused}");
    let (_, version_after, kept) = w.records("moving")["sandbox.a"].clone();
    assert_eq!((version_after, &kept), (version + 1, &newer), "the newer record stays");

    // Pull into an empty embedded store.
    let state_file = w.dir().join(".sandboxer/state.json");
    assert!(state_file.is_file(), "the embedded state is {}", state_file.display());
    fs::remove_file(&state_file).expect("forget the embedded state");
    assert!(local_records(&w).is_empty());
    let pulled = w.ok(&["state", "pull", "-f", "hub.yaml"]);
    assert!(
        pulled.stderr.contains("Pulled project moving: 2 records copied"),
        "{pulled}"
    );
    assert_eq!(local_records(&w), local_ids, "same ids in the embedded store");
    let plan = w.run(&["plan", "-f", "local.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "no changes against the embedded store\n{plan}");
}

/// address → id in the embedded store of W (`list --json -f local.yaml`).
fn local_records(w: &World) -> BTreeMap<String, String> {
    let out = w.ok(&["list", "--json", "-f", "local.yaml"]);
    records::listed(&out).into_iter().map(|r| (r.address, r.id)).collect()
}

// ---------------------------------------------------------------------------
// 7. Progress notes through the hub

fn a_sync_note_shows_in_inspect_through_the_hub(store: Store) {
    let w = World::on(&store, Some("team-token-7"));
    w.work.write("repo/README.md", "hello\n");
    w.work.write("repo/src/Main.hs", "main = pure ()\n");
    w.manifest("sandboxes.yaml", "noted", &[with_repo("a", "./repo")]);
    w.ok(&["apply", "--auto-approve"]);
    let id = w.records("noted")["sandbox.a"].0.clone();

    let shown = w.ok(&["inspect", "sandbox.a"]);
    assert!(shown.stdout.contains(&format!("sandbox.a (id {id})")), "{shown}");
    assert!(shown.stdout.contains("synced"), "{shown}");
    assert!(shown.stdout.contains("2 copied"), "{shown}");
    let on_hub = w.call("GET", &format!("/v1/sandboxes/{id}/notes"), None);
    let notes = on_hub.json()["notes"].as_array().expect("notes").clone();
    assert_eq!(notes.len(), 1, "{on_hub:?}");
    assert_eq!(notes[0]["address"], "sandbox.a");
    assert!(
        notes[0]["text"].as_str().unwrap_or_default().starts_with("synced "),
        "{on_hub:?}"
    );
    // The same through --hub and the default token variable, from anywhere.
    let anywhere = sandboxer()
        .env("SANDBOXER_HUB_TOKEN", "team-token-7")
        .args(["inspect", &id, "--json", "--hub", &w.hub.url()])
        .run();
    assert_eq!(anywhere.code, 0, "{anywhere}");
    let value: Value = serde_json::from_str(&anywhere.stdout).expect("inspect --json prints JSON");
    assert_eq!(value["notes"], json!(notes));
    support::check_against_schema("inspect-output", &value);
}

fn the_notes_of_an_image_build_reach_the_hub(store: Store) {
    let w = World::on(&store, Some("team-token-8"));
    let dirs = PackerDirs::make(w.dir());
    dirs.template("chatty", TWO_STEPS);
    w.work.write(
        "sandboxes.yaml",
        image_manifest_with("built", &w.hub_line(), "chatty", "chatty-vm", "", ""),
    );
    let packer = |args: &[&str]| dirs.command(w.cmd()).args(args).run();
    let out = packer(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{out}");
    let id = w.records("built")["image.img"].0.clone();
    let on_hub = w.call("GET", &format!("/v1/sandboxes/{id}/notes?since=0&limit=1000"), None);
    let notes = records::notes(&on_hub.json()["notes"]);
    let steps = notes
        .iter()
        .filter(|(_, t)| t.contains("Running local shell script"))
        .count();
    assert_eq!(steps, 2, "both steps are notes on the hub: {notes:#?}");
    assert!(
        notes.iter().any(|(l, t)| l == "error" && t.ends_with("a-warning")),
        "{notes:#?}"
    );
    let shown = packer(&["inspect", "image.img"]);
    assert_eq!(shown.code, 0, "{shown}");
    assert!(shown.stdout.contains("Running local shell script"), "{shown}");
}

// ---------------------------------------------------------------------------
// 8. Restarts and SIGTERM

fn the_hub_keeps_records_leases_and_notes_across_a_restart_and_sigterm_stops_it_cleanly(store: Store) {
    let mut w = World::on(&store, Some("team-token-9"));
    let health = w.call("GET", "/v1/health", None).json();
    assert_eq!(health["status"], "ok");
    let lineage = health["lineage"].as_str().expect("a lineage").to_string();

    let path = "/v1/projects/kept/resources/sandbox.k";
    let k = record("sandbox.k", "keptk001", "2026-01-01T00:00:00Z");
    assert_eq!(w.call("PUT", path, Some(&put_body(&k, 0))).status, 200);
    assert_eq!(w.call("PUT", path, Some(&put_body(&k, 1))).status, 200);
    let lock = w.call("POST", "/v1/projects/kept/lock", Some(&lock_request(99, 600)));
    assert_eq!(lock.status, 201, "{lock:?}");
    let lock_id = lock.json()["lock_id"].as_str().expect("lock id").to_string();
    for text in ["before restart 1", "before restart 2"] {
        let note = json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.k", "level": "info", "text": text});
        assert_eq!(
            w.call("POST", "/v1/sandboxes/keptk001/notes", Some(&note.to_string()))
                .status,
            201
        );
    }
    let notes_before = w.call("GET", "/v1/sandboxes/keptk001/notes", None).json();

    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");
    assert!(stopped.stderr.contains("State Hub stopped."), "{stopped}");
    if store == Store::Files {
        let data: Vec<String> = ["hub.json", "locks.json", "projects/kept.json", "notes/keptk001.jsonl"]
            .iter()
            .filter(|f| !w.hub.data().join(f).is_file())
            .map(|f| (*f).to_string())
            .collect();
        assert!(data.is_empty(), "missing in the data folder: {data:?}");
    }
    assert!(
        support::hub::try_request(w.hub.addr(), "GET", "/v1/health", None, &[], None).is_err(),
        "nothing listens after SIGTERM"
    );

    w.hub.restart();
    assert_eq!(w.call("GET", "/v1/health", None).json()["lineage"], lineage.as_str());
    assert_eq!(w.call("GET", path, None).json(), json!({"record": k, "version": 2}));
    assert_eq!(w.serial("kept"), 2);
    let held = w.call("POST", "/v1/projects/kept/lock", Some(&lock_request(1, 30)));
    assert_eq!(held.status, 423, "the lease survives: {held:?}");
    assert_eq!(held.json()["holder"]["id"], lock_id.as_str());
    assert_eq!(w.call("GET", "/v1/sandboxes/keptk001/notes", None).json(), notes_before);
    let note = json!({"at": "2026-01-01T00:00:01Z", "address": "sandbox.k", "level": "info", "text": "after"});
    let posted = w.call("POST", "/v1/sandboxes/keptk001/notes", Some(&note.to_string()));
    assert_eq!(posted.json()["cursor"], 3, "cursors go on where they were");
    let write = request(
        w.hub.addr(),
        "PUT",
        path,
        Some("team-token-9"),
        &[("X-Sandboxer-Lock-Id", &lock_id)],
        Some(&put_body(&k, 2)),
    );
    assert_eq!(write.json(), json!({"version": 3, "serial": 3}), "{write:?}");

    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");
    assert!(stopped.stderr.contains("State Hub stopped."), "{stopped}");
}

/// SIGKILL while four clients write records of one project as fast as the hub
/// takes them, past the length at which the journal is folded into a new
/// snapshot: after a restart every acknowledged write is there (a write whose
/// answer the kill cut off may be there too), the serial counts exactly the
/// writes kept (none lost, none applied twice), a torn last journal line is
/// skipped, and the journal has been folded into the snapshot.
#[test]
fn a_hub_killed_during_concurrent_writes_keeps_every_acknowledged_write_and_folds_its_journal() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut w = World::new(None);
    let addr = w.hub.addr();
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut versions = [0u64; 10];
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = n % versions.len();
                    let address = format!("sandbox.w{t}-{i}");
                    let body = put_body(
                        &record(&address, &format!("w{t}x{i:05}"), "2026-01-01T00:00:00Z"),
                        versions[i],
                    );
                    let path = format!("/v1/projects/killed/resources/{address}");
                    match support::hub::try_request(addr, "PUT", &path, None, &[], Some(&body)) {
                        Ok(reply) if reply.status == 200 => {
                            versions[i] = reply.json()["version"].as_u64().expect("a version");
                            acked.lock().expect("acks").insert(address, versions[i]);
                        }
                        Ok(reply) => panic!("a write was refused: {reply:?}"),
                        // The hub was killed.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let snapshot = w.hub.data().join("projects/killed.json");
    let journal = w.hub.data().join("projects/killed.journal");
    let acked_count = || acked.lock().expect("acks").values().sum::<u64>();
    wait_until("1,100 writes, one fold of the journal", DEADLINE, || {
        acked_count() >= 1100 && snapshot.exists()
    });
    assert!(journal.exists(), "the writes go on into a new journal");
    let killed = w.hub.stop_with("KILL");
    assert!(killed.code != 0, "{killed}");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("a writer");
    }
    let acked = acked.lock().expect("acks").clone();
    // A write cut short by the kill leaves a torn line.
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&journal)
        .expect("journal");
    std::io::Write::write_all(&mut file, br#"{"serial":999999,"address":"sandbox.torn","ent"#).expect("torn line");
    drop(file);

    w.hub.restart();
    let records = w.records("killed");
    let mut missing = Vec::new();
    for (address, version) in &acked {
        match records.get(address) {
            Some((_, kept, _)) if kept == version || *kept == version + 1 => {}
            other => missing.push(format!(
                "{address}: acknowledged {version}, kept {:?}",
                other.map(|r| r.1)
            )),
        }
    }
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(!records.contains_key("sandbox.torn"));
    let kept: u64 = records.values().map(|r| r.1).sum();
    assert_eq!(w.serial("killed"), kept, "one serial per write kept, each once");
    assert!(!journal.exists(), "a start folds the journal into the snapshot");

    let (address, (id, version, _)) = records.iter().next().expect("a record");
    let next = w.call(
        "PUT",
        &format!("/v1/projects/killed/resources/{address}"),
        Some(&put_body(&record(address, id, "2026-01-02T00:00:00Z"), *version)),
    );
    assert_eq!(
        next.json(),
        json!({"version": version + 1, "serial": kept + 1}),
        "{next:?}"
    );
}

// ---------------------------------------------------------------------------
// 9. Regressions

/// Regression: `list`, `inspect`, `create` and `destroy <id>` ignored the `hub:`
/// of the manifest in the current folder (or given with `-f`) and looked in the
/// empty embedded store instead.
fn list_inspect_create_and_destroy_by_id_use_the_hub_of_the_manifest(store: Store) {
    let w = World::on(&store, Some("team-token-10"));
    w.manifest("sandboxes.yaml", "mine", &[local("a", "")]);
    w.ok(&["apply", "--auto-approve"]);
    let id = w.records("mine")["sandbox.a"].0.clone();

    let listed = w.ok(&["list"]);
    assert!(listed.stdout.contains(&id), "{listed}");
    let shown = w.ok(&["inspect", &id]);
    assert!(shown.stdout.contains("sandbox.a"), "{shown}");
    // From another folder, with -f.
    let elsewhere = sandboxer()
        .env(TOKEN_ENV, "team-token-10")
        .arg("list")
        .arg("--json")
        .arg("-f")
        .arg(w.dir().join("sandboxes.yaml"))
        .run();
    assert_eq!(elsewhere.code, 0, "{elsewhere}");
    assert!(elsewhere.stdout.contains(&id), "{elsewhere}");

    let created = w.ok(&["create", "--profile", "profile.local-workspace", "--name", "extra"]);
    // stdout: `<id>\t<workspace>`.
    let extra = created.stdout.split_whitespace().next().unwrap_or_default().to_string();
    let adhoc = w.records("adhoc");
    assert_eq!(adhoc.len(), 1, "create records on the hub: {adhoc:#?}\n{created}");
    assert_eq!(adhoc.values().next().map(|r| &r.0), Some(&extra), "{created}");
    w.ok(&["destroy", &extra, "--auto-approve"]);
    assert!(w.records("adhoc").is_empty(), "destroy <id> removes the hub record");
    assert!(
        !w.dir().join(".sandboxer/state.json").exists(),
        "nothing went to the embedded store"
    );
}

/// Regression: `hub serve` without `--data` in a folder holding a `sandboxes.yaml`
/// kept the team's hub data in that project's `.sandboxer/hub`.
#[test]
fn hub_serve_without_data_uses_the_users_state_folder_even_next_to_a_manifest() {
    let work = Workdir::new();
    work.write("sandboxes.yaml", "version: 1\nproject: here\nsandboxes: {}\n");
    let xdg = work.path().join("xdg");
    let running = sandboxer()
        .current_dir(work.path())
        .env("XDG_STATE_HOME", &xdg)
        .env("HOME", work.path().join("home"))
        .args(["hub", "serve", "--listen", "127.0.0.1:0"])
        .spawn();
    wait_until("the hub listens", DEADLINE, || {
        running.stderr_so_far().contains("State Hub listening on")
    });
    running.signal("TERM");
    let out = running.wait();
    assert_eq!(out.code, 0, "{out}");
    let expected = xdg.join("sandboxer").join("hub");
    assert!(
        out.stderr.contains(&format!("(data {}, no token)", expected.display())),
        "{out}"
    );
    assert!(expected.join("hub.json").is_file(), "{out}");
    assert!(!work.path().join(".sandboxer").exists(), "{out}");
}

/// A note body about `sandbox.k`.
fn note_body(text: &str) -> String {
    json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.k", "level": "info", "text": text}).to_string()
}

/// The texts of a `NoteList` answer.
fn note_texts(reply: &support::hub::Reply) -> Vec<String> {
    reply.json()["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in {reply:?}"))
        .iter()
        .map(|n| n["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Regression: a notes file with a line that is not a note was answered as an
/// empty list of notes, so a damaged data folder looked like a sandbox nobody
/// had written about. A torn append (cut short by a crash, as the last line or
/// closed by a later append) is still skipped.
#[test]
fn a_corrupt_notes_file_is_a_500_naming_the_file_and_line_and_torn_appends_are_still_skipped() {
    let mut w = World::new(Some("team-token-11"));
    for text in ["one", "two"] {
        let posted = w.call("POST", "/v1/sandboxes/corrupt1/notes", Some(&note_body(text)));
        assert_eq!(posted.status, 201, "{posted:?}");
    }
    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");

    let notes = w.hub.data().join("notes");
    let corrupt = notes.join("corrupt1.jsonl");
    let good = fs::read_to_string(&corrupt).expect("read the notes file");
    let lines: Vec<&str> = good.lines().collect();
    assert_eq!(lines.len(), 2, "{good}");
    let damaged = format!("{}\nthis is not a note\n{}\n", lines[0], lines[1]);
    fs::write(&corrupt, &damaged).expect("damage the notes file");
    // A crash mid-append, closed by the next append, then another crash mid-append.
    let torn = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        &lines[1][..lines[1].len() / 2],
        lines[1],
        &lines[0][..10]
    );
    fs::write(notes.join("tornnote.jsonl"), &torn).expect("write a torn notes file");
    w.hub.restart();

    let got = w.call("GET", "/v1/sandboxes/corrupt1/notes", None);
    assert_eq!(got.status, 500, "{got:?}");
    let error = got.json()["error"].as_str().unwrap_or_default().to_string();
    for part in ["sandbox corrupt1", "notes/corrupt1.jsonl", "line 2"] {
        assert!(error.contains(part), "`{part}` in {error}");
    }
    let posted = w.call("POST", "/v1/sandboxes/corrupt1/notes", Some(&note_body("three")));
    assert_eq!(
        posted.status, 500,
        "no cursor can be given on a corrupt file: {posted:?}"
    );
    assert_eq!(
        fs::read_to_string(&corrupt).expect("read the notes file"),
        damaged,
        "nothing was appended"
    );

    let skipped = w.call("GET", "/v1/sandboxes/tornnote/notes", None);
    assert_eq!(skipped.status, 200, "{skipped:?}");
    assert_eq!(note_texts(&skipped), ["one", "two"]);
    assert_eq!(skipped.json()["cursor"], 2);

    // On a running hub, a file it has not read yet: a whole line of another shape.
    fs::write(
        notes.join("fresh001.jsonl"),
        format!("{}\n{{\"not\": \"a note\"}}\n", lines[0]),
    )
    .expect("write a notes file");
    let fresh = w.call("GET", "/v1/sandboxes/fresh001/notes", None);
    assert_eq!(fresh.status, 500, "{fresh:?}");
    let error = fresh.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("notes/fresh001.jsonl") && error.contains("line 2"),
        "{error}"
    );

    // Once the operator repairs the file, its notes are served: a failed read is not kept.
    fs::write(&corrupt, &good).expect("repair the notes file");
    let repaired = w.call("GET", "/v1/sandboxes/corrupt1/notes", None);
    assert_eq!(repaired.status, 200, "{repaired:?}");
    assert_eq!(note_texts(&repaired), ["one", "two"]);
}

/// Regression: every write held one hub-wide lock while it wrote and fsynced its
/// file, on an async worker thread, so one slow disk write held up every
/// project, and a few of them (one per worker thread) stalled the whole hub.
///
/// A write is appended to the project's journal, `<project>.journal`. Made a
/// FIFO, with a record bigger than a pipe holds, that file keeps the hub's write
/// on disk for as long as the test does not read it, and the test's open of its
/// reading end returns exactly when the hub is inside that write.
#[test]
fn writes_stuck_on_disk_hold_up_neither_other_projects_nor_reads_nor_the_hub() {
    let w = World::new(Some("team-token-12"));
    let (addr, token) = (w.hub.addr(), "team-token-12");
    // More stuck writes than the hub has async worker threads (one per core).
    let stuck = std::thread::available_parallelism().map_or(2, |n| n.get()).min(32) + 1;
    let fifos: Vec<PathBuf> = (0..stuck)
        .map(|i| {
            let fifo = w.hub.data().join(format!("projects/stuck{i}.journal"));
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .output()
                .expect("run mkfifo");
            assert!(made.status.success(), "mkfifo {}: {made:?}", fifo.display());
            fifo
        })
        .collect();
    let (opened_tx, opened) = std::sync::mpsc::channel();
    for fifo in &fifos {
        let (tx, fifo) = (opened_tx.clone(), fifo.clone());
        std::thread::spawn(move || tx.send(fs::File::open(&fifo)));
    }
    let mut big = record("sandbox.s", "stuck001", "2026-01-01T00:00:00Z");
    big["facts"]["padding"] = json!("x".repeat(1_500_000));
    let writers: Vec<_> = (0..stuck)
        .map(|i| {
            let body = put_body(&big, 0);
            let path = format!("/v1/projects/stuck{i}/resources/sandbox.s");
            std::thread::spawn(move || request(addr, "PUT", &path, Some(token), &[], Some(&body)))
        })
        .collect();
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut readers = Vec::new();
    while readers.len() < stuck {
        match opened.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(reader) => readers.push(reader.expect("open a FIFO for reading")),
            Err(_) => panic!(
                "only {} of {stuck} writes of different projects reached the disk at once",
                readers.len()
            ),
        }
    }

    // All of them are stuck in their file now; the rest of the hub goes on.
    assert_eq!(w.call("GET", "/v1/health", None).status, 200);
    let free = record("sandbox.f", "free0001", "2026-01-01T00:00:00Z");
    let written = w.call(
        "PUT",
        "/v1/projects/free/resources/sandbox.f",
        Some(&put_body(&free, 0)),
    );
    assert_eq!(written.json(), json!({"version": 1, "serial": 1}), "{written:?}");
    let locked = w.call("POST", "/v1/projects/free/lock", Some(&lock_request(5, 60)));
    assert_eq!(locked.status, 201, "{locked:?}");
    let posted = w.call("POST", "/v1/sandboxes/free0001/notes", Some(&note_body("meanwhile")));
    assert_eq!(posted.status, 201, "{posted:?}");
    let read = w.call("GET", "/v1/projects/stuck0/resources", None);
    assert_eq!(
        (
            read.status,
            read.json()["serial"].clone(),
            read.json()["resources"].clone()
        ),
        (200, json!(0), json!([])),
        "a read does not wait for a write in flight, nor sees it: {read:?}"
    );
    let listed = w.call("GET", "/v1/sandboxes", None);
    let projects: Vec<Value> = listed.json()["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .map(|s| s["project"].clone())
        .collect();
    assert_eq!(projects, [json!("free")], "{listed:?}");

    // Let them go: a FIFO cannot be fsynced, so each write fails and changes nothing.
    for (i, mut reader) in readers.into_iter().enumerate() {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes).expect("drain a FIFO");
        let data: Value = serde_json::from_slice(&bytes).expect("the hub wrote a journal line");
        assert_eq!(data["serial"], 1, "stuck write {i}");
    }
    for fifo in &fifos {
        fs::remove_file(fifo).expect("the disk is back");
    }
    for (i, writer) in writers.into_iter().enumerate() {
        let reply = writer.join().expect("a writer thread");
        assert_eq!(reply.status, 500, "{reply:?}");
        let error = reply.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(&format!("cannot persist stuck{i}")), "{error}");
    }
    for i in 0..stuck {
        assert_eq!(w.serial(&format!("stuck{i}")), 0, "a failed write changes nothing");
    }
    let small = record("sandbox.s", "stuck001", "2026-01-01T00:00:00Z");
    let again = w.call(
        "PUT",
        "/v1/projects/stuck0/resources/sandbox.s",
        Some(&put_body(&small, 0)),
    );
    assert_eq!(again.json(), json!({"version": 1, "serial": 1}), "{again:?}");
}

/// Many clients posting notes to one sandbox at once: every note lands once,
/// whole, at the place its cursor says, and stays there across a restart.
fn notes_appended_to_one_sandbox_by_many_clients_at_once_are_neither_lost_nor_torn(store: Store) {
    let mut w = World::on(&store, Some("team-token-13"));
    let (addr, token) = (w.hub.addr(), "team-token-13");
    let (clients, each) = (8, 25);
    let posted = post_at_once(addr, token, "many0001", clients, each, |c, n| {
        format!("client {c} note {n} {}", "y".repeat(200))
    });
    let total = clients * each;
    let cursors: Vec<u64> = posted.iter().map(|(c, _)| *c).collect();
    assert_eq!(cursors, (1..=total as u64).collect::<Vec<_>>(), "one cursor per note");
    let expected: Vec<String> = posted.into_iter().map(|(_, t)| t).collect();

    let listed = w.call("GET", "/v1/sandboxes/many0001/notes?limit=10000", None);
    assert_eq!(note_texts(&listed), expected, "each note sits where its cursor says");
    if store == Store::Files {
        let file = fs::read_to_string(w.hub.data().join("notes/many0001.jsonl")).expect("read the notes file");
        assert_eq!(file.lines().count(), total, "one whole line per note");
    }

    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");
    w.hub.restart();
    let again = w.call("GET", "/v1/sandboxes/many0001/notes?limit=10000", None);
    assert_eq!(note_texts(&again), expected);
}

/// What a hub holds is untrusted: a record and a note carrying terminal escape
/// sequences and newlines are printed escaped by `list` and `inspect`.
fn escape_sequences_in_hub_records_and_notes_print_escaped(store: Store) {
    let w = World::on(&store, None);
    let url = w.hub.url().to_string();
    let mut forged = record("sandbox.app", "forged01", "2026-01-01T00:00:00Z");
    forged["facts"] =
        json!({"workspace": "/build/sbx-forged01\u{1b}[2J\u{1b}]0;owned\u{7}", "note\nfake line": "x\u{1b}[31m"});
    let put = w.call(
        "PUT",
        "/v1/projects/forged/resources/sandbox.app",
        Some(&put_body(&forged, 0)),
    );
    assert_eq!(put.status, 200, "{put:?}");
    let note = json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.app", "level": "info", "text": "line one\n\u{1b}[1Aoverwritten\u{1b}[K"});
    let posted = w.call("POST", "/v1/sandboxes/forged01/notes", Some(&note.to_string()));
    assert_eq!(posted.status, 201, "{posted:?}");

    for args in [&["list"][..], &["inspect", "forged01"][..]] {
        let out = w.ok(&[&["--hub", url.as_str()][..], args].concat());
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains('\u{1b}'), "{args:?} printed an escape sequence:\n{all:?}");
        assert!(!all.contains('\u{7}'), "{args:?} printed a bell:\n{all:?}");
        assert!(all.contains("\\u{1b}[2J"), "{args:?} shows it escaped:\n{all}");
    }
    let inspect = w.ok(&["--hub", &url, "inspect", "forged01"]);
    assert!(inspect.stdout.contains("note\\nfake line: "), "{inspect}");
    assert!(
        inspect.stdout.contains("line one\n      \\u{1b}[1Aoverwritten"),
        "{inspect}"
    );
}

// ---------------------------------------------------------------------------
// 10. Hardening: auth before the body, note limits, paginated notes

/// One request with exactly `headers` and the bytes of `body` (no
/// `Content-Type` of its own, unlike [`request`]), for bodies a JSON client
/// would not send.
fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> support::hub::Reply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // A hub that refuses before it reads may close before it has all of a
    // large body: what it answered is read all the same.
    let sent = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        panic!("{method} http://{addr}{path}: no answer (sent: {sent:?}, read: {read:?})");
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    support::hub::Reply {
        status,
        body: body.to_string(),
        headers: head.lines().skip(1).map(str::to_string).collect(),
    }
}

/// Regression: with a token configured, a request whose body could not be
/// decoded (a form body, garbage JSON, a bad query) got 400/415/422 before its
/// token was looked at, so an unauthenticated client could probe the hub's
/// decoding. Now the token is checked first, on every route but health.
fn an_unauthenticated_request_is_refused_before_its_body_or_content_type_is_read(store: Store) {
    let token = "team-token-14";
    let w = World::on(&store, Some(token));
    let addr = w.hub.addr();
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let json_type = ("Content-Type", "application/json");
    let wrong = ("Authorization", "Bearer not-the-token");
    let right = format!("Bearer {token}");
    let right = ("Authorization", right.as_str());
    let form_body: &[u8] = b"record=1&version=zero";
    let garbage: &[u8] = b"{\"record\": [not json";

    // (method, path, what an authenticated client gets for the same garbage)
    let routes: [(&str, &str, u16); 10] = [
        ("PUT", "/v1/projects/p/resources/sandbox.a", 415),
        ("POST", "/v1/sandboxes/sbxa0001/notes", 415),
        ("POST", "/v1/projects/p/lock", 415),
        ("PUT", "/v1/projects/p/lock", 415),
        ("DELETE", "/v1/projects/p/resources/sandbox.a?version=x", 400),
        ("DELETE", "/v1/projects/p/lock", 400),
        ("GET", "/v1/sandboxes/sbxa0001/notes?since=x", 400),
        ("GET", "/v1/projects/p/resources", 200),
        ("GET", "/v1/sandboxes?vm=a", 200),
        ("PATCH", "/v1/projects/p/lock", 405),
    ];
    for (method, path, authorized) in routes {
        let cases = [
            ("no token, a form body", vec![form], form_body),
            ("no token, garbage JSON", vec![json_type], garbage),
            ("a wrong token, garbage JSON", vec![wrong, json_type], garbage),
            ("a wrong token, a form body", vec![wrong, form], form_body),
        ];
        for (what, headers, body) in cases {
            let reply = raw_request(addr, method, path, &headers, body);
            assert_eq!(reply.status, 401, "{method} {path} with {what}: {reply:?}");
            assert_eq!(
                reply.json(),
                json!({"error": "missing or wrong bearer token"}),
                "{method} {path} with {what}"
            );
        }
        // With the token, the same request is judged as before.
        let with_token = raw_request(addr, method, path, &[right, form], form_body);
        assert_eq!(
            with_token.status, authorized,
            "{method} {path} with the token: {with_token:?}"
        );
    }
    let garbage_put = raw_request(
        addr,
        "PUT",
        "/v1/projects/p/resources/sandbox.a",
        &[right, json_type],
        garbage,
    );
    assert_eq!(garbage_put.status, 400, "{garbage_put:?}");
    let no_type = raw_request(addr, "POST", "/v1/sandboxes/sbxa0001/notes", &[], garbage);
    assert_eq!(no_type.status, 401, "no token and no content type: {no_type:?}");
    let unknown = raw_request(addr, "GET", "/v1/nothing/here", &[], b"");
    assert_eq!(unknown.status, 401, "{unknown:?}");
    assert_eq!(raw_request(addr, "GET", "/v1/nothing/here", &[right], b"").status, 404);

    // Health stays open; nothing refused reached the data.
    assert_eq!(raw_request(addr, "GET", "/v1/health", &[], b"").status, 200);
    assert!(w.records("p").is_empty());
    let notes = w.call("GET", "/v1/sandboxes/sbxa0001/notes", None);
    assert_eq!(note_texts(&notes), Vec::<String>::new());
    assert_eq!(
        w.call("POST", "/v1/projects/p/lock", Some(&lock_request(1, 30))).status,
        201,
        "no lease was taken"
    );
}

/// A hub started with flags of its own, with a token.
struct FlaggedHub {
    hub: HubProcess,
    store: Store,
    addr: std::net::SocketAddr,
    token: String,
}

impl FlaggedHub {
    /// `hub serve --listen 127.0.0.1:0` on `store` (`--data DATA` for files) with `FLAGS...` and `token`.
    fn start(store: &Store, data: &Path, token: &str, flags: &[&str]) -> FlaggedHub {
        let hub = HubProcess::start_in(store, data, Some(token), flags);
        FlaggedHub {
            addr: hub.addr(),
            hub,
            store: store.clone(),
            token: token.to_string(),
        }
    }

    /// SIGTERM, then the same flags and store.
    fn restart(&mut self) {
        let out = self.hub.stop_with("TERM");
        assert_eq!(out.code, 0, "{out}");
        self.hub.restart();
        self.addr = self.hub.addr();
    }

    fn url(&self) -> String {
        self.hub.url()
    }

    /// One JSON request with the token.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> support::hub::Reply {
        request(self.addr, method, path, Some(&self.token), &[], body)
    }

    /// Posts a note with `text` to `id`; its cursor.
    fn post(&self, id: &str, text: &str) -> u64 {
        let reply = self.call("POST", &format!("/v1/sandboxes/{id}/notes"), Some(&note_body(text)));
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.json()["cursor"].as_u64().expect("a cursor")
    }

    /// The texts of the notes of `id` the PostgreSQL store holds, in order.
    fn stored_note_texts(&self, id: &str) -> Vec<String> {
        let url = self.hub.store_url().expect("a hub on PostgreSQL");
        let database = url.rsplit('/').next().expect("a database");
        let out = support::postgres::shared()
            .psql(
                database,
                &format!("SELECT note->>'text' FROM notes WHERE sandbox_id = '{id}' ORDER BY n"),
            )
            .unwrap_or_else(|e| panic!("read the notes of {id}: {e}"));
        out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    /// The lines of `notes/<id>.jsonl` of the file store; none for PostgreSQL.
    fn file_lines(&self, id: &str) -> Option<Vec<Value>> {
        if self.store != Store::Files {
            return None;
        }
        let path = self.hub.data().join(format!("notes/{id}.jsonl"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert!(text.ends_with('\n'), "whole lines: {text:?}");
        Some(
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn line ({e}): {l}")))
                .collect(),
        )
    }
}

/// The `(cursor, dropped, latest, more)` of a `NoteList` answer.
fn note_cursors(reply: &support::hub::Reply) -> (Value, Value, Value, Value) {
    assert_eq!(reply.status, 200, "{reply:?}");
    let v = reply.json();
    (
        v["cursor"].clone(),
        v["dropped"].clone(),
        v["latest"].clone(),
        v["more"].clone(),
    )
}

/// Notes were kept for ever, each as long as its poster made it. A note's text
/// is now cut past `--note-max-bytes` (16 KiB by default), marked so, and a
/// body past 1 MiB is refused with 413.
fn a_note_past_the_size_limit_is_cut_and_marked_and_a_huge_body_is_a_413(store: Store) {
    let w = World::on(&store, Some("team-token-15"));
    let url = "/v1/sandboxes/bignote1/notes";
    let limit = 16 * 1024;
    // Three-byte characters: the cut falls inside one unless it keeps to a boundary.
    let long: String = "€".repeat(limit / 3 + 1000);
    let posted = w.call("POST", url, Some(&note_body(&long)));
    assert_eq!(posted.status, 201, "{posted:?}");
    assert_eq!(posted.json(), json!({"cursor": 1, "cut": true}));
    let exact = "x".repeat(limit);
    let posted = w.call("POST", url, Some(&note_body(&exact)));
    assert_eq!(posted.json(), json!({"cursor": 2}), "a note of the limit is whole");

    let texts = note_texts(&w.call("GET", url, None));
    assert_eq!(texts.len(), 2);
    let kept = limit / 3 * 3;
    let marker = format!(" [cut by the State Hub: {} more bytes]", long.len() - kept);
    assert_eq!(texts[0], format!("{}{marker}", &long[..kept]));
    assert_eq!(texts[1], exact);

    let huge = note_body(&"y".repeat(1024 * 1024));
    let bearer = "Bearer team-token-15";
    let headers = [("Authorization", bearer), ("Content-Type", "application/json")];
    let refused = raw_request(w.hub.addr(), "POST", url, &headers, huge.as_bytes());
    assert_eq!(refused.status, 413, "{refused:?}");
    let error = refused.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("1048576 bytes"), "{error}");
    assert_eq!(w.call("POST", url, Some(&note_body("after"))).json()["cursor"], 3);

    // The limit is the operator's: a hub with a smaller one cuts sooner.
    let small = FlaggedHub::start(
        &store,
        &w.dir().join("small-hub"),
        "small",
        &["--note-max-bytes", "1024"],
    );
    let posted = small.call("POST", url, Some(&note_body(&"z".repeat(1500))));
    assert_eq!(posted.json(), json!({"cursor": 1, "cut": true}), "{posted:?}");
    let texts = note_texts(&small.call("GET", url, None));
    assert_eq!(
        texts,
        [format!("{} [cut by the State Hub: 476 more bytes]", "z".repeat(1024))]
    );
}

/// Notes were never dropped, so a chatty sandbox's file and its memory grew
/// for ever. `--notes-keep N` keeps the last N; older ones are dropped from the
/// file when it is rewritten, and cursors stay the notes' sequence numbers.
fn only_the_last_notes_keep_n_are_kept_and_cursors_stay_sequence_numbers_across_compaction_and_restart(store: Store) {
    let work = Workdir::new();
    let mut hub = FlaggedHub::start(
        &store,
        &work.path().join("hub-data"),
        "team-token-16",
        &["--notes-keep", "5"],
    );
    let url = "/v1/sandboxes/keep0001/notes";
    for n in 1..=12 {
        assert_eq!(hub.post("keep0001", &format!("note {n}")), n);
    }
    let last_five: Vec<String> = (8..=12).map(|n| format!("note {n}")).collect();
    let all = hub.call("GET", url, None);
    assert_eq!(note_texts(&all), last_five);
    assert_eq!(note_cursors(&all), (json!(12), json!(7), json!(12), json!(false)));
    // A cursor from before the drop reads on from the oldest note kept.
    let old = hub.call("GET", &format!("{url}?since=3&limit=2"), None);
    assert_eq!(note_texts(&old), ["note 8", "note 9"]);
    assert_eq!(note_cursors(&old), (json!(9), json!(7), json!(12), json!(true)));
    let later = hub.call("GET", &format!("{url}?since=10"), None);
    assert_eq!(note_texts(&later), ["note 11", "note 12"]);

    // The file was rewritten: how many were dropped, then the notes kept; the
    // database holds the notes kept and no other.
    match hub.file_lines("keep0001") {
        Some(lines) => {
            assert_eq!(lines[0], json!({"dropped": 7}), "{lines:#?}");
            let texts: Vec<&str> = lines[1..]
                .iter()
                .map(|l| l["text"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(texts, last_five, "{lines:#?}");
        }
        None => assert_eq!(hub.stored_note_texts("keep0001"), last_five),
    }

    hub.restart();
    let again = hub.call("GET", url, None);
    assert_eq!(note_texts(&again), last_five);
    assert_eq!(note_cursors(&again), (json!(12), json!(7), json!(12), json!(false)));
    assert_eq!(hub.post("keep0001", "note 13"), 13, "numbers go on after a restart");

    // Many posters at once while the file is rewritten under them: every note
    // gets its own number, the last ones are kept whole, none is torn.
    let (addr, token) = (hub.addr, hub.token.clone());
    let posted = post_at_once(addr, &token, "keep0001", 6, 20, |c, n| {
        format!("client {c} note {n} {}", "y".repeat(300))
    });
    let cursors: Vec<u64> = posted.iter().map(|(c, _)| *c).collect();
    assert_eq!(cursors, (14..=133).collect::<Vec<_>>(), "one number per note");
    let newest: Vec<String> = posted[posted.len() - 5..].iter().map(|(_, t)| t.clone()).collect();
    let listed = hub.call("GET", url, None);
    assert_eq!(note_texts(&listed), newest);
    assert_eq!(
        note_cursors(&listed),
        (json!(133), json!(128), json!(133), json!(false))
    );
    match hub.file_lines("keep0001") {
        Some(lines) => {
            assert!(
                lines.len() <= 1 + 5 + 5 / 4 + 1,
                "the file is kept short: {} lines",
                lines.len()
            );
            let dropped = lines[0]["dropped"].as_u64().expect("a count of dropped notes first");
            let in_file: Vec<String> = lines[1..]
                .iter()
                .map(|l| l["text"].as_str().unwrap_or_default().to_string())
                .collect();
            let expected: Vec<String> = posted[(dropped - 13) as usize..]
                .iter()
                .map(|(_, t)| t.clone())
                .collect();
            assert_eq!(
                in_file, expected,
                "the file holds the notes after the dropped ones, in order"
            );
        }
        None => assert_eq!(hub.stored_note_texts("keep0001"), newest),
    }
    hub.restart();
    assert_eq!(note_texts(&hub.call("GET", url, None)), newest);
}

/// `--notes-max-age` drops notes older than that, and cursors go on counting
/// across the drop and a restart.
fn notes_older_than_notes_max_age_are_dropped_and_numbers_go_on(store: Store) {
    let work = Workdir::new();
    let mut hub = FlaggedHub::start(
        &store,
        &work.path().join("hub-data"),
        "team-token-17",
        &["--notes-max-age", "2s"],
    );
    let url = "/v1/sandboxes/aged0001/notes";
    let posted_at = std::time::Instant::now();
    assert_eq!(hub.post("aged0001", "old 1"), 1);
    assert_eq!(hub.post("aged0001", "old 2"), 2);
    let fresh = hub.call("GET", url, None);
    if posted_at.elapsed() < Duration::from_millis(1500) {
        assert_eq!(note_texts(&fresh), ["old 1", "old 2"], "young notes are kept");
    }
    wait_until("the old notes are dropped", DEADLINE, || {
        note_texts(&hub.call("GET", url, None)).is_empty()
    });
    let gone = hub.call("GET", url, None);
    assert_eq!(note_cursors(&gone), (json!(2), json!(2), json!(2), json!(false)));
    assert_eq!(hub.post("aged0001", "new 3"), 3);
    match hub.file_lines("aged0001") {
        Some(lines) => {
            assert_eq!(lines.len(), 2, "{lines:#?}");
            assert_eq!(lines[0], json!({"dropped": 2}));
            assert_eq!(lines[1]["text"], "new 3");
        }
        None => assert_eq!(hub.stored_note_texts("aged0001"), ["new 3"]),
    }

    hub.restart();
    let listed = hub.call("GET", url, None);
    let (texts, dropped) = (note_texts(&listed), listed.json()["dropped"].clone());
    assert!(
        (texts == ["new 3"] && dropped == 2) || (texts.is_empty() && dropped == 3),
        "note 3 is kept until it is 2 s old: {listed:?}"
    );
    assert_eq!(listed.json()["latest"], 3, "{listed:?}");
    assert_eq!(hub.post("aged0001", "new 4"), 4);

    // A bad duration is refused at start, naming the flag: a usage error, exit 1.
    let refused = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(work.path().join("other"))
        .args(["--notes-max-age", "two days"])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("--notes-max-age"), "{refused}");
}

/// A listing answered up to 10000 notes at once; now a page holds at most
/// 500, says whether more follow, and `inspect --notes N` still shows the last N.
fn note_listings_come_in_pages_of_at_most_500_and_inspect_still_shows_the_last_n(store: Store) {
    let work = Workdir::new();
    let hub = FlaggedHub::start(&store, &work.path().join("hub-data"), "team-token-18", &[]);
    let id = "pagei001";
    let url = format!("/v1/sandboxes/{id}/notes");
    let total = 620;
    for n in 1..=total {
        assert_eq!(hub.post(id, &format!("note {n}")), n);
    }
    let first = hub.call("GET", &url, None);
    let texts = note_texts(&first);
    assert_eq!(texts.len(), 500, "a page holds at most 500");
    assert_eq!((texts[0].as_str(), texts[499].as_str()), ("note 1", "note 500"));
    assert_eq!(note_cursors(&first), (json!(500), json!(0), json!(620), json!(true)));
    let asked_more = hub.call("GET", &format!("{url}?since=0&limit=10000"), None);
    assert_eq!(note_texts(&asked_more).len(), 500, "the limit is clamped to 500");
    let second = hub.call("GET", &format!("{url}?since=500"), None);
    assert_eq!(note_texts(&second).len(), 120);
    assert_eq!(note_cursors(&second), (json!(620), json!(0), json!(620), json!(false)));
    let counts = hub.call("GET", &format!("{url}?limit=0"), None);
    assert_eq!(note_texts(&counts), Vec::<String>::new());
    assert_eq!(note_cursors(&counts), (json!(0), json!(0), json!(620), json!(true)));

    // `inspect` asks for the last N, across pages.
    let project = "paged";
    let rec = record("sandbox.p", id, "2026-01-01T00:00:00Z");
    let put = hub.call(
        "PUT",
        &format!("/v1/projects/{project}/resources/sandbox.p"),
        Some(&put_body(&rec, 0)),
    );
    assert_eq!(put.status, 200, "{put:?}");
    let inspect = |n: usize| -> Vec<String> {
        let out = sandboxer()
            .env("SANDBOXER_HUB_TOKEN", &hub.token)
            .args(["inspect", id, "--json", "--hub", &hub.url(), "--notes", &n.to_string()])
            .run();
        assert_eq!(out.code, 0, "{out}");
        let value: Value = serde_json::from_str(&out.stdout).expect("inspect --json prints JSON");
        value["notes"]
            .as_array()
            .unwrap_or_else(|| panic!("no notes in {value}"))
            .iter()
            .map(|n| n["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let wanted = |from: u64| -> Vec<String> { (from..=total).map(|n| format!("note {n}")).collect() };
    assert_eq!(inspect(3), wanted(618));
    assert_eq!(inspect(600), wanted(21), "more than one page");
    assert_eq!(inspect(1000), wanted(1), "more than there are");
}

/// Each project has its own key for sensitive values, made on the first
/// request and kept across restarts; without the token there is none to read.
fn each_project_has_a_sensitive_key_that_survives_a_restart(store: Store) {
    let mut w = World::on(&store, Some("team-token-k"));
    let key = |w: &World, project: &str| -> String {
        let reply = w.call("GET", &format!("/v1/projects/{project}/sensitive-key"), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["key"].as_str().expect("a key").to_string()
    };
    let first = key(&w, "alpha");
    assert_eq!(first.len(), 64, "{first}");
    assert_eq!(key(&w, "alpha"), first, "the same key on every request");
    assert_ne!(key(&w, "beta"), first, "another project, another key");
    let bare = request(w.hub.addr(), "GET", "/v1/projects/alpha/sensitive-key", None, &[], None);
    assert_eq!(bare.status, 401, "{bare:?}");
    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");
    w.hub.restart();
    assert_eq!(key(&w, "alpha"), first, "kept across a restart");
}

/// `clients` threads each post `each` notes `text(client, n)` to sandbox `id`
/// at once; every post must get 201. Returns (cursor, text) sorted by cursor.
fn post_at_once(
    addr: std::net::SocketAddr,
    token: &str,
    id: &str,
    clients: usize,
    each: usize,
    text: impl Fn(usize, usize) -> String + Send + Sync + 'static,
) -> Vec<(u64, String)> {
    let text = std::sync::Arc::new(text);
    let posters: Vec<_> = (0..clients)
        .map(|c| {
            let (token, path, text) = (token.to_string(), format!("/v1/sandboxes/{id}/notes"), text.clone());
            std::thread::spawn(move || {
                (0..each)
                    .map(|n| {
                        let text = text(c, n);
                        let reply = request(addr, "POST", &path, Some(&token), &[], Some(&note_body(&text)));
                        assert_eq!(reply.status, 201, "{reply:?}");
                        (reply.json()["cursor"].as_u64().expect("a cursor"), text)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut posted: Vec<(u64, String)> = posters
        .into_iter()
        .flat_map(|p| p.join().expect("a poster thread"))
        .collect();
    posted.sort();
    posted
}

// ---------------------------------------------------------------------------
// 11. The VM capability catalog

/// A catalog entry of VM `name`, observed at `at`, with one probed value.
fn vm_entry(name: &str, at: &str, ghc: &str) -> Value {
    json!({
        "name": name,
        "observed_at": at,
        "capabilities": {
            "ghc": {"value": ghc, "status": "present", "source": "probe", "observed_at": at},
            "nix": {"status": "absent", "source": "probe", "observed_at": at, "detail": "command not found"},
        },
        "free_disk": {
            "/build": {"value": "53687091200", "status": "present", "source": "fact", "observed_at": at},
        },
        "files": {"/etc/sandboxer/capabilities.json": "missing"},
    })
}

/// The error text of a refusal with an `ErrorBody`.
fn error_text(reply: &support::hub::Reply) -> String {
    reply.json()["error"].as_str().unwrap_or_default().to_string()
}

/// The catalog is one entry per VM, put on either PUT route (last write
/// wins), read one by one and as a sorted list, refused when its name or
/// contents are bad, behind the token, and kept in `vms/` across a restart,
/// where a file that does not parse or a planted link is skipped.
#[test]
fn vm_catalog_entries_are_put_read_refused_and_kept_across_a_restart() {
    let token = "team-token-vms";
    let mut w = World::new(Some(token));
    assert_eq!(w.call("GET", "/v1/vms", None).json(), json!({"vms": []}));

    let b1 = vm_entry("build-01", "2026-11-29T10:30:00Z", "9.6.4");
    let put = w.call("PUT", "/v1/vms/build-01", Some(&b1.to_string()));
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.json(), b1, "the answer is the entry as stored");
    let b1_later = vm_entry("build-01", "2026-11-29T11:30:00Z", "9.8.1");
    let put = w.call("PUT", "/v1/vms/build-01/capabilities", Some(&b1_later.to_string()));
    assert_eq!(put.status, 200, "{put:?}");
    let a = vm_entry("a.example", "2026-11-29T09:00:00Z", "9.4.8");
    let put = w.call("PUT", "/v1/vms/a.example/capabilities", Some(&a.to_string()));
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.json(), a);

    let got = w.call("GET", "/v1/vms/build-01", None);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.json(), b1_later, "the last write wins");
    let listed = w.call("GET", "/v1/vms", None);
    assert_eq!(listed.json(), json!({"vms": [a, b1_later]}), "sorted by name");

    let unknown = w.call("GET", "/v1/vms/build-02", None);
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(error_text(&unknown), "no VM build-02 in the catalog");

    // Refusals: 400 with an ErrorBody, and nothing stored.
    let other = w.call("PUT", "/v1/vms/build-02", Some(&b1.to_string()));
    assert_eq!(other.status, 400, "{other:?}");
    assert!(
        error_text(&other).contains("the entry is of VM `build-01`, not `build-02`"),
        "{other:?}"
    );
    let mut bad_capability = vm_entry("build-02", "2026-11-29T10:30:00Z", "9.6.4");
    bad_capability["capabilities"]["GHC;rm -rf"] = b1["capabilities"]["ghc"].clone();
    let refused = w.call("PUT", "/v1/vms/build-02", Some(&bad_capability.to_string()));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        error_text(&refused).contains("capability name `GHC;rm -rf`"),
        "{refused:?}"
    );
    let mut long = vm_entry("build-02", "2026-11-29T10:30:00Z", "9.6.4");
    long["capabilities"]["ghc"]["value"] = json!("9".repeat(4097));
    let refused = w.call("PUT", "/v1/vms/build-02", Some(&long.to_string()));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(error_text(&refused).contains("4097 bytes"), "{refused:?}");
    let mut many = vm_entry("build-02", "2026-11-29T10:30:00Z", "9.6.4");
    for i in 0..1000 {
        many["files"][format!("/etc/caps-{i}.json")] = json!("missing");
    }
    let refused = w.call("PUT", "/v1/vms/build-02", Some(&many.to_string()));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(error_text(&refused).contains("more than 1000"), "{refused:?}");
    for bad in ["..", ".hidden", "-oProxyCommand=x", "a%2Fb", "a%20b"] {
        let refused = w.call(
            "PUT",
            &format!("/v1/vms/{bad}"),
            Some(&vm_entry(bad, "t", "1").to_string()),
        );
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
        assert_eq!(w.call("GET", &format!("/v1/vms/{bad}"), None).status, 400, "{bad}");
    }
    let mut huge = vm_entry("build-02", "2026-11-29T10:30:00Z", "9.6.4");
    huge["capabilities"]["ghc"]["detail"] = json!("y".repeat(1024 * 1024));
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let refused = raw_request(
        w.hub.addr(),
        "PUT",
        "/v1/vms/build-02",
        &headers,
        huge.to_string().as_bytes(),
    );
    assert_eq!(refused.status, 413, "{refused:?}");
    assert!(error_text(&refused).contains("1048576 bytes"), "{refused:?}");
    assert_eq!(
        w.call("GET", "/v1/vms/build-02", None).status,
        404,
        "nothing refused was stored"
    );

    // The token comes first, for reads and writes alike.
    let addr = w.hub.addr();
    for (method, path, body) in [
        ("GET", "/v1/vms", None),
        ("GET", "/v1/vms/build-01", None),
        ("PUT", "/v1/vms/build-01", Some(b1.to_string())),
        ("PUT", "/v1/vms/build-01/capabilities", Some(b1.to_string())),
    ] {
        let bare = request(addr, method, path, None, &[], body.as_deref());
        assert_eq!(bare.status, 401, "{method} {path}: {bare:?}");
        let wrong = request(addr, method, path, Some("not-the-token"), &[], body.as_deref());
        assert_eq!(wrong.status, 401, "{method} {path}: {wrong:?}");
    }
    assert_eq!(w.call("GET", "/v1/vms/build-01", None).json(), b1_later);

    // Across a restart, from vms/ in the data folder; bad files there are skipped.
    let stopped = w.hub.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");
    let catalog = w.hub.data().join("vms");
    assert!(catalog.join("build-01.json").is_file());
    fs::write(catalog.join("torn.json"), "{\"name\": \"torn\", \"obs").expect("a torn file");
    let outside = w.dir().join("planted.json");
    fs::write(&outside, vm_entry("planted", "t", "1").to_string()).expect("write");
    std::os::unix::fs::symlink(&outside, catalog.join("planted.json")).expect("plant a link");
    fs::write(catalog.join("renamed.json"), vm_entry("someone", "t", "1").to_string()).expect("write");
    w.hub.restart();
    let listed = w.call("GET", "/v1/vms", None);
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json(), json!({"vms": [a, b1_later]}));
    assert_eq!(w.call("GET", "/v1/vms/torn", None).status, 404);
    let stderr = w.hub.stderr_so_far();
    for skipped in ["torn.json", "planted.json", "renamed.json"] {
        assert!(stderr.contains(skipped), "no warning naming {skipped}: {stderr}");
    }
    // A put over the planted link replaces the link, never what it points to.
    let put = w.call(
        "PUT",
        "/v1/vms/planted",
        Some(&b1.to_string().replace("build-01", "planted")),
    );
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(
        fs::read_to_string(&outside).expect("read"),
        vm_entry("planted", "t", "1").to_string()
    );
}

/// The stores' client of the catalog over a real hub: `AnyStore` puts entries
/// and reads them back by name; an entry the hub would refuse is refused
/// before it is sent, and a wrong token is the usual 401 with its hint.
fn the_state_store_puts_and_reads_the_vm_catalog_through_the_hub(store: Store) {
    use sandboxer::capability::VmCapabilities;
    use sandboxer::state::{AnyStore, HubStore};

    let token = "team-token-vmc";
    let w = World::on(&store, Some(token));
    let entry = |name: &str, ghc: &str| -> VmCapabilities {
        serde_json::from_value(vm_entry(name, "2026-11-29T10:30:00Z", ghc)).expect("a catalog entry")
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let client = HubStore::new(&w.hub.url(), Some(token.into()), TOKEN_ENV).expect("a client");
        let store = AnyStore::Hub(client);
        assert!(store.vm_capabilities().await.expect("read").is_empty());
        for (name, ghc) in [("vm-b", "9.6.4"), ("vm-a", "9.4.8"), ("vm-b", "9.8.1")] {
            store.put_vm_capabilities(&entry(name, ghc)).await.expect("put");
        }
        let catalog = store.vm_capabilities().await.expect("read");
        assert_eq!(catalog.keys().collect::<Vec<_>>(), ["vm-a", "vm-b"]);
        assert_eq!(catalog["vm-b"], entry("vm-b", "9.8.1"), "the last write wins");

        let refused = store
            .put_vm_capabilities(&entry("../projects/x", "1"))
            .await
            .expect_err("not a VM name");
        assert!(refused.to_string().contains("catalog entry refused"), "{refused}");

        let stranger = AnyStore::Hub(HubStore::new(&w.hub.url(), Some("wrong".into()), TOKEN_ENV).expect("a client"));
        let denied = stranger.vm_capabilities().await.expect_err("a wrong token");
        assert!(denied.to_string().contains("401 unauthorized"), "{denied}");
        assert!(denied.hint().is_some_and(|h| h.contains(TOKEN_ENV)), "{denied}");
    });
    let listed = w.call("GET", "/v1/vms", None).json();
    assert_eq!(listed["vms"].as_array().map(Vec::len), Some(2), "{listed}");
}

#[test]
fn a_token_file_holds_the_token_and_an_empty_one_is_refused() {
    let work = Workdir::new();
    let file = work.write("hub-token", "from-a-file-19\n");
    let file = file.to_str().expect("a UTF-8 path");
    // The variable is set too: the file wins.
    let hub = FlaggedHub::start(
        &Store::Files,
        &work.path().join("hub-data"),
        "from-the-variable",
        &["--token-file", file],
    );
    let path = "/v1/projects/p/resources";
    let with_file = request(hub.addr, "GET", path, Some("from-a-file-19"), &[], None);
    assert_eq!(with_file.status, 200, "{with_file:?}");
    let with_variable = request(hub.addr, "GET", path, Some("from-the-variable"), &[], None);
    assert_eq!(with_variable.status, 401, "{with_variable:?}");

    let empty = work.write("empty-token", "\n");
    let refused = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(work.path().join("other"))
        .arg("--token-file")
        .arg(&empty)
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("holds no token"), "{refused}");
}

/// Text a build printed may hold NUL bytes: a note keeps its text with each
/// NUL as U+FFFD, the same on every store; a record (sandboxer never writes
/// one with a NUL) is refused with 400 and nothing is written.
fn a_nul_in_a_note_is_shown_replaced_and_a_record_with_one_is_refused(store: Store) {
    let w = World::on(&store, Some("team-token-nul"));
    let posted = w.call(
        "POST",
        "/v1/sandboxes/nul00001/notes",
        Some(&note_body("before\u{0}after")),
    );
    assert_eq!(posted.status, 201, "{posted:?}");
    let listed = w.call("GET", "/v1/sandboxes/nul00001/notes", None);
    assert_eq!(note_texts(&listed), ["before\u{fffd}after"]);
    let record = record("sandbox.n", "nul00002", "2026-01-01T00:00:00Z\u{0}");
    let refused = w.call(
        "PUT",
        "/v1/projects/nul/resources/sandbox.n",
        Some(&put_body(&record, 0)),
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("NUL"), "{refused:?}");
    assert!(w.records("nul").is_empty());
    let vm = w.call("GET", "/v1/sandboxes?vm=a%00b", None);
    assert_eq!(vm.status, 200, "{vm:?}");
    assert_eq!(vm.json()["sandboxes"], json!([]));
}

/// The contract tests, on each store: `file_store::NAME` keeps the hub's data
/// in its data folder, `postgres_store::NAME` in a database of the test
/// binary's PostgreSQL server (`support::postgres`).
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        mod file_store {
            use super::*;
            $(
                #[test]
                fn $name() {
                    super::$name(Store::Files);
                }
            )*
        }
        mod postgres_store {
            use super::*;
            $(
                #[test]
                fn $name() {
                    super::$name(Store::Postgres);
                }
            )*
        }
    };
}

on_each_store!(
    a_second_apply_fails_naming_the_lease_holder_or_waits_and_versions_count_the_writes,
    the_hub_killed_mid_apply_fails_the_client_clearly_and_after_a_restart_apply_converges_keeping_every_record,
    writes_without_or_with_a_wrong_token_are_refused_and_the_token_never_reaches_output_or_files,
    the_lease_of_a_killed_apply_expires_and_the_next_apply_proceeds,
    raw_http_versions_conflicts_lock_header_and_note_cursors_follow_the_contract,
    state_push_moves_records_to_the_hub_and_pull_back_never_overwriting_a_newer_record,
    a_sync_note_shows_in_inspect_through_the_hub,
    the_notes_of_an_image_build_reach_the_hub,
    the_hub_keeps_records_leases_and_notes_across_a_restart_and_sigterm_stops_it_cleanly,
    list_inspect_create_and_destroy_by_id_use_the_hub_of_the_manifest,
    notes_appended_to_one_sandbox_by_many_clients_at_once_are_neither_lost_nor_torn,
    escape_sequences_in_hub_records_and_notes_print_escaped,
    an_unauthenticated_request_is_refused_before_its_body_or_content_type_is_read,
    a_note_past_the_size_limit_is_cut_and_marked_and_a_huge_body_is_a_413,
    only_the_last_notes_keep_n_are_kept_and_cursors_stay_sequence_numbers_across_compaction_and_restart,
    notes_older_than_notes_max_age_are_dropped_and_numbers_go_on,
    note_listings_come_in_pages_of_at_most_500_and_inspect_still_shows_the_last_n,
    each_project_has_a_sensitive_key_that_survives_a_restart,
    the_state_store_puts_and_reads_the_vm_catalog_through_the_hub,
    a_nul_in_a_note_is_shown_replaced_and_a_record_with_one_is_refused,
);
