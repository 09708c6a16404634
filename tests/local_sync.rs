//! Local workspaces syncing shared repos: one apply reads each (repo,
//! excludes) once, whatever the number of workspaces that sync it, and every
//! workspace still gets exactly its repo, its profile's excludes left out.

mod support;

use std::fs;
use std::path::Path;

use support::manifests::{entry, manifest, with_repo};
use support::workspaces::{self, default_root};
use support::{Cli, Workdir};

/// A profile like `profile.local-workspace` that also leaves out logs.
const LOGLESS: &str = "name: profile.logless\ndriver: local-workspace\ninputs:\n  repo: {type: local_path}\n  workspace_root: {type: local_path, forces_replace: true}\nsync:\n  excludes: [\"*.log\", dist-newstyle/]\n  delete: true\n";

/// How many repo reads the apply's debug log tells of.
fn repo_reads(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("read repo ")).count()
}

/// The files and links of a workspace, `.sandboxer-*` left out, sorted.
fn listing(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(dir).expect("list").map(|e| e.expect("entry")).collect();
        names.sort_by_key(fs::DirEntry::file_name);
        for e in names {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if name.starts_with(".sandboxer-") {
                continue;
            }
            let kind = e.file_type().expect("type");
            if kind.is_symlink() {
                let target = fs::read_link(e.path()).expect("link");
                out.push(format!("{name} -> {}", target.display()));
            } else if kind.is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(format!("{name}: {}", fs::read_to_string(e.path()).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

/// The listing of each workspace by its sandbox's address.
fn by_address(dir: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    workspaces::all(&default_root(dir))
        .into_iter()
        .map(|w| (w.address.clone(), listing(&w.path)))
        .collect()
}

#[test]
fn an_apply_reads_each_repo_once_per_exclude_list_and_every_workspace_gets_its_content() {
    let work = Workdir::new();
    work.write("profiles/logless.yaml", LOGLESS);
    work.write("a/README.md", "# a\n");
    work.write("a/src/Main.hs", "main = pure ()\n");
    work.write("a/build.log", "noise\n");
    work.write("a/dist-newstyle/out", "built\n");
    std::os::unix::fs::symlink("src", work.path().join("a/docs")).expect("link");
    work.write("b/other.txt", "b\n");
    let mut entries: Vec<String> = (0..4).map(|i| with_repo(&format!("plain-{i}"), "./a")).collect();
    entries.extend((0..3).map(|i| {
        entry(
            &format!("logless-{i}"),
            "profile.logless",
            "    inputs:\n      repo: ./a\n",
        )
    }));
    entries.extend((0..2).map(|i| with_repo(&format!("other-{i}"), "./b")));
    work.write("sandboxes.yaml", manifest("shared", &entries));
    let dir = work.path();

    let first = dir.ok(&["-vv", "apply", "--auto-approve"]);
    assert!(first.stderr.contains("9 created"), "{first}");
    assert_eq!(
        repo_reads(&first.stderr),
        3,
        "a twice (two exclude lists), b once\n{first}"
    );
    let plain = [
        "README.md: # a\n",
        "build.log: noise\n",
        "docs -> src",
        "src/Main.hs: main = pure ()\n",
    ];
    let logless = ["README.md: # a\n", "docs -> src", "src/Main.hs: main = pure ()\n"];
    let found = by_address(dir);
    assert_eq!(found.len(), 9, "{found:?}");
    for (address, files) in &found {
        let want: &[&str] = match address.as_str() {
            a if a.starts_with("sandbox.plain-") => &plain,
            a if a.starts_with("sandbox.logless-") => &logless,
            _ => &["other.txt: b\n"],
        };
        assert_eq!(files, want, "{address}");
    }

    // A build's output in a workspace is excluded, so it stays; an edit of the
    // repo reaches every workspace of it, again from one read per exclude list.
    let logless_0 = workspaces::all(&default_root(dir))
        .into_iter()
        .find(|w| w.address == "sandbox.logless-0")
        .expect("logless-0");
    fs::create_dir(logless_0.path.join("dist-newstyle")).expect("mkdir");
    fs::write(logless_0.path.join("dist-newstyle/cache"), "kept\n").expect("write");
    work.write("a/src/Main.hs", "main = print 1\n");
    fs::remove_file(dir.join("a/README.md")).expect("rm");
    let second = dir.ok(&["-vv", "apply", "--auto-approve"]);
    assert!(second.stderr.contains("7 updated"), "{second}");
    assert_eq!(
        repo_reads(&second.stderr),
        2,
        "only a, with each exclude list\n{second}"
    );
    let found = by_address(dir);
    assert_eq!(
        found["sandbox.plain-3"],
        ["build.log: noise\n", "docs -> src", "src/Main.hs: main = print 1\n"]
    );
    assert_eq!(
        found["sandbox.logless-0"],
        [
            "dist-newstyle/cache: kept\n",
            "docs -> src",
            "src/Main.hs: main = print 1\n"
        ]
    );
    assert_eq!(
        found["sandbox.logless-2"],
        ["docs -> src", "src/Main.hs: main = print 1\n"]
    );
    assert_eq!(found["sandbox.other-1"], ["other.txt: b\n"]);

    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "nothing left to do\n{plan}");
}
