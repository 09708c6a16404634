//! `sandboxer doctor`: the bridge status, run as the real binary against real
//! sshd "VMs" on loopback (`tests/support/vms.rs`), the real `packer` with
//! null-builder templates (`tests/support/packer.rs`) and a real
//! `sandboxer hub serve` (`tests/support/hub.rs`).
//!
//! Each test checks what an operator sees — the lines of the table, their
//! hints, `--json`, the exit code — and that nothing was changed but the
//! capability catalog of the VMs probed: no state, no lock, nothing in the
//! workspace roots, known_hosts as it was.

mod support;

use std::path::Path;

use serde_json::Value;

use support::hub::HubProcess;
use support::manifests::{entry, local, manifest, manifest_with};
use support::packer::{PackerDirs, RECORDING};
use support::vms::{RuntimeDir, TestBed};
use support::{Cli, Output, Sandboxer, Workdir, read, sandboxer, snapshot};

/// VMs and a folder to run sandboxer in.
struct World {
    /// `XDG_RUNTIME_DIR` of every run (first: masters exit before the VMs stop).
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
}

impl World {
    fn start(n: usize) -> World {
        World {
            run: RuntimeDir::new(),
            bed: TestBed::start(n),
            work: Workdir::new(),
        }
    }

    /// A sandbox on VM `k` through its tunnel port, in its workspace root (or `root`).
    fn sandbox(&self, name: &str, k: usize, root: &Path) -> String {
        entry(
            name,
            "profile.vm-haskell-build",
            &format!(
                "    inputs:\n      vm: vm{k}\n      tunnel_port: {}\n      workspace_root: \"{}\"\n      connect_timeout: 2s\n",
                self.bed.vm(k).port(),
                root.display()
            ),
        )
    }

    /// `sandboxes.yaml` with one sandbox per VM, each in the VM's own root.
    fn manifest_of_every_vm(&self) {
        let entries: Vec<String> = (1..=self.bed.len())
            .map(|k| self.sandbox(&format!("app{k}"), k, self.bed.vm(k).build_root()))
            .collect();
        self.work.write("sandboxes.yaml", manifest("bridge", &entries));
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.work.path().join("state")
    }
}

impl Cli for World {
    fn cmd(&self) -> Sandboxer {
        self.bed
            .sandboxer_in(self.work.path(), &self.run)
            .arg("--state-dir")
            .arg(self.state_dir())
    }
}

/// One line of the report, from `--json`.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    scope: String,
    check: String,
    ok: Option<bool>,
    detail: String,
    hint: Option<String>,
}

fn json_lines(out: &Output) -> Vec<Line> {
    let value: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{out}"));
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array\n{out}"))
        .iter()
        .map(|v| Line {
            scope: v["scope"].as_str().expect("scope").to_string(),
            check: v["check"].as_str().expect("check").to_string(),
            ok: v["ok"].as_bool(),
            detail: v["detail"].as_str().expect("detail").to_string(),
            hint: v["hint"].as_str().map(str::to_string),
        })
        .collect()
}

/// The table's row of `scope` and `check`: its words, and its hint line if any.
fn row<'a>(out: &'a Output, scope: &str, check: &str) -> (Vec<&'a str>, Option<&'a str>) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let index = lines
        .iter()
        .position(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.first() == Some(&scope) && words.get(1) == Some(&check)
        })
        .unwrap_or_else(|| panic!("no line for {scope} {check}\n{out}"));
    let hint = lines
        .get(index + 1)
        .map(|l| l.trim_start())
        .filter(|l| l.starts_with("hint: "));
    (lines[index].split_whitespace().collect(), hint)
}

fn status<'a>(out: &'a Output, scope: &str, check: &str) -> &'a str {
    row(out, scope, check).0[2]
}

const VM_CHECKS: [&str; 8] = [
    "tcp",
    "banner",
    "host-key",
    "auth",
    "rsync",
    "workspace-root",
    "disk",
    "capabilities",
];

/// Doctor writes only the capability catalog of the VMs it probed: a state
/// folder holding `vms/` and nothing else (no state, no lock, no key).
fn assert_only_catalog(state_dir: &std::path::Path, vms: &[&str]) {
    let entries = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let expected_top: Vec<String> = if vms.is_empty() { Vec::new() } else { vec!["vms".into()] };
    assert_eq!(entries(state_dir), expected_top, "{}", state_dir.display());
    let files: Vec<String> = vms.iter().map(|vm| format!("{vm}.json")).collect();
    assert_eq!(entries(&state_dir.join("vms")), files);
}

#[test]
fn a_down_vm_and_a_changed_host_key_fail_with_their_hints_and_the_healthy_vm_is_all_ok() {
    let mut world = World::start(3);
    world.manifest_of_every_vm();
    world.bed.stop_vm(1);
    world.bed.regenerate_host_key(2);
    let known_hosts = read(world.bed.known_hosts());
    let roots: Vec<_> = (1..=3).map(|k| snapshot::take(world.bed.vm(k).build_root())).collect();

    let out = world.expect(1, &["doctor"]);

    // vm1 is down: its tunnel port refuses, and nothing after it is tried.
    let (words, hint) = row(&out, "vm1", "tcp");
    assert_eq!(words[2], "fail", "{out}");
    let hint = hint.unwrap_or_else(|| panic!("a hint for vm1\n{out}"));
    assert!(
        hint.contains(&format!("tunnel port {}", world.bed.vm(1).port())),
        "{out}"
    );
    for check in &VM_CHECKS[1..] {
        assert_eq!(status(&out, "vm1", check), "skipped", "{check}\n{out}");
    }

    // vm2 answers, but with another host key: ssh's own `ssh-keygen -R` line is the way out.
    assert_eq!(status(&out, "vm2", "tcp"), "ok", "{out}");
    assert_eq!(status(&out, "vm2", "banner"), "ok", "{out}");
    let (words, hint) = row(&out, "vm2", "host-key");
    assert_eq!(words[2], "fail", "{out}");
    let keygen = format!(
        "ssh-keygen -f \"{}\" -R \"[127.0.0.1]:{}\"",
        world.bed.known_hosts().display(),
        world.bed.vm(2).port()
    );
    assert!(hint.is_some_and(|h| h.contains(&keygen)), "{keygen}\n{out}");
    assert!(!out.stdout.contains("@@@@"), "{out}");
    for check in &VM_CHECKS[3..] {
        assert_eq!(status(&out, "vm2", check), "skipped", "{check}\n{out}");
    }

    // vm3 is healthy: every check passes, with what it found.
    for check in VM_CHECKS {
        assert_eq!(status(&out, "vm3", check), "ok", "{check}\n{out}");
    }
    assert!(row(&out, "vm3", "banner").0.join(" ").contains("SSH-2.0-"), "{out}");
    assert!(row(&out, "vm3", "disk").0.join(" ").contains("GiB free"), "{out}");
    assert!(out.stderr.contains("2 checks failed"), "{out}");

    // --json says the same, line for line.
    let json = world.expect(1, &["doctor", "--json"]);
    let lines = json_lines(&json);
    let table_rows = out
        .stdout
        .lines()
        .filter(|l| !l.trim_start().starts_with("hint: "))
        .count()
        - 1;
    assert_eq!(lines.len(), table_rows, "{json}\n{out}");
    let find = |scope: &str, check: &str| {
        lines
            .iter()
            .find(|l| l.scope == scope && l.check == check)
            .unwrap_or_else(|| panic!("no {scope} {check}\n{json}"))
    };
    assert_eq!(find("vm1", "tcp").ok, Some(false), "{json}");
    assert_eq!(find("vm1", "banner").ok, None, "skipped is null\n{json}");
    assert!(
        find("vm2", "host-key")
            .hint
            .as_deref()
            .is_some_and(|h| h.contains(&keygen)),
        "{json}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.scope == "vm3")
            .all(|l| l.ok == Some(true) && l.hint.is_none())
    );
    assert_eq!(lines.iter().filter(|l| l.scope == "vm3").count(), VM_CHECKS.len());

    // --vm narrows to the healthy one: exit 0.
    let only = world.ok(&["doctor", "--vm", "vm3"]);
    assert!(!only.stdout.contains("vm1") && !only.stdout.contains("vm2"), "{only}");
    let unknown = world.expect(1, &["doctor", "--vm", "vm9"]);
    assert!(unknown.stderr.contains("known VMs: vm1, vm2, vm3"), "{unknown}");

    // Nothing changed anywhere.
    assert_only_catalog(&world.state_dir(), &["vm3"]);
    assert_eq!(read(world.bed.known_hosts()), known_hosts, "known_hosts not rewritten");
    for (k, before) in (1..=3).zip(&roots) {
        snapshot::assert_unchanged(world.bed.vm(k).build_root(), before, &format!("vm{k}'s root"));
    }
}

#[test]
fn all_healthy_is_exit_0_and_a_missing_root_is_not_a_failure() {
    let world = World::start(2);
    let missing = world.bed.vm(2).build_root().join("not-yet");
    let entries = [
        world.sandbox("one", 1, world.bed.vm(1).build_root()),
        world.sandbox("two", 2, &missing),
    ];
    world.work.write("sandboxes.yaml", manifest("bridge", &entries));
    let before = snapshot::take(world.bed.vm(1).build_root());

    let out = world.ok(&["doctor"]);
    for k in 1..=2 {
        for check in VM_CHECKS {
            assert_eq!(status(&out, &format!("vm{k}"), check), "ok", "vm{k} {check}\n{out}");
        }
    }
    let (words, _) = row(&out, "vm2", "workspace-root");
    assert!(words.join(" ").contains("apply creates it"), "{out}");
    assert!(!missing.exists(), "doctor does not make the root");
    snapshot::assert_unchanged(world.bed.vm(1).build_root(), &before, &"the probe folder is removed");
    assert_only_catalog(&world.state_dir(), &["vm1", "vm2"]);

    // With --ssh-persist, a run finds the master an earlier one left warm, and logs in no more.
    let persist = |args: &[&str]| world.cmd().args(["--ssh-persist", "60s"]).args(args).run();
    assert_eq!(persist(&["doctor", "--vm", "vm1"]).code, 0);
    let logins = world.bed.accepted_connections(1);
    let out = persist(&["doctor", "--vm", "vm1"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        world.bed.accepted_connections(1),
        logins,
        "the warm master is reused\n{out}"
    );
    assert!(
        row(&out, "vm1", "auth").0.join(" ").contains("warm ssh master reused"),
        "{out}"
    );
}

#[test]
fn packer_is_found_and_each_template_is_validated_with_its_vars() {
    let work = Workdir::new();
    let dirs = PackerDirs::make(work.path());
    dirs.template("good", RECORDING);
    dirs.template("broken", "this is { not a template\n");
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: images\nimages:\n  good:\n    profile: profile.vm-packer-build\n    inputs:\n      \
         packer_template: ./tpl/good\n      vm_name: good-vm\n      packer_var_x: b\n  \
         broken:\n    profile: profile.vm-packer-build\n    inputs:\n      packer_template: ./tpl/broken\n      \
         vm_name: broken-vm\n",
    );
    let state = dirs.state();
    let before = snapshot::take(work.path());
    let run = |args: &[&str]| dirs.command(sandboxer().current_dir(work.path())).args(args).run();

    let out = run(&["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    let (words, _) = row(&out, "packer", "packer");
    assert_eq!(words[2], "ok", "{out}");
    assert!(words.join(" ").contains("Packer v"), "{out}");
    assert_eq!(status(&out, "image.good", "template"), "ok", "{out}");
    let (words, hint) = row(&out, "image.broken", "template");
    assert_eq!(words[2], "fail", "{out}");
    assert!(hint.is_some_and(|h| h.contains("packer validate")), "{out}");

    let lines = json_lines(&run(&["doctor", "--json"]));
    let oks: Vec<(&str, Option<bool>)> = lines.iter().map(|l| (l.scope.as_str(), l.ok)).collect();
    assert_eq!(
        oks,
        [
            ("packer", Some(true)),
            ("image.broken", Some(false)),
            ("image.good", Some(true))
        ]
    );

    // Packer that is not there: its line fails, the templates are skipped.
    let missing = dirs
        .command(sandboxer().current_dir(work.path()))
        .env("SANDBOXER_PACKER", work.path().join("no-packer"))
        .args(["doctor"])
        .run();
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        row(&missing, "packer", "packer")
            .1
            .is_some_and(|h| h.contains("SANDBOXER_PACKER"))
    );
    assert_eq!(status(&missing, "image.good", "template"), "skipped", "{missing}");

    snapshot::assert_unchanged(work.path(), &before, &"doctor writes nothing");
    assert!(
        support::workspaces::entry_count(&state) == 0,
        "the state folder stays empty"
    );
}

#[test]
fn the_hub_is_reachable_and_its_token_accepted_or_refused_with_a_hint() {
    const TOKEN_ENV: &str = "SBX_TEAM_TOKEN";
    let data = Workdir::new();
    let hub = HubProcess::start(data.path(), Some("right-token"));
    let work = Workdir::new();
    let top = format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", hub.url());
    work.write("sandboxes.yaml", manifest_with("team", &top, &[local("here", "")]));
    let hub_data = snapshot::take(data.path());
    let run = |token: &str, args: &[&str]| {
        sandboxer()
            .current_dir(work.path())
            .env(TOKEN_ENV, token)
            .args(args)
            .run()
    };

    let out = run("right-token", &["doctor"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(status(&out, "hub", "reachable"), "ok", "{out}");
    assert_eq!(status(&out, "hub", "token"), "ok", "{out}");
    let (words, _) = row(&out, "hub", "lease");
    assert_eq!(words[2..].join(" "), "ok free", "{out}");

    let out = run("wrong-token", &["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(status(&out, "hub", "reachable"), "ok", "{out}");
    let (words, hint) = row(&out, "hub", "token");
    assert_eq!(words[2], "fail", "{out}");
    assert!(hint.is_some_and(|h| h.contains(TOKEN_ENV)), "{out}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains("wrong-token") && !all.contains("right-token"),
        "no secret printed\n{out}"
    );

    let lines = json_lines(&run("wrong-token", &["doctor", "--json"]));
    assert_eq!(
        lines.iter().map(|l| (l.check.as_str(), l.ok)).collect::<Vec<_>>(),
        [("reachable", Some(true)), ("token", Some(false)), ("lease", None)]
    );

    // Read only: no lease taken, no record written, no local state.
    snapshot::assert_unchanged(data.path(), &hub_data, &"the hub's data");
    assert!(!work.path().join(".sandboxer").exists(), "{:?}", work.entries());

    // Someone holds the lease: doctor names them, and leaves the lease as it was.
    let body = r#"{"holder": {"id": "", "pid": 4242, "host": "build-01", "user": "ana", "command": "apply", "since": "2026-01-01T00:00:00Z"}, "ttl_seconds": 600}"#;
    let taken = hub.call("POST", "/v1/projects/team/lock", Some(body));
    assert_eq!(taken.status, 201, "{taken:?}");
    let hub_data = snapshot::take(data.path());
    let out = run("right-token", &["doctor"]);
    assert_eq!(out.code, 0, "a held lease is no failure\n{out}");
    let (words, _) = row(&out, "hub", "lease");
    let detail = words[3..].join(" ");
    assert!(
        detail.starts_with("held by apply by ana@build-01 (pid 4242) since 2026-01-01T00:00:00Z"),
        "{out}"
    );
    let still = hub.call("GET", "/v1/projects/team/lock", None);
    assert_eq!(still.json()["lease"]["lock_id"], taken.json()["lock_id"], "{still:?}");
    assert_eq!(
        still.json()["lease"]["expires_at"],
        taken.json()["expires_at"],
        "not renewed\n{still:?}"
    );
    snapshot::assert_unchanged(data.path(), &hub_data, &"the hub's data under a lease");
}

#[test]
fn a_vm_only_the_port_registry_names_is_checked_on_its_registered_port() {
    let world = World::start(2);
    let registry = format!(
        "version: 1\nports:\n  {}: vm1\n  {}: vm2\n",
        world.bed.vm(1).port(),
        world.bed.vm(2).port()
    );
    world.work.write("ports.yaml", registry);
    // vm1 has a sandbox (no tunnel_port: the registry gives it); vm2 only its registry line.
    let sandbox = entry(
        "one",
        "profile.vm-haskell-build",
        &format!(
            "    inputs:\n      vm: vm1\n      workspace_root: \"{}\"\n",
            world.bed.vm(1).build_root().display()
        ),
    );
    world.work.write(
        "sandboxes.yaml",
        manifest_with("bridge", "port_registry: ports.yaml\n", &[sandbox]),
    );

    let lines = json_lines(&world.ok(&["doctor", "--json"]));
    let checks = |scope: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.scope == scope)
            .map(|l| l.check.as_str())
            .collect()
    };
    assert_eq!(checks("vm1"), VM_CHECKS);
    // No root is declared for vm2: no root or disk line.
    assert_eq!(checks("vm2"), [&VM_CHECKS[..5], &VM_CHECKS[7..]].concat());
    let tcp = lines
        .iter()
        .find(|l| l.scope == "vm2" && l.check == "tcp")
        .expect("a tcp line for vm2");
    assert!(tcp.detail.contains(&world.bed.vm(2).port().to_string()), "{tcp:?}");
    assert!(lines.iter().all(|l| l.ok == Some(true)), "{lines:?}");
}

#[test]
fn a_port_that_accepts_but_never_speaks_fails_the_banner_within_the_timeout() {
    let world = World::start(1);
    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = silent.local_addr().expect("its address").port();
    let entry = entry(
        "mute",
        "profile.vm-haskell-build",
        &format!(
            "    inputs:\n      vm: vm1\n      tunnel_port: {port}\n      workspace_root: \"{}\"\n",
            world.bed.vm(1).build_root().display()
        ),
    );
    world.work.write("sandboxes.yaml", manifest("bridge", &[entry]));

    let out = world.expect(1, &["doctor", "--timeout", "1s"]);
    assert_eq!(status(&out, "vm1", "tcp"), "ok", "{out}");
    let (words, hint) = row(&out, "vm1", "banner");
    assert_eq!(words[2], "fail", "{out}");
    assert!(words.join(" ").contains("no answer within 1s"), "{out}");
    assert!(hint.is_some_and(|h| h.contains("something other than sshd")), "{out}");
    assert_eq!(status(&out, "vm1", "host-key"), "skipped", "{out}");
    drop(silent);
}
