//! `sandboxer state list|show|rm|mv`, run as the real binary on local
//! workspaces and on real sshd "VMs" on loopback (`tests/support/vms.rs`):
//! what the records and the workspaces' markers are after each, and what the
//! next plan makes of them.

mod support;

use std::path::Path;

use serde_json::Value;

use support::manifests::{entry, local, manifest};
use support::vms::{RuntimeDir, TestBed};
use support::workspaces::{self, MARKER, default_root};
use support::{Cli, Sandboxer, Workdir, read, read_json};

/// The marker of the one workspace whose marker has `id`, under `root`.
fn marker_of(root: &Path, id: &str) -> Value {
    let folder = root.join(format!("sbx-{id}"));
    read_json(folder.join(MARKER))
}

/// The recorded ids by address, from `list --json`.
fn recorded(dir: &Path) -> Vec<(String, String)> {
    support::records::listed(&dir.ok(&["list", "--json"]))
        .into_iter()
        .map(|r| (r.address, r.id))
        .collect()
}

/// The recorded id of `address`.
fn recorded_id(dir: &Path, address: &str) -> String {
    recorded(dir)
        .into_iter()
        .find(|(a, _)| a == address)
        .map(|(_, id)| id)
        .unwrap_or_else(|| panic!("{address} is not recorded"))
}

#[test]
fn state_rm_forgets_a_record_and_releases_its_workspace_which_the_next_plan_leaves_alone() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write(
        "sandboxes.yaml",
        manifest("surgery", &[local("kept", ""), local("handed", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let listed = dir.ok(&["state", "list"]);
    assert_eq!(listed.stdout, "sandbox.handed\nsandbox.kept\n", "{listed}");
    let shown = dir.ok(&["state", "show", "sandbox.handed"]);
    let record: Value = serde_json::from_str(&shown.stdout).expect("a record as JSON");
    let id = record["id"].as_str().expect("id").to_string();
    let workspace = root.join(format!("sbx-{id}"));
    work.write(
        format!(".sandboxer/workspaces/sbx-{id}/build-output.txt"),
        "an hour of cabal\n",
    );

    // Someone else owns it now: gone from the manifest, the plan would delete it ...
    work.write("sandboxes.yaml", manifest("surgery", &[local("kept", "")]));
    let plan = dir.ok(&["plan"]);
    assert!(plan.stdout.contains("- sandbox.handed"), "{plan}");

    // ... unless the state forgets it.
    let unknown = dir.run(&["state", "rm", "sandbox.handed", "sandbox.nope"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("sandbox.nope is not recorded"), "{unknown}");
    assert!(
        unknown.stderr.contains("recorded: sandbox.handed, sandbox.kept"),
        "{unknown}"
    );
    assert_eq!(recorded(dir).len(), 2, "a refusal forgets nothing");
    assert!(!dir.join(".sandboxer/state.json.backup").exists(), "nor backs up");

    let out = dir.ok(&["state", "rm", "sandbox.handed"]);
    assert!(
        out.stderr
            .contains(&format!("Removed sandbox.handed (id {id}) from the state")),
        "{out}"
    );
    assert!(out.stderr.contains("left as it is, released"), "{out}");
    let backup = read(dir.join(".sandboxer/state.json.backup"));
    assert!(
        backup.contains("sandbox.handed"),
        "the records before are kept\n{backup}"
    );
    assert_eq!(
        recorded(dir).iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["sandbox.kept"]
    );
    assert_eq!(read(workspace.join("build-output.txt")), "an hour of cabal\n");
    assert_eq!(marker_of(&root, &id)["lineage"], "released");

    let plan = dir.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
    // Declared again, it is a new workspace: the released one is not adopted.
    work.write(
        "sandboxes.yaml",
        manifest("surgery", &[local("kept", ""), local("handed", "")]),
    );
    let plan = dir.ok(&["plan"]);
    assert!(plan.stdout.contains("+ sandbox.handed will be created"), "{plan}");
    assert!(!plan.stdout.contains(&id), "{plan}");
}

#[test]
fn state_mv_renames_a_record_and_its_marker_keeping_the_workspace() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write(
        "sandboxes.yaml",
        manifest("surgery", &[local("old", ""), local("other", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let id = recorded_id(dir, "sandbox.old");

    for (args, refusal) in [
        (
            ["state", "mv", "sandbox.nope", "sandbox.new"],
            "sandbox.nope is not recorded",
        ),
        (
            ["state", "mv", "sandbox.old", "sandbox.other"],
            "sandbox.other is recorded already",
        ),
        (["state", "mv", "sandbox.old", "image.old"], "an address keeps its kind"),
    ] {
        let out = dir.run(&args);
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains(refusal), "{refusal}\n{out}");
    }
    assert_eq!(
        marker_of(&root, &id)["address"],
        "sandbox.old",
        "refusals change nothing"
    );

    dir.ok(&["state", "mv", "sandbox.old", "sandbox.new"]);
    assert!(recorded(dir).contains(&("sandbox.new".to_string(), id.clone())));
    assert_eq!(marker_of(&root, &id)["address"], "sandbox.new");
    assert_eq!(workspaces::all(&root).len(), 2);
    work.write(
        "sandboxes.yaml",
        manifest("surgery", &[local("new", ""), local("other", "")]),
    );
    let plan = dir.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
}

/// A bed of one VM and a work folder with a repo.
struct World {
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
}

impl Cli for World {
    fn cmd(&self) -> Sandboxer {
        self.bed.sandboxer_in(self.work.path(), &self.run)
    }
}

#[test]
fn state_mv_and_rm_rewrite_the_marker_on_the_vm() {
    let world = World {
        bed: TestBed::start(1),
        work: Workdir::new(),
        run: RuntimeDir::new(),
    };
    let root = world.bed.vm(1).build_root().to_path_buf();
    let sandbox = |name: &str| {
        entry(
            name,
            "profile.vm-haskell-build",
            &format!(
                "    inputs:\n      vm: vm1\n      workspace_root: \"{}\"\n      connect_timeout: 2s\n",
                root.display()
            ),
        )
    };
    // `anchor` keeps the root looked at once the other is gone from the manifest.
    world.work.write(
        "sandboxes.yaml",
        manifest("surgery", &[sandbox("old"), sandbox("anchor")]),
    );
    world.ok(&["apply", "--auto-approve"]);
    let found = workspaces::all(&root);
    assert_eq!(found.len(), 2);
    let id = found
        .iter()
        .find(|w| w.address == "sandbox.old")
        .map(|w| w.id.clone())
        .expect("sandbox.old");

    world.ok(&["state", "mv", "sandbox.old", "sandbox.new"]);
    assert_eq!(marker_of(&root, &id)["address"], "sandbox.new");
    world.work.write(
        "sandboxes.yaml",
        manifest("surgery", &[sandbox("new"), sandbox("anchor")]),
    );
    let plan = world.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");

    world.ok(&["state", "rm", "sandbox.new"]);
    assert_eq!(marker_of(&root, &id)["lineage"], "released");
    world
        .work
        .write("sandboxes.yaml", manifest("surgery", &[sandbox("anchor")]));
    let plan = world.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
    assert!(root.join(format!("sbx-{id}")).is_dir(), "the workspace stays on the VM");
}

#[test]
fn state_mv_and_rm_on_a_hub_keep_a_backup_of_the_project_records_here() {
    let work = Workdir::new();
    let dir = work.path();
    let hub = support::hub::HubProcess::start(&dir.join("hub-data"), None);
    let top = format!("hub:\n  url: {}\n", hub.url());
    work.write(
        "sandboxes.yaml",
        support::manifests::manifest_with("shared", &top, &[local("old", ""), local("gone", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    dir.ok(&["state", "mv", "sandbox.old", "sandbox.new"]);
    dir.ok(&["state", "rm", "sandbox.gone"]);
    let listed = dir.ok(&["state", "list"]);
    assert_eq!(listed.stdout, "sandbox.new\n", "{listed}");
    let on_hub = hub.call("GET", "/v1/projects/shared/resources", None).json();
    let addresses: Vec<&str> = on_hub["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["record"]["address"].as_str())
        .collect();
    assert_eq!(addresses, ["sandbox.new"], "{on_hub}");
    let backups: Vec<String> = std::fs::read_dir(dir.join(".sandboxer/hub-backups"))
        .expect("the backups folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let records: Vec<&String> = backups.iter().filter(|b| b.ends_with(".json")).collect();
    assert_eq!(records.len(), 2, "one per edit: {backups:?}");
    assert!(records.iter().all(|b| b.starts_with("shared.")), "{backups:?}");
    assert!(
        backups.contains(&".gitignore".to_string()),
        "kept out of git: {backups:?}"
    );
}

#[test]
fn a_moved_block_renames_an_entry_keeping_its_workspace_id_and_build_output() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write("repo/Main.hs", "main = pure ()\n");
    let with_repo = "    inputs:\n      repo: ./repo\n";
    work.write(
        "sandboxes.yaml",
        manifest("renames", &[local("old", with_repo), local("stays", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let id = recorded_id(dir, "sandbox.old");
    let output = root.join(format!("sbx-{id}/dist-newstyle/build.log"));
    work.write(
        format!(".sandboxer/workspaces/sbx-{id}/dist-newstyle/build.log"),
        "an hour of cabal\n",
    );

    let renamed = format!(
        "{}moved:\n  - from: sandbox.old\n    to: sandbox.new\n",
        manifest("renames", &[local("new", with_repo), local("stays", "")])
    );
    work.write("sandboxes.yaml", &renamed);
    let plan = dir.expect(2, &["plan", "--detailed-exitcode"]);
    assert!(
        plan.stdout
            .contains(&format!("sandbox.old (id {id}) has moved to sandbox.new")),
        "{plan}"
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 moved."),
        "nothing made or destroyed\n{plan}"
    );
    let markdown = dir.ok(&["plan", "--format", "markdown"]);
    assert!(markdown.stdout.contains("moved from `sandbox.old`"), "{markdown}");

    dir.ok(&["apply", "--auto-approve"]);
    assert!(recorded(dir).contains(&("sandbox.new".to_string(), id.clone())));
    assert!(!recorded(dir).iter().any(|(a, _)| a == "sandbox.old"));
    assert_eq!(marker_of(&root, &id)["address"], "sandbox.new");
    assert_eq!(read(&output), "an hour of cabal\n", "the build output is untouched");
    assert_eq!(workspaces::all(&root).len(), 2);
    // The block may stay: once moved, it has nothing left to do.
    let plan = dir.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
}

#[test]
fn moved_blocks_that_chain_or_keep_their_source_are_refused_at_their_line() {
    let work = Workdir::new();
    let dir = work.path();
    let base = manifest("renames", &[local("b", ""), local("c", "")]);
    work.write(
        "sandboxes.yaml",
        format!("{base}moved:\n  - from: sandbox.a\n    to: sandbox.b\n  - from: sandbox.b\n    to: sandbox.c\n"),
    );
    let out = dir.run(&["validate"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("sandboxes.yaml:"), "{out}");
    assert!(out.stderr.contains("moved[1]"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");

    work.write(
        "sandboxes.yaml",
        format!("{base}moved:\n  - from: sandbox.c\n    to: sandbox.b\n"),
    );
    let out = dir.run(&["validate"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("sandbox.c is still declared"), "{out}");

    work.write(
        "sandboxes.yaml",
        format!("{base}moved:\n  - from: sandbox.a\n    into: sandbox.b\n"),
    );
    let out = dir.run(&["validate"]);
    assert_eq!(out.code, 1, "the schema refuses an unknown key\n{out}");
}

/// Rewrites a field of the marker of workspace `id` under `root`, as a half
/// done `state mv` or `state rm` leaves it.
fn set_marker(root: &Path, id: &str, field: &str, value: &str) {
    let path = root.join(format!("sbx-{id}")).join(MARKER);
    let mut marker = read_json(&path);
    marker[field] = Value::String(value.to_string());
    std::fs::write(&path, serde_json::to_string(&marker).expect("JSON")).expect("write the marker");
}

#[test]
fn a_workspace_whose_marker_moved_on_or_was_released_is_never_deleted_with_its_old_record() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write(
        "sandboxes.yaml",
        manifest("halfway", &[local("old", ""), local("handed", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let ids: std::collections::BTreeMap<String, String> = recorded(dir).into_iter().collect();
    let (old, handed) = (ids["sandbox.old"].clone(), ids["sandbox.handed"].clone());
    work.write(format!(".sandboxer/workspaces/sbx-{old}/keep.txt"), "mine\n");

    // `state mv` killed after the marker, `state rm` killed after the release;
    // the manifest already says what the operator meant.
    set_marker(&root, &old, "address", "sandbox.new");
    set_marker(&root, &handed, "lineage", "released");
    work.write("sandboxes.yaml", manifest("halfway", &[local("new", "")]));
    let plan = dir.ok(&["plan"]);
    assert!(plan.stdout.contains("now sandbox.new's"), "{plan}");
    assert!(plan.stdout.contains("lineage is released"), "{plan}");
    dir.ok(&["apply", "--auto-approve"]);
    assert_eq!(read(root.join(format!("sbx-{old}/keep.txt"))), "mine\n");
    assert!(
        root.join(format!("sbx-{handed}")).is_dir(),
        "the released workspace stays"
    );
    assert_eq!(recorded(dir), [("sandbox.new".to_string(), old.clone())]);
    let plan = dir.ok(&["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
}

#[test]
fn a_move_whose_target_has_a_record_of_its_own_is_refused() {
    let work = Workdir::new();
    let dir = work.path();
    work.write("sandboxes.yaml", manifest("twice", &[local("a", ""), local("b", "")]));
    dir.ok(&["apply", "--auto-approve"]);
    work.write(
        "sandboxes.yaml",
        format!(
            "{}moved:\n  - from: sandbox.a\n    to: sandbox.b\n",
            manifest("twice", &[local("b", "")])
        ),
    );
    let out = dir.run(&["plan"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("! sandbox.a"), "{out}");
    assert!(out.stdout.contains("which has a record of its own"), "{out}");
    let apply = dir.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply}");
    assert_eq!(recorded(dir).len(), 2, "nothing forgotten, nothing deleted");
}
