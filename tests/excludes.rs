//! Sync excludes mean what rsync makes of them. For one tree with many kinds of
//! names (nested folders, dotfiles, spaces, brackets and other wildcard bytes in
//! names, files and folders of the same name, links, a non-ASCII name), and for
//! each pattern of a table and of a generated list, the entries the real
//! `rsync -a --exclude=PATTERN` copies from one temporary folder to another are
//! exactly the entries the walk keeps with `Excludes::new(&[PATTERN])`, and the
//! entries the native copy (`sync_tree`) writes. And `sandboxer validate`
//! refuses a profile with a pattern it cannot match as rsync does.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sandboxer::repo::copy::sync_tree;
use sandboxer::repo::walk::{EntryKind, walk};
use sandboxer::repo::{Excludes, exclude};

/// Files (and, ending in `/`, empty folders) of the tree; folders above them are made.
const FILES: &[&str] = &[
    ".git/HEAD",
    ".git/objects/ab/cdef",
    ".gitignore",
    ".env",
    ".hidden/tmp/cache",
    "README.md",
    "a b.txt",
    "[x].txt",
    "x.txt",
    "é.txt",
    "build/out.o",
    "build/lib.a",
    "build/keep.txt",
    "src/build",
    "src/main.c",
    "src/main.o",
    "src/lib.a",
    "src/notes.log",
    "src/tmp/t.o",
    "src/tmp/scratch",
    "tmp",
    "docs/guide.pdf",
    "docs/readme.md",
    "docs/sub/deep.pdf",
    "sub/docs/other.pdf",
    "sub/docs/notes.txt",
    "dist-newstyle/cache/plan.json",
    "pkg/dist-newstyle",
    "pkg/empty/",
    "a/b",
    "a/x/b/f",
    "a/x/y/b",
    "q/a/z/b",
    "logs/app.log",
    "logs/app.log.1",
    "logs/with space.log",
    "logs/old/2024.log",
    "weird/[oa]",
    "weird/a*b",
    "weird/q?",
    "weird/-dash",
    "weird/!bang",
    "weird/back\\slash",
    "weird/o",
    "weird/x y/tmp/deep",
    "nested/deep/er/tmp/x",
    "nested/deep/er/tmp.txt",
    "UPPER/Case.TXT",
    "output-null/image.box",
    "packer_cache/blob",
    "target/debug/app",
    ".stack-work/dist/x",
];

/// Symbolic links (to folders, so `dir/` patterns must tell them apart).
const LINKS: &[(&str, &str)] = &[("links/dist-newstyle", "../dist-newstyle"), ("links/tmp", "../src/tmp")];

/// The patterns the brief names, and the other forms a profile can write.
const TABLE: &[&str] = &[
    // named in the design of the feature
    "**/tmp",
    "*.[oa]",
    "docs/*.pdf",
    "/build",
    "dist-newstyle/",
    "a/**/b",
    "*.log",
    ".git/",
    // names and folders
    "build",
    "build/",
    "/src/build",
    "src/build",
    "tmp",
    "tmp/",
    "/tmp",
    "/tmp/",
    "b",
    "b/",
    "docs",
    "docs/",
    ".hidden/",
    "links/",
    "o",
    // paths with a slash inside: the last components
    "sub/docs",
    "a/b",
    "/a/b",
    "x/b",
    "a/*/b",
    "*/tmp",
    "*/*/tmp",
    "*/docs/*.pdf",
    "/docs/*.pdf",
    "logs/*",
    "logs/*/",
    "links/*",
    "UPPER/*.TXT",
    "/.hidden/tmp/",
    "er/tmp/",
    // double stars and triple stars
    "/**/tmp",
    "**tmp",
    "tmp/**",
    "src/tmp/**",
    "src/tmp/***",
    "/docs/***",
    "a/***",
    "docs/**",
    "docs/**/*.pdf",
    "**/*.pdf",
    "**.pdf",
    "logs/**/",
    "logs/**.log",
    "**/",
    "**",
    "*",
    "*/",
    "?",
    ".*",
    // one-byte wildcards and classes
    "?.txt",
    "??.txt",
    "[!a]*",
    "[^.]*",
    "*.[!o]",
    "*.[^l]og",
    "[oa]",
    "\\[x\\].txt",
    "[[]x].txt",
    "[x].txt",
    "[]x]*",
    "[a-c]*",
    "[!a-z]*",
    "[--/]*",
    "[[:upper:]]*",
    "[[:alpha:]].txt",
    "[[:punct:]]*",
    "[[:space:]]*",
    "*[[:digit:]]*",
    "[[:x]*",
    "*.log.*",
    "*.TXT",
    // names with spaces and wildcard bytes
    "a b.txt",
    "* *",
    "*[ ]*",
    "weird/a\\*b",
    "weird/a*b",
    "weird/q\\?",
    "q?",
    "-dash",
    "*dash",
    "[\\!]bang",
    "back\\slash",
    "*\\\\*",
    "é.txt",
    // refused by validate because they can match nothing: rsync leaves nothing out with them
    "foo[",
    "*.[oa",
    "[[:nope:]]*",
    "*\\",
    "a//b",
    "docs//",
    " x.txt",
    "x.txt ",
    "/",
];

/// Lists of patterns used together, as profiles do.
const LISTS: &[&[&str]] = &[
    &[
        "**/tmp",
        "*.[oa]",
        "docs/*.pdf",
        "/build",
        "dist-newstyle/",
        "a/**/b",
        "*.log",
        ".git/",
    ],
    &[".git/", "dist-newstyle/", ".stack-work/", "target/"],
    &["dist-newstyle/", ".stack-work/", ".git/"],
    &["output-*/", "packer_cache/", ".git/"],
    &["tmp/", "/src/tmp/t.o", "*.pdf", "[!.]*/"],
];

/// A `/`-separated path with its kind, `d`, `f` or `l`.
type Listing = BTreeSet<String>;

fn make_tree(root: &Path) {
    for file in FILES {
        let path = root.join(file);
        if file.ends_with('/') {
            fs::create_dir_all(&path).expect("mkdir");
        } else {
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, file.as_bytes()).expect("write");
        }
    }
    for (link, target) in LINKS {
        let path = root.join(link);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, &path).expect("symlink");
    }
}

/// Everything below `dir`, read straight from the file system.
fn list(dir: &Path) -> Listing {
    fn visit(dir: &Path, prefix: &str, out: &mut Listing) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("UTF-8 name");
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                out.insert(format!("d {relative}"));
                visit(&entry.path(), &relative, out);
            } else if kind.is_symlink() {
                out.insert(format!("l {relative}"));
            } else {
                out.insert(format!("f {relative}"));
            }
        }
    }
    let mut out = Listing::new();
    visit(dir, "", &mut out);
    out
}

/// What `rsync -a` copies from `src` with these excludes.
fn rsync_copies(src: &Path, patterns: &[&str]) -> Listing {
    let dest = tempfile::tempdir().expect("tempdir");
    run_rsync(
        Command::new("rsync")
            .arg("-a")
            .args(patterns.iter().map(|p| format!("--exclude={p}")))
            .arg(format!("{}/", src.display()))
            .arg(format!("{}/", dest.path().display())),
        patterns,
    );
    list(dest.path())
}

/// Runs an rsync `command` made with `patterns` and checks it succeeded.
fn run_rsync(command: &mut Command, patterns: &[&str]) {
    let output = command
        .output()
        .expect("rsync must be installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "rsync with {patterns:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the walk keeps from `src` with these excludes.
fn walk_keeps(src: &Path, excludes: &Excludes) -> Listing {
    walk(src, excludes, &[])
        .expect("walk")
        .into_iter()
        .map(|e| {
            let kind = match e.kind {
                EntryKind::Dir => 'd',
                EntryKind::File => 'f',
                EntryKind::Symlink(_) => 'l',
            };
            format!("{kind} {}", e.relative)
        })
        .collect()
}

/// What the native copy writes from `src` with these excludes.
fn sync_tree_writes(src: &Path, excludes: &Excludes) -> Listing {
    let dest = tempfile::tempdir().expect("tempdir");
    sync_tree(src, dest.path(), excludes, true, &[]).expect("sync_tree");
    list(dest.path())
}

/// Every difference between rsync and sandboxer for one list of patterns (and,
/// with `copy`, between rsync and the native copy).
fn differences(src: &Path, everything: &Listing, patterns: &[&str], copy: bool) -> Option<String> {
    let excludes = Excludes::new(patterns);
    let rsync = rsync_copies(src, patterns);
    let walked = walk_keeps(src, &excludes);
    let mut problems = Vec::new();
    let only_rsync: Vec<_> = rsync.difference(&walked).collect();
    let only_walk: Vec<_> = walked.difference(&rsync).collect();
    if !only_rsync.is_empty() || !only_walk.is_empty() {
        problems.push(format!(
            "walk: copied by rsync only {only_rsync:?}, kept by the walk only {only_walk:?}"
        ));
    }
    if copy {
        let copied = sync_tree_writes(src, &excludes);
        if copied != rsync {
            let a: Vec<_> = rsync.symmetric_difference(&copied).collect();
            problems.push(format!("sync_tree differs from rsync in {a:?}"));
        }
    }
    let left_in: Listing = everything
        .iter()
        .filter(|entry| {
            let (kind, relative) = entry.split_at(2);
            !excludes.is_left_out(relative, kind == "d ")
        })
        .cloned()
        .collect();
    if left_in != rsync {
        let a: Vec<_> = rsync.symmetric_difference(&left_in).collect();
        problems.push(format!("is_left_out differs from rsync in {a:?}"));
    }
    (!problems.is_empty()).then(|| format!("{patterns:?}:\n    {}", problems.join("\n    ")))
}

/// Runs every list on a few threads (rsync mostly waits for itself) and fails
/// with all the differences at once.
fn assert_same_as_rsync(lists: &[Vec<&str>], copy: bool) {
    let src = tempfile::tempdir().expect("tempdir");
    make_tree(src.path());
    let everything = list(src.path());
    assert_eq!(walk_keeps(src.path(), &Excludes::default()), everything);
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some(patterns) = lists.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Some(problem) = differences(src.path(), &everything, patterns, copy) {
                        failures.lock().expect("lock").push(problem);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} pattern lists differ from rsync:\n{}",
        failures.len(),
        lists.len(),
        failures.join("\n")
    );
}

#[test]
fn each_pattern_of_the_table_leaves_out_what_rsync_leaves_out() {
    let lists: Vec<Vec<&str>> = TABLE.iter().map(|p| vec![*p]).collect();
    assert_same_as_rsync(&lists, true);
}

#[test]
fn lists_of_patterns_leave_out_what_rsync_leaves_out() {
    let lists: Vec<Vec<&str>> = LISTS.iter().map(|l| l.to_vec()).collect();
    assert_same_as_rsync(&lists, true);
}

/// Pieces the generated patterns are made of.
const PIECES: &[&str] = &[
    "*",
    "**",
    "***",
    "?",
    "a",
    "b",
    "x",
    "o",
    "tmp",
    "docs",
    "build",
    "log",
    ".",
    "/",
    "/",
    "/*/",
    "[ab]",
    "[!.]",
    "[^a-m]",
    "[[:lower:]]",
    "[]x]",
    "*.pdf",
    ".log",
    " ",
    "-",
    "\\*",
    "\\[",
    "er",
    "src",
    "e",
];

/// The walk and `is_left_out` (not the native copy: the table covers it) for
/// patterns made of random pieces.
#[test]
fn generated_patterns_leave_out_what_rsync_leaves_out() {
    // A fixed linear congruential sequence: the same patterns on every run.
    let mut state: u64 = 0x5eed;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(state >> 33).expect("fits") % n
    };
    let mut patterns = BTreeSet::new();
    while patterns.len() < 120 {
        let mut p = String::new();
        if next(4) == 0 {
            p.push('/');
        }
        for _ in 0..=next(4) {
            p.push_str(PIECES[next(PIECES.len())]);
        }
        if next(4) == 0 {
            p.push('/');
        }
        // rsync reads these as rules, not patterns; validate refuses them.
        if p.is_empty() || p.starts_with("- ") || p.starts_with("+ ") || p.starts_with('!') {
            continue;
        }
        patterns.insert(p);
    }
    let lists: Vec<Vec<&str>> = patterns.iter().map(|p| vec![p.as_str()]).collect();
    assert_same_as_rsync(&lists, false);
}

/// What one `rsync -a --delete` per folder leaves in folders `w1` and `w2` of
/// `dest` (each first filled with a copy of `src` and a file of its own, when
/// `prefill`), against one `rsync -aR --delete` into both at once, from links
/// named `w1` and `w2` that point at `src`, with every pattern rewritten by
/// `one_folder_down` (the copy of a VM's repo cache into its workspaces).
/// `None` when a pattern has no rewriting.
fn apart_and_together(src: &Path, patterns: &[&str], prefill: bool) -> Option<(Vec<Listing>, Vec<Listing>)> {
    let rewritten: Vec<String> = patterns
        .iter()
        .map(|p| exclude::one_folder_down(p))
        .collect::<Option<_>>()?;
    let names = ["w1", "w2"];
    let fill = |dest: &Path| {
        for name in names {
            let folder = dest.join(name);
            fs::create_dir_all(&folder).expect("mkdir");
            if prefill {
                let copied = Command::new("cp")
                    .arg("-a")
                    .arg(format!("{}/.", src.display()))
                    .arg(&folder)
                    .status()
                    .expect("cp");
                assert!(copied.success());
                fs::write(folder.join("only-here.txt"), "made in the workspace").expect("write");
            }
        }
    };
    let run = |command: &mut Command| run_rsync(command, patterns);
    let apart = tempfile::tempdir().expect("tempdir");
    fill(apart.path());
    for name in names {
        run(Command::new("rsync")
            .args(["-a", "--delete"])
            .args(patterns.iter().map(|p| format!("--exclude={p}")))
            .arg(format!("{}/", src.display()))
            .arg(format!("{}/", apart.path().join(name).display())));
    }
    let together = tempfile::tempdir().expect("tempdir");
    fill(together.path());
    let links = tempfile::tempdir().expect("tempdir");
    for name in names {
        std::os::unix::fs::symlink(src, links.path().join(name)).expect("symlink");
    }
    run(Command::new("rsync")
        .args(["-aR", "--delete"])
        .arg(format!("--include={}", exclude::TOP_FOLDERS_WHOLE))
        .args(rewritten.iter().map(|p| format!("--exclude={p}")))
        .args(names.map(|n| format!("{}/./{n}/", links.path().display())))
        .arg(format!("{}/", together.path().display())));
    let listings = |dest: &Path| names.iter().map(|n| list(&dest.join(n))).collect::<Vec<_>>();
    Some((listings(apart.path()), listings(together.path())))
}

/// The VM copies its repo cache into many workspaces with one rsync when every
/// exclude has a rewriting for that: then each workspace gets, and keeps, what
/// a copy of its own would give it, for every pattern of the table and list
/// that has one (anchored patterns and names: most of them).
#[test]
fn a_copy_into_several_folders_at_once_leaves_out_and_keeps_what_a_copy_each_does() {
    let src = tempfile::tempdir().expect("tempdir");
    make_tree(src.path());
    let lists: Vec<Vec<&str>> = TABLE
        .iter()
        .map(|p| vec![*p])
        .chain(LISTS.iter().map(|l| l.to_vec()))
        .collect();
    let cases: Vec<(&Vec<&str>, bool)> = lists.iter().flat_map(|l| [(l, false), (l, true)]).collect();
    let next = AtomicUsize::new(0);
    let compared = AtomicUsize::new(0);
    let differ = Mutex::new(Vec::new());
    // A few at once: rsync mostly waits for itself.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some(&(patterns, prefill)) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Some((apart, together)) = apart_and_together(src.path(), patterns, prefill) else {
                        continue;
                    };
                    compared.fetch_add(1, Ordering::Relaxed);
                    if apart != together {
                        let a: Vec<_> = apart[0].symmetric_difference(&together[0]).collect();
                        let problem = format!("{patterns:?} (prefilled: {prefill}): {a:?}");
                        differ.lock().expect("lock").push(problem);
                    }
                }
            });
        }
    });
    let differ = differ.into_inner().expect("lock");
    let compared = compared.into_inner();
    assert!(differ.is_empty(), "{} differ:\n{}", differ.len(), differ.join("\n"));
    // Names and anchored patterns are most of the table: the default excludes among them.
    assert!(compared >= 100, "only {compared} comparisons");
    assert!(exclude::one_folder_down("dist-newstyle/").is_some());
    assert_eq!(exclude::one_folder_down("/build").as_deref(), Some("/*/build"));
    for crossing in ["docs/*.pdf", "a/**/b", "**/tmp", "src/tmp/***"] {
        assert_eq!(exclude::one_folder_down(crossing), None, "{crossing}");
    }
}

#[test]
fn validate_refuses_rules_and_patterns_that_match_nothing_and_takes_the_rest() {
    for pattern in TABLE.iter().chain(LISTS.iter().flat_map(|l| l.iter())) {
        let refused = Excludes::check(pattern).is_err();
        let expected = [
            "foo[",
            "*.[oa",
            "[[:nope:]]*",
            "*\\",
            "a//b",
            "docs//",
            " x.txt",
            "x.txt ",
            "/",
        ]
        .contains(pattern);
        assert_eq!(refused, expected, "{pattern:?}: {:?}", Excludes::check(pattern));
    }
    for rule in ["", "+ keep/", "- build/", "!", "!tmp", "- "] {
        let e = Excludes::check(rule).expect_err(rule);
        assert!(!e.to_string().is_empty() && !e.hint().is_empty(), "{rule:?}");
    }
}

#[test]
fn validate_refuses_a_profile_with_an_include_rule_naming_its_line() {
    let work = support::Workdir::new();
    work.write(
        "profiles/mine.yaml",
        "name: profile.mine\n\
         driver: local-workspace\n\
         inputs:\n  repo: { type: local_path }\n\
         sync:\n  excludes:\n    - .git/\n    - '+ keep/'\n",
    );
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: p\nsandboxes:\n  app:\n    profile: profile.mine\n",
    );
    let out = support::sandboxer()
        .current_dir(work.path())
        .args(["validate", "-f", "sandboxes.yaml"])
        .run();
    assert_eq!(out.code, 1, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(": error: "))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    assert!(
        line.ends_with(
            "profiles/mine.yaml:8:7: error: sync.excludes[1]: exclude pattern `+ keep/` starts with `+ `, \
             rsync's include prefix; include/exclude modifiers (`+ `, `- `, `!`) are not supported"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("\n  hint: list only what to leave out"), "{out}");
}
