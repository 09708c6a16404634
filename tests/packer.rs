//! The packer driver (`profile.vm-packer-build`) run as the real binary with the
//! real `packer` (1.6.6, null builder + `shell-local`; see docs/testing.md,
//! "Packer with the null builder").
//!
//! Every test works in its own temporary folder W: templates in `W/tpl/<name>/`
//! written by the test, the state in `W/state/` (`--state-dir`), Packer's
//! scratch files in `W/tmp/` (`TMPDIR`), and what the templates write in `W/out/`
//! (absolute paths: relative ones would resolve against Packer's cwd). Packer
//! always runs with `CHECKPOINT_DISABLE=1`: nothing leaves loopback.
//!
//! Order is checked on the progress lines the binary prints on stderr, records
//! with `list --json`, notes with `inspect --json`. Conditions a test races
//! (a running build, processes going away) are polled with a deadline, never
//! waited for with a fixed sleep.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::manifests;
use support::packer::{CHATTY, FAILING, HELD, LITERAL, PackerDirs, RECORDING, SLOW, image_manifest};
use support::processes::processes_with_env;
use support::records;
use support::vms::TestBed;
use support::workspaces;
use support::{Cli, Sandboxer, Workdir, eventually, read, read_json, sandboxer, wait_until};

/// How long a condition may take to hold before a test gives up.
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Helpers

/// A work folder for one test.
struct World {
    work: Workdir,
    /// `W/tmp`, `W/out`, `W/state` and the templates in `W/tpl`.
    packer: PackerDirs,
    /// An ssh config for `--ssh-config`, when the test has VMs.
    ssh_config: Option<PathBuf>,
}

impl World {
    fn new() -> World {
        let work = Workdir::new();
        let packer = PackerDirs::make(work.path());
        World {
            work,
            packer,
            ssh_config: None,
        }
    }

    fn path(&self) -> &Path {
        self.work.path()
    }

    /// Writes `W/sandboxes.yaml`.
    fn manifest(&self, text: &str) {
        self.work.write("sandboxes.yaml", text);
    }

    /// Records by address, from `list --json`.
    fn records(&self) -> BTreeMap<String, Value> {
        let out = self.expect(0, &["list", "--json"]);
        records::rows(&out)
            .into_iter()
            .map(|(_, record)| (record["address"].as_str().unwrap_or_default().to_string(), record))
            .collect()
    }

    /// The recorded id of `address`.
    fn id(&self, address: &str) -> String {
        let records = self.records();
        let record = records
            .get(address)
            .unwrap_or_else(|| panic!("{address} is not recorded: {:?}", records.keys()));
        record["id"].as_str().expect("a record has an id").to_string()
    }

    /// The lines a template appended to `W/out/builds.log`, one per build.
    fn builds(&self) -> Vec<String> {
        fs::read_to_string(self.packer.out().join("builds.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Cli for World {
    /// `sandboxer --state-dir W/state [--ssh-config C]`, run in W with Packer's environment.
    fn cmd(&self) -> Sandboxer {
        let mut cmd = self.packer.command(sandboxer().current_dir(self.path()));
        if let Some(config) = &self.ssh_config {
            cmd = cmd.arg("--ssh-config").arg(config);
        }
        cmd
    }
}

/// The index of the first line of `text` starting with `prefix`; panics when there is none.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with `{prefix}` in:\n{text}"))
}

/// Asserts that the line starting with `first` comes before the one starting with `then`.
fn assert_before(text: &str, first: &str, then: &str) {
    let (a, b) = (line_of(text, first), line_of(text, then));
    assert!(
        a < b,
        "`{first}` (line {a}) must come before `{then}` (line {b}):\n{text}"
    );
}

/// The block of a rendered plan about `head`, e.g. `-/+ image.img`.
fn block<'a>(plan: &'a str, head: &str) -> &'a str {
    plan.split("\n\n")
        .find(|b| {
            b.trim_start()
                .strip_prefix(head)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('\n') || rest.is_empty())
        })
        .unwrap_or_else(|| panic!("no `{head}` in the plan:\n{plan}"))
}

/// The `because:` lines of a plan block.
fn reasons(block: &str) -> Vec<&str> {
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("because: "))
        .collect()
}

/// A local-workspace sandbox entry depending on `image.img` (or on nothing).
fn local(name: &str, on_image: bool) -> String {
    let deps = if on_image { "    depends_on: [image.img]\n" } else { "" };
    manifests::local(name, deps)
}

// ---------------------------------------------------------------------------
// 1. Build before attach; no changes; template and var changes rebuild then replace.

#[test]
fn the_image_is_built_before_its_sandboxes_and_a_template_or_var_change_rebuilds_then_replaces_them() {
    let w = World::new();
    w.packer.template("img", RECORDING);
    let sandboxes = [local("a", true), local("b", true), local("c", false)].concat();
    let manifest = |x: Option<&str>| {
        let var = x.map(|x| format!("      packer_var_x: \"{x}\"\n")).unwrap_or_default();
        image_manifest("images", "img", "img-vm", &var, &sandboxes)
    };
    w.manifest(&manifest(Some("a")));

    let started = Instant::now();
    let first = w.expect(0, &["apply", "--auto-approve"]);
    eprintln!("first apply (build + 3 creates): {:?}", started.elapsed());
    for s in ["sandbox.a", "sandbox.b"] {
        assert_before(&first.stderr, "image.img: created", &format!("{s}: creating"));
    }
    assert_eq!(w.builds(), ["img-vm x=a"], "one build\n{first}");
    let artifact = read_json(w.packer.out().join("img-vm.json"));
    assert_eq!(artifact["x"], "a");
    let records = w.records();
    for address in ["image.img", "sandbox.a", "sandbox.b", "sandbox.c"] {
        assert!(records.contains_key(address), "{address} not recorded: {records:#?}");
    }
    let image = &records["image.img"];
    assert_eq!(image["driver"], "packer");
    assert!(
        image["digests"]["template:build.pkr.hcl"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "the template digest is recorded: {image:#}"
    );
    let log = image["facts"]["log"].as_str().expect("the build log is recorded");
    assert!(
        Path::new(log).starts_with(w.packer.state().join("logs")),
        "log {log} is in <state>/logs"
    );
    assert!(read(log).contains("Running local shell script"), "the full log is kept");
    let ids = |w: &World| ["image.img", "sandbox.a", "sandbox.b", "sandbox.c"].map(|a| w.id(a));
    let before = ids(&w);

    // Nothing changed: nothing is done, Packer does not run.
    let again = w.expect(0, &["apply", "--auto-approve"]);
    assert!(again.stdout.contains("No changes."), "{again}");
    assert_eq!(w.builds().len(), 1, "no second build\n{again}");
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // The template changes: the image is rebuilt, the two sandboxes on it re-made.
    let template = w.path().join("tpl/img/build.pkr.hcl");
    fs::write(&template, read(&template) + "# a comment is a change too\n").expect("edit the template");
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        reasons(block(&plan.stdout, "-/+ image.img")),
        ["template changed: build.pkr.hcl"]
    );
    for s in ["sandbox.a", "sandbox.b"] {
        let reasons = reasons(block(&plan.stdout, &format!("-/+ {s}")));
        assert!(
            reasons.len() == 1 && reasons[0].starts_with("image.img is rebuilt"),
            "{s}: {reasons:?}\n{plan}"
        );
    }
    assert!(
        !plan.stdout.contains("sandbox.c"),
        "the unrelated sandbox stays\n{plan}"
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 3 to replace, 0 to delete."),
        "{plan}"
    );

    let started = Instant::now();
    let rebuild = w.expect(0, &["apply", "--auto-approve"]);
    eprintln!("rebuild apply (build + 2 replaces): {:?}", started.elapsed());
    for s in ["sandbox.a", "sandbox.b"] {
        assert_before(&rebuild.stderr, "image.img: replaced", &format!("{s}: replacing"));
    }
    assert_eq!(w.builds().len(), 2, "rebuilt once\n{rebuild}");
    let after = ids(&w);
    for k in 0..3 {
        assert_ne!(before[k], after[k], "a replacement gets a new id");
    }
    assert_eq!(before[3], after[3], "sandbox.c is untouched");
    let root = w.packer.state().join("workspaces");
    let mut expected: Vec<String> = after[1..].iter().map(|id| format!("sbx-{id}")).collect();
    expected.sort();
    assert_eq!(
        workspaces::names_starting(&root, "sbx-"),
        expected,
        "the old workspaces are gone"
    );

    // A Packer variable changes.
    w.manifest(&manifest(Some("b")));
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    let image = block(&plan.stdout, "-/+ image.img");
    assert_eq!(reasons(image), [r#"var x: "a" -> "b""#], "{plan}");
    for s in ["sandbox.a", "sandbox.b"] {
        assert!(
            block(&plan.stdout, &format!("-/+ {s}")).contains("image.img is rebuilt"),
            "{plan}"
        );
    }
    let var = w.expect(0, &["apply", "--auto-approve"]);
    assert_before(&var.stderr, "image.img: replaced", "sandbox.a: replacing");
    assert_eq!(
        read_json(w.packer.out().join("img-vm.json"))["x"],
        "b",
        "-var x=b reached Packer"
    );
    // Regression: a variable removed from the inputs was an in-place update of
    // the image ("packer_var_x changed"): it rebuilt, but its sandboxes stayed.
    w.manifest(&manifest(None));
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        reasons(block(&plan.stdout, "-/+ image.img")),
        [r#"var x: "b" -> (unset)"#],
        "{plan}"
    );
    for s in ["sandbox.a", "sandbox.b"] {
        assert!(
            block(&plan.stdout, &format!("-/+ {s}")).contains("image.img is rebuilt"),
            "{plan}"
        );
    }
    let unset = w.expect(0, &["apply", "--auto-approve"]);
    assert_before(&unset.stderr, "image.img: replaced", "sandbox.b: replacing");
    assert_eq!(
        read_json(w.packer.out().join("img-vm.json"))["x"],
        "a",
        "the template's default again"
    );

    let last = w.expect(0, &["apply", "--auto-approve"]);
    assert!(last.stdout.contains("No changes."), "{last}");
    assert_eq!(
        w.builds(),
        ["img-vm x=a", "img-vm x=a", "img-vm x=b", "img-vm x=a"],
        "one build per change, none for no change"
    );
}

/// The same on a real sshd VM: two `profile.vm-haskell-build` workspaces whose
/// `vm` is the image's `vm_name` depend on it without `depends_on`.
#[test]
fn replace_rebuilds_an_image_and_remakes_its_sandboxes_and_replace_of_a_sandbox_remakes_it_alone() {
    let w = World::new();
    w.packer.template("img", RECORDING);
    let sandboxes = [local("a", true), local("c", false)].concat();
    w.manifest(&image_manifest("images", "img", "img-vm", "", &sandboxes));
    w.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(w.builds().len(), 1);
    let ids = |w: &World| ["sandbox.a", "sandbox.c"].map(|a| w.id(a));
    let before = ids(&w);

    // Nothing changed, and yet: the image is rebuilt, what stands on it re-made.
    let plan = w.expect(2, &["plan", "--detailed-exitcode", "--replace", "image.img"]);
    assert_eq!(
        reasons(block(&plan.stdout, "-/+ image.img")),
        ["replace requested (--replace)"]
    );
    let a = reasons(block(&plan.stdout, "-/+ sandbox.a"));
    assert!(
        a.len() == 1 && a[0].starts_with("image.img is rebuilt"),
        "{a:?}\n{plan}"
    );
    assert!(
        !plan.stdout.contains("sandbox.c"),
        "the unrelated sandbox stays\n{plan}"
    );
    let json = w.expect(0, &["plan", "--json", "--replace", "image.img"]);
    let doc: Value = serde_json::from_str(&json.stdout).expect("plan JSON");
    assert_eq!(doc["replace"], serde_json::json!(["image.img"]));
    let image = doc["changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["address"] == "image.img"))
        .expect("image.img");
    assert_eq!(image["reasons"][0]["code"], "replace_requested");

    let out = w.expect(0, &["apply", "--auto-approve", "--replace", "image.img"]);
    assert_eq!(w.builds().len(), 2, "rebuilt once\n{out}");
    let after = ids(&w);
    assert_ne!(after[0], before[0], "sandbox.a re-made");
    assert_eq!(after[1], before[1], "sandbox.c untouched");
    // Asked once: the next plan has nothing to do.
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // A sandbox alone: no build.
    let out = w.expect(0, &["apply", "--auto-approve", "--replace", "sandbox.c"]);
    assert_eq!(w.builds().len(), 2, "no build\n{out}");
    let again = ids(&w);
    assert_eq!(again[0], after[0], "sandbox.a untouched");
    assert_ne!(again[1], after[1], "sandbox.c re-made");

    // A saved plan keeps what it was asked to replace.
    let saved = w.path().join("replace.plan");
    let saved = saved.to_str().expect("a UTF-8 path");
    w.expect(0, &["plan", "--replace", "sandbox.c", "--out", saved]);
    w.expect(0, &["apply", saved]);
    assert_ne!(ids(&w)[1], again[1], "sandbox.c re-made from the saved plan");

    // An address the manifest does not declare is refused before anything.
    let out = w.expect(1, &["plan", "--replace", "sandbox.nope"]);
    assert!(out.stderr.contains("--replace sandbox.nope is not declared"), "{out}");
}

#[test]
fn vm_workspaces_whose_vm_is_the_image_vm_name_wait_for_the_build_and_are_remade_on_a_rebuild() {
    let bed = TestBed::start(1);
    let mut w = World::new();
    w.ssh_config = Some(bed.ssh_config());
    w.packer.template("img", RECORDING);
    let root = bed.vm(1).build_root().to_path_buf();
    let entry = |name: &str| {
        format!(
            "  {name}:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm1\n      \
             workspace_root: {}\n      connect_timeout: 2s\n",
            root.display()
        )
    };
    w.manifest(&image_manifest(
        "vms",
        "img",
        "vm1",
        "",
        &[entry("app"), entry("lib")].concat(),
    ));

    let started = Instant::now();
    let first = w.expect(0, &["apply", "--auto-approve"]);
    eprintln!("first apply on a VM (build + 2 ssh creates): {:?}", started.elapsed());
    for s in ["sandbox.app", "sandbox.lib"] {
        assert_before(&first.stderr, "image.img: created", &format!("{s}: creating"));
    }
    let before = [w.id("sandbox.app"), w.id("sandbox.lib")];
    let mut expected: Vec<String> = before.iter().map(|id| format!("sbx-{id}")).collect();
    expected.sort();
    assert_eq!(
        workspaces::names_starting(&root, "sbx-"),
        expected,
        "both workspaces are on the VM"
    );
    assert!(w.expect(0, &["apply", "--auto-approve"]).stdout.contains("No changes."));

    let template = w.path().join("tpl/img/build.pkr.hcl");
    fs::write(&template, read(&template) + "# changed\n").expect("edit the template");
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        reasons(block(&plan.stdout, "-/+ image.img")),
        ["template changed: build.pkr.hcl"]
    );
    for s in ["sandbox.app", "sandbox.lib"] {
        assert!(
            block(&plan.stdout, &format!("-/+ {s}")).contains("image.img is rebuilt"),
            "{plan}"
        );
    }
    let rebuild = w.expect(0, &["apply", "--auto-approve"]);
    for s in ["sandbox.app", "sandbox.lib"] {
        assert_before(&rebuild.stderr, "image.img: replaced", &format!("{s}: replacing"));
    }
    let after = [w.id("sandbox.app"), w.id("sandbox.lib")];
    let mut expected: Vec<String> = after.iter().map(|id| format!("sbx-{id}")).collect();
    expected.sort();
    assert_eq!(
        workspaces::names_starting(&root, "sbx-"),
        expected,
        "the old workspaces are gone from the VM"
    );
    assert!(before.iter().all(|id| !after.contains(id)), "new ids");

    // Regression: with the VM down, the plan rebuilt the image in place
    // ("could not observe vm1"): Packer does not need the VM, only its workspaces do.
    let mut bed = bed;
    bed.stop_vm(1);
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 1, "a location could not be observed\n{plan}");
    assert!(!plan.stdout.contains("image.img"), "the image is unchanged\n{plan}");
    assert!(
        block(&plan.stdout, "~ sandbox.app").contains("could not observe vm1"),
        "{plan}"
    );
}

// ---------------------------------------------------------------------------
// 2. A failing build

#[test]
fn a_failing_build_fails_its_dependents_only_and_leaves_no_image_record() {
    let w = World::new();
    w.packer.template("bad", FAILING);
    w.manifest(&image_manifest(
        "failing",
        "bad",
        "bad-vm",
        "",
        &[local("dep", true), local("other", false)].concat(),
    ));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_ne!(out.code, 0, "{out}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("boom-from-the-template"),
        "the template's own error text\n{out}"
    );
    assert!(
        all.contains("Script exited with non-zero exit status: 3"),
        "Packer's error text\n{out}"
    );
    let skipped = &out
        .stderr
        .lines()
        .nth(line_of(&out.stderr, "sandbox.dep:"))
        .unwrap_or_default();
    assert!(skipped.contains("skipped: dependency failed"), "{out}");
    assert!(!out.stderr.contains("sandbox.dep: creating"), "{out}");
    line_of(&out.stderr, "sandbox.other: created");

    let records = w.records();
    assert!(
        !records.contains_key("image.img"),
        "no record of a failed build: {records:#?}"
    );
    assert!(!records.contains_key("sandbox.dep"));
    assert!(records.contains_key("sandbox.other"));

    // The full log is named in the error and kept.
    let log = all
        .split("full log: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the error names the full log\n{out}"));
    assert!(read(log).contains("boom-from-the-template"), "{log}");

    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    block(&plan.stdout, "+ image.img");
    block(&plan.stdout, "+ sandbox.dep");
}

/// Regression: a failed rebuild removed the image record, so the next apply
/// built the image as new and never re-made the sandboxes made on the old one.
#[test]
fn a_failed_rebuild_keeps_the_image_record_so_its_sandboxes_are_still_remade() {
    let w = World::new();
    let dir = w.packer.template("img", RECORDING);
    w.manifest(&image_manifest("rebuild", "img", "img-vm", "", &local("a", true)));
    w.expect(0, &["apply", "--auto-approve"]);
    let (image, sandbox) = (w.id("image.img"), w.id("sandbox.a"));

    fs::write(dir.join("build.pkr.hcl"), FAILING).expect("break the template");
    let failed = w.run(&["apply", "--auto-approve"]);
    assert_ne!(failed.code, 0, "{failed}");
    assert!(
        failed.stderr.contains("sandbox.a: replace skipped: dependency failed"),
        "{failed}"
    );
    assert_eq!(w.id("image.img"), image, "the last good build is still recorded");
    assert_eq!(w.id("sandbox.a"), sandbox);

    w.packer.template("img", &format!("{RECORDING}# fixed\n"));
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        reasons(block(&plan.stdout, "-/+ image.img")),
        ["template changed: build.pkr.hcl"]
    );
    assert!(
        block(&plan.stdout, "-/+ sandbox.a").contains("image.img is rebuilt"),
        "{plan}"
    );
    let fixed = w.expect(0, &["apply", "--auto-approve"]);
    assert_before(&fixed.stderr, "image.img: replaced", "sandbox.a: replacing");
    assert_ne!(w.id("sandbox.a"), sandbox);
}

// ---------------------------------------------------------------------------
// 3. Ctrl-C during a build

#[test]
fn sigint_during_a_build_stops_packer_and_its_children_and_records_no_image() {
    cancel_a_build(SLOW, "INT");
}

/// SIGTERM is handled as Ctrl-C: Packer is stopped by its process group, none
/// of its processes is left, the lock is free and the next apply builds.
#[test]
fn sigterm_during_a_build_stops_packer_and_its_children_and_records_no_image() {
    cancel_a_build(SLOW, "TERM");
}

/// Regression: Packer stopped at once, but the script it ran ignores SIGINT and
/// held Packer's output pipe, so sandboxer waited out the whole 15 s grace
/// ("Packer did not stop in time") before killing it.
#[test]
fn a_script_ignoring_sigint_does_not_keep_a_cancelled_build_waiting() {
    cancel_a_build(
        &SLOW.replace(
            r#""touch @OUT@/started","#,
            r#""trap '' INT TERM", "touch @OUT@/started","#,
        ),
        "INT",
    );
}

/// Starts an apply of `template` (which touches `out/started`, then runs
/// `sleep 30`), sends `signal` to sandboxer once the sleep runs, and checks that
/// it stops soon, leaves no process and records no image.
fn cancel_a_build(template: &str, signal: &str) {
    let w = World::new();
    w.packer.template("slow", template);
    w.manifest(&image_manifest("slow", "slow", "slow-vm", "", &local("after", true)));
    let env_entry = format!("TMPDIR={}", w.packer.tmp().display());
    assert!(processes_with_env(&env_entry).is_empty());

    let mut running = w.cmd().args(["apply", "--auto-approve"]).spawn();
    let started = w.packer.out().join("started");
    wait_until("the build runs its sleep", DEADLINE, || {
        started.exists()
            && running.stderr_so_far().contains("Running local shell script")
            && processes_with_env(&env_entry).iter().any(|(_, c)| c == "sleep 30")
    });
    let before = processes_with_env(&env_entry);
    assert!(
        before.iter().any(|(_, c)| c.contains("packer")),
        "packer runs: {before:?}"
    );

    let signalled = Instant::now();
    running.signal(signal);
    wait_until("sandboxer exits", DEADLINE, || !running.is_running());
    let took = signalled.elapsed();
    let out = running.wait();
    eprintln!("sandboxer exited {took:?} after SIG{signal}");
    assert!(took < Duration::from_secs(10), "exited only after {took:?}\n{out}");
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("cancelled"), "{out}");
    assert!(!out.stderr.contains("sandbox.after: creating"), "{out}");
    assert!(
        !w.packer.out().join("finished").exists(),
        "the build did not run to its end"
    );

    // Nothing of this build is left running (a SIGKILL takes a moment to land).
    let mut left = Vec::new();
    let gone = eventually(Duration::from_secs(5), || {
        left = processes_with_env(&env_entry);
        left.is_empty()
    });
    assert!(gone, "processes left: {left:?}\n(before: {before:?})");

    let records = w.records();
    assert!(records.is_empty(), "nothing recorded: {records:#?}");
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    block(&plan.stdout, "+ image.img");
}

// ---------------------------------------------------------------------------
// 3b. Builds at once

/// `--parallel-builds 1` and two images: one builds while the other waits
/// (and says so), and the second starts once the first is done; both are
/// built. Each build holds until `out/release`, or until it sees another
/// build, so an overlap would be recorded, not missed.
#[test]
fn parallel_builds_1_builds_two_images_one_after_the_other() {
    let w = World::new();
    w.packer.template("held", HELD);
    let image = |name: &str| {
        format!(
            "  {name}:\n    profile: profile.vm-packer-build\n    inputs:\n      \
             packer_template: ./tpl/held\n      vm_name: {name}-vm\n"
        )
    };
    w.manifest(&format!(
        "version: 1\nproject: builds\nimages:\n{}{}",
        image("a"),
        image("b")
    ));
    let building = || fs::read_dir(w.packer.out().join("building")).map_or(0, Iterator::count);

    let apply = w
        .cmd()
        .args(["apply", "--auto-approve", "--parallel-builds", "1"])
        .spawn();
    let waits = ": waiting: 1 Packer build at a time (--parallel-builds)";
    // A build that is done before the release saw another one.
    let at_once_file = w.packer.out().join("at-once");
    wait_until("one image builds while the other waits", DEADLINE, || {
        at_once_file.exists() || building() > 1 || (building() == 1 && apply.stderr_so_far().contains(waits))
    });
    assert!(
        !at_once_file.exists() && building() == 1,
        "builds overlapped: {:?}\n{}",
        fs::read_to_string(&at_once_file),
        apply.stderr_so_far()
    );
    fs::write(w.packer.out().join("release"), "").expect("release the build");
    let out = apply.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("2 created"), "{out}");

    let waiting = out
        .stderr
        .lines()
        .find_map(|l| l.strip_suffix(waits))
        .unwrap_or_else(|| panic!("no image waited: {out}"));
    let first = if waiting == "image.a" { "image.b" } else { "image.a" };
    assert_before(
        &out.stderr,
        &format!("{first}: created"),
        &format!("{waiting}: creating"),
    );
    let at_once: Vec<String> = read(&at_once_file).lines().map(str::to_string).collect();
    assert_eq!(at_once.len(), 2, "{at_once:?}");
    assert!(
        at_once.iter().all(|l| l.ends_with(" 1")),
        "builds overlapped: {at_once:?}\n{out}"
    );
}

// ---------------------------------------------------------------------------
// 4. Notes

#[test]
fn build_notes_are_throttled_but_keep_every_step_and_error_and_the_log_keeps_every_line() {
    let w = World::new();
    w.packer.template("chatty", CHATTY);
    w.manifest(&image_manifest("notes", "chatty", "chatty-vm", "", ""));
    let out = w.expect(0, &["apply", "--auto-approve"]);
    let shown = w.expect(0, &["inspect", "image.img", "--json", "--notes", "1000"]);
    let inspected: Value = serde_json::from_str(&shown.stdout).expect("inspect --json prints JSON");
    let notes = records::notes(&inspected["notes"]);
    eprintln!("{} notes for 200+ lines: {notes:#?}", notes.len());
    assert!(notes.len() < 20, "throttled: {} notes\n{notes:#?}", notes.len());
    let steps = notes
        .iter()
        .filter(|(_, t)| t.contains("Running local shell script"))
        .count();
    assert_eq!(steps, 2, "both steps are notes: {notes:#?}");
    for warning in ["first-warning", "second-warning"] {
        assert!(
            notes.iter().any(|(l, t)| l == "error" && t.ends_with(warning)),
            "the error line {warning} is a note: {notes:#?}"
        );
    }

    // The full log has every line, unescaped commas included.
    let log = inspected["record"]["facts"]["log"]
        .as_str()
        .expect("the log is recorded");
    let text = read(log);
    let lines = text.lines().filter(|l| l.contains("chatty line")).count();
    assert_eq!(lines, 200, "{out}");
    assert!(
        text.contains("chatty line 199%!(PACKER_COMMA) with a comma"),
        "the log is Packer's own output"
    );
    // Provisioner output is not printed line by line on the terminal.
    assert!(!out.stderr.contains("chatty line 5,"), "{out}");
}

// ---------------------------------------------------------------------------
// 5. Imperative create

#[test]
fn create_with_the_packer_profile_builds_the_image_and_prints_its_id() {
    let w = World::new();
    let template = w.packer.template("made", RECORDING);
    let out = w.expect(
        0,
        &[
            "create",
            "--profile",
            "profile.vm-packer-build",
            "--input",
            &format!("packer_template={}", template.display()),
            "--input",
            "vm_name=made-vm",
            "--input",
            "packer_var_x=y",
        ],
    );
    let id = out.stdout.trim();
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "stdout is the id\n{out}"
    );
    let artifact = read_json(w.packer.out().join("made-vm.json"));
    assert_eq!(artifact["vm_name"], "made-vm");
    assert_eq!(artifact["x"], "y");
    let records = w.records();
    let (address, record) = records
        .iter()
        .find(|(_, r)| r["id"] == id)
        .unwrap_or_else(|| panic!("id {id} is recorded: {records:#?}"));
    assert!(address.starts_with("image.made-vm-"), "{address}");
    assert_eq!(record["driver"], "packer");
    let shown = w.expect(0, &["inspect", id]);
    assert!(shown.stdout.contains(address.as_str()), "{shown}");
}

// ---------------------------------------------------------------------------
// 6. Values are argv words

#[test]
fn a_packer_var_reaches_packer_literally_never_through_a_shell() {
    let w = World::new();
    w.packer.template("literal", LITERAL);
    let canary = w.path().join("canary");
    let value = format!(
        "$(touch {c}) ; echo pwned `touch {c}` | touch {c} && k=v 'q' \"dq\"",
        c = canary.display()
    );
    let yaml_value = format!("'{}'", value.replace('\'', "''"));
    w.manifest(&image_manifest(
        "literal",
        "literal",
        "lit-vm",
        &format!("      packer_var_note: {yaml_value}\n"),
        "",
    ));
    let out = w.expect(0, &["apply", "--auto-approve"]);
    let written = read_json(w.packer.out().join("lit-vm.manifest.json"));
    assert_eq!(written["builds"][0]["custom_data"]["note"], value.as_str(), "{out}");
    assert!(!canary.exists(), "a shell ran the value");
}

// ---------------------------------------------------------------------------
// 7. The example

#[test]
fn the_packer_example_validates_and_its_template_builds() {
    let w = World::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let manifest = examples.join("packer-build.yaml");
    let out = w.expect(0, &["validate", "-f", &manifest.display().to_string()]);
    assert!(out.stdout.contains("valid"), "{out}");
    assert!(out.stdout.contains("1 image, 2 sandboxes"), "{out}");

    // Its template builds with the null builder, output redirected into W/out.
    let template = examples.join("packer").join("haskell");
    let out = w.expect(
        0,
        &[
            "create",
            "--profile",
            "profile.vm-packer-build",
            "--input",
            &format!("packer_template={}", template.display()),
            "--input",
            "vm_name=haskell-build",
            "--input",
            &format!("packer_var_output_dir={}", w.packer.out().display()),
        ],
    );
    let built = read_json(w.packer.out().join("haskell-build.json"));
    assert_eq!(built["vm_name"], "haskell-build", "{out}");
    assert_eq!(built["disk_size"], "20480");
}

/// A template's provisioners run what they like: the hub token's variable is
/// not in their environment (nor in Packer's).
#[test]
fn a_packer_build_never_sees_the_hub_token() {
    let w = World::new();
    w.packer.template(
        "dump",
        r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = ["env > @OUT@/env.txt"]
  }
}
"#,
    );
    w.manifest(&image_manifest("dumped", "dump", "dump-vm", "", ""));
    let out = w
        .cmd()
        .env("SANDBOXER_HUB_TOKEN", "tok-Pk29")
        .env("SBX_PACKER_HARMLESS", "visible-8")
        .args(["apply", "--auto-approve"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let env = read(w.packer.out().join("env.txt"));
    assert!(env.contains("SBX_PACKER_HARMLESS=visible-8"), "the dump works: {env}");
    assert!(!env.contains("tok-Pk29"), "the hub token reached a Packer provisioner");
}
