//! Issue #4: workspaces on build VMs over ssh (`profile.vm-haskell-build`), run as
//! the real binary against real sshd "VMs" on loopback (`tests/support/vms.rs`).
//!
//! Every test starts its own bed of VMs and works in its own temporary folder: a
//! manifest, a repo folder next to it, the state in `state/` (`--state-dir`), and
//! `--ssh-config T/ssh_config`. The VMs share this machine's filesystem, so a test
//! reads a workspace "from the VM side" below `vm(k).build_root()`; workspaces are
//! found there by their marker, and the records with `list --json`. Nothing waits
//! for a fixed time: each run of the binary is awaited to its end, and a VM that is
//! down costs its `connect_timeout: 2s` at most.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a test waits for a condition before it fails.
const DEADLINE: Duration = Duration::from_secs(30);

use support::manifests::manifest_with;
use support::packer;
use support::records::{self, Listed};
use support::vms::{self, RuntimeDir, TestBed};
use support::workspaces::{self, MARKER, Workspace};
use support::{Cli, Output, Sandboxer, Workdir, eventually, processes, read, sandboxer, wait_until};

const PROFILE: &str = "profile.vm-haskell-build";

// ---------------------------------------------------------------------------
// Helpers

/// A bed of VMs and a folder to run sandboxer in.
struct World {
    /// `XDG_RUNTIME_DIR` of every run: this world's ssh masters and no one else's
    /// (first, so they are told to exit before the VMs stop).
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
    /// The ssh config given with `--ssh-config` (the bed's unless a test swaps it).
    ssh_config: PathBuf,
    /// Variables every run gets.
    env: Vec<(String, String)>,
}

impl World {
    /// `n` VMs and a work folder holding a small repo in `repo/`.
    fn start(n: usize) -> World {
        let bed = TestBed::start(n);
        let work = Workdir::new();
        work.write("repo/README.md", "hello v1\n");
        work.write("repo/src/Main.hs", "main :: IO ()\nmain = pure ()\n");
        work.write("repo/old.txt", "to be removed\n");
        // Build output on the operator's side is not copied (profile excludes).
        work.write("repo/dist-newstyle/local-only.o", "local build output\n");
        let ssh_config = bed.ssh_config();
        World {
            run: RuntimeDir::new(),
            bed,
            work,
            ssh_config,
            env: Vec::new(),
        }
    }

    /// Every run gets `name=value` too.
    fn with_env(mut self, name: &str, value: &str) -> World {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The workspace root of VM `k`, as text for manifests.
    fn root(&self, k: usize) -> String {
        self.bed.vm(k).build_root().display().to_string()
    }

    /// Writes `sandboxes.yaml` (project `issue4`) with these entries.
    fn manifest(&self, entries: &[Entry]) {
        self.manifest_named("sandboxes.yaml", "issue4", entries, "");
    }

    fn manifest_named(&self, file: &str, project: &str, entries: &[Entry], extra: &str) -> PathBuf {
        let entries: Vec<String> = entries.iter().map(Entry::yaml).collect();
        self.work.write(file, manifest_with(project, extra, &entries))
    }

    /// An entry on VM `k` in its workspace root, syncing `./repo`.
    fn sandbox(&self, name: &str, k: usize) -> Entry {
        Entry::new(name)
            .input("vm", &format!("vm{k}"))
            .input("workspace_root", &self.root(k))
            .input("repo", "./repo")
            .input("connect_timeout", "2s")
    }

    /// Records by address, from `list --json`.
    fn records(&self) -> BTreeMap<String, Listed> {
        let out = self.expect(0, &["list", "--json"]);
        records::listed(&out)
            .into_iter()
            .map(|r| (r.address.clone(), r))
            .collect()
    }

    /// Workspaces on every VM, by VM number.
    fn all_workspaces(&self) -> BTreeMap<usize, Vec<Workspace>> {
        (1..=self.bed.len())
            .map(|k| (k, workspaces::with_marker(self.bed.vm(k).build_root())))
            .collect()
    }
}

impl Cli for World {
    /// `sandboxer --ssh-config C --state-dir S`, run in the work folder, with
    /// this world's `XDG_RUNTIME_DIR`.
    fn cmd(&self) -> Sandboxer {
        let command = sandboxer()
            .current_dir(self.work.path())
            .env("XDG_RUNTIME_DIR", self.run.path())
            .arg("--ssh-config")
            .arg(&self.ssh_config)
            .arg("--state-dir")
            .arg(self.work.path().join("state"));
        self.env
            .iter()
            .fold(command, |command, (name, value)| command.env(name, value))
    }
}

/// One sandbox entry of a manifest; every input is written as a quoted YAML string.
#[derive(Clone)]
struct Entry {
    name: String,
    profile: String,
    inputs: Vec<(String, String)>,
}

impl Entry {
    fn new(name: &str) -> Entry {
        Entry {
            name: name.into(),
            profile: PROFILE.into(),
            inputs: Vec::new(),
        }
    }

    fn input(mut self, key: &str, value: &str) -> Entry {
        self.inputs.retain(|(k, _)| k != key);
        self.inputs.push((key.into(), value.into()));
        self
    }

    fn yaml(&self) -> String {
        let mut text = format!("  {}:\n    profile: {}\n    inputs:\n", self.name, self.profile);
        for (k, v) in &self.inputs {
            text.push_str(&format!("      {k}: {}\n", yaml_string(v)));
        }
        text
    }
}

/// A double-quoted YAML scalar holding exactly `s`.
fn yaml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks that `ws` holds the repo as written by [`World::start`] (with `readme`).
fn assert_repo_content(ws: &Path, readme: &str) {
    assert_eq!(read(ws.join("README.md")), readme, "{}", ws.display());
    assert_eq!(read(ws.join("src/Main.hs")), "main :: IO ()\nmain = pure ()\n");
    assert!(
        !ws.join("dist-newstyle/local-only.o").exists(),
        "excluded build output was copied into {}",
        ws.display()
    );
}

/// A file name nobody else uses, for canaries.
fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("sbx-canary-{tag}-{}-{nanos}", std::process::id())
}

/// Every file and folder below `dir` (relative paths), following no links.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).expect("below dir").to_path_buf());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// 1. Lifecycle on 3 VMs at once

/// Create, no-change, resync after a repo edit (build output on the VM kept),
/// delete of one entry, destroy of the rest: 3 VMs, 3 sandboxes each.
#[test]
fn create_no_change_resync_and_delete_on_three_vms() {
    let w = World::start(3);
    let names: Vec<(String, usize)> = (1..=3)
        .flat_map(|k| (1..=3).map(move |i| (format!("app-{k}-{i}"), k)))
        .collect();
    let entries: Vec<Entry> = names.iter().map(|(n, k)| w.sandbox(n, *k)).collect();
    w.manifest(&entries);

    // Create: 3 workspaces per VM, each with the repo and our marker.
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stdout.contains("Plan: 9 to create, 0 to update"), "{out}");
    let records = w.records();
    assert_eq!(records.len(), 9, "{records:?}");
    for (name, k) in &names {
        let record = &records[&format!("sandbox.{name}")];
        let expected = w.bed.vm(*k).build_root().join(format!("sbx-{}", record.id));
        assert_eq!(Path::new(&record.workspace), expected);
        assert_repo_content(&expected, "hello v1\n");
        assert!(expected.join("old.txt").is_file());
    }
    for (k, found) in w.all_workspaces() {
        assert_eq!(found.len(), 3, "vm{k}: {found:?}");
        assert!(found.iter().all(|ws| ws.project == "issue4"), "{found:?}");
        let mut addresses: Vec<&str> = found.iter().map(|ws| ws.address.as_str()).collect();
        addresses.sort_unstable();
        assert_eq!(
            addresses,
            (1..=3).map(|i| format!("sandbox.app-{k}-{i}")).collect::<Vec<_>>()
        );
    }
    // The same content seen through the VM's own sshd.
    let ws22 = &records["sandbox.app-2-2"].workspace;
    let seen = w.bed.ssh(2, &format!("echo $TESTBED_VM; cat '{ws22}/README.md'"));
    assert!(seen.status.success(), "{seen:?}");
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "vm2\nhello v1\n");

    // Nothing changed: nothing to do.
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stdout.starts_with("No changes."), "{out}");
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // Build output made on the VM, then a repo edit: a resync that keeps the build output.
    let build_out = PathBuf::from(&records["sandbox.app-1-1"].workspace).join("dist-newstyle");
    fs::create_dir_all(build_out.join("build")).expect("mkdir dist-newstyle");
    fs::write(build_out.join("build/Main.o"), "object code").expect("write Main.o");
    w.work.write("repo/README.md", "hello v2\n");
    fs::remove_file(w.work.path().join("repo/old.txt")).expect("rm old.txt");
    let out = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert!(
        out.stdout
            .contains("Plan: 0 to create, 9 to update, 0 to replace, 0 to delete."),
        "{out}"
    );
    assert!(out.stdout.contains("repo content changed"), "{out}");
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("0 created, 9 updated"), "{out}");
    let after = w.records();
    for (address, record) in &records {
        assert_eq!(after[address].id, record.id, "{address} kept its workspace");
        let ws = Path::new(&record.workspace);
        assert_repo_content(ws, "hello v2\n");
        assert!(!ws.join("old.txt").exists(), "{} still has old.txt", ws.display());
    }
    assert_eq!(
        read(build_out.join("build/Main.o")),
        "object code",
        "excluded folder survives the resync"
    );
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // One entry gone from the manifest: only its workspace goes.
    let before = w.all_workspaces();
    let gone = PathBuf::from(&records["sandbox.app-2-3"].workspace);
    let kept: Vec<Entry> = entries.iter().filter(|e| e.name != "app-2-3").cloned().collect();
    w.manifest(&kept);
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(
        out.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 1 to delete."),
        "{out}"
    );
    assert!(!gone.exists(), "{} still there", gone.display());
    let now = w.all_workspaces();
    for k in [1, 3] {
        assert_eq!(now[&k], before[&k], "vm{k} untouched");
    }
    let mut expected_vm2 = before[&2].clone();
    expected_vm2.retain(|ws| ws.path != gone);
    assert_eq!(now[&2], expected_vm2);
    assert_eq!(w.records().len(), 8);

    // destroy: everything of the project goes; the VMs keep running.
    let out = w.expect(0, &["destroy", "--auto-approve"]);
    assert!(out.stderr.contains("8 deleted"), "{out}");
    for (k, found) in w.all_workspaces() {
        assert!(found.is_empty(), "vm{k} still has {found:?}");
        assert!(w.bed.vm(k).build_root().is_dir(), "vm{k}'s workspace root stays");
        assert!(w.bed.vm(k).is_running(), "vm{k}'s sshd was stopped");
        let alive = w.bed.ssh(k, "echo $TESTBED_VM");
        assert_eq!(String::from_utf8_lossy(&alive.stdout), format!("vm{k}\n"), "{alive:?}");
    }
    assert!(w.records().is_empty());
    let out = w.expect(0, &["plan"]);
    assert!(out.stdout.contains("Plan: 8 to create"), "{out}");
}

/// The notes `inspect` shows for `address`.
fn notes_of(w: &World, address: &str) -> String {
    let shown = w.expect(0, &["inspect", address]);
    shown
        .stdout
        .split("notes (last 20):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no notes section\n{shown}"))
        .to_string()
}

/// The repo caches sandboxer keeps under VM `k`'s workspace root (without
/// their `.links` folders).
fn caches(w: &World, k: usize) -> Vec<PathBuf> {
    let dir = w.bed.vm(k).build_root().join(".sandboxer-cache");
    let mut found: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_none_or(|e| e != "links"));
    found.sort();
    found
}

/// A repo goes to each VM once, into sandboxer's cache there, and is copied on
/// the VM into every workspace that syncs it; a one-file edit sends one file
/// per VM; an excluded build folder in a workspace survives the resync; the
/// cache goes with the project's last workspace there.
#[test]
fn a_repo_is_sent_once_per_vm_and_copied_there_into_each_workspace() {
    let w = World::start(2);
    let on_vm: [(usize, &[&str]); 2] = [(1, &["a", "b", "c"]), (2, &["d", "e"])];
    let entries: Vec<Entry> = on_vm
        .iter()
        .flat_map(|(k, names)| names.iter().map(|n| w.sandbox(n, *k)))
        .collect();
    w.manifest(&entries);
    w.expect(0, &["apply", "--auto-approve"]);
    let records = w.records();
    for r in records.values() {
        assert_repo_content(Path::new(&r.workspace), "hello v1\n");
    }
    for (k, names) in on_vm {
        let found = caches(&w, k);
        assert_eq!(found.len(), 1, "one repo cache on vm{k}: {found:?}");
        let name = found[0]
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(name.starts_with("issue4."), "{name}");
        assert_eq!(read(found[0].join("README.md")), "hello v1\n");
        for n in names {
            let notes = notes_of(&w, &format!("sandbox.{n}"));
            assert!(
                notes.contains(&format!(
                    "to the VM's repo cache (once for {} workspace(s)), then copied on the VM into all at once",
                    names.len()
                )),
                "sandbox.{n}: {notes}"
            );
        }
    }
    // The caches are no workspaces: a plan now has nothing to do.
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // Build output in a workspace (excluded from the sync) survives a resync.
    let a = Path::new(&records["sandbox.a"].workspace).to_path_buf();
    fs::create_dir_all(a.join("dist-newstyle")).expect("mkdir");
    fs::write(a.join("dist-newstyle/cache.o"), "built on the VM").expect("write");
    w.work.write("repo/README.md", "hello v2\n");
    let out = w.expect(0, &["apply", "--auto-approve", "-vv"]);
    for r in w.records().values() {
        assert_repo_content(Path::new(&r.workspace), "hello v2\n");
    }
    assert_eq!(read(a.join("dist-newstyle/cache.o")), "built on the VM");
    // The repo is read (walked and digested) once for both VMs.
    let reads = out.stderr.lines().filter(|l| l.contains("read repo ")).count();
    assert_eq!(reads, 1, "{out}");
    for (k, names) in on_vm {
        let notes = notes_of(&w, &format!("sandbox.{}", names[0]));
        assert!(
            notes.contains(&format!(
                "rsync: 1 files transferred to the VM's repo cache (once for {} workspace(s))",
                names.len()
            )),
            "one file sent to vm{k}: {notes}"
        );
    }
    w.expect(0, &["plan", "--detailed-exitcode"]);

    w.expect(0, &["destroy", "--auto-approve"]);
    for (k, _) in on_vm {
        assert!(caches(&w, k).is_empty(), "vm{k}'s cache went with the last workspace");
        assert!(!w.bed.vm(k).build_root().join(".sandboxer-cache").exists());
    }
}

/// A repo cache lives as long as a workspace copies from it: workspaces that
/// switch to another repo leave the old cache, and the old cache goes with the
/// last workspace that copied from it, while the project still has
/// workspaces under that root.
#[test]
fn a_repo_cache_goes_with_the_last_workspace_that_copies_from_it() {
    let w = World::start(1);
    w.work.write("repo2/README.md", "hello from repo2\n");
    w.manifest(&["a", "b", "c"].map(|n| w.sandbox(n, 1)));
    w.expect(0, &["apply", "--auto-approve"]);
    let first = caches(&w, 1);
    assert_eq!(first.len(), 1, "{first:?}");
    // The workspaces linked in a cache's `.links` folder: those that copy from it.
    let links = |cache: &Path| -> BTreeSet<String> {
        fs::read_dir(format!("{}.links", cache.display()))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(links(&first[0]).len(), 3);

    // a and b switch to repo2: a new cache for them; the old one keeps c.
    let switched = ["a", "b"].map(|n| w.sandbox(n, 1).input("repo", "./repo2"));
    w.manifest(&[switched[0].clone(), switched[1].clone(), w.sandbox("c", 1)]);
    w.expect(0, &["apply", "--auto-approve"]);
    let both = caches(&w, 1);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.contains(&first[0]));
    assert_eq!(links(&first[0]).len(), 1, "only c copies from the old cache");
    let records = w.records();
    let c_name = Path::new(&records["sandbox.c"].workspace)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert_eq!(links(&first[0]), BTreeSet::from([c_name]));

    // c goes: nobody copies from the old cache, so it goes too; repo2's stays.
    w.manifest(&switched);
    w.expect(0, &["apply", "--auto-approve"]);
    let last = caches(&w, 1);
    assert_eq!(last.len(), 1, "{last:?}");
    assert_ne!(last[0], first[0], "the old cache went");
    assert_eq!(read(last[0].join("README.md")), "hello from repo2\n");
    assert_eq!(links(&last[0]).len(), 2);
    w.expect(0, &["plan", "--detailed-exitcode"]);
    let leftovers: Vec<_> = fs::read_dir(w.bed.vm(1).build_root().join(".sandboxer-cache"))
        .expect("read_dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".gone-") || n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A batch of 300 workspaces on one VM: each remote script of the batch (the
/// creates' folders and markers, the updates' markers, the copies) is longer
/// than the 128 KiB the kernel allows a command-line argument, and still runs,
/// since scripts go to the VM's shell on its standard input.
#[test]
fn hundreds_of_workspaces_on_one_vm_are_created_and_resynced_in_one_batch() {
    let w = World::start(1);
    let entries: Vec<Entry> = (0..300).map(|i| w.sandbox(&format!("app-{i:03}"), 1)).collect();
    w.manifest(&entries);
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("300 created"), "{out}");
    let found = workspaces::with_marker(w.bed.vm(1).build_root());
    assert_eq!(found.len(), 300);
    w.work.write("repo/README.md", "hello v2\n");
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("300 updated"), "{out}");
    for ws in &found {
        assert_repo_content(&ws.path, "hello v2\n");
    }
    assert!(
        notes_of(&w, "sandbox.app-299").contains("(once for 300 workspace(s)), then copied on the VM into all at once"),
        "one batch"
    );
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// One workspace whose copy from the VM's cache fails (a profile that keeps
/// what a workspace has, `sync.delete: false`, and a non-empty folder in that
/// workspace where the repo now has a file) fails alone: its neighbours on the
/// same VM get the edit and the plan then has only the failed one left, which
/// converges once the folder is gone.
#[test]
fn a_workspace_whose_copy_fails_on_the_vm_fails_alone() {
    let w = World::start(1);
    let builtin = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/vm-haskell-build.yaml"))
        .expect("read the built-in profile");
    let keeping = builtin
        .replace("name: profile.vm-haskell-build", "name: profile.vm-keeping")
        .replace("  delete: true", "  delete: false");
    assert_ne!(keeping, builtin);
    w.work.write("profiles/vm-keeping.yaml", keeping);
    let entries: Vec<Entry> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let mut e = w.sandbox(n, 1);
            e.profile = "profile.vm-keeping".into();
            e
        })
        .collect();
    w.manifest(&entries);
    w.expect(0, &["apply", "--auto-approve"]);
    let records = w.records();
    let b = Path::new(&records["sandbox.b"].workspace).to_path_buf();
    fs::create_dir_all(b.join("src/New.hs")).expect("mkdir");
    fs::write(b.join("src/New.hs/in-the-way"), "a folder where the repo gets a file").expect("write");

    w.work.write("repo/src/New.hs", "module New where\n");
    w.work.write("repo/README.md", "hello v2\n");
    let failed = w.expect(1, &["apply", "--auto-approve"]);
    assert!(
        failed
            .stderr
            .contains(&format!("copying the repo cache into {}", b.display())),
        "{failed}"
    );
    for n in ["a", "c"] {
        let ws = Path::new(&records[&format!("sandbox.{n}")].workspace).to_path_buf();
        assert_repo_content(&ws, "hello v2\n");
        assert_eq!(read(ws.join("src/New.hs")), "module New where\n");
    }
    assert_eq!(
        read(b.join("src/New.hs/in-the-way")),
        "a folder where the repo gets a file"
    );
    let notes = notes_of(&w, "sandbox.a");
    assert!(
        notes.contains("then copied on the VM one by one (all at once failed: "),
        "the copy into all three failed, so each was copied by itself: {notes}"
    );
    let plan = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("sandbox.b"), "{plan}");
    for n in ["sandbox.a", "sandbox.c"] {
        assert!(!plan.stdout.contains(n), "{n} is done: {plan}");
    }

    fs::remove_dir_all(b.join("src/New.hs")).expect("clear the way");
    w.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(read(b.join("src/New.hs")), "module New where\n");
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

// ---------------------------------------------------------------------------
// 2. Drift, and folders that are not ours

/// A workspace removed by hand is re-created (`drift:`); folders without our
/// marker, or with another project's, survive apply and destroy.
#[test]
fn drift_is_recreated_and_foreign_folders_are_never_deleted() {
    let w = World::start(2);
    let root1 = w.bed.vm(1).build_root().to_path_buf();
    // Not ours: no marker, a marker of another project, a folder of another name.
    fs::create_dir_all(root1.join("sbx-foreign")).expect("mkdir");
    fs::write(root1.join("sbx-foreign/keep.txt"), "theirs").expect("write");
    fs::create_dir_all(root1.join("other/deeper")).expect("mkdir");
    fs::write(root1.join("other/deeper/keep.txt"), "theirs too").expect("write");
    fs::create_dir_all(root1.join("sbx-otherteam")).expect("mkdir");
    let their_marker = r#"{"id":"otherteam","project":"other-team","address":"sandbox.app","spec_hash":"x","complete":true,"created_at":"t","updated_at":"t"}"#;
    fs::write(root1.join("sbx-otherteam").join(MARKER), their_marker).expect("write");
    fs::write(root1.join("sbx-otherteam/keep.txt"), "another project's").expect("write");
    let foreign_before = tree(&root1);

    w.manifest(&[w.sandbox("a", 1), w.sandbox("b", 1), w.sandbox("c", 2)]);
    w.expect(0, &["apply", "--auto-approve"]);
    let records = w.records();
    let lost = records["sandbox.a"].workspace.clone();

    // Removed by hand on the VM.
    let rm = w.bed.ssh(1, &format!("rm -rf -- '{lost}'"));
    assert!(rm.status.success(), "{rm:?}");
    let out = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.contains(&format!("drift: {lost} is missing")), "{out}");
    assert!(
        out.stdout
            .contains("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."),
        "{out}"
    );
    w.expect(0, &["apply", "--auto-approve"]);
    let again = w.records();
    assert_ne!(
        again["sandbox.a"].id, records["sandbox.a"].id,
        "a re-created workspace gets a new id"
    );
    assert_repo_content(Path::new(&again["sandbox.a"].workspace), "hello v1\n");
    assert_eq!(again["sandbox.b"].id, records["sandbox.b"].id);
    w.expect(0, &["plan", "--detailed-exitcode"]);

    // destroy removes ours and nothing else.
    w.expect(0, &["destroy", "--auto-approve"]);
    assert!(
        w.all_workspaces()
            .values()
            .flatten()
            .all(|ws| ws.project == "other-team")
    );
    assert_eq!(
        tree(&root1),
        foreign_before,
        "folders that are not ours are untouched, and the project's repo cache went with its last workspace"
    );
    assert_eq!(read(root1.join("sbx-foreign/keep.txt")), "theirs");
    assert_eq!(read(root1.join("other/deeper/keep.txt")), "theirs too");
    assert_eq!(read(root1.join("sbx-otherteam/keep.txt")), "another project's");
}

// ---------------------------------------------------------------------------
// 3. A VM that is down

/// A VM whose sshd is down fails its own sandboxes only (exit 1, ssh's error
/// shown); once it is back, apply converges and the plan is empty.
#[test]
fn a_vm_that_is_down_fails_its_sandboxes_only_and_converges_when_back() {
    let mut w = World::start(3);
    let entries: Vec<Entry> = (1..=3)
        .flat_map(|k| (1..=2).map(move |i| (k, i)))
        .map(|(k, i)| w.sandbox(&format!("s{k}-{i}"), k))
        .collect();
    w.manifest(&entries);
    w.bed.stop_vm(2);

    let out = w.expect(1, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("Connection refused"), "{out}");
    assert!(
        out.stderr.contains("warning: could not observe vm2: ") && out.stderr.contains("changes there will fail"),
        "apply says up front what it could not look at: {out}"
    );
    assert!(
        out.stderr.contains("sandbox.s2-1") && out.stderr.contains("sandbox.s2-2"),
        "{out}"
    );
    assert!(out.stderr.contains("4 created"), "{out}");
    let found = w.all_workspaces();
    assert_eq!(found[&1].len(), 2, "{found:?}");
    assert!(found[&2].is_empty(), "{found:?}");
    assert_eq!(found[&3].len(), 2, "{found:?}");
    let records = w.records();
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(!records.contains_key("sandbox.s2-1"));

    // While it is down a plan cannot tell what is there: it says so and fails.
    let out = w.expect(1, &["plan", "--detailed-exitcode"]);
    assert!(
        out.stderr.contains("vm2") && out.stderr.contains("Connection refused"),
        "{out}"
    );

    w.bed.start_vm(2);
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stdout.contains("Plan: 2 to create, 0 to update"), "{out}");
    let found = w.all_workspaces();
    assert!(found.values().all(|f| f.len() == 2), "{found:?}");
    for ws in found.values().flatten() {
        assert_repo_content(&ws.path, "hello v1\n");
    }
    let out = w.expect(0, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.starts_with("No changes."), "{out}");
}

/// Regression: a plan that could not look at a VM printed a plan as if all was
/// well and exited 0 (2 with `--detailed-exitcode`). It now names the VM and fails.
#[test]
fn a_plan_that_cannot_observe_a_vm_says_so_and_fails() {
    let mut w = World::start(2);
    w.manifest(&[w.sandbox("one", 1), w.sandbox("two", 2)]);
    w.expect(0, &["apply", "--auto-approve"]);
    w.bed.stop_vm(2);
    let out = w.expect(1, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.contains("could not observe vm2"), "{out}");
    assert!(
        !out.stdout.contains("sandbox.one"),
        "vm1's sandbox is up to date: {out}"
    );
    assert!(
        out.stderr.contains("could not observe 1 location") && out.stderr.contains("vm2: "),
        "{out}"
    );
    assert!(out.stderr.contains("Connection refused"), "{out}");
    assert!(
        out.stderr
            .contains("hint: check that vm2 is up and its tunnel is open (`ssh vm2 true`)"),
        "{out}"
    );
    w.bed.start_vm(2);
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// A VM that refuses the key fails at once (no retries until the timeout) and
/// says where to look: the agent or the `IdentityFile` of that alias.
#[test]
fn a_refused_key_says_to_check_the_agent_or_the_identity_file() {
    let mut w = World::start(1);
    w.manifest(&[w.sandbox("one", 1)]);
    let stranger = w.work.path().join("stranger_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(&stranger)
        .status()
        .expect("run ssh-keygen");
    assert!(made.success());
    let config =
        read(w.bed.ssh_config()).replace(&w.bed.identity().display().to_string(), &stranger.display().to_string());
    assert!(config.contains("stranger_key"), "{config}");
    w.ssh_config = w.work.write("stranger_config", config);

    let out = w.expect(1, &["plan"]);
    assert!(out.stderr.contains("Permission denied"), "{out}");
    assert!(
        out.stderr
            .contains("hint: vm1 refused every key offered: check that the ssh agent holds the key"),
        "{out}"
    );
    assert!(out.stderr.contains("`IdentityFile`"), "{out}");
    assert!(!out.stderr.contains("attempts"), "a refusal is not retried: {out}");
}

// ---------------------------------------------------------------------------
// 4. Host keys

/// A changed host key fails plan and apply for that VM, creates nothing there
/// and is not accepted by `--ssh-accept-new` (which does accept a first-seen key).
#[test]
fn a_changed_host_key_is_refused_even_with_accept_new() {
    let mut w = World::start(2);
    w.manifest(&[w.sandbox("one", 1), w.sandbox("two", 2)]);
    let known_hosts = read(w.bed.known_hosts());
    w.bed.regenerate_host_key(2);
    let logins = w.bed.accepted_connections(2);

    let host_key_error = |out: &Output| {
        let all = format!("{}{}", out.stdout, out.stderr);
        all.contains("Host key verification failed") && all.contains("IDENTIFICATION HAS CHANGED")
    };
    let out = w.expect(1, &["plan"]);
    assert!(host_key_error(&out), "{out}");
    // The way out is ssh's own line for this known_hosts and port, without ssh's banner.
    let keygen = format!(
        "ssh-keygen -f \"{}\" -R \"[127.0.0.1]:{}\"",
        w.bed.known_hosts().display(),
        w.bed.vm(2).port()
    );
    assert!(out.stderr.contains("hint: the host key of vm2 changed"), "{out}");
    assert!(out.stderr.contains(&keygen), "{keygen}\n{out}");
    assert!(!out.stderr.contains("@@@@"), "{out}");
    let out = w.expect(1, &["apply", "--auto-approve"]);
    assert!(host_key_error(&out), "{out}");
    assert!(
        out.stderr.contains(&keygen),
        "the failed change carries the hint: {out}"
    );
    assert!(out.stderr.contains("sandbox.two"), "{out}");
    assert!(out.stderr.contains("1 created"), "the other VM is served: {out}");
    for flags in [
        &["apply", "--auto-approve", "--ssh-accept-new"][..],
        &["--ssh-accept-new", "plan"][..],
    ] {
        let out = w.expect(1, flags);
        assert!(host_key_error(&out), "{out}");
    }
    assert!(workspaces::with_marker(w.bed.vm(2).build_root()).is_empty());
    assert_eq!(tree(w.bed.vm(2).build_root()), BTreeSet::new(), "nothing at all on vm2");
    assert_eq!(w.bed.accepted_connections(2), logins, "no login on vm2");
    assert_eq!(read(w.bed.known_hosts()), known_hosts, "known_hosts not rewritten");
    assert_eq!(workspaces::with_marker(w.bed.vm(1).build_root()).len(), 1);

    // The flag does accept a key seen for the first time (so the refusal above is
    // about the key having changed)...
    let fresh = w.work.write("fresh_known_hosts", "");
    let config = read(w.bed.ssh_config()).replace(
        &format!("UserKnownHostsFile {}", w.bed.known_hosts().display()),
        &format!("UserKnownHostsFile {}", fresh.display()),
    );
    w.work.write("ssh_config_fresh", config);
    let w = World {
        ssh_config: w.work.path().join("ssh_config_fresh"),
        ..w
    };
    let out = w.expect(1, &["apply", "--auto-approve"]);
    assert!(
        out.stderr.contains("Host key verification failed"),
        "unknown keys are refused without the flag: {out}"
    );
    assert!(workspaces::with_marker(w.bed.vm(2).build_root()).is_empty());
    let out = w.expect(0, &["--ssh-accept-new", "apply", "--auto-approve"]);
    assert!(out.stderr.contains("1 created"), "{out}");
    assert_eq!(workspaces::with_marker(w.bed.vm(2).build_root()).len(), 1);
    assert_eq!(read(&fresh).lines().count(), 2, "both keys learnt: {}", read(&fresh));

    // ... and a key it learnt itself, once changed, is refused too.
    let mut w = w;
    w.bed.regenerate_host_key(1);
    let learnt = read(&fresh);
    let out = w.expect(1, &["--ssh-accept-new", "plan"]);
    assert!(host_key_error(&out), "{out}");
    assert!(out.stderr.contains("vm1"), "{out}");
    assert_eq!(read(&fresh), learnt);
}

// ---------------------------------------------------------------------------
// 5. Injection attempts

/// A second Ctrl-C (or SIGTERM) stops at once and still leaves no ssh master
/// and no control folder behind.
#[test]
fn a_second_signal_stops_at_once_and_leaves_no_ssh_master() {
    let w = World::start(1);
    let started = w.work.path().join("started");
    let release = w.work.path().join("release");
    let profile = read(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/vm-haskell-build.yaml"))
        .replace("name: profile.vm-haskell-build", "name: profile.vm-gated")
        .replace(
            "setup: []",
            &format!(
                "setup:\n  - 'touch \"{}\"; i=0; while [ ! -e \"{}\" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done'",
                started.display(),
                release.display()
            ),
        );
    w.work.write("profiles/vm-gated.yaml", profile);
    let mut entry = w.sandbox("one", 1);
    entry.profile = "profile.vm-gated".into();
    w.manifest(&[entry]);
    let config = w.ssh_config.display().to_string();

    let apply = w
        .cmd()
        .env("SANDBOXER_HUB_TOKEN", "tok-Ms31")
        .args(["apply", "--auto-approve"])
        .own_process_group()
        .spawn();
    wait_until("the setup runs on the VM", DEADLINE, || started.exists());
    let masters = processes::processes_mentioning(&config);
    assert!(
        masters.iter().any(|(_, command)| command.starts_with("ssh ")),
        "an ssh master of this run is up: {masters:?}"
    );
    // Nor does an ssh master inherit the hub token (sandboxer's own command line
    // names the config too: only ssh processes are looked at).
    for (pid, _) in masters.iter().filter(|(_, command)| command.starts_with("ssh ")) {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&environ).contains("tok-Ms31"),
            "ssh process {pid} has the hub token in its environment"
        );
    }
    apply.signal("TERM");
    wait_until("the apply acknowledges the signal", DEADLINE, || {
        apply.stderr_so_far().contains("Interrupt received")
    });
    apply.signal("TERM");
    let stopped = apply.wait();
    assert_eq!(stopped.code, 130, "{stopped}");
    let mut left = Vec::new();
    let gone = eventually(DEADLINE, || {
        left = processes::processes_mentioning(&config);
        left.is_empty()
    });
    assert!(gone, "ssh processes of the stopped run are left: {left:?}");
    std::fs::write(&release, "").expect("release the setup");
}

/// A FIFO in a repo is left out by the digest, the local copy and rsync alike,
/// and said once; the next plan settles.
#[test]
fn special_files_in_a_repo_are_left_out_by_every_sync_and_said_once() {
    let w = World::start(1);
    let fifo = w.work.path().join("repo/pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    w.manifest(&[w.sandbox("one", 1)]);
    let out = w.ok(&["apply", "--auto-approve"]);
    assert_eq!(
        out.stderr
            .matches("is a FIFO, socket or device: left out of every sync")
            .count(),
        1,
        "{out}"
    );
    let ws = &workspaces::with_marker(w.bed.vm(1).build_root())[0].path;
    assert_repo_content(ws, "hello v1\n");
    assert!(
        std::fs::symlink_metadata(ws.join("pipe")).is_err(),
        "rsync copied the FIFO"
    );
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// An edit that keeps a file's size, made within the second of the last sync,
/// reaches the VM (rsync compares times to the nanosecond, as the digest does).
#[test]
fn a_same_size_edit_right_after_a_sync_is_synced() {
    let w = World::start(1);
    w.manifest(&[w.sandbox("one", 1)]);
    w.ok(&["apply", "--auto-approve"]);
    w.work.write("repo/README.md", "hello v2\n");
    w.ok(&["apply", "--auto-approve"]);
    let ws = &workspaces::with_marker(w.bed.vm(1).build_root())[0].path;
    assert_repo_content(ws, "hello v2\n");
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// A repo's links at the names sandboxer writes on a VM (the marker and its
/// temporary files) never redirect a write: rsync does not take them from the
/// repo, and the marker is written through a file that mktemp makes.
#[test]
fn links_planted_in_a_repo_change_nothing_outside_a_workspace_on_a_vm() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let w = World::start(1);
    let victim = w.work.write("victim.txt", "precious\n");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let state = |p: &Path| {
        let mode = std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
        (read(p), mode)
    };
    let before = state(&victim);
    for name in [
        ".sandboxer-workspace.json",
        ".sandboxer-workspace.json.tmp",
        ".sandboxer-workspace.json.tmp-AAAAAAAA",
    ] {
        symlink(&victim, w.work.path().join("repo").join(name)).expect("plant a link");
    }
    w.manifest(&[w.sandbox("one", 1)]);
    w.ok(&["apply", "--auto-approve"]);
    w.work.write("repo/README.md", "hello v2\n");
    w.ok(&["apply", "--auto-approve"]);

    assert_eq!(state(&victim), before, "the file outside kept its content and mode");
    // The only workspace on the VM is synced straight into, without a repo cache.
    let notes = notes_of(&w, "sandbox.one");
    assert!(notes.contains("straight into the workspace"), "{notes}");
    assert!(caches(&w, 1).is_empty(), "no repo cache for one workspace");
    let ws = &workspaces::with_marker(w.bed.vm(1).build_root())[0].path;
    assert_repo_content(ws, "hello v2\n");
    let marker = std::fs::symlink_metadata(ws.join(MARKER)).expect("marker");
    assert!(marker.is_file(), "the marker is sandboxer's, not the repo's link");
    for planted in [
        ".sandboxer-workspace.json.tmp",
        ".sandboxer-workspace.json.tmp-AAAAAAAA",
    ] {
        assert!(
            std::fs::symlink_metadata(ws.join(planted)).is_err(),
            "{planted} not taken from the repo"
        );
    }
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// Links planted inside workspaces on a VM (a folder of the repo turned into a
/// link to a folder outside, a file into a link to a file outside) redirect no
/// write when the VM's repo cache is copied into all its workspaces at once:
/// each link is replaced by what the repo has, and what it pointed at is
/// untouched. A workspace folder itself turned into a link is not written
/// through either.
#[test]
fn links_planted_in_workspaces_redirect_no_write_of_the_copy_into_all_at_once() {
    use std::os::unix::fs::symlink;
    let w = World::start(1);
    let outside = w.work.path().join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    let victim_file = w.work.write("outside/victim.txt", "precious\n");
    let victim_dir = w.work.path().join("outside/dir");
    fs::create_dir_all(&victim_dir).expect("mkdir");
    w.manifest(&["a", "b", "c"].map(|n| w.sandbox(n, 1)));
    w.expect(0, &["apply", "--auto-approve"]);
    let records = w.records();
    let ws = |n: &str| PathBuf::from(&records[&format!("sandbox.{n}")].workspace);
    // In a: the repo's folder src is now a link to a folder outside.
    fs::remove_dir_all(ws("a").join("src")).expect("rm");
    symlink(&victim_dir, ws("a").join("src")).expect("plant");
    // In b: the repo's file README.md is now a link to a file outside.
    fs::remove_file(ws("b").join("README.md")).expect("rm");
    symlink(&victim_file, ws("b").join("README.md")).expect("plant");

    w.work.write("repo/README.md", "hello v2\n");
    w.work.write("repo/src/Lib.hs", "module Lib where\n");
    w.expect(0, &["apply", "--auto-approve"]);
    assert!(
        notes_of(&w, "sandbox.a").contains("then copied on the VM into all at once"),
        "copied together"
    );
    assert_eq!(read(&victim_file), "precious\n", "the file outside is untouched");
    let in_victim: Vec<_> = fs::read_dir(&victim_dir).expect("read_dir").collect();
    assert!(
        in_victim.is_empty(),
        "nothing written into the folder outside: {in_victim:?}"
    );
    for n in ["a", "b", "c"] {
        let ws = ws(n);
        for planted in ["src", "README.md"] {
            let meta = fs::symlink_metadata(ws.join(planted)).expect("there");
            assert!(!meta.file_type().is_symlink(), "{n}/{planted} is the repo's again");
        }
        assert_repo_content(&ws, "hello v2\n");
        assert_eq!(read(ws.join("src/Lib.hs")), "module Lib where\n");
    }
    // The plan agrees: nothing left to do; the other VM-side folders are intact.
    w.expect(0, &["plan", "--detailed-exitcode"]);
    assert_eq!(caches(&w, 1).len(), 1);
}

/// A link planted where sandboxer's cache folder goes on a VM is never
/// written through: the workspaces that would sync through it fail with what
/// is in the way, the folder it points at stays empty, and once the link is
/// gone the next apply converges.
#[test]
fn a_link_planted_at_the_cache_folder_is_refused_and_not_written_through() {
    use std::os::unix::fs::symlink;
    let w = World::start(1);
    let outside = w.work.path().join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    let root = w.bed.vm(1).build_root();
    fs::create_dir_all(root).expect("mkdir");
    symlink(&outside, root.join(".sandboxer-cache")).expect("plant");
    w.manifest(&["a", "b"].map(|n| w.sandbox(n, 1)));
    let failed = w.expect(1, &["apply", "--auto-approve"]);
    assert!(
        failed.stderr.contains("cannot make the repo cache"),
        "says why: {failed}"
    );
    let written: Vec<_> = fs::read_dir(&outside).expect("read_dir").collect();
    assert!(written.is_empty(), "nothing written through the link: {written:?}");

    fs::remove_file(root.join(".sandboxer-cache")).expect("rm the link");
    w.expect(0, &["apply", "--auto-approve"]);
    for r in w.records().values() {
        assert_repo_content(Path::new(&r.workspace), "hello v1\n");
    }
    w.expect(0, &["plan", "--detailed-exitcode"]);
}

/// ssh options and shell words in inputs are refused before anything runs; odd
/// characters in paths are used literally; no canary file appears anywhere.
#[test]
fn injection_attempts_are_refused_or_stay_inert() {
    // Without warm masters, each run's login is counted below.
    let w = World::start(1).with_env("SANDBOXER_SSH_PERSIST", "0");
    let logins = w.bed.accepted_connections(1);
    let rel = unique("rel");
    let rel2 = unique("tick");
    let abs = format!("/tmp/{}", unique("abs"));
    let abs2 = format!("/tmp/{}", unique("opt"));
    let canaries = [rel.clone(), rel2.clone(), abs.clone(), abs2.clone()];

    // Refused before anything runs: an ssh option as a VM, a shell word in a VM, `..`.
    let proxy = format!("-oProxyCommand=touch {abs2}");
    w.manifest_named(
        "bad.yaml",
        "issue4",
        &[
            w.sandbox("opt", 1).input("vm", &proxy),
            w.sandbox("semi", 1).input("vm", &format!("vm1;touch {rel}")),
            w.sandbox("up", 1).input("workspace_dir", "/tmp/../etc"),
        ],
        "",
    );
    for args in [
        &["validate", "-f", "bad.yaml"][..],
        &["plan", "-f", "bad.yaml"][..],
        &["apply", "-f", "bad.yaml", "--auto-approve"][..],
    ] {
        let out = w.expect(1, args);
        assert!(out.stderr.contains("sandboxes.opt.inputs.vm"), "{out}");
        assert!(out.stderr.contains("must not start with `-`"), "{out}");
        assert!(out.stderr.contains("sandboxes.semi.inputs.vm"), "{out}");
        assert!(out.stderr.contains("character ';' is not allowed"), "{out}");
        assert!(out.stderr.contains("sandboxes.up.inputs.workspace_dir"), "{out}");
        assert!(out.stderr.contains("must not contain `..`"), "{out}");
        assert!(out.stderr.contains("hint: "), "{out}");
        assert!(out.stderr.contains("3 problems found; nothing was changed."), "{out}");
    }
    assert!(
        !w.work.path().join("state").exists(),
        "a refused manifest leaves no state"
    );

    // Inert: odd characters in the workspace root and folder, and in the repo path.
    let odd_root = format!(
        "{}/odd 'single' \"double\" $(touch {rel}) `touch {rel2}` ünïcødé ✓",
        w.root(1)
    );
    // One folder directly under the root (a workspace_dir must be), so no `/` in it.
    let odd_dir = format!("{odd_root}/dir; $(touch {rel}) `touch {rel2}` & it's");
    // No quote character at all: a quoting that only minds quotes would run these.
    let plain_root = format!("{}/plain $(touch {rel}) `touch {abs}` ünï", w.root(1));
    let repo = format!("repo with space $(touch {rel}) `touch {rel2}`");
    w.work.write(format!("{repo}/README.md"), "odd repo\n");
    w.work.write(format!("{repo}/a b/$(x).txt"), "odd name\n");
    w.manifest(&[
        Entry::new("odd-root")
            .input("vm", "vm1")
            .input("workspace_root", &odd_root)
            .input("repo", &format!("./{repo}")),
        Entry::new("odd-dir")
            .input("vm", "vm1")
            .input("workspace_root", &odd_root)
            .input("workspace_dir", &odd_dir)
            .input("repo", &format!("./{repo}")),
        Entry::new("plain-root")
            .input("vm", "vm1")
            .input("workspace_root", &plain_root)
            .input("repo", &format!("./{repo}")),
    ]);
    let vm_before = tree(w.bed.vm(1).build_root());
    let bed_before: BTreeSet<PathBuf> = tree(w.bed.root())
        .into_iter()
        .filter(|p| !p.starts_with("vm1/build"))
        .collect();
    let work_before: BTreeSet<PathBuf> = tree(w.work.path());

    w.expect(0, &["apply", "--auto-approve"]);
    let records = w.records();
    let in_root = &records["sandbox.odd-root"];
    let expected = format!("{odd_root}/sbx-{}", in_root.id);
    assert_eq!(in_root.workspace, expected);
    assert_eq!(records["sandbox.odd-dir"].workspace, odd_dir);
    let in_plain = format!("{plain_root}/sbx-{}", records["sandbox.plain-root"].id);
    assert_eq!(records["sandbox.plain-root"].workspace, in_plain);
    for ws in [expected.as_str(), odd_dir.as_str(), in_plain.as_str()] {
        let ws = Path::new(ws);
        assert_eq!(read(ws.join("README.md")), "odd repo\n", "{}", ws.display());
        assert_eq!(read(ws.join("a b/$(x).txt")), "odd name\n");
        assert!(ws.join(MARKER).is_file());
    }
    // Nothing new outside the workspace root, on the VM side and anywhere else we can name.
    let new_on_vm: Vec<PathBuf> = tree(w.bed.vm(1).build_root())
        .difference(&vm_before)
        .filter(|p| {
            // Inside a root, or one of the folders the root's own path is made of.
            let full = w.bed.vm(1).build_root().join(p);
            ![&odd_root, &plain_root]
                .iter()
                .any(|root| full.starts_with(root) || Path::new(root).starts_with(&full))
        })
        .cloned()
        .collect();
    assert_eq!(new_on_vm, Vec::<PathBuf>::new(), "made outside the workspace roots");
    let bed_after: BTreeSet<PathBuf> = tree(w.bed.root())
        .into_iter()
        .filter(|p| !p.starts_with("vm1/build"))
        .collect();
    assert_eq!(bed_after, bed_before, "new files in the bed outside the workspace root");
    let work_new: Vec<PathBuf> = tree(w.work.path())
        .difference(&work_before)
        .filter(|p| !p.starts_with("state"))
        .cloned()
        .collect();
    assert_eq!(work_new, Vec::<PathBuf>::new(), "new files next to the manifest");

    // Observed at those paths: nothing to do; destroy finds and removes them.
    let out = w.expect(0, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.starts_with("No changes."), "{out}");
    let out = w.expect(0, &["destroy", "--auto-approve"]);
    assert!(out.stderr.contains("3 deleted"), "{out}");
    for ws in [&expected, &odd_dir, &in_plain] {
        assert!(!Path::new(ws).exists(), "{ws} is still there");
    }
    assert!(
        Path::new(&odd_root).is_dir() && Path::new(&plain_root).is_dir(),
        "the roots stay"
    );

    // A Packer variable is a plain value, never a shell word.
    packer::write_template(w.work.path(), "hb", packer::ONE_VARIABLE);
    let var = yaml_string(&format!("$(touch {abs}) `touch {rel}`"));
    w.work.write(
        "image.yaml",
        packer::image_manifest("images", "hb", "hb", &format!("      packer_var_x: {var}\n"), ""),
    );
    let out = w.expect(0, &["validate", "-f", "image.yaml"]);
    assert!(out.stdout.contains("valid"), "{out}");

    assert_eq!(
        w.bed.accepted_connections(1),
        logins + 3,
        "plan/apply/destroy: one login each"
    );
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    let places = [
        PathBuf::from("/tmp"),
        PathBuf::from("/root"),
        home,
        w.work.path().to_path_buf(),
        w.work.path().join("state"),
        w.bed.root().to_path_buf(),
        w.bed.vm(1).dir().to_path_buf(),
        w.bed.vm(1).build_root().to_path_buf(),
        PathBuf::from(&odd_root),
        PathBuf::from(&plain_root),
        PathBuf::from("/"),
    ];
    for canary in &canaries {
        for place in &places {
            let path = place.join(canary);
            assert!(!path.exists(), "canary {} exists", path.display());
        }
        let name = Path::new(canary).file_name().expect("a name");
        for dir in [w.work.path(), w.bed.root()] {
            assert!(
                !tree(dir).iter().any(|p| p.file_name() == Some(name)),
                "canary {canary} below {}",
                dir.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 6. One ssh connection per VM per run

/// 12 sandboxes on 3 VMs: plan, apply of creates (rsync included), resync and a
/// no-change plan each log exactly one login per VM (with `--ssh-persist 0`,
/// so that no run finds the master of the one before).
#[test]
fn one_ssh_connection_per_vm_per_run() {
    let w = World::start(3).with_env("SANDBOXER_SSH_PERSIST", "0");
    let entries: Vec<Entry> = (0..12).map(|i| w.sandbox(&format!("n{i:02}"), i % 3 + 1)).collect();
    w.manifest(&entries);
    let logins = |w: &World| (1..=3).map(|k| w.bed.accepted_connections(k)).collect::<Vec<_>>();
    let plus_one = |before: &[usize]| before.iter().map(|n| n + 1).collect::<Vec<_>>();

    let start = logins(&w);
    let out = w.expect(2, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.contains("Plan: 12 to create"), "{out}");
    assert_eq!(logins(&w), plus_one(&start), "plan: one connection per VM");

    let before = logins(&w);
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("12 created"), "{out}");
    assert_eq!(
        logins(&w),
        plus_one(&before),
        "apply of 12 creates with rsync: one connection per VM"
    );
    assert!(w.all_workspaces().values().all(|f| f.len() == 4));

    w.work.write("repo/README.md", "hello v2\n");
    let before = logins(&w);
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("12 updated"), "{out}");
    assert_eq!(logins(&w), plus_one(&before), "resync of 12: one connection per VM");

    let before = logins(&w);
    w.expect(0, &["plan", "--detailed-exitcode"]);
    assert_eq!(logins(&w), plus_one(&before), "no-change plan: one connection per VM");
}

/// Holds the first remote command on each VM of a bed (the observe's
/// listing) until the test lets that VM go: the bed's key gets a forced command
/// (`command=` in `T/authorized_keys`) that runs every command through a
/// script. While held, a VM is in the middle of its observe, so the held VMs
/// are the ones being connected to or observed.
///
/// In its folder G the script leaves `first.<vm>` (the VM's first command
/// came), `held.<vm>` while it holds, and appends to `held-at-once` how many
/// VMs were held when one more began; `go.<vm>` lets it go on. It gives up
/// holding after about 30 s, so that a failed test never hangs.
struct ListingGate {
    dir: PathBuf,
}

impl ListingGate {
    fn install(w: &World) -> ListingGate {
        let dir = w.work.path().join("gate");
        fs::create_dir_all(&dir).expect("mkdir the gate folder");
        let script = w.work.write(
            "gate.sh",
            format!(
                "G='{g}'\n\
                 vm=$TESTBED_VM\n\
                 if mkdir \"$G/first.$vm\" 2>/dev/null; then\n  \
                   : > \"$G/held.$vm\"\n  \
                   ls \"$G\" | grep -c '^held\\.' >> \"$G/held-at-once\"\n  \
                   i=0\n  \
                   while [ ! -e \"$G/go.$vm\" ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done\n  \
                   rm -f \"$G/held.$vm\"\n\
                 fi\n\
                 exec sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
                g = dir.display()
            ),
        );
        let keys = w.bed.root().join("authorized_keys");
        let key = read(&keys);
        fs::write(&keys, format!("command=\"sh {}\" {key}", script.display())).expect("write authorized_keys");
        ListingGate { dir }
    }

    /// The VMs whose first command waits now.
    fn held(&self) -> BTreeSet<String> {
        self.names_starting("held.")
    }

    /// The VMs whose first command came.
    fn entered(&self) -> BTreeSet<String> {
        self.names_starting("first.")
    }

    fn names_starting(&self, prefix: &str) -> BTreeSet<String> {
        fs::read_dir(&self.dir)
            .expect("read the gate folder")
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix(prefix).map(str::to_string))
            .collect()
    }

    /// Lets the first command of `vm` go on.
    fn release(&self, vm: &str) {
        fs::write(self.dir.join(format!("go.{vm}")), "").expect("release a VM");
    }

    /// How many VMs were held each time one more began.
    fn held_at_once(&self) -> Vec<usize> {
        fs::read_to_string(self.dir.join("held-at-once"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().expect("a count"))
            .collect()
    }
}

/// The VMs a `-v` run said wait for a connection turn.
fn waiting_for_a_turn(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter(|l| l.contains("waiting for a connection turn"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("vm="))
                .map(str::to_string)
        })
        .collect()
}

/// 4 VMs, `--max-connections 2`: two VMs are connected to and observed at a
/// time, the other two wait their turn (and say so) and are observed once the
/// first two are done; the plan succeeds. An apply with one turn, whose creates
/// use the connections its observe opened, does not deadlock.
#[test]
fn max_connections_bounds_the_vms_connected_to_and_observed_at_once() {
    let w = World::start(4).with_env("SANDBOXER_SSH_PERSIST", "0");
    let entries: Vec<Entry> = (1..=4).map(|k| w.sandbox(&format!("s{k}"), k)).collect();
    w.manifest(&entries);
    let gate = ListingGate::install(&w);

    let plan = w.cmd().args(["-v", "plan", "--max-connections", "2"]).spawn();
    wait_until("two VMs are observed and two wait their turn", DEADLINE, || {
        let held = gate.held().len();
        held > 2 || (held == 2 && waiting_for_a_turn(&plan.stderr_so_far()).len() == 2)
    });
    let first = gate.held();
    let waiting = waiting_for_a_turn(&plan.stderr_so_far());
    assert_eq!(first.len(), 2, "held at once: {first:?}\n{}", plan.stderr_so_far());
    assert_eq!(gate.entered(), first, "no other VM got a command meanwhile");
    assert!(first.is_disjoint(&waiting), "{first:?} {waiting:?}");
    for vm in &first {
        gate.release(vm);
    }
    wait_until("the two waiting VMs are observed", DEADLINE, || gate.held() == waiting);
    for vm in &waiting {
        gate.release(vm);
    }
    let out = plan.wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("Plan: 4 to create"), "{out}");
    let at_once = gate.held_at_once();
    assert_eq!(at_once.len(), 4, "one first command per VM: {at_once:?}");
    assert!(at_once.iter().all(|&n| n <= 2), "more than 2 VMs at once: {at_once:?}");

    let out = w.expect(0, &["apply", "--auto-approve", "--max-connections", "1"]);
    assert!(out.stderr.contains("4 created"), "{out}");
    assert!(w.all_workspaces().values().all(|found| found.len() == 1), "{out}");
}

// ---------------------------------------------------------------------------
// 7. The v0 imperative commands

/// v0 commands: `create` prints id and place, `list`/`inspect` show it in project
/// `adhoc`, `destroy <id>` removes only it; a bad `--input` is refused as in a manifest.
#[test]
fn imperative_create_list_inspect_destroy() {
    let w = World::start(1);
    let repo = w.work.path().join("repo").display().to_string();
    let root = w.root(1);
    let create = |w: &World| {
        let out = w.expect(
            0,
            &[
                "create",
                "--profile",
                PROFILE,
                "--input",
                "vm=vm1",
                "--input",
                &format!("repo={repo}"),
                "--input",
                &format!("workspace_root={root}"),
                "--host",
                "localhost",
            ],
        );
        let line = out.stdout.trim_end().to_string();
        let (id, place) = line.split_once('\t').unwrap_or_else(|| panic!("`id<TAB>place`: {out}"));
        (id.to_string(), place.to_string())
    };
    let (id, place) = create(&w);
    let ws = format!("{root}/sbx-{id}");
    assert_eq!(place, format!("vm1:{ws}"));
    assert_repo_content(Path::new(&ws), "hello v1\n");
    let (other, _) = create(&w);
    assert_ne!(other, id);

    let out = w.expect(0, &["list"]);
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], "adhoc", "{row}");
    assert_eq!(cols[2], id, "{row}");
    assert_eq!(cols[4], place, "{row}");
    assert_eq!(w.records().values().filter(|r| r.project == "adhoc").count(), 2);

    let out = w.expect(0, &["inspect", &id]);
    assert!(out.stdout.contains(&format!("(id {id})")), "{out}");
    assert!(out.stdout.contains("project:  adhoc"), "{out}");
    assert!(out.stdout.contains(&ws), "{out}");

    let out = w.expect(0, &["destroy", &id, "--auto-approve"]);
    assert!(out.stderr.contains("1 deleted"), "{out}");
    assert!(!Path::new(&ws).exists());
    let left = workspaces::with_marker(w.bed.vm(1).build_root());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, other);
    let records = w.records();
    assert_eq!(
        records.values().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [other.as_str()]
    );
    assert!(w.bed.vm(1).is_running());
    let alive = w.bed.ssh(1, "echo $TESTBED_VM");
    assert_eq!(String::from_utf8_lossy(&alive.stdout), "vm1\n", "{alive:?}");

    // A bad input is refused exactly as in a manifest, naming the flag.
    let bad = w.expect(
        1,
        &[
            "create",
            "--profile",
            PROFILE,
            "--input",
            "vm=vm1;reboot",
            "--host",
            "localhost",
        ],
    );
    w.manifest(&[Entry::new("x").input("vm", "vm1;reboot")]);
    let in_manifest = w.expect(1, &["validate"]);
    let message = |text: &str, key: &str| -> (String, String) {
        let line = text
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"));
        let after = line.split_once(&format!("{key}: ")).map(|(_, m)| m.to_string());
        let hint = text.lines().find(|l| l.trim_start().starts_with("hint: "));
        (after.unwrap_or_default(), hint.unwrap_or_default().trim().to_string())
    };
    let (cli_message, cli_hint) = message(&bad.stderr, "error: --input vm");
    let (yaml_message, yaml_hint) = message(&in_manifest.stderr, "sandboxes.x.inputs.vm");
    assert!(cli_message.contains("`vm1;reboot`"), "{bad}");
    assert!(!cli_hint.is_empty(), "{bad}");
    assert_eq!(cli_message, yaml_message, "{bad}\n{in_manifest}");
    assert_eq!(cli_hint, yaml_hint);
    assert!(bad.stderr.contains("nothing was changed"), "{bad}");
    assert_eq!(workspaces::with_marker(w.bed.vm(1).build_root()).len(), 1);
}

// ---------------------------------------------------------------------------
// 8. The port registry

/// With `port_registry:`, a sandbox without `tunnel_port` reaches its VM on the
/// registered port (the ssh config's port is wrong); other ports are refused.
#[test]
fn port_registry_supplies_the_port_and_refuses_others() {
    let w = World::start(3);
    // An ssh config whose aliases all point at the closed port 1: only the registry's ports work.
    let mut config = read(w.bed.ssh_config());
    for vm in w.bed.vms() {
        config = config.replace(&format!("  Port {}\n", vm.port()), "  Port 1\n");
    }
    let wrong = w.work.write("ssh_config_wrong_ports", config);
    let direct = vms::ssh_command_via(&wrong, "vm1")
        .args(["--", "true"])
        .output()
        .expect("run ssh");
    assert!(
        String::from_utf8_lossy(&direct.stderr).contains("port 1: Connection refused"),
        "{direct:?}"
    );
    let w = World { ssh_config: wrong, ..w };
    let mut registry = String::from("version: 1\nports:\n");
    for vm in w.bed.vms() {
        registry.push_str(&format!("  {}: {}\n", vm.port(), vm.name()));
    }
    w.work.write("ports.yaml", registry);
    let entries = vec![
        w.sandbox("r1", 1),
        w.sandbox("r2", 2),
        w.sandbox("r3", 3),
        w.sandbox("r1-explicit", 1)
            .input("tunnel_port", &w.bed.vm(1).port().to_string()),
    ];
    w.manifest_named("sandboxes.yaml", "issue4", &entries, "port_registry: ports.yaml\n");

    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("4 created"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("inputs.tunnel_port     = {}", w.bed.vm(2).port())),
        "the port comes from the registry: {out}"
    );
    let found = w.all_workspaces();
    assert_eq!(found[&1].len(), 2, "{found:?}");
    assert_eq!(found[&2].len(), 1, "{found:?}");
    assert_eq!(found[&3].len(), 1, "{found:?}");
    let out = w.expect(0, &["plan", "--detailed-exitcode"]);
    assert!(out.stdout.starts_with("No changes."), "{out}");

    // A port outside the registry, or another VM's port, is refused at validate.
    let unregistered = (20000..30000)
        .find(|p| w.bed.vms().iter().all(|vm| vm.port() != *p))
        .expect("a free number");
    let bad = vec![
        w.sandbox("stray", 1).input("tunnel_port", &unregistered.to_string()),
        w.sandbox("crossed", 1)
            .input("tunnel_port", &w.bed.vm(3).port().to_string()),
    ];
    w.manifest_named("bad.yaml", "issue4", &bad, "port_registry: ports.yaml\n");
    let out = w.expect(1, &["validate", "-f", "bad.yaml"]);
    assert!(
        out.stderr
            .contains(&format!("tunnel port {unregistered} is not in the port registry")),
        "{out}"
    );
    let ports: Vec<String> = w.bed.vms().iter().map(|vm| vm.port().to_string()).collect();
    let mut sorted = ports.clone();
    sorted.sort_by_key(|p| p.parse::<u16>().unwrap_or_default());
    assert!(
        out.stderr.contains(&format!("registered ports: {}", sorted.join(", "))),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("tunnel port {} reaches VM `vm3`, not `vm1`", ports[2])),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("vm1 is registered at port {}", ports[0])),
        "{out}"
    );
}

/// Regression: the ssh master opened while planning could be gone by the time
/// apply reached the VM (idle timeout while an operator read the plan, or while
/// a long change ran first). Here a change that runs first kills the master; the
/// workspace that depends on it must still be made, through a new connection.
#[test]
fn a_master_gone_between_plan_and_change_is_reopened() {
    let world = World::start(1);
    let port = world.bed.vm(1).port();
    // `[d]` for the last digit: the pattern then does not match the shell running pkill.
    let text = port.to_string();
    let pattern = format!("{}[{}]", &text[..text.len() - 1], &text[text.len() - 1..]);
    world.work.write(
        "profiles/kill-master.yaml",
        format!(
            "name: profile.kill-master\ndriver: local-workspace\ninputs:\n  workspace_root: {{ type: local_path }}\n\
             setup: [\"pkill -f -- 'ssh .*-M.*-p {pattern} ' || true\"]\n"
        ),
    );
    world.work.write(
        "sandboxes.yaml",
        format!(
            "version: 1\nproject: reopen\nsandboxes:\n  first:\n    profile: profile.kill-master\n\
             \x20 remote:\n    profile: {PROFILE}\n    depends_on: [sandbox.first]\n    inputs:\n\
             \x20     vm: vm1\n      tunnel_port: {port}\n      repo: ./repo\n      workspace_root: {root}\n",
            root = world.root(1)
        ),
    );
    let out = world.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("sandbox.remote: created"), "{out}");
    assert!(
        world.bed.accepted_connections(1) >= 2,
        "the second login is the reopened master"
    );
    let workspaces_there = std::fs::read_dir(world.bed.vm(1).build_root())
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("sbx-"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(workspaces_there, 1, "one workspace on the VM");
}

/// Regression: a replace that moves a sandbox from this machine to a VM (or
/// back) removed the old workspace with the new driver: the local folder was
/// looked for on the VM (and the other way round, leaked).
#[test]
fn a_replace_across_drivers_removes_the_old_workspace_where_it_is() {
    let world = World::start(1);
    let local_root = world.work.path().join("local-ws");
    let local = format!(
        "version: 1\nproject: moving\nsandboxes:\n  app:\n    profile: profile.local-workspace\n    inputs:\n\
         \x20     repo: ./repo\n      workspace_root: {}\n",
        local_root.display()
    );
    let remote = format!(
        "version: 1\nproject: moving\nsandboxes:\n  app:\n    profile: {PROFILE}\n    inputs:\n\
         \x20     vm: vm1\n      repo: ./repo\n      workspace_root: {}\n",
        world.root(1)
    );
    let count = workspaces::entry_count;

    world.work.write("sandboxes.yaml", &local);
    world.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(count(&local_root), 1);

    world.work.write("sandboxes.yaml", &remote);
    let out = world.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stdout.contains("-/+ sandbox.app"), "{out}");
    assert_eq!(count(&local_root), 0, "the local workspace is removed");
    assert_eq!(count(world.bed.vm(1).build_root()), 1, "the new one is on the VM");

    world.work.write("sandboxes.yaml", &local);
    world.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(count(world.bed.vm(1).build_root()), 0, "the VM workspace is removed");
    assert_eq!(count(&local_root), 1);
}
