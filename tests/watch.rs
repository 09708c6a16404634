//! `sandboxer watch`: it applies at start, then again on each change of a synced
//! repo or of the manifest, keeps going past a broken manifest, never reacts to
//! its own writes, holds back a mass delete (a one-off `apply` carries it out),
//! and stops cleanly on Ctrl-C.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::manifests::{local, manifest};
use support::{Cli, Workdir, records, sandboxer, wait_until, workspaces};

const DEADLINE: Duration = Duration::from_secs(30);

/// Every folder in the default workspace root of the manifest in `root`, whatever its name.
fn workspace_folders(root: &Path) -> Vec<std::path::PathBuf> {
    workspaces::folders(&workspaces::default_root(root))
}

fn workspace_with(root: &Path, file: &str) -> Option<std::path::PathBuf> {
    workspace_folders(root).into_iter().find(|w| w.join(file).exists())
}

#[test]
fn watch_reapplies_on_repo_and_manifest_changes_and_survives_a_broken_manifest() {
    let dir = Workdir::new();
    dir.write("repo/Main.hs", "main = pure ()\n");
    let manifest = "version: 1\nproject: watched\nsandboxes:\n  app:\n    profile: profile.local-workspace\n    inputs: { repo: ./repo }\n";
    dir.write("sandboxes.yaml", manifest);

    let watch = sandboxer()
        .current_dir(dir.path())
        .args(["watch", "--debounce", "200ms"])
        .spawn();
    let watching = |n: usize| {
        let text = watch.stderr_so_far();
        text.matches("Watching sandboxes.yaml for changes").count() >= n
    };
    wait_until("the first apply is done", DEADLINE, || watching(1));
    let workspace = workspace_with(dir.path(), "Main.hs").expect("the workspace holds the repo");

    // A repo edit is synced.
    dir.write("repo/Main.hs", "main = print 42\n");
    wait_until("the edit reaches the workspace", DEADLINE, || {
        std::fs::read_to_string(workspace.join("Main.hs")).is_ok_and(|t| t.contains("42"))
    });
    wait_until("watching again", DEADLINE, || watching(2));

    // A broken manifest is reported and changes nothing.
    dir.write(
        "sandboxes.yaml",
        format!("{manifest}  broken:\n    profile: profile.nope\n"),
    );
    wait_until("the problem is reported", DEADLINE, || {
        watch.stderr_so_far().contains("unknown profile `profile.nope`")
    });
    assert_eq!(workspace_folders(dir.path()).len(), 1);

    // Fixed: the new sandbox is made.
    dir.write(
        "sandboxes.yaml",
        format!("{manifest}  second:\n    profile: profile.local-workspace\n"),
    );
    wait_until("the second sandbox exists", DEADLINE, || {
        workspace_folders(dir.path()).len() == 2
    });
    wait_until("watching again", DEADLINE, || watching(4));

    watch.signal("INT");
    let out = watch.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Stopped watching."), "{out}");
    // Three edits, three cycles: its own writes (state, workspaces, reading the repo) never trigger one.
    assert_eq!(out.stderr.matches("\nChanged: ").count(), 3, "{out}");
}

/// Regression: a branch switch or a bad merge that drops most of the manifest's
/// entries made the next watch cycle delete their workspaces. Such a cycle now
/// applies the rest of its plan, holds the deletes back and says how to carry
/// them out; a one-off `apply` then does.
#[test]
fn a_manifest_cut_from_eight_sandboxes_to_two_deletes_nothing_until_a_one_off_apply() {
    let dir = Workdir::new();
    let eight: Vec<String> = (0..8).map(|i| local(&format!("s{i}"), "")).collect();
    dir.write("sandboxes.yaml", manifest("many", &eight));
    let root = workspaces::default_root(dir.path());

    let mut watch = sandboxer()
        .current_dir(dir.path())
        .args(["watch", "--debounce", "200ms"])
        .spawn();
    let watching = |n: usize| {
        let text = watch.stderr_so_far();
        text.matches("Watching sandboxes.yaml for changes").count() >= n
    };
    wait_until("the first apply is done", DEADLINE, || watching(1));
    let before = records::listed(&dir.path().ok(&["list", "--json"]));
    assert_eq!(before.len(), 8, "{before:#?}");
    assert_eq!(workspaces::all(&root).len(), 8);

    // What a create killed before its rename leaves: a staging folder with our marker.
    let kept = workspaces::all(&root)
        .into_iter()
        .find(|w| w.address == "sandbox.s0")
        .expect("s0 has a workspace");
    let mut marker = support::read_json(kept.path.join(workspaces::MARKER));
    marker["id"] = "lftvr234".into();
    let leftover = root.join(".sbx-lftvr234.creating");
    dir.write(
        leftover.join(workspaces::MARKER),
        serde_json::to_string(&marker).expect("encode the marker"),
    );

    // A bad merge: two of the eight are left, and a new entry comes in.
    dir.write(
        "sandboxes.yaml",
        manifest("many", &[local("s0", ""), local("s1", ""), local("fresh", "")]),
    );
    wait_until("the deletes are held back", DEADLINE, || {
        watch
            .stderr_so_far()
            .contains("held back 6 deletes of recorded resources")
    });
    wait_until("watching again", DEADLINE, || watching(2));
    assert!(watch.is_running(), "the watch goes on");
    let text = watch.stderr_so_far();
    for words in [
        "warning: held back 6 deletes of recorded resources: more than --max-delete 2 (a quarter of the 8 recorded resources of project many, at least 1)\n",
        "  held back: sandbox.s2, sandbox.s3, sandbox.s4, sandbox.s5, sandbox.s6 and 1 more\n",
        "  the other changes are applied; this watch deletes no recorded resource\n",
        "run `sandboxer apply -f sandboxes.yaml` once",
        "restart the watch with `--max-delete 6`",
    ] {
        assert!(text.contains(words), "{words:?} missing in:\n{text}");
    }
    let on_disk: BTreeSet<String> = workspaces::all(&root).into_iter().map(|w| w.address).collect();
    let mut expected: BTreeSet<String> = (0..8).map(|i| format!("sandbox.s{i}")).collect();
    expected.insert("sandbox.fresh".into());
    assert_eq!(on_disk, expected, "the create went on, nothing was deleted");
    assert_eq!(records::listed(&dir.path().ok(&["list", "--json"])).len(), 9);
    assert!(!leftover.exists(), "a leftover without a record is still cleaned");

    // The deletes were meant: a one-off apply carries them out.
    let apply = dir.path().ok(&["apply", "--auto-approve"]);
    assert!(
        apply
            .stderr
            .contains("Apply complete: 0 created, 0 updated, 0 replaced, 6 deleted."),
        "{apply}"
    );
    let on_disk: BTreeSet<String> = workspaces::all(&root).into_iter().map(|w| w.address).collect();
    let left: BTreeSet<String> = ["sandbox.fresh", "sandbox.s0", "sandbox.s1"].map(String::from).into();
    assert_eq!(on_disk, left);
    assert!(watch.is_running(), "the watch is still running");

    watch.signal("INT");
    let out = watch.wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stderr.matches("\nChanged: ").count(), 1, "{out}");
}

/// SIGTERM (a service manager stopping the watch) ends it cleanly: exit 0,
/// the lock free for the next command.
#[test]
fn sigterm_stops_a_watch_cleanly() {
    let dir = Workdir::new();
    dir.write(
        "sandboxes.yaml",
        "version: 1\nproject: termed\nsandboxes:\n  app:\n    profile: profile.local-workspace\n",
    );
    let watch = sandboxer().current_dir(dir.path()).args(["watch"]).spawn();
    wait_until("the first apply is done", DEADLINE, || {
        watch.stderr_so_far().contains("Watching sandboxes.yaml for changes")
    });
    watch.signal("TERM");
    let out = watch.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Stopped watching."), "{out}");
    let plan = dir.path().expect(0, &["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
}
