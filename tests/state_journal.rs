//! The embedded state's journal, seen from outside: a first apply of 2,000 local
//! sandboxes killed with SIGKILL part-way leaves its tail in
//! `.sandboxer/state.journal`; the next command replays it, the next apply
//! finishes the job with every workspace made and recorded once, and a command
//! that ends leaves a complete `state.json` and no journal.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::manifests::{manifest, with_repo};
use support::records;
use support::workspaces::{self, default_root};
use support::{Cli, Workdir, read, sandboxer, wait_until};

/// How long a condition may take to hold before the test gives up.
const DEADLINE: Duration = Duration::from_secs(120);

const SANDBOXES: usize = 2_000;

/// Lines in the journal now (0 when there is none).
fn journal_lines(state: &Path) -> usize {
    fs::read_to_string(state.join("state.journal")).map_or(0, |t| t.lines().count())
}

/// Records in `state.json` itself, without the journal.
fn snapshot_records(state: &Path) -> usize {
    let file: Value = serde_json::from_str(&read(state.join("state.json"))).expect("state.json is JSON");
    file["projects"].as_object().map_or(0, |projects| {
        projects.values().map(|r| r.as_object().map_or(0, |r| r.len())).sum()
    })
}

#[test]
fn sigkill_during_a_first_apply_of_two_thousand_keeps_the_journal_tail_and_the_next_apply_finishes() {
    let work = Workdir::new();
    work.write("repo/README.md", "# tiny\n");
    work.write("repo/src/Main.hs", "main = pure ()\n");
    work.write("repo/tiny.cabal", "cabal-version: 3.0\n");
    let entries: Vec<String> = (0..SANDBOXES)
        .map(|i| with_repo(&format!("app-{i:05}"), "./repo"))
        .collect();
    work.write("sandboxes.yaml", manifest("journal", &entries));
    let dir = work.path();
    let (state, root) = (dir.join(".sandboxer"), default_root(dir));

    let mut apply = sandboxer()
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--quiet"])
        .spawn();
    wait_until("some hundreds of changes are in the journal", DEADLINE, || {
        journal_lines(&state) >= 300
    });
    assert!(apply.is_running(), "the apply must still be running when killed");
    apply.signal("KILL");
    let killed = apply.wait();
    assert_eq!(killed.code, -1, "killed by a signal\n{killed}");

    // The journal holds what the snapshot does not, and readers replay it.
    let in_snapshot = snapshot_records(&state);
    let listed = records::listed(&dir.ok(&["list", "--json"]));
    assert!(
        listed.len() >= 300 && listed.len() < SANDBOXES,
        "the kill came part-way ({} recorded)",
        listed.len()
    );
    assert!(
        in_snapshot < listed.len(),
        "the tail is in the journal: {in_snapshot} in state.json, {} listed",
        listed.len()
    );

    let again = dir.ok(&["apply", "--auto-approve", "--quiet"]);
    assert!(
        !state.join("state.journal").exists(),
        "a finished command leaves no journal\n{again}"
    );
    assert_eq!(snapshot_records(&state), SANDBOXES, "state.json is complete");

    let all = workspaces::all(&root);
    assert_eq!(all.len(), SANDBOXES, "one workspace per sandbox");
    assert!(all.iter().all(|w| w.complete && w.project == "journal"));
    let addresses: BTreeSet<&str> = all.iter().map(|w| w.address.as_str()).collect();
    assert_eq!(addresses.len(), SANDBOXES, "no sandbox has two workspaces");
    assert_eq!(
        workspaces::names_starting(&root, ".sbx-"),
        Vec::<String>::new(),
        "no staging folder is left"
    );

    let records = records::listed(&dir.ok(&["list", "--json"]));
    assert_eq!(records.len(), SANDBOXES, "each sandbox recorded once");
    let on_disk: BTreeSet<(&str, &str)> = all.iter().map(|w| (w.address.as_str(), w.id.as_str())).collect();
    let recorded: BTreeSet<(&str, &str)> = records.iter().map(|r| (r.address.as_str(), r.id.as_str())).collect();
    assert_eq!(recorded, on_disk, "every record names the workspace on disk");

    let plan = dir.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "nothing left to do\n{plan}");
    assert!(plan.stdout.contains("No changes."), "{plan}");
}
