//! A synced repo is untrusted: whatever is in it (a link planted by a
//! dependency or a pull request) never makes sandboxer write outside the
//! workspace. Links stay links; sandboxer's own names are never taken from a repo.
//! (The same on a VM is in tests/ssh.rs.)

mod support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use support::{Cli, Workdir, workspaces};

/// Content and mode of a file.
fn file_state(path: &Path) -> (Vec<u8>, u32) {
    let bytes = fs::read(path).expect("read");
    let mode = fs::metadata(path).expect("stat").permissions().mode() & 0o7777;
    (bytes, mode)
}

/// Every name sandboxer writes inside a workspace, now or in earlier versions,
/// planted in `repo` as a link to `victim` (files) or `outside` (folders).
fn plant(repo: &Path, victim: &Path, outside: &Path) {
    for name in [
        ".sandboxer-workspace.json",
        ".sandboxer-workspace.json.tmp",
        ".sandboxer-workspace.json.tmp-1",
        "..sandboxer-workspace.json.tmp-1",
        ".README.md.sbx-tmp",
        ".sandboxer-tmp.part",
    ] {
        symlink(victim, repo.join(name)).expect("plant a link");
    }
    symlink(outside, repo.join(".sandboxer-tmp")).expect("plant a folder link");
    fs::create_dir_all(repo.join("src")).expect("mkdir");
    symlink(victim, repo.join("src/.Main.hs.sbx-tmp")).expect("plant a nested link");
}

#[test]
fn links_planted_at_every_name_sandboxer_writes_change_nothing_outside_a_local_workspace() {
    let work = Workdir::new();
    let victim = work.write("victim.txt", "precious\n");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).expect("chmod");
    let outside = work.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    let repo = work.path().join("repo");
    work.write("repo/README.md", "v1\n");
    work.write("repo/src/Main.hs", "main = pure ()\n");
    plant(&repo, &victim, &outside);
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: hostile\nsandboxes:\n  app:\n    profile: profile.local-workspace\n    inputs:\n      repo: ./repo\n",
    );
    let before = file_state(&victim);

    work.path().ok(&["apply", "--auto-approve"]);
    // An update rewrites the marker and copies the edited files again.
    work.write("repo/README.md", "v2\n");
    work.write("repo/src/Main.hs", "main = print 2\n");
    work.path().ok(&["apply", "--auto-approve"]);

    assert_eq!(
        file_state(&victim),
        before,
        "the file outside kept its content and mode"
    );
    assert_eq!(
        fs::read_dir(&outside).expect("list").count(),
        0,
        "nothing written into the linked folder"
    );
    let root = workspaces::default_root(work.path());
    let ws = &workspaces::all(&root)[0].path;
    assert_eq!(fs::read_to_string(ws.join("README.md")).expect("read"), "v2\n");
    assert_eq!(
        fs::read_to_string(ws.join("src/Main.hs")).expect("read"),
        "main = print 2\n"
    );
    // A repo's links stay links (never followed); its links at sandboxer's own names are not taken.
    for name in [".README.md.sbx-tmp", "src/.Main.hs.sbx-tmp"] {
        let meta = fs::symlink_metadata(ws.join(name)).expect("synced");
        assert!(meta.file_type().is_symlink(), "{name} is a link in the workspace");
    }
    let marker = fs::symlink_metadata(ws.join(".sandboxer-workspace.json")).expect("marker");
    assert!(marker.is_file(), "the marker is sandboxer's, not the repo's link");
    for own in [".sandboxer-workspace.json.tmp", ".sandboxer-tmp", ".sandboxer-tmp.part"] {
        assert!(
            fs::symlink_metadata(ws.join(own)).is_err(),
            "{own} not taken from the repo"
        );
    }
    work.path().ok(&["plan", "--detailed-exitcode"]);
}

/// A marker that is not a small JSON document (garbage, a huge file, a link)
/// is reported as what it is and its folder left alone, never taken for a
/// missing workspace or deleted.
#[test]
fn unreadable_markers_are_reported_and_their_folders_left_alone() {
    let work = Workdir::new();
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: hostile\nsandboxes:\n  app:\n    profile: profile.local-workspace\n",
    );
    work.path().ok(&["apply", "--auto-approve"]);
    let root = workspaces::default_root(work.path());
    work.write(
        ".sandboxer/workspaces/sbx-garbage1/.sandboxer-workspace.json",
        "{not json",
    );
    let huge = format!("{{\"id\":\"huge0001\",\"pad\":\"{}\"}}", "x".repeat(200_000));
    work.write(".sandboxer/workspaces/sbx-huge0001/.sandboxer-workspace.json", huge);
    let victim = work.write("victim.json", "{}");
    fs::create_dir(root.join("sbx-linked01")).expect("mkdir");
    symlink(&victim, root.join("sbx-linked01/.sandboxer-workspace.json")).expect("plant");

    let plan = work.path().expect(0, &["plan", "--detailed-exitcode"]);
    for name in ["sbx-garbage1", "sbx-huge0001", "sbx-linked01"] {
        assert!(
            plan.stderr.contains(&format!(
                "{name}: unreadable marker (not a small JSON document); left alone"
            )),
            "{name}: {plan}"
        );
    }
    work.path().ok(&["apply", "--auto-approve"]);
    for name in ["sbx-garbage1", "sbx-huge0001", "sbx-linked01"] {
        assert!(root.join(name).exists(), "{name} was touched");
    }
}
