//! The State Hub on PostgreSQL with several hubs on one database: the lease
//! held across hubs, a hub killed mid-apply while another carries on, the
//! database stopped under an apply, notes appended through two hubs at once,
//! hubs migrating a fresh database together, `hub migrate-store` from a file
//! store, and the password kept out of every output. (The hub's contract tests
//! run on this store too: `tests/hub.rs`, `postgres_store::*`.)
//!
//! Every hub is a real `sandboxer hub serve --store postgres://...` on a
//! loopback port; the database is one of the test binary's own PostgreSQL
//! server (`support::postgres`), fresh for each test, or a server of the
//! test's own when the test stops it.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::gated::{Gate, gated};
use support::hub::{HubProcess, Store, request};
use support::manifests::{local, manifest_with, of_profile};
use support::postgres::PgServer;
use support::workspaces;
use support::{Cli, Sandboxer, Workdir, sandboxer, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);
const TOKEN_ENV: &str = "SBX_TEAM_TOKEN";
const TOKEN: &str = "team-token-pg";

/// A test's folder and the hubs it runs, all on one store.
struct Team {
    work: Workdir,
    hubs: Vec<HubProcess>,
}

impl Team {
    /// `n` hubs on one fresh database of the shared server.
    fn new(n: usize) -> Team {
        Team::on(&Store::Postgres, n)
    }

    /// `n` hubs on `store`.
    fn on(store: &Store, n: usize) -> Team {
        let work = Workdir::new();
        let first = HubProcess::start_in(store, &work.path().join("hub-data"), Some(TOKEN), &[]);
        let mut hubs = vec![first];
        for _ in 1..n {
            let next = hubs[0].another();
            hubs.push(next);
        }
        Team { work, hubs }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    /// Writes `file`: project `project` on hub `hub`.
    fn manifest(&self, file: &str, hub: usize, project: &str, entries: &[String]) {
        let line = format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", self.hubs[hub].url());
        self.work.write(file, manifest_with(project, &line, entries));
    }

    /// The records of `project` as hub `hub` answers: address → (id, version).
    fn records(&self, hub: usize, project: &str) -> BTreeMap<String, (String, u64)> {
        let reply = self.hubs[hub].call("GET", &format!("/v1/projects/{project}/resources"), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|e| {
                (
                    e["record"]["address"].as_str().unwrap_or_default().to_string(),
                    (
                        e["record"]["id"].as_str().unwrap_or_default().to_string(),
                        e["version"].as_u64().expect("a version"),
                    ),
                )
            })
            .collect()
    }

    fn serial(&self, hub: usize, project: &str) -> u64 {
        let reply = self.hubs[hub].call("GET", &format!("/v1/projects/{project}/resources"), None);
        reply.json()["serial"].as_u64().expect("a serial")
    }

    /// Every hub answers the same records and serial for `project`, and the
    /// workspaces on disk are those records: one complete workspace each.
    fn assert_one_truth(&self, project: &str, expected: usize) -> BTreeMap<String, (String, u64)> {
        let records = self.records(0, project);
        for hub in 1..self.hubs.len() {
            assert_eq!(self.records(hub, project), records, "hub {hub} answers otherwise");
            assert_eq!(self.serial(hub, project), self.serial(0, project));
        }
        assert_eq!(records.len(), expected, "{records:#?}");
        let mut on_disk: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ws in workspaces::all(&workspaces::default_root(self.dir())) {
            assert!(ws.complete, "{ws:?}");
            on_disk.entry(ws.address).or_default().push(ws.id);
        }
        assert_eq!(on_disk.len(), expected, "{on_disk:#?}");
        for (address, (id, _)) in &records {
            assert_eq!(on_disk.get(address), Some(&vec![id.clone()]), "{address}");
        }
        records
    }
}

impl Cli for Team {
    fn cmd(&self) -> Sandboxer {
        sandboxer().current_dir(self.dir()).env(TOKEN_ENV, TOKEN)
    }
}

fn slow_profile(team: &Team) {
    team.work.write(
        "profiles/slow.yaml",
        "name: profile.slow\ndriver: local-workspace\ninputs:\n  workspace_root: { type: local_path, forces_replace: true }\nsync: { excludes: [], delete: true }\nsetup:\n  - 'sleep 0.25'\n",
    );
}

fn note_body(text: &str) -> String {
    json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.a", "level": "info", "text": text}).to_string()
}

fn note_texts(reply: &support::hub::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Two applies, each through its own hub, one database: the second is
/// refused naming the first as the holder, or waits for it; afterwards each
/// record's version counts its writes, and both hubs say so.
#[test]
fn two_hubs_share_one_lease_and_no_write_is_lost() {
    let team = Team::new(2);
    let gate = Gate::install(&team.work);
    team.manifest("a.yaml", 0, "shared", &[gated("a"), gated("b")]);
    team.work.write("repo/README.md", "hello\n");
    team.manifest(
        "b.yaml",
        1,
        "shared",
        &[
            format!("{}    inputs:\n      repo: ./repo\n", gated("a")),
            gated("b"),
            local("c", ""),
        ],
    );

    let first = team.cmd().args(["apply", "-f", "a.yaml", "--auto-approve"]).spawn();
    wait_until("the first apply runs a setup", DEADLINE, || gate.started() > 0);

    let refused = team.run(&["apply", "-f", "b.yaml", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("locked"), "{refused}");
    assert!(
        refused.stderr.contains(&format!("(pid {})", first.pid())),
        "names the holder, which took the lease through the other hub\n{refused}"
    );
    assert!(!refused.stderr.contains("creating"), "{refused}");

    let waiting = team
        .cmd()
        .args(["apply", "-f", "b.yaml", "--auto-approve", "--lock-timeout", "60s", "-v"])
        .spawn();
    wait_until("the waiting apply is refused the lease", DEADLINE, || {
        waiting.stderr_so_far().contains("waiting for the hub lock")
    });
    gate.release();
    let first = first.wait();
    assert_eq!(first.code, 0, "{first}");
    let waiting = waiting.wait();
    assert_eq!(waiting.code, 0, "{waiting}");
    assert!(
        waiting
            .stderr
            .contains("Apply complete: 1 created, 1 updated, 0 replaced, 0 deleted"),
        "planned on what the first apply wrote through the other hub\n{waiting}"
    );

    let records = team.assert_one_truth("shared", 3);
    let versions: BTreeMap<&str, u64> = records.iter().map(|(a, (_, v))| (a.as_str(), *v)).collect();
    assert_eq!(
        versions,
        BTreeMap::from([("sandbox.a", 2), ("sandbox.b", 1), ("sandbox.c", 1)])
    );
    assert_eq!(team.serial(0, "shared"), 4, "four writes, none lost, none twice");
}

/// One hub killed in the middle of an apply that talks to it: the apply fails
/// naming that hub; pointed at the other hub, apply converges, and every
/// record written before the kill is there with its id.
#[test]
fn a_hub_killed_mid_apply_leaves_the_other_hub_to_converge() {
    let mut team = Team::new(2);
    slow_profile(&team);
    let entries: Vec<String> = (0..12)
        .map(|i| of_profile(&format!("s{i:02}"), "profile.slow"))
        .collect();
    team.manifest("a.yaml", 0, "failover", &entries);
    team.manifest("b.yaml", 1, "failover", &entries);

    let mut apply = team
        .cmd()
        .env("SANDBOXER_HUB_LEASE_TTL", "3s")
        .args(["apply", "-f", "a.yaml", "--auto-approve", "--parallelism", "2"])
        .spawn();
    wait_until("the other hub sees a few records", DEADLINE, || {
        team.records(1, "failover").len() >= 3
    });
    assert!(apply.is_running(), "the apply must still be running when its hub dies");
    let killed = team.hubs[0].stop_with("KILL");
    assert_eq!(killed.code, -1, "{killed}");
    let failed = apply.wait();
    assert_eq!(failed.code, 1, "{failed}");
    assert!(
        failed.stderr.contains(&format!("State Hub at {}", team.hubs[0].url())),
        "names the hub that went away\n{failed}"
    );
    let before = team.records(1, "failover");
    assert!(before.len() < 12, "the kill came half-way: {before:#?}");

    let again = team.ok(&["apply", "-f", "b.yaml", "--auto-approve", "--lock-timeout", "60s"]);
    assert!(again.stderr.contains("Apply complete"), "{again}");
    team.hubs.remove(0);
    let after = team.assert_one_truth("failover", 12);
    for (address, (id, _)) in &before {
        assert_eq!(&after[address].0, id, "{address} kept its id");
    }
    let third = team.ok(&["apply", "-f", "b.yaml", "--auto-approve"]);
    assert!(third.stdout.contains("No changes."), "{third}");
}

/// PostgreSQL stopped during an apply: the client fails naming the database,
/// the hub says so (503 on health) and keeps running; once the database is
/// back the hub answers again by itself and apply converges, every earlier
/// record kept.
#[test]
fn the_database_stopped_mid_apply_fails_clearly_and_the_hub_recovers_by_itself() {
    let server = PgServer::own("stopped");
    let url = server.database();
    let team = Team::on(&Store::Database(url), 1);
    slow_profile(&team);
    let entries: Vec<String> = (0..12)
        .map(|i| of_profile(&format!("s{i:02}"), "profile.slow"))
        .collect();
    team.manifest("sandboxes.yaml", 0, "outage", &entries);

    let apply = team
        .cmd()
        .env("SANDBOXER_HUB_LEASE_TTL", "3s")
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .spawn();
    wait_until("the hub holds a few records", DEADLINE, || {
        team.records(0, "outage").len() >= 3
    });
    let before = team.records(0, "outage");
    server.stop();

    let failed = apply.wait();
    assert_eq!(failed.code, 1, "{failed}");
    assert!(failed.stderr.contains("database"), "names the database\n{failed}");
    assert!(failed.stderr.contains("unreachable"), "{failed}");
    assert!(!failed.stderr.contains("Apply complete"), "{failed}");

    let health = team.hubs[0].call("GET", "/v1/health", None);
    assert_eq!(health.status, 503, "{health:?}");
    assert_eq!(health.json()["store"]["kind"], "postgres");
    assert_eq!(health.json()["store"]["reachable"], false);
    let listed = team.hubs[0].call("GET", "/v1/projects/outage/resources", None);
    assert_eq!(listed.status, 503, "{listed:?}");
    assert!(listed.body.contains("unreachable"), "{listed:?}");

    server.restart();
    wait_until("the hub answers again without a restart", DEADLINE, || {
        team.hubs[0].call("GET", "/v1/health", None).status == 200
    });
    let kept = team.records(0, "outage");
    for (address, entry) in &before {
        assert_eq!(
            kept.get(address),
            Some(entry),
            "{address}: nothing corrupt, nothing lost"
        );
    }
    let again = team.ok(&["apply", "--auto-approve", "--lock-timeout", "60s"]);
    assert!(again.stderr.contains("Apply complete"), "{again}");
    let after = team.assert_one_truth("outage", 12);
    for (address, (id, _)) in &before {
        assert_eq!(&after[address].0, id);
    }
}

/// Notes posted through two hubs at once for one sandbox: each note gets one
/// number, none is lost or given twice, and both hubs list them in one order.
#[test]
fn notes_through_two_hubs_at_once_are_all_there_once_in_one_order() {
    let team = Team::new(2);
    let (clients, each) = (6, 25);
    let posters: Vec<_> = (0..clients)
        .map(|c| {
            let addr = team.hubs[c % 2].addr();
            std::thread::spawn(move || {
                (0..each)
                    .map(|n| {
                        let text = format!("client {c} note {n}");
                        let reply = request(
                            addr,
                            "POST",
                            "/v1/sandboxes/both0001/notes",
                            Some(TOKEN),
                            &[],
                            Some(&note_body(&text)),
                        );
                        assert_eq!(reply.status, 201, "{reply:?}");
                        (reply.json()["cursor"].as_u64().expect("a cursor"), text)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut posted: Vec<(u64, String)> = posters.into_iter().flat_map(|p| p.join().expect("a poster")).collect();
    posted.sort();
    let total = (clients * each) as u64;
    let cursors: Vec<u64> = posted.iter().map(|(c, _)| *c).collect();
    assert_eq!(cursors, (1..=total).collect::<Vec<_>>(), "one number per note");
    let in_order: Vec<String> = posted.into_iter().map(|(_, t)| t).collect();
    for hub in &team.hubs {
        let listed = hub.call("GET", "/v1/sandboxes/both0001/notes?limit=500", None);
        assert_eq!(note_texts(&listed), in_order, "each note where its number says");
        assert_eq!(listed.json()["latest"], total);
    }
}

/// Hubs started together on a fresh database: the migration runs once, under
/// its lock, and both serve one lineage. `hub migrate` brings a database up
/// to date ahead of them, and says when there is nothing to do.
#[test]
fn hubs_starting_together_migrate_once_and_hub_migrate_says_what_it_did() {
    let server = support::postgres::shared();
    let url = server.database();
    let work = Workdir::new();
    let starters: Vec<_> = (0..3)
        .map(|i| {
            let (url, data) = (url.clone(), work.path().join(format!("data-{i}")));
            std::thread::spawn(move || HubProcess::start_in(&Store::Database(url), &data, Some(TOKEN), &[]))
        })
        .collect();
    let hubs: Vec<HubProcess> = starters.into_iter().map(|s| s.join().expect("a hub")).collect();
    let lineages: Vec<Value> = hubs
        .iter()
        .map(|h| h.call("GET", "/v1/health", None).json()["lineage"].clone())
        .collect();
    assert!(lineages[0].as_str().is_some_and(|l| !l.is_empty()));
    assert!(lineages.iter().all(|l| *l == lineages[0]), "{lineages:?}");
    let database = url.rsplit('/').next().expect("a database name");
    assert_eq!(
        server.psql(database, "SELECT count(*) FROM sandboxer_migrations"),
        Ok("1".to_string())
    );

    let fresh = server.database();
    let migrated = sandboxer().args(["hub", "migrate", "--store", &fresh]).run();
    assert_eq!(migrated.code, 0, "{migrated}");
    assert!(migrated.stderr.contains("applied migration 1"), "{migrated}");
    let again = sandboxer().args(["hub", "migrate", "--store", &fresh]).run();
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stderr.contains("up to date"), "{again}");

    // A hub's role that may only read and write rows starts on a migrated
    // database: it needs no right to create tables.
    for sql in [
        "CREATE ROLE hubrw LOGIN",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO hubrw",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ] {
        let database = fresh.rsplit('/').next().expect("a database name");
        if let Err(e) = server.psql(database, sql) {
            // The role is the server's, shared by the databases of this binary.
            assert!(e.contains("already exists"), "{sql}: {e}");
        }
    }
    let limited_url = fresh.replacen("postgres@", "hubrw@", 1);
    let limited = HubProcess::start_in(&Store::Database(limited_url), &work.path().join("rw"), Some(TOKEN), &[]);
    let body = json!({"record": record("sandbox.r", "rwrw0001"), "version": 0}).to_string();
    let written = limited.call("PUT", "/v1/projects/rw/resources/sandbox.r", Some(&body));
    assert_eq!(written.status, 200, "{written:?}");
    drop(limited);

    // A database a newer sandboxer migrated is refused, not written.
    let newer = fresh.rsplit('/').next().expect("a database name");
    server
        .psql(
            newer,
            "INSERT INTO sandboxer_migrations (version, name) VALUES (999, 'future')",
        )
        .expect("mark a future migration");
    let refused = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &fresh])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("schema version 999"), "{refused}");
}

/// The password, wherever it comes from, is never printed: not in the line
/// the hub starts with, not in an error about a URL that cannot be read, not
/// when the database refuses.
#[test]
fn the_database_password_never_reaches_output() {
    let server = support::postgres::shared();
    let url = server.database();
    let secret = "pw-Zq7xKp3vW9";
    // Trust authentication takes any password: the hub starts with this one.
    let with_password = url.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let work = Workdir::new();
    let hub = HubProcess::start_in(
        &Store::Database(with_password),
        &work.path().join("d"),
        Some(TOKEN),
        &[],
    );
    let said = hub.stderr_so_far();
    assert!(said.contains("store postgres://postgres@127.0.0.1:"), "{said}");
    assert!(!said.contains(secret), "{said}");
    let health = hub.call("GET", "/v1/health", None);
    assert!(!health.body.contains(secret), "{health:?}");

    let unreadable = format!("postgres://postgres:{secret}@127.0.0.1:notaport/db");
    let refused = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &unreadable])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(!refused.stderr.contains(secret), "{refused}");

    // From a file (a systemd credential): used, and never printed either.
    let password_file = work.write("db-password", format!("{secret}\n"));
    let from_file = HubProcess::start_in(
        &Store::Database(url.clone()),
        &work.path().join("f"),
        Some(TOKEN),
        &["--store-password-file", password_file.to_str().expect("a UTF-8 path")],
    );
    assert!(!from_file.stderr_so_far().contains(secret));
    let empty = work.write("empty-password", "\n");
    let refused_empty = sandboxer()
        .args([
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &url,
            "--store-password-file",
        ])
        .arg(&empty)
        .run();
    assert_eq!(refused_empty.code, 1, "{refused_empty}");
    assert!(
        refused_empty.stderr.contains("holds no database password"),
        "{refused_empty}"
    );

    let unset = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &url])
        .args(["--store-password-env", "SBX_TEST_NO_SUCH_PASSWORD"])
        .run();
    assert_eq!(unset.code, 1, "{unset}");
    assert!(unset.stderr.contains("SBX_TEST_NO_SUCH_PASSWORD"), "{unset}");

    // A database that is not there: the URL without its password, the reason.
    let nowhere = format!("postgres://postgres:{secret}@127.0.0.1:{}/db", free_port());
    let down = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &nowhere])
        .env("PGPASSWORD", secret)
        .run();
    assert_eq!(down.code, 1, "{down}");
    assert!(down.stderr.contains("cannot connect to the hub's database"), "{down}");
    assert!(!down.stderr.contains(secret), "{down}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A record body of `address` with `id`.
fn record(address: &str, id: &str) -> Value {
    json!({
        "address": address,
        "id": id,
        "profile": "profile.local-workspace",
        "driver": "local-workspace",
        "attributes": {"profile": "profile.local-workspace"},
        "spec_hash": "sha256:00",
        "digests": {},
        "facts": {"vm": "move-vm"},
        "depends_on": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    })
}

fn put(hub: &HubProcess, project: &str, address: &str, id: &str, version: u64) {
    let body = json!({"record": record(address, id), "version": version}).to_string();
    let reply = hub.call(
        "PUT",
        &format!("/v1/projects/{project}/resources/{address}"),
        Some(&body),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// Everything a client reads of a hub, to compare two hubs by.
fn everything(hub: &HubProcess) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for path in [
        "/v1/projects/moving/resources",
        "/v1/projects/other/resources",
        "/v1/projects/moving/lock",
        "/v1/projects/moving/sensitive-key",
        "/v1/sandboxes/movenote/notes",
        "/v1/sandboxes?vm=move-vm",
        "/v1/vms",
    ] {
        let reply = hub.call("GET", path, None);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        seen.insert(path.to_string(), reply.json());
    }
    seen
}

/// A file store with records, a live lease, notes (some dropped) and a VM
/// entry, copied into PostgreSQL: a hub on the database answers everything
/// the file hub answered, cursors and lineage included. Copying again adds
/// nothing; a record the database holds newer is never overwritten.
#[test]
fn migrate_store_copies_records_leases_notes_and_the_catalog_and_refuses_to_overwrite_newer() {
    let work = Workdir::new();
    let data = work.path().join("file-hub");
    let mut files = HubProcess::start_in(&Store::Files, &data, Some(TOKEN), &["--notes-keep", "4"]);
    for (address, id, writes) in [("sandbox.a", "mova0001", 3), ("sandbox.b", "movb0001", 1)] {
        for version in 0..writes {
            put(&files, "moving", address, id, version);
        }
    }
    put(&files, "other", "sandbox.z", "movz0001", 0);
    let lock = json!({
        "holder": {"id": "", "pid": 4242, "host": "build-host", "user": "ops", "command": "apply", "since": "2026-01-01T00:00:00Z"},
        "ttl_seconds": 3600
    });
    let taken = files.call("POST", "/v1/projects/moving/lock", Some(&lock.to_string()));
    assert_eq!(taken.status, 201, "{taken:?}");
    let lock_id = taken.json()["lock_id"].as_str().expect("a lock id").to_string();
    for n in 1..=7 {
        let posted = files.call(
            "POST",
            "/v1/sandboxes/movenote/notes",
            Some(&note_body(&format!("note {n}"))),
        );
        assert_eq!(posted.status, 201, "{posted:?}");
    }
    let vm = json!({"name": "move-vm", "observed_at": "2026-01-01T00:00:00Z", "capabilities": {
        "ghc": {"value": "9.6.4", "status": "present", "source": "probe", "observed_at": "2026-01-01T00:00:00Z"}
    }});
    assert_eq!(files.call("PUT", "/v1/vms/move-vm", Some(&vm.to_string())).status, 200);
    let lineage = files.call("GET", "/v1/health", None).json()["lineage"].clone();
    let before = everything(&files);
    let stopped = files.stop_with("TERM");
    assert_eq!(stopped.code, 0, "{stopped}");

    let url = support::postgres::shared().database();
    let copied = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .run();
    assert_eq!(copied.code, 0, "{copied}");
    assert!(
        copied.stderr.contains("3 records of 2 projects"),
        "says what it copied\n{copied}"
    );
    assert!(copied.stderr.contains("4 notes of 1 sandboxes"), "{copied}");

    let pg = HubProcess::start_in(
        &Store::Database(url.clone()),
        &work.path().join("pg"),
        Some(TOKEN),
        &["--notes-keep", "4"],
    );
    assert_eq!(pg.call("GET", "/v1/health", None).json()["lineage"], lineage);
    assert_eq!(
        everything(&pg),
        before,
        "the database hub answers what the file hub did"
    );
    let held = pg.call("POST", "/v1/projects/moving/lock", Some(&lock.to_string()));
    assert_eq!(held.status, 423, "the lease moved with its holder: {held:?}");
    let next = pg.call("POST", "/v1/sandboxes/movenote/notes", Some(&note_body("note 8")));
    assert_eq!(next.json()["cursor"], 8, "numbers go on");

    // Again: nothing is copied twice.
    let again = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .run();
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stderr.contains("0 records of 2 projects (3 already there)"),
        "{again}"
    );
    assert!(again.stderr.contains("0 notes"), "{again}");

    // The database moved on (a write under the lease that moved): a copy of
    // the older files is refused, whole.
    let body = json!({"record": record("sandbox.b", "movb0001"), "version": 1}).to_string();
    let written = request(
        pg.addr(),
        "PUT",
        "/v1/projects/moving/resources/sandbox.b",
        Some(TOKEN),
        &[("X-Sandboxer-Lock-Id", &lock_id)],
        Some(&body),
    );
    assert_eq!(written.status, 200, "{written:?}");
    let after_write = everything(&pg);
    let refused = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused
            .stderr
            .contains("project moving: the database is at serial 5, the files at 4"),
        "{refused}"
    );
    assert!(refused.stderr.contains("moved on"), "{refused}");
    assert_eq!(everything(&pg), after_write, "nothing was copied");

    // A record destroyed through the database's hubs does not come back from the files.
    let gone = pg.call("DELETE", "/v1/projects/other/resources/sandbox.z", None);
    assert_eq!(gone.status, 200, "{gone:?}");
    let again = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .run();
    assert_eq!(again.code, 1, "{again}");
    assert!(
        again
            .stderr
            .contains("project other: the database is at serial 2, the files at 1"),
        "{again}"
    );
    assert_eq!(
        pg.call("GET", "/v1/projects/other/resources/sandbox.z", None).status,
        404
    );

    // A data folder a hub still serves is not read: its journal could be folded mid-read.
    let mut serving = HubProcess::start_in(&Store::Files, &data, Some(TOKEN), &[]);
    let busy = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &url])
        .run();
    assert_eq!(busy.code, 1, "{busy}");
    assert!(busy.stderr.contains("a State Hub serves this data folder"), "{busy}");
    let second = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .run();
    assert_eq!(second.code, 1, "a second hub on one folder is refused\n{second}");
    assert!(
        second.stderr.contains("a State Hub serves this data folder"),
        "{second}"
    );
    serving.stop_with("TERM");

    // The first copy into a database hubs already serve is refused: they
    // would go on with the lineage they read when they started.
    let served = support::postgres::shared().database();
    let early = HubProcess::start_in(
        &Store::Database(served.clone()),
        &work.path().join("early"),
        Some(TOKEN),
        &[],
    );
    let refused = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&data)
        .args(["--to", &served])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("stop its hubs"), "{refused}");
    drop(early);

    // Another hub's state is not mixed into a database that holds one.
    let other_data: PathBuf = work.path().join("other-hub");
    let mut other = HubProcess::start_in(&Store::Files, &other_data, Some(TOKEN), &[]);
    put(&other, "moving", "sandbox.q", "movq0001", 0);
    other.stop_with("TERM");
    let mixed = sandboxer()
        .args(["hub", "migrate-store", "--from"])
        .arg(&other_data)
        .args(["--to", &url])
        .run();
    assert_eq!(mixed.code, 1, "{mixed}");
    assert!(mixed.stderr.contains("another hub"), "{mixed}");
}

/// A transaction that holds a project's lock and never ends (a hub frozen
/// half-way, an operator's psql session) does not hold up a hub's writes for
/// ever: the write gives up with a 503 saying the database is busy, and the
/// hub's other projects and its health are not held up meanwhile.
#[test]
fn a_project_locked_by_a_stuck_transaction_gets_a_503_not_a_hang() {
    let team = Team::new(1);
    let hub = &team.hubs[0];
    let body = |version: u64| json!({"record": record("sandbox.s", "stuk0001"), "version": version}).to_string();
    assert_eq!(
        hub.call("PUT", "/v1/projects/stuck/resources/sandbox.s", Some(&body(0)))
            .status,
        200
    );

    let url = hub.store_url().expect("a database").to_string();
    let database = url.rsplit('/').next().expect("a database name").to_string();
    let server = support::postgres::shared();
    // A session that takes the lock and then sits idle in its transaction,
    // reading its next statement from a pipe the test keeps open.
    let port = server.port().to_string();
    let mut holder = std::process::Command::new(server.psql_path())
        .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", &database])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start psql");
    {
        use std::io::Write;
        let stdin = holder.stdin.as_mut().expect("psql's stdin");
        stdin
            .write_all(b"BEGIN;\nSELECT 1 FROM projects WHERE name = 'stuck' FOR UPDATE;\n")
            .expect("write to psql");
        stdin.flush().expect("flush psql's stdin");
    }
    let mut holder = Killed(holder);
    wait_until("the other session holds the project's row", DEADLINE, || {
        server
            .psql(&database, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'projects' AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()")
            .is_ok_and(|n| n != "0")
    });

    let started = std::time::Instant::now();
    let waited = hub.call("PUT", "/v1/projects/stuck/resources/sandbox.s", Some(&body(1)));
    assert_eq!(waited.status, 503, "{waited:?}");
    assert!(waited.body.contains("busy"), "{waited:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "gave up after {:?}",
        started.elapsed()
    );
    // Other projects and the health check do not wait for it.
    let other = json!({"record": record("sandbox.o", "othr0001"), "version": 0}).to_string();
    assert_eq!(
        hub.call("PUT", "/v1/projects/free/resources/sandbox.o", Some(&other))
            .status,
        200
    );
    assert_eq!(hub.call("GET", "/v1/health", None).status, 200);

    let _ = holder.0.kill();
    let _ = holder.0.wait();
    wait_until("the write goes through once the lock is let go", DEADLINE, || {
        hub.call("PUT", "/v1/projects/stuck/resources/sandbox.s", Some(&body(1)))
            .status
            == 200
    });
}

/// A child killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sslmode=require`: the hub talks to its database over TLS, checking the
/// server's certificate against the system's CAs and `--store-ca`; a
/// certificate of an unknown CA is refused at start, naming the problem.
#[test]
fn sslmode_require_talks_tls_to_the_database_and_checks_its_certificate() {
    let work = Workdir::new();
    let ca = support::tls::TestCa::make(&work.path().join("certs"));
    let server = PgServer::own_with_tls("tls", &ca.server_pem(), &ca.server_key());
    let url = format!("{}?sslmode=require", server.database());
    let ca_file = ca.ca_pem().display().to_string();

    // Without the CA: the certificate is not trusted, and the hub does not start.
    let refused = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &url])
        .run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("cannot connect to the hub's database"),
        "{refused}"
    );
    assert!(refused.stderr.to_lowercase().contains("certificate"), "{refused}");

    // A file that holds no certificate is refused, naming it, before any connection.
    let not_a_ca = work.write("not-a-ca.pem", "hello\n");
    let bad = sandboxer()
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--store", &url, "--store-ca"])
        .arg(&not_a_ca)
        .run();
    assert_eq!(bad.code, 1, "{bad}");
    assert!(
        bad.stderr.contains("--store-ca") && bad.stderr.contains("no certificate in it"),
        "{bad}"
    );

    // With it: the hub starts, and its connections are TLS.
    let hub = HubProcess::start_in(
        &Store::Database(url.clone()),
        &work.path().join("d"),
        Some(TOKEN),
        &["--store-ca", &ca_file],
    );
    let body = json!({"record": record("sandbox.t", "tlst0001"), "version": 0}).to_string();
    assert_eq!(
        hub.call("PUT", "/v1/projects/tls/resources/sandbox.t", Some(&body))
            .status,
        200
    );
    let database = url
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .expect("a database name");
    let encrypted = server
        .psql(
            database,
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = 'sandboxer-hub' AND s.ssl",
        )
        .expect("ask the server");
    assert_ne!(encrypted, "0", "the hub's connections use TLS");
    let plain = server
        .psql(
            database,
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = 'sandboxer-hub' AND NOT s.ssl",
        )
        .expect("ask the server");
    assert_eq!(plain, "0", "no plain connection");
}
