//! The capability catalog and `requires:`, run as the real binary against real
//! sshd "VMs" on loopback (`tests/support/vms.rs`) and a real State Hub
//! (`tests/support/hub.rs`).
//!
//! Each VM gets its own fake `ghc` and `cabal` (scripts that print a version
//! and count their runs in a file): the profile of the test puts
//! `tools/<vm>/` on `PATH` in its `shell_prelude`, which the probes run after,
//! so the same ssh user sees different programs on each VM. A `stall` probe
//! never ends, and must time out alone.

mod support;

use std::path::PathBuf;

use serde_json::Value;

use support::hub::HubProcess;
use support::manifests::{entry, manifest_with};
use support::vms::{RuntimeDir, TestBed};
use support::{Cli, Sandboxer, Workdir, read};

/// Two VMs, a hub, a work folder with the test's profile and fake tools.
struct World {
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
    hub: HubProcess,
}

/// `profile.vm-caps`: the built-in Haskell profile with probes.
fn profile(tools: &str) -> String {
    let builtin = read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles/vm-haskell-build.yaml"));
    // Its inputs and sync rules; its own prelude and probes are replaced.
    let base: Vec<&str> = builtin
        .lines()
        .take_while(|l| !l.starts_with("shell_prelude:"))
        .map(|l| {
            if l.starts_with("name:") {
                "name: profile.vm-caps"
            } else {
                l
            }
        })
        .collect();
    format!(
        "{}\nshell_prelude: 'PATH=\"{tools}/$TESTBED_VM:$PATH\"; export PATH'\n\
         capabilities:\n  ghc: ghc --numeric-version\n  cabal: cabal --numeric-version\n  stall: stall\n\
         probe_timeout: 2s\n",
        base.join("\n")
    )
}

impl World {
    fn start() -> World {
        let bed = TestBed::start(2);
        let work = Workdir::new();
        let hub = HubProcess::start(&work.path().join("hub-data"), None);
        work.write("repo/README.md", "hello\n");
        let tools = work.path().join("tools");
        let tool = |vm: &str, name: &str, body: &str| {
            let path = work.write(format!("tools/{vm}/{name}"), format!("#!/bin/sh\n{body}\n"));
            make_executable(&path);
        };
        for (vm, ghc) in [("vm1", "9.4.8"), ("vm2", "9.6.4")] {
            let runs = tools.join(vm).join("ghc.runs");
            tool(vm, "ghc", &format!("echo run >> '{}'\necho {ghc}", runs.display()));
            tool(vm, "stall", "exec sleep 600");
        }
        tool("vm1", "cabal", "echo 3.10.2.1");
        work.write("profiles/vm-caps.yaml", profile(&tools.display().to_string()));
        World {
            run: RuntimeDir::new(),
            bed,
            work,
            hub,
        }
    }

    /// A sandbox entry of `profile.vm-caps` on VM `k`, with `requires` lines.
    fn sandbox(&self, name: &str, k: usize, requires: &str) -> String {
        let root = self.bed.vm(k).build_root().display();
        entry(
            name,
            "profile.vm-caps",
            &format!(
                "    inputs:\n      vm: vm{k}\n      workspace_root: \"{root}\"\n      repo: ./repo\n      connect_timeout: 2s\n{requires}"
            ),
        )
    }

    fn write_manifest(&self, entries: &[String]) {
        let hub = format!("hub:\n  url: {}\n", self.hub.url());
        self.work.write("sandboxes.yaml", manifest_with("caps", &hub, entries));
    }

    /// How many times the fake ghc of `vm` ran.
    fn ghc_runs(&self, vm: &str) -> usize {
        std::fs::read_to_string(self.work.path().join("tools").join(vm).join("ghc.runs"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// The hub's catalog entry of `vm`.
    fn catalog(&self, vm: &str) -> Value {
        let reply = self.hub.call("GET", &format!("/v1/vms/{vm}"), None);
        assert_eq!(reply.status, 200, "GET /v1/vms/{vm}: {}", reply.body);
        reply.json()
    }
}

impl Cli for World {
    fn cmd(&self) -> Sandboxer {
        self.bed.sandboxer_in(self.work.path(), &self.run)
    }
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod a tool");
}

#[test]
fn the_hub_catalog_shows_each_vm_with_versions_facts_and_absences_and_a_young_entry_is_not_probed_again() {
    let world = World::start();
    world.write_manifest(&[world.sandbox("a", 1, ""), world.sandbox("b", 2, "")]);
    world.ok(&["plan"]);
    assert_eq!((world.ghc_runs("vm1"), world.ghc_runs("vm2")), (1, 1));

    let vm1 = world.catalog("vm1");
    let caps = &vm1["capabilities"];
    assert_eq!(caps["ghc"]["value"], "9.4.8", "{vm1}");
    assert_eq!(caps["ghc"]["source"], "probe");
    assert_eq!(caps["cabal"]["value"], "3.10.2.1");
    for fact in ["os", "arch", "cores", "memory"] {
        assert_eq!(caps[fact]["status"], "present", "{fact}: {vm1}");
        assert_eq!(caps[fact]["source"], "fact");
    }
    assert!(
        caps["cores"]["value"]
            .as_str()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| c >= 1)
    );
    let root = world.bed.vm(1).build_root().display().to_string();
    assert_eq!(vm1["free_disk"][&root]["status"], "present", "{vm1}");
    assert!(vm1["observed_at"].as_str().is_some_and(|t| !t.is_empty()));
    // The probe that never ends timed out alone; the rest is there.
    assert_eq!(caps["stall"]["status"], "timed_out", "{vm1}");

    let vm2 = world.catalog("vm2");
    assert_eq!(vm2["capabilities"]["ghc"]["value"], "9.6.4", "{vm2}");
    assert_eq!(vm2["capabilities"]["cabal"]["status"], "absent", "{vm2}");

    let listed = world.hub.call("GET", "/v1/vms", None).json();
    let names: Vec<&str> = listed["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["vm1", "vm2"]);

    // Within the TTL: no probe.
    world.ok(&["plan"]);
    assert_eq!((world.ghc_runs("vm1"), world.ghc_runs("vm2")), (1, 1));
    // doctor probes again, whatever the age; so does --refresh-capabilities.
    let out = world.ok(&["doctor", "--vm", "vm2"]);
    assert!(out.stdout.contains("ghc 9.6.4"), "{out}");
    assert!(out.stdout.contains("cabal absent"), "{out}");
    assert_eq!((world.ghc_runs("vm1"), world.ghc_runs("vm2")), (1, 2));
    world.ok(&["apply", "--auto-approve", "--refresh-capabilities"]);
    assert_eq!((world.ghc_runs("vm1"), world.ghc_runs("vm2")), (2, 3));
    // An entry older than --capabilities-ttl is probed again.
    world.ok(&["plan", "--capabilities-ttl", "0s"]);
    assert_eq!((world.ghc_runs("vm1"), world.ghc_runs("vm2")), (3, 4));

    // What operators read.
    let out = world.ok(&["list", "--vms"]);
    assert!(out.stdout.contains("vm1") && out.stdout.contains("ghc 9.4.8"), "{out}");
    assert!(out.stdout.contains("cabal absent"), "{out}");
    let out = world.ok(&["inspect", "vm/vm2"]);
    assert!(out.stdout.contains("capabilities (observed"), "{out}");
    assert!(out.stdout.contains("9.6.4"), "{out}");
}

#[test]
fn a_sandbox_whose_vm_lacks_the_ghc_it_requires_is_refused_before_any_change_and_the_rest_goes_on() {
    let world = World::start();
    let needs = "    requires:\n      ghc: \">=9.6, <9.10\"\n      cores: \">=1\"\n";
    world.write_manifest(&[world.sandbox("needs", 1, needs), world.sandbox("other", 1, "")]);

    let out = world.expect(1, &["plan"]);
    assert!(out.stdout.contains("! sandbox.needs is refused"), "{out}");
    assert!(
        out.stdout.contains("ghc 9.4.8 on vm1 does not satisfy >=9.6, <9.10"),
        "{out}"
    );
    assert!(out.stdout.contains("+ sandbox.other will be created"), "{out}");
    assert!(
        out.stdout.contains("1 to create") && out.stdout.contains("1 refused"),
        "{out}"
    );
    assert!(out.stderr.contains("sandbox.needs"), "{out}");
    let json = world.expect(1, &["plan", "--json"]);
    let plan: Value = serde_json::from_str(&json.stdout).expect("plan JSON");
    let refused = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == "sandbox.needs")
        .expect("sandbox.needs");
    assert_eq!(refused["action"], "refused");
    assert_eq!(refused["reasons"][0]["code"], "requirement_unmet");
    assert_eq!(refused["reasons"][0]["found"], "9.4.8");
    // Planning changed nothing on the VM.
    assert_eq!(sbx_folders(world.bed.vm(1).build_root()), 0);

    // apply carries out the rest and fails the refused one.
    let out = world.expect(1, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("refused by the plan"), "{out}");
    assert_eq!(sbx_folders(world.bed.vm(1).build_root()), 1, "only sandbox.other");

    // The same requirement on the VM with 9.6 applies.
    world.write_manifest(&[world.sandbox("needs", 2, needs), world.sandbox("other", 1, "")]);
    world.ok(&["apply", "--auto-approve"]);
    assert_eq!(sbx_folders(world.bed.vm(2).build_root()), 1);
}

#[test]
fn a_malformed_range_fails_validate_at_its_line_and_column() {
    let work = Workdir::new();
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: caps\nsandboxes:\n  app:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm1\n    requires:\n      ghc: \">=9.x\"\n",
    );
    let out = support::sandboxer().current_dir(work.path()).args(["validate"]).run();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("sandboxes.yaml:9:"), "{out}");
    assert!(out.stderr.contains("is not a version range"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");

    // A sandbox on this machine has no VM to check against: said, not ignored.
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: caps\nsandboxes:\n  here:\n    profile: profile.local-workspace\n    requires:\n      cores: \">=4\"\n",
    );
    let out = support::sandboxer().current_dir(work.path()).args(["validate"]).run();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("sandboxes.yaml:7:"), "{out}");
    assert!(out.stderr.contains("is not on a VM"), "{out}");
}

/// The `sbx-*` folders under a workspace root.
fn sbx_folders(root: &std::path::Path) -> usize {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("sbx-"))
                .count()
        })
        .unwrap_or(0)
}
