//! `sandboxer watch`: it applies at start, then again on each change of a synced
//! repo or of the manifest, keeps going past a broken manifest, never reacts to
//! its own writes, and stops cleanly on Ctrl-C.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{Workdir, sandboxer, wait_until, workspaces};

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
