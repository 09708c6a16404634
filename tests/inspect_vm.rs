//! `sandboxer inspect vm/NAME` and `sandboxer list --vm NAME`: one VM across
//! projects, with two projects applied through a real State Hub
//! (`tests/support/hub.rs`) onto real sshd "VMs" on loopback
//! (`tests/support/vms.rs`).

mod support;

use serde_json::Value;

use support::hub::HubProcess;
use support::manifests::{entry, manifest};
use support::records;
use support::vms::{RuntimeDir, TestBed};
use support::{Cli, Sandboxer, Workdir};

/// A bed of two VMs, a hub, and one folder per project.
struct World {
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
    hub: HubProcess,
}

impl World {
    fn start() -> World {
        let bed = TestBed::start(2);
        let work = Workdir::new();
        let hub = HubProcess::start(&work.path().join("hub-data"), None);
        work.write("repo/README.md", "hello\n");
        World {
            run: RuntimeDir::new(),
            bed,
            work,
            hub,
        }
    }

    /// Applies project `project` in its own folder with `sandboxes` as (name, VM number).
    fn apply(&self, project: &str, sandboxes: &[(&str, usize)]) {
        let entries: Vec<String> = sandboxes
            .iter()
            .map(|(name, k)| {
                let root = self.bed.vm(*k).build_root().display();
                entry(
                    name,
                    "profile.vm-haskell-build",
                    &format!(
                        "    inputs:\n      vm: vm{k}\n      workspace_root: \"{root}\"\n      repo: ../repo\n      connect_timeout: 2s\n"
                    ),
                )
            })
            .collect();
        self.work
            .write(format!("{project}/sandboxes.yaml"), manifest(project, &entries));
        let out = self
            .cmd()
            .current_dir(self.work.path().join(project))
            .args(["apply", "--auto-approve"])
            .run();
        assert_eq!(out.code, 0, "apply {project}\n{out}");
    }
}

impl Cli for World {
    /// Runs in the work folder (no manifest there): the hub is the store.
    fn cmd(&self) -> Sandboxer {
        self.bed
            .sandboxer_in(self.work.path(), &self.run)
            .arg("--hub")
            .arg(self.hub.url())
    }
}

/// (project, address, observed) of each resource of `inspect vm/NAME --json`.
fn observed(value: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut rows: Vec<_> = value["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| (text(&r["project"]), text(&r["record"]["address"]), text(&r["observed"])))
        .collect();
    rows.sort();
    rows
}

#[test]
fn inspect_vm_shows_every_project_on_the_vm_and_what_is_there() {
    let mut world = World::start();
    world.apply("alpha", &[("app", 1)]);
    world.apply("beta", &[("web", 1), ("other", 2)]);
    // A folder no record names, as an interrupted create leaves one.
    let stray = world.bed.vm(1).build_root().join("sbx-stray");
    std::fs::create_dir(&stray).expect("make a stray workspace");

    let out = world.ok(&["inspect", "vm/vm1"]);
    let text = &out.stdout;
    assert!(text.starts_with("vm/vm1\n"), "{out}");
    assert!(text.contains("reachable: yes"), "{out}");
    assert!(text.contains("alpha sandbox.app"), "{out}");
    assert!(text.contains("beta sandbox.web"), "{out}");
    assert!(!text.contains("sandbox.other"), "vm2's sandbox is not on vm1\n{out}");
    assert_eq!(text.matches(": present\n").count(), 2, "{out}");
    assert!(
        text.contains(&format!("workspaces without a record:\n    {}\n", stray.display())),
        "{out}"
    );

    let json: Value = serde_json::from_str(&world.ok(&["inspect", "vm/vm1", "--json"]).stdout).expect("JSON");
    support::check_against_schema("inspect-vm-output", &json);
    assert_eq!(
        observed(&json),
        [
            ("alpha".into(), "sandbox.app".into(), "present".into()),
            ("beta".into(), "sandbox.web".into(), "present".into()),
        ]
    );
    for r in json["resources"].as_array().expect("resources") {
        assert!(
            r["notes"].as_array().is_some_and(|n| !n.is_empty()),
            "each sandbox's last notes: {r}"
        );
    }

    // The tunnel port: the records name none (the ssh config has it); the port registry does.
    assert!(text.contains("tunnel port: (the ssh config's)"), "{out}");
    let registry = world.work.write(
        "ports.yaml",
        format!("version: 1\nports:\n  {}: vm1\n", world.bed.vm(1).port()),
    );
    let out = world
        .cmd()
        .env("SANDBOXER_PORT_REGISTRY", &registry)
        .args(["inspect", "vm/vm1"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("tunnel port: {}\n", world.bed.vm(1).port())),
        "{out}"
    );
    assert!(out.stdout.contains("reachable: yes"), "{out}");

    // A VM that is down: the records are still listed, the VM reported.
    world.bed.stop_vm(1);
    let out = world.ok(&["inspect", "vm/vm1", "--json"]);
    let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
    support::check_against_schema("inspect-vm-output", &json);
    assert_eq!(json["reachable"], Value::Bool(false), "{out}");
    assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{out}");
    assert_eq!(
        observed(&json),
        [
            ("alpha".into(), "sandbox.app".into(), "not looked at".into()),
            ("beta".into(), "sandbox.web".into(), "not looked at".into()),
        ]
    );

    // Never an option on an ssh command line.
    let refused = world.expect(1, &["inspect", "vm/-oProxyCommand=x"]);
    assert!(refused.stderr.contains("must not start with `-`"), "{refused}");
}

#[test]
fn list_vm_keeps_the_records_on_that_vm_only() {
    let world = World::start();
    world.apply("alpha", &[("app", 1)]);
    world.apply("beta", &[("web", 1), ("other", 2)]);

    let pairs = |args: &[&str]| -> Vec<(String, String)> {
        records::listed(&world.ok(args))
            .into_iter()
            .map(|l| (l.project, l.address))
            .collect()
    };
    assert_eq!(pairs(&["list", "--json"]).len(), 3);
    assert_eq!(
        pairs(&["list", "--json", "--vm", "vm1"]),
        [
            ("alpha".to_string(), "sandbox.app".to_string()),
            ("beta".to_string(), "sandbox.web".to_string())
        ]
    );
    assert_eq!(
        pairs(&["list", "--json", "--vm", "vm2"]),
        [("beta".to_string(), "sandbox.other".to_string())]
    );
    let table = world.ok(&["list", "--vm", "vm2"]);
    assert!(table.stdout.contains("sandbox.other"), "{table}");
    assert!(!table.stdout.contains("sandbox.app"), "{table}");
}
