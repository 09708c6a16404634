//! The plan/apply engine run as a real binary on local workspaces: convergence,
//! drift, deletes limited to the manifest's project, saved plans, the state lock,
//! partial failure, SIGKILL and Ctrl-C half-way, destroy/inspect/list, and the
//! machine-readable plan forms.
//!
//! Every test works in its own temporary folder: a manifest, a repo folder next
//! to it, and the state in `.sandboxer/` next to the manifest (or a shared
//! `--state-dir`). Workspaces are found on disk by their marker
//! (`.sandboxer-workspace.json`), the records with `list --json`. Tests that race
//! a running apply wait for conditions with a deadline, never for a fixed time.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::gated::{Gate, gated};
use support::manifests::{entry, local, manifest, with_repo};
use support::processes;
use support::records::{self, Listed};
use support::workspaces::{self, MARKER, Workspace, default_root};
use support::{Cli, Workdir, read, sandboxer, wait_until};

/// How long a condition may take to hold before a test gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// The one workspace of `address` under `root`.
fn workspace_of(root: &Path, address: &str) -> Workspace {
    let all = workspaces::all(root);
    let mine: Vec<&Workspace> = all.iter().filter(|w| w.address == address).collect();
    assert_eq!(mine.len(), 1, "expected one workspace of {address} in {all:#?}");
    mine[0].clone()
}

/// `list --json` run in `dir` with `extra` arguments.
fn listed(dir: &Path, extra: &[&str]) -> Vec<Listed> {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(extra);
    records::listed(&dir.ok(&args))
}

/// A repo of three files.
fn small_repo(work: &Workdir) {
    work.write("repo/README.md", "# hello\n");
    work.write("repo/src/Main.hs", "main = putStrLn \"hello\"\n");
    work.write("repo/old.txt", "to be deleted\n");
}

#[test]
fn apply_converges_then_syncs_edits_and_deletes_but_keeps_excluded_build_output() {
    let work = Workdir::new();
    small_repo(&work);
    work.write(
        "sandboxes.yaml",
        manifest("quick", &[with_repo("hello", "./repo"), local("scratch", "")]),
    );
    let dir = work.path();
    let root = default_root(dir);

    let first = dir.ok(&["apply", "--auto-approve"]);
    assert!(first.stderr.contains("Apply complete: 2 created"), "{first}");
    let all = workspaces::all(&root);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all.iter().all(|w| w.complete && w.project == "quick"), "{all:#?}");
    let hello = workspace_of(&root, "sandbox.hello");
    assert_eq!(read(hello.path.join("README.md")), "# hello\n");
    assert_eq!(read(hello.path.join("src/Main.hs")), "main = putStrLn \"hello\"\n");
    assert_eq!(read(hello.path.join("old.txt")), "to be deleted\n");
    let scratch = workspace_of(&root, "sandbox.scratch");
    let names: Vec<_> = fs::read_dir(&scratch.path)
        .expect("list scratch")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, [MARKER], "a workspace without a repo holds only its marker");

    let second = dir.ok(&["apply", "--auto-approve"]);
    assert!(second.stdout.contains("No changes."), "{second}");
    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "no changes: exit 0 under --detailed-exitcode\n{plan}");

    // Edit one file, delete another; build output appears in the workspace.
    work.write("repo/src/Main.hs", "main = putStrLn \"hello, edited\"\n");
    fs::remove_file(dir.join("repo/old.txt")).expect("delete a repo file");
    fs::create_dir_all(hello.path.join("dist-newstyle")).expect("mkdir dist-newstyle");
    fs::write(hello.path.join("dist-newstyle/cache.bin"), "build output").expect("write build output");

    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "changes: exit 2 under --detailed-exitcode\n{plan}");
    assert!(
        plan.stdout
            .contains(&format!("~ sandbox.hello (id {}) will be updated in place", hello.id)),
        "{plan}"
    );
    assert!(plan.stdout.contains("because: repo content changed"), "{plan}");
    assert!(
        !plan.stdout.contains("sandbox.scratch"),
        "scratch did not change\n{plan}"
    );

    let update = dir.ok(&["apply", "--auto-approve"]);
    assert!(update.stderr.contains("0 created, 1 updated"), "{update}");
    let after = workspace_of(&root, "sandbox.hello");
    assert_eq!(after.path, hello.path, "an update syncs in place");
    assert_eq!(
        read(after.path.join("src/Main.hs")),
        "main = putStrLn \"hello, edited\"\n"
    );
    assert!(
        !after.path.join("old.txt").exists(),
        "a file deleted from the repo is deleted"
    );
    assert_eq!(
        read(after.path.join("dist-newstyle/cache.bin")),
        "build output",
        "excluded build output is kept"
    );
    assert_eq!(workspaces::all(&root).len(), 2);
    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "converged after the update\n{plan}");
}

#[test]
fn a_workspace_deleted_by_hand_is_drift_and_re_created() {
    let work = Workdir::new();
    small_repo(&work);
    work.write(
        "sandboxes.yaml",
        manifest("drift", &[with_repo("hello", "./repo"), local("scratch", "")]),
    );
    let dir = work.path();
    let root = default_root(dir);
    dir.ok(&["apply", "--auto-approve"]);
    let gone = workspace_of(&root, "sandbox.hello");
    let kept = workspace_of(&root, "sandbox.scratch");
    fs::remove_dir_all(&gone.path).expect("delete the workspace by hand");

    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    assert!(plan.stdout.contains("+ sandbox.hello will be created\n"), "{plan}");
    let reason = plan
        .stdout
        .lines()
        .find(|l| l.contains("because: drift:"))
        .unwrap_or_else(|| panic!("no drift reason\n{plan}"));
    assert!(reason.contains(&gone.path.display().to_string()), "{reason}");
    assert!(!plan.stdout.contains("sandbox.scratch"), "{plan}");

    let apply = dir.ok(&["apply", "--auto-approve"]);
    assert!(apply.stderr.contains("1 created, 0 updated"), "{apply}");
    let back = workspace_of(&root, "sandbox.hello");
    assert_ne!(back.id, gone.id, "ids are never reused");
    assert_eq!(read(back.path.join("src/Main.hs")), "main = putStrLn \"hello\"\n");
    assert_eq!(workspace_of(&root, "sandbox.scratch").path, kept.path);
    let records = listed(dir, &[]);
    let hello: Vec<_> = records.iter().filter(|r| r.address == "sandbox.hello").collect();
    assert_eq!(hello.len(), 1, "{records:#?}");
    assert_eq!(hello[0].id, back.id);
    assert_eq!(hello[0].workspace, back.path.display().to_string());
    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan}");
}

#[test]
fn removing_an_entry_deletes_only_that_workspace_and_never_another_projects() {
    let work = Workdir::new();
    small_repo(&work);
    let state = work.path().join("shared-state");
    let state_arg = state.display().to_string();
    let alpha = work.write(
        "alpha/sandboxes.yaml",
        manifest("alpha", &[with_repo("one", "../repo"), with_repo("two", "../repo")]),
    );
    // Another project with the same addresses, in the same state folder.
    let beta = work.write(
        "beta/sandboxes.yaml",
        manifest("beta", &[with_repo("one", "../repo"), with_repo("two", "../repo")]),
    );
    let (alpha, beta) = (alpha.display().to_string(), beta.display().to_string());
    let dir = work.path();
    let with_state = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(ToString::to_string).collect();
        all.extend(["--state-dir".to_string(), state_arg.clone()]);
        all
    };
    let run = |args: &[&str]| {
        let args = with_state(args);
        sandboxer().current_dir(dir).args(&args).run()
    };
    for file in [&alpha, &beta] {
        let out = run(&["apply", "-f", file, "--auto-approve"]);
        assert_eq!(out.code, 0, "{out}");
    }
    let root = state.join("workspaces");
    assert_eq!(workspaces::all(&root).len(), 4);
    let before = listed(dir, &["--state-dir", &state_arg]);
    assert_eq!(before.len(), 4, "{before:#?}");
    let beta_before: Vec<Listed> = before.iter().filter(|r| r.project == "beta").cloned().collect();
    let doomed = before
        .iter()
        .find(|r| r.project == "alpha" && r.address == "sandbox.two")
        .expect("alpha's two is recorded")
        .clone();

    fs::write(&alpha, manifest("alpha", &[with_repo("one", "../repo")])).expect("edit the manifest");
    let plan = run(&["plan", "-f", &alpha]);
    assert_eq!(plan.code, 0, "{plan}");
    assert!(
        plan.stdout
            .contains(&format!("- sandbox.two (id {}) will be deleted\n", doomed.id)),
        "{plan}"
    );
    assert!(plan.stdout.contains("because: gone from manifest"), "{plan}");
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 1 to delete."),
        "{plan}"
    );

    let apply = run(&["apply", "-f", &alpha, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply}");
    assert!(apply.stderr.contains("0 replaced, 1 deleted"), "{apply}");
    assert!(!Path::new(&doomed.workspace).exists(), "alpha's two is gone from disk");

    let after = listed(dir, &["--state-dir", &state_arg]);
    let alpha_after: Vec<&str> = after
        .iter()
        .filter(|r| r.project == "alpha")
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(alpha_after, ["sandbox.one"]);
    let beta_after: Vec<Listed> = after.iter().filter(|r| r.project == "beta").cloned().collect();
    assert_eq!(beta_after, beta_before, "beta's records are untouched");
    for r in &beta_after {
        assert!(
            Path::new(&r.workspace).join(MARKER).exists(),
            "beta's {} is on disk",
            r.address
        );
    }
    let mut on_disk: Vec<(String, String)> = workspaces::all(&root)
        .into_iter()
        .map(|w| (w.project, w.address))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        [
            ("alpha".to_string(), "sandbox.one".to_string()),
            ("beta".to_string(), "sandbox.one".to_string()),
            ("beta".to_string(), "sandbox.two".to_string()),
        ]
    );
    let again = run(&["plan", "-f", &beta, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "beta has nothing to do\n{again}");
}

/// Everything under a state folder that an apply could change: the state file
/// and the names of the workspace folders.
fn snapshot(state: &Path) -> (String, BTreeSet<String>) {
    let names = fs::read_dir(state.join("workspaces"))
        .expect("list workspaces")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    (read(state.join("state.json")), names)
}

#[test]
fn a_saved_plan_applies_and_a_stale_one_is_refused() {
    let work = Workdir::new();
    small_repo(&work);
    let dir = work.path();
    let root = default_root(dir);
    work.write("sandboxes.yaml", manifest("saved", &[with_repo("a", "./repo")]));
    dir.ok(&["apply", "--auto-approve"]);

    work.write(
        "sandboxes.yaml",
        manifest("saved", &[with_repo("a", "./repo"), with_repo("b", "./repo")]),
    );
    let plan = dir.ok(&["plan", "--out", "p.json"]);
    assert!(plan.stdout.contains("+ sandbox.b will be created"), "{plan}");
    assert_eq!(workspaces::all(&root).len(), 1, "plan changes nothing");
    // A saved plan is applied without asking (stdin is empty here).
    let apply = dir.ok(&["apply", "p.json"]);
    assert!(apply.stderr.contains("Apply complete: 1 created"), "{apply}");
    assert_eq!(workspace_of(&root, "sandbox.b").address, "sandbox.b");

    // A plan made, then another apply moves the state on.
    work.write(
        "sandboxes.yaml",
        manifest(
            "saved",
            &[with_repo("a", "./repo"), with_repo("b", "./repo"), local("c", "")],
        ),
    );
    dir.ok(&["plan", "--out", "stale.json"]);
    dir.ok(&["apply", "--auto-approve", "--target", "sandbox.c"]);
    let before = snapshot(&dir.join(".sandboxer"));

    let stale = dir.run(&["apply", "stale.json"]);
    assert_eq!(stale.code, 1, "{stale}");
    assert!(
        stale.stderr.contains("the state changed since the plan was made"),
        "{stale}"
    );
    assert!(stale.stderr.contains("stale"), "{stale}");
    assert_eq!(
        snapshot(&dir.join(".sandboxer")),
        before,
        "a refused plan changes nothing"
    );
}

#[test]
fn a_second_apply_fails_fast_naming_the_holder_or_waits_with_lock_timeout() {
    let work = Workdir::new();
    let gate = Gate::install(&work);
    work.write("sandboxes.yaml", manifest("locked", &[gated("a"), gated("b")]));
    let dir = work.path();
    let lock = dir.join(".sandboxer/state.lock");

    let first = sandboxer().current_dir(dir).args(["apply", "--auto-approve"]).spawn();
    wait_until("the first apply holds the lock", DEADLINE, || {
        fs::read_to_string(&lock).is_ok_and(|t| t.contains("\"apply\""))
    });

    let second = dir.run(&["apply", "--auto-approve"]);
    assert_eq!(second.code, 1, "{second}");
    assert!(second.stderr.contains("the state is locked: apply by"), "{second}");
    assert!(
        second.stderr.contains(&format!("(pid {})", first.pid())),
        "names the holder's pid\n{second}"
    );
    assert!(second.stderr.contains("lock id"), "{second}");
    assert!(second.stderr.contains("--lock-timeout"), "hints at waiting\n{second}");

    let waiting = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--lock-timeout", "30s"])
        .spawn();
    let lock_path = fs::canonicalize(&lock).expect("the lock file exists");
    wait_until("the waiting apply tries the lock", DEADLINE, || {
        processes::has_open(waiting.pid(), &lock_path)
    });
    gate.release();

    let first = first.wait();
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stderr.contains("Apply complete: 2 created"), "{first}");
    let waiting = waiting.wait();
    assert_eq!(waiting.code, 0, "{waiting}");
    assert!(
        waiting.stdout.contains("No changes."),
        "the waiting apply plans after it got the lock\n{waiting}"
    );

    let records = listed(dir, &[]);
    let on_disk = workspaces::all(&default_root(dir));
    assert_eq!(records.len(), 2, "{records:#?}");
    assert_eq!(on_disk.len(), 2, "{on_disk:#?}");
    for (r, w) in records.iter().zip(&on_disk) {
        assert_eq!((&r.address, &r.id), (&w.address, &w.id));
        assert!(w.complete);
    }
    assert_eq!(read(&lock), "", "the lock is released");
}

#[test]
fn one_failure_skips_its_dependents_only_and_the_state_keeps_every_success() {
    let work = Workdir::new();
    small_repo(&work);
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        manifest(
            "partial",
            &[
                with_repo("broken", "./no-such-repo"),
                local("child", "    depends_on: [sandbox.broken]\n"),
                with_repo("fine", "./repo"),
                local("lonely", ""),
            ],
        ),
    );
    let apply = dir.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(apply.code, 1, "{apply}");
    assert!(apply.stderr.contains("sandbox.broken: create failed"), "{apply}");
    assert!(apply.stderr.contains("no-such-repo"), "says what failed\n{apply}");
    assert!(
        apply
            .stderr
            .contains("sandbox.child: create skipped: dependency failed (sandbox.broken)"),
        "{apply}"
    );
    assert!(
        apply
            .stderr
            .contains("apply incomplete: 2 created, 0 updated, 0 replaced, 0 deleted; 1 failed; 1 skipped"),
        "{apply}"
    );
    let records: Vec<String> = listed(dir, &[]).into_iter().map(|r| r.address).collect();
    assert_eq!(records, ["sandbox.fine", "sandbox.lonely"], "every success is recorded");
    let root = default_root(dir);
    assert_eq!(
        read(workspace_of(&root, "sandbox.fine").path.join("README.md")),
        "# hello\n"
    );
    assert!(workspaces::all(&root).iter().all(|w| w.address != "sandbox.child"));

    // With the repo there, the next apply converges.
    fs::create_dir_all(dir.join("no-such-repo")).expect("make the repo");
    fs::write(dir.join("no-such-repo/x"), "x").expect("write");
    let again = dir.ok(&["apply", "--auto-approve"]);
    assert!(again.stderr.contains("Apply complete"), "{again}");
    let records: Vec<String> = listed(dir, &[]).into_iter().map(|r| r.address).collect();
    assert_eq!(
        records,
        ["sandbox.broken", "sandbox.child", "sandbox.fine", "sandbox.lonely"]
    );
    assert_eq!(workspaces::all(&root).len(), 4, "{:#?}", workspaces::all(&root));
    assert_eq!(read(workspace_of(&root, "sandbox.broken").path.join("x")), "x");
}

#[test]
fn sigkill_half_way_through_fifty_creates_loses_nothing() {
    let work = Workdir::new();
    for d in 0..20 {
        for f in 0..20 {
            work.write(format!("repo/d{d}/f{f}.txt"), format!("{d}/{f}\n").repeat(20));
        }
    }
    let entries: Vec<String> = (0..50).map(|i| with_repo(&format!("s{i:02}"), "./repo")).collect();
    work.write("sandboxes.yaml", manifest("killed", &entries));
    let dir = work.path();
    let root = default_root(dir);

    let mut apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--parallelism", "4"])
        .spawn();
    wait_until("a few workspaces exist", DEADLINE, || {
        workspaces::names_starting(&root, "sbx-").len() >= 3
    });
    assert!(apply.is_running(), "the apply must still be running when killed");
    apply.signal("KILL");
    let killed = apply.wait();
    assert_eq!(killed.code, -1, "killed by a signal\n{killed}");
    let recorded = listed(dir, &[]).len();
    assert!(recorded < 50, "the kill came half-way ({recorded} recorded)");

    let again = dir.ok(&["apply", "--auto-approve"]);
    assert!(!again.stdout.contains("No changes."), "{again}");
    let all = workspaces::all(&root);
    let addresses: BTreeSet<&str> = all.iter().map(|w| w.address.as_str()).collect();
    assert_eq!(all.len(), 50, "one workspace per sandbox: {all:#?}");
    assert_eq!(addresses.len(), 50, "{addresses:?}");
    assert!(all.iter().all(|w| w.complete), "{all:#?}");
    assert_eq!(
        workspaces::names_starting(&root, ".sbx-"),
        Vec::<String>::new(),
        "no staging folder is left"
    );
    for w in &all {
        assert_eq!(read(w.path.join("d19/f19.txt")), "19/19\n".repeat(20), "{}", w.address);
    }
    let records = listed(dir, &[]);
    assert_eq!(records.len(), 50);
    for (r, w) in records.iter().zip(&all) {
        assert_eq!((&r.address, &r.id), (&w.address, &w.id));
    }
    let third = dir.ok(&["apply", "--auto-approve"]);
    assert!(third.stdout.contains("No changes."), "{third}");
}

/// Regression: a kill between `mkdir .sbx-<id>.creating` and the marker's rename
/// left a folder without a marker that no plan ever removed.
#[test]
fn a_staging_folder_killed_before_its_marker_is_removed_by_the_next_apply() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write("sandboxes.yaml", manifest("staged", &[local("a", "")]));
    dir.ok(&["apply", "--auto-approve"]);
    // What such a kill leaves: the staging folder with at most the marker's temp file.
    work.write(
        format!(".sandboxer/workspaces/.sbx-killed01.creating/.{MARKER}.tmp-4242"),
        "{\"id\": \"killed01\", \"proj",
    );
    fs::create_dir_all(root.join(".sbx-killed02.creating")).expect("mkdir");
    work.write(
        format!(".sandboxer/workspaces/.sbx-killed03.creating/{MARKER}.tmp-4243"),
        "{\"id\": \"killed03\"",
    );
    // A staging folder with other content is not ours to judge: it stays.
    work.write(".sandboxer/workspaces/.sbx-foreign.creating/data.txt", "keep me");
    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "unmarked folders are not part of any plan\n{plan}");

    work.write("sandboxes.yaml", manifest("staged", &[local("a", ""), local("b", "")]));
    dir.ok(&["apply", "--auto-approve"]);
    assert_eq!(workspaces::names_starting(&root, ".sbx-"), [".sbx-foreign.creating"]);
    assert_eq!(read(root.join(".sbx-foreign.creating/data.txt")), "keep me");
    assert_eq!(workspaces::all(&root).len(), 2);
}

/// Starts an apply of three gated sandboxes one at a time, sends `signal` (`INT`
/// or `TERM`) while the first setup runs (`to_group`: to the whole process group,
/// as a terminal's Ctrl-C does; else to the sandboxer process only), and checks
/// that it drains.
fn interrupted_apply_drains(to_group: bool, signal: &str) {
    let work = Workdir::new();
    let gate = Gate::install(&work);
    work.write(
        "sandboxes.yaml",
        manifest("interrupted", &[gated("a"), gated("b"), gated("c")]),
    );
    let dir = work.path();
    let root = default_root(dir);

    let mut apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .own_process_group()
        .spawn();
    wait_until("the first setup runs", DEADLINE, || gate.started() > 0);
    if to_group {
        apply.signal_group(signal);
    } else {
        apply.signal(signal);
    }
    wait_until("the apply acknowledges Ctrl-C", DEADLINE, || {
        apply.stderr_so_far().contains("Interrupt received")
    });
    assert!(
        apply.is_running(),
        "the first Ctrl-C drains: the running change goes on"
    );
    gate.release();
    let interrupted = apply.wait();
    assert_eq!(interrupted.code, 1, "{interrupted}");
    assert!(interrupted.stderr.contains("sandbox.a: created"), "{interrupted}");
    assert!(
        interrupted.stderr.contains("2 not started (interrupted)"),
        "{interrupted}"
    );
    let records: Vec<String> = listed(dir, &[]).into_iter().map(|r| r.address).collect();
    assert_eq!(records, ["sandbox.a"], "the drained change is recorded");
    let a = workspace_of(&root, "sandbox.a");
    assert!(a.complete);
    assert_eq!(gate.started(), 1, "no new change started");

    let next = dir.ok(&["apply", "--auto-approve"]);
    assert!(!next.stderr.contains("locked"), "{next}");
    assert!(next.stderr.contains("Apply complete: 2 created"), "{next}");
    assert_eq!(workspaces::all(&root).len(), 3);
    assert_eq!(workspace_of(&root, "sandbox.a").path, a.path);
    let last = dir.ok(&["apply", "--auto-approve"]);
    assert!(last.stdout.contains("No changes."), "{last}");
}

#[test]
fn ctrl_c_drains_the_running_change_releases_the_lock_and_the_next_apply_converges() {
    interrupted_apply_drains(false, "INT");
}

/// SIGTERM (a service manager stopping sandboxer, `kill`) is handled as Ctrl-C.
#[test]
fn sigterm_drains_the_running_change_releases_the_lock_and_the_next_apply_converges() {
    interrupted_apply_drains(false, "TERM");
}

/// Regression: setup commands ran in sandboxer's process group, so a terminal's
/// Ctrl-C killed them and failed the change that should have been drained.
#[test]
fn ctrl_c_from_a_terminal_does_not_kill_the_running_setup() {
    interrupted_apply_drains(true, "INT");
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_ends_the_running_setup() {
    let work = Workdir::new();
    let gate = Gate::install(&work);
    work.write("sandboxes.yaml", manifest("stopped", &[gated("a")]));
    let dir = work.path();

    let apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve"])
        .own_process_group()
        .spawn();
    let setup = gate.setup_pid(DEADLINE);
    apply.signal_group("INT");
    wait_until("the apply acknowledges Ctrl-C", DEADLINE, || {
        apply.stderr_so_far().contains("Interrupt received")
    });
    apply.signal_group("INT");
    let stopped = apply.wait();
    assert_eq!(stopped.code, 130, "{stopped}");
    assert!(stopped.stderr.contains("Stopped at once"), "{stopped}");
    wait_until("the running setup is ended too", DEADLINE, || !processes::alive(setup));
    // exit(130) leaves the holder record in the lock file; the OS lock went with the process.
    gate.release();
    let next = dir.run(&["apply", "--auto-approve"]);
    assert_eq!(next.code, 0, "the lock of a stopped apply blocks nobody\n{next}");
}

/// A kill while the setup of a new workspace runs leaves the workspace synced,
/// with a complete marker and no record; the next apply adopts it with a resync
/// only, so its setup never runs to the end.
#[test]
fn a_setup_killed_half_way_runs_again_on_the_next_apply() {
    let work = Workdir::new();
    let gate = Gate::install(&work);
    work.write("sandboxes.yaml", manifest("setup", &[gated("a")]));
    let dir = work.path();

    let apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve"])
        .own_process_group()
        .spawn();
    let setup = gate.setup_pid(DEADLINE);
    apply.signal_group("KILL");
    let killed = apply.wait();
    assert_eq!(killed.code, -1, "{killed}");
    // The setup runs in a process group of its own: it dies with the machine, say.
    processes::kill("KILL", setup);
    wait_until("the setup is gone", DEADLINE, || !processes::alive(setup));
    gate.release();

    dir.ok(&["apply", "--auto-approve"]);
    let a = workspace_of(&default_root(dir), "sandbox.a");
    assert!(
        a.path.join("setup-ran").exists(),
        "the setup of sandbox.a never completed"
    );
}

#[test]
fn destroy_removes_the_project_and_inspect_and_list_show_records() {
    let work = Workdir::new();
    small_repo(&work);
    let dir = work.path();
    let root = default_root(dir);
    work.write(
        "sandboxes.yaml",
        manifest("doomed", &[with_repo("hello", "./repo"), local("scratch", "")]),
    );
    // A neighbour project in the same state folder.
    work.write("other.yaml", manifest("neighbour", &[local("stays", "")]));
    dir.ok(&["apply", "--auto-approve"]);
    dir.ok(&["apply", "-f", "other.yaml", "--auto-approve"]);
    let hello = workspace_of(&root, "sandbox.hello");

    let table = dir.ok(&["list"]);
    let header = table.stdout.lines().next().unwrap_or_default();
    for column in ["PROJECT", "ADDRESS", "ID", "DRIVER", "WHERE", "UPDATED"] {
        assert!(header.contains(column), "{table}");
    }
    assert_eq!(table.stdout.lines().count(), 4, "a header and three rows\n{table}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("sandbox.hello"))
        .unwrap_or_else(|| panic!("no row for hello\n{table}"));
    for cell in [
        "doomed",
        &hello.id,
        "local-workspace",
        &hello.path.display().to_string(),
    ] {
        assert!(row.contains(cell), "{row}");
    }

    for what in [hello.id.as_str(), "sandbox.hello"] {
        let shown = dir.ok(&["inspect", what]);
        assert!(
            shown.stdout.starts_with(&format!("sandbox.hello (id {})\n", hello.id)),
            "{shown}"
        );
        assert!(shown.stdout.contains("  project:  doomed\n"), "{shown}");
        assert!(shown.stdout.contains("workspace present"), "{shown}");
        let notes = shown
            .stdout
            .split("notes (last 20):\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no notes section\n{shown}"));
        assert!(notes.contains("synced"), "the sync is noted\n{shown}");
    }
    let missing = dir.run(&["inspect", "sandbox.nope"]);
    assert_eq!(missing.code, 1, "{missing}");

    let destroy = dir.ok(&["destroy", "-f", "sandboxes.yaml", "--auto-approve"]);
    assert!(destroy.stdout.contains("- sandbox.hello"), "{destroy}");
    assert!(destroy.stderr.contains("2 deleted"), "{destroy}");
    let left: Vec<(String, String)> = workspaces::all(&root)
        .into_iter()
        .map(|w| (w.project, w.address))
        .collect();
    assert_eq!(left, [("neighbour".to_string(), "sandbox.stays".to_string())]);
    let records: Vec<(String, String)> = listed(dir, &[]).into_iter().map(|r| (r.project, r.address)).collect();
    assert_eq!(records, [("neighbour".to_string(), "sandbox.stays".to_string())]);
    let again = dir.ok(&["destroy", "-f", "sandboxes.yaml", "--auto-approve"]);
    assert!(again.stdout.contains("Nothing to destroy"), "{again}");
}

#[test]
fn destroy_target_takes_the_resource_and_what_depends_on_it_and_plan_destroy_shows_it_first() {
    let work = Workdir::new();
    let dir = work.path();
    let root = default_root(dir);
    work.write(
        "sandboxes.yaml",
        manifest(
            "partial",
            &[
                local("base", ""),
                local("on-base", "    depends_on: [sandbox.base]\n"),
                local("apart", ""),
            ],
        ),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let addresses = || -> Vec<String> {
        let mut all: Vec<String> = workspaces::all(&root).into_iter().map(|w| w.address).collect();
        all.sort();
        all
    };
    assert_eq!(addresses().len(), 3);

    // The preview of a whole destroy, and of a targeted one; nothing changes.
    let all = dir.ok(&["plan", "--destroy"]);
    assert!(
        all.stdout
            .contains("0 to create, 0 to update, 0 to replace, 3 to delete"),
        "{all}"
    );
    assert!(all.stdout.contains("because: destroy requested"), "{all}");
    let some = dir.ok(&["plan", "--destroy", "--target", "sandbox.base"]);
    assert!(some.stdout.contains("- sandbox.base"), "{some}");
    assert!(
        some.stdout.contains("- sandbox.on-base"),
        "what stands on it goes too\n{some}"
    );
    assert!(!some.stdout.contains("sandbox.apart"), "{some}");
    assert_eq!(addresses().len(), 3, "a preview changes nothing");

    let out = dir.ok(&["destroy", "--target", "sandbox.base", "--auto-approve"]);
    assert!(out.stderr.contains("2 deleted"), "{out}");
    assert_eq!(addresses(), ["sandbox.apart"]);
    let records: Vec<String> = listed(dir, &[]).into_iter().map(|r| r.address).collect();
    assert_eq!(records, ["sandbox.apart"]);

    // A target that is neither declared nor recorded is a typo, not "nothing to do".
    let out = dir.run(&["destroy", "--target", "sandbox.nope", "--auto-approve"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("--target sandbox.nope is neither declared"),
        "{out}"
    );
    assert_eq!(addresses(), ["sandbox.apart"]);
}

#[test]
fn apply_json_prints_only_json_events_with_their_time_also_when_there_is_nothing_to_do() {
    let work = Workdir::new();
    let dir = work.path();
    work.write("sandboxes.yaml", manifest("events", &[local("a", ""), local("b", "")]));
    let events = |out: &support::Output| -> Vec<Value> {
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{out}")))
            .collect()
    };
    let first = dir.ok(&["apply", "--auto-approve", "--json"]);
    let lines = events(&first);
    assert!(
        lines.iter().all(|e| e["event"].is_string() && e["at"].is_string()),
        "{first}"
    );
    let finished = lines.iter().filter(|e| e["event"] == "finished").count();
    assert_eq!(finished, 2, "{first}");

    let again = dir.ok(&["apply", "--auto-approve", "--json"]);
    let lines = events(&again);
    assert_eq!(lines.len(), 1, "{again}");
    assert_eq!(lines[0]["event"], "no_changes");
    assert_eq!(lines[0]["project"], "events");
}

#[test]
fn plan_json_counts_and_markdown_has_a_row_per_change() {
    let work = Workdir::new();
    small_repo(&work);
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        manifest("forms", &[with_repo("a", "./repo"), local("b", ""), local("c", "")]),
    );
    let out = dir.ok(&["plan", "--json"]);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("plan --json: {e}\n{out}"));
    assert_eq!(plan["summary"]["create"], 3, "{out}");
    assert_eq!(plan["summary"]["delete"], 0, "{out}");
    assert_eq!(plan["project"], "forms");
    let actions: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["address"].as_str().unwrap_or(""), c["action"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        actions,
        [
            ("sandbox.a", "create"),
            ("sandbox.b", "create"),
            ("sandbox.c", "create")
        ]
    );

    let md = dir.ok(&["plan", "--format", "markdown"]);
    assert!(md.stdout.contains("| | resource | action | why |"), "{md}");
    for name in ["a", "b", "c"] {
        assert!(
            md.stdout
                .contains(&format!("| `+` | `sandbox.{name}` | create | new in manifest |")),
            "{md}"
        );
    }
    assert!(!dir.join(".sandboxer/state.json").exists(), "plan writes no state");
}

/// Regression: two checkouts of one git-committed manifest, each with its own
/// state, share a workspace root. Neither may adopt nor delete the other's
/// workspaces: a marker names the state (lineage) that made it.
#[test]
fn two_states_of_one_manifest_never_adopt_or_delete_each_others_workspaces() {
    let dir = Workdir::new();
    let shared_root = dir.path().join("shared-root");
    let entry = local(
        "app",
        &format!("    inputs:\n      workspace_root: {}\n", shared_root.display()),
    );
    dir.write("a/sandboxes.yaml", manifest("team", std::slice::from_ref(&entry)));
    dir.write("b/sandboxes.yaml", manifest("team", &[entry]));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let count = || workspaces::entry_count(&shared_root);

    a.ok(&["apply", "--auto-approve"]);
    assert_eq!(count(), 1);

    let plan = b.ok(&["plan"]);
    assert!(plan.stdout.contains("+ sandbox.app will be created"), "{plan}");
    assert!(!plan.stdout.contains("adopt"), "{plan}");
    b.ok(&["apply", "--auto-approve"]);
    assert_eq!(count(), 2, "B made its own workspace");

    b.ok(&["destroy", "--auto-approve"]);
    assert_eq!(count(), 1, "B removed only its own");
    let again = a.ok(&["plan", "--detailed-exitcode"]);
    assert!(
        again.stdout.contains("No changes."),
        "A's workspace is untouched: {again}"
    );
}

/// Regression: `destroy -f` observed with nothing desired, so it looked only at
/// the roots that records name. A create killed before its record was written
/// left a marked workspace (of this project and state) on a root only the
/// manifest names, and destroy left it there.
#[test]
fn destroy_after_a_first_apply_killed_half_way_removes_every_workspace_it_made() {
    let work = Workdir::new();
    let gate = Gate::install(&work);
    let dir = work.path();
    let (quick_root, gated_root) = (dir.join("quick-root"), dir.join("gated-root"));
    let inputs = |root: &Path| format!("    inputs:\n      workspace_root: {}\n", root.display());
    let entries = [
        local("quick1", &inputs(&quick_root)),
        local("quick2", &inputs(&quick_root)),
        entry("slow1", "profile.gated", &inputs(&gated_root)),
        entry("slow2", "profile.gated", &inputs(&gated_root)),
    ];
    work.write("sandboxes.yaml", manifest("halfway", &entries));
    let roots = [quick_root.clone(), gated_root.clone(), default_root(dir)];

    let mut apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--parallelism", "4"])
        .spawn();
    wait_until(
        "both gated setups run and the quick ones are recorded",
        DEADLINE,
        || gate.started() == 2 && listed(dir, &[]).len() == 2,
    );
    assert!(apply.is_running(), "the apply must still be running when killed");
    apply.signal("KILL");
    let killed = apply.wait();
    assert_eq!(killed.code, -1, "killed by a signal\n{killed}");
    // The setups run in process groups of their own: they die with the machine, say.
    for signal in fs::read_dir(gate.signals()).expect("list the signals") {
        let pid: u32 = read(signal.expect("entry").path()).trim().parse().expect("a pid");
        processes::kill("KILL", pid);
        wait_until("the setup is gone", DEADLINE, || !processes::alive(pid));
    }
    gate.release();
    let recorded: Vec<String> = listed(dir, &[]).into_iter().map(|r| r.address).collect();
    assert_eq!(recorded, ["sandbox.quick1", "sandbox.quick2"]);
    let unrecorded: Vec<Workspace> = workspaces::all(&gated_root);
    assert_eq!(
        unrecorded.len(),
        2,
        "the killed creates left marked workspaces: {unrecorded:#?}"
    );
    assert!(
        unrecorded.iter().all(|w| w.project == "halfway" && !w.complete),
        "{unrecorded:#?}"
    );

    // One by id, where its record says.
    let quick1 = workspace_of(&quick_root, "sandbox.quick1");
    let one = dir.ok(&["destroy", &quick1.id, "--auto-approve"]);
    assert!(one.stderr.contains("0 replaced, 1 deleted"), "{one}");
    assert!(!quick1.path.exists(), "{one}");
    assert_eq!(workspaces::all(&quick_root).len(), 1);

    // The rest: the record left, and the two workspaces without records.
    let destroy = dir.ok(&["destroy", "-f", "sandboxes.yaml", "--auto-approve"]);
    assert!(destroy.stderr.contains("0 replaced, 3 deleted"), "{destroy}");
    for root in &roots {
        let left: Vec<String> = workspaces::names_starting(root, "sbx-")
            .into_iter()
            .chain(workspaces::names_starting(root, ".sbx-"))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "left in {}\n{destroy}", root.display());
    }
    assert_eq!(listed(dir, &[]), Vec::<Listed>::new(), "the state is empty");
    let again = dir.ok(&["destroy", "-f", "sandboxes.yaml", "--auto-approve"]);
    assert!(again.stdout.contains("Nothing to destroy"), "{again}");
}

/// `repo: .` with the manifest inside the repo: the state folder (and the
/// workspaces in it) are never synced into themselves, and the next plan settles.
#[test]
fn a_repo_holding_the_manifest_and_the_state_settles_after_one_apply() {
    let work = Workdir::new();
    let dir = work.path();
    work.write("README.md", "the repo is the manifest's folder\n");
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: itself\nsandboxes:\n  here:\n    profile: profile.local-workspace\n    inputs:\n      repo: .\n",
    );
    dir.ok(&["apply", "--auto-approve"]);
    let plan = dir.expect(0, &["plan", "--detailed-exitcode"]);
    assert!(plan.stdout.contains("No changes."), "{plan}");
    let ws = &workspaces::all(&default_root(dir))[0].path;
    assert_eq!(read(ws.join("README.md")), "the repo is the manifest's folder\n");
    assert!(!ws.join(".sandboxer").exists(), "the state was copied into a workspace");
}
