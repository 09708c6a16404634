//! Provenance on records, through the real binary on local workspaces: the
//! commit, branch and dirtiness of the manifest's git work tree, who applied
//! and with which sandboxer, as `inspect`, `list` (table and JSON) and the
//! State Hub show them; `plan`'s note and Markdown heading; a manifest outside
//! git, and a record written before provenance existed.
//!
//! Each test makes its own git repo in its temporary folder, with git run
//! independent of the machine's configuration (no global or system config,
//! author and committer given), so it runs on a bare CI machine with git.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::hub::HubProcess;
use support::manifests::{local, manifest, manifest_with};
use support::records;
use support::{Cli, Output, Workdir, read_json, sandboxer};

/// The user the tests apply as.
const USER: &str = "prov-tester";
/// The variable the hub manifest names for its token.
const TOKEN_ENV: &str = "SBX_PROV_TOKEN";

/// Runs git in `dir`; its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("git is needed for these tests: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commits the manifest `sandboxes.yaml` of `dir` (on `main`, the repo made if
/// need be); the new HEAD. Everything else, the state folder `.sandboxer/`
/// included, stays untracked, which leaves the tree clean.
fn commit_manifest(dir: &Path, message: &str) -> String {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q", "-b", "main"]);
    }
    git(dir, &["add", "sandboxes.yaml"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// sandboxer run in `dir` as [`USER`].
fn as_user(dir: &Path, args: &[&str]) -> Output {
    let out = sandboxer().current_dir(dir).env("USER", USER).args(args).run();
    assert_eq!(out.code, 0, "sandboxer {}\n{out}", args.join(" "));
    out
}

/// This machine's host name, as sandboxer reads it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host name")
        .trim()
        .to_string()
}

/// The record of `address` in a `list --json` run.
fn record_of(out: &Output, address: &str) -> Value {
    records::rows(out)
        .into_iter()
        .map(|(_, record)| record)
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no record of {address}\n{out}"))
}

#[test]
fn records_name_the_commit_branch_and_dirtiness_of_the_manifests_work_tree() {
    let work = Workdir::new();
    let dir = work.path();
    work.write("sandboxes.yaml", manifest("prov", &[local("x", "")]));
    let first = commit_manifest(dir, "first");
    // An uncommitted edit: the apply happens from a dirty tree.
    work.write("sandboxes.yaml", manifest("prov", &[local("x", ""), local("y", "")]));

    let plan = dir.ok(&["plan"]);
    assert!(
        plan.stderr.contains(&format!(
            "note: the git work tree of sandboxes.yaml has uncommitted changes (HEAD {} on main)",
            &first[..12]
        )),
        "{plan}"
    );
    let quiet = dir.ok(&["plan", "--quiet"]);
    assert!(!quiet.stderr.contains("note:"), "{quiet}");

    as_user(dir, &["apply", "--auto-approve"]);
    let applied_by = format!("{USER}@{}", host());
    let shown = dir.ok(&["inspect", "sandbox.x"]);
    for line in [
        format!("  applied by: {applied_by}\n"),
        format!("  sandboxer:  {}\n", env!("CARGO_PKG_VERSION")),
        format!("  commit:     {first}\n"),
        "  branch:     main\n".to_string(),
        "  dirty:      yes".to_string(),
    ] {
        assert!(shown.stdout.contains(&line), "{line:?}\n{shown}");
    }

    let listed = dir.ok(&["list", "--json"]);
    for address in ["sandbox.x", "sandbox.y"] {
        let provenance = &record_of(&listed, address)["provenance"];
        assert_eq!(provenance["applied_by"], applied_by.as_str(), "{listed}");
        assert_eq!(provenance["sandboxer_version"], env!("CARGO_PKG_VERSION"), "{listed}");
        assert_eq!(
            provenance["git"],
            serde_json::json!({"commit": first, "branch": "main", "dirty": true}),
            "{listed}"
        );
    }
    let table = dir.ok(&["list"]);
    let header = table.stdout.lines().next().unwrap_or_default();
    assert!(header.contains("APPLIED BY") && header.contains("COMMIT"), "{table}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("sandbox.x"))
        .unwrap_or_else(|| panic!("no row for sandbox.x\n{table}"));
    assert!(
        row.contains(&applied_by) && row.contains(&format!("{}+dirty", &first[..12])),
        "{row}"
    );

    // Another edit: the pull-request comment names the commit and the edit.
    work.write(
        "sandboxes.yaml",
        manifest("prov", &[local("x", ""), local("y", ""), local("z", "")]),
    );
    let md = dir.ok(&["plan", "--format", "markdown"]);
    assert!(
        md.stdout.contains(&format!(
            "Manifest at commit {first} on branch `main`, with **uncommitted changes**.\n"
        )),
        "{md}"
    );

    // Committed and applied: the new record is clean at the new commit; the
    // records the apply did not touch keep theirs.
    let second = commit_manifest(dir, "second");
    let plan = dir.ok(&["plan"]);
    assert!(!plan.stderr.contains("note:"), "{plan}");
    let md = dir.ok(&["plan", "--format", "markdown"]);
    assert!(
        md.stdout
            .contains(&format!("Manifest at commit {second} on branch `main`.\n")),
        "{md}"
    );
    as_user(dir, &["apply", "--auto-approve"]);
    let listed = dir.ok(&["list", "--json"]);
    assert_eq!(
        record_of(&listed, "sandbox.z")["provenance"]["git"],
        serde_json::json!({"commit": second, "branch": "main", "dirty": false}),
        "{listed}"
    );
    assert_eq!(
        record_of(&listed, "sandbox.x")["provenance"]["git"]["commit"],
        first.as_str()
    );
    let shown = dir.ok(&["inspect", "sandbox.z"]);
    assert!(shown.stdout.contains("  dirty:      no\n"), "{shown}");
}

#[test]
fn a_manifest_outside_git_applies_without_git_fields_and_an_old_record_still_loads() {
    let work = Workdir::new();
    let dir = work.path();
    work.write("sandboxes.yaml", manifest("plain", &[local("x", ""), local("old", "")]));
    let plan = dir.ok(&["plan"]);
    assert!(!plan.stderr.contains("note:"), "{plan}");
    let md = dir.ok(&["plan", "--format", "markdown"]);
    assert!(!md.stdout.contains("Manifest at commit"), "{md}");

    as_user(dir, &["apply", "--auto-approve"]);
    let listed = dir.ok(&["list", "--json"]);
    let provenance = &record_of(&listed, "sandbox.x")["provenance"];
    assert_eq!(
        provenance["applied_by"],
        format!("{USER}@{}", host()).as_str(),
        "{listed}"
    );
    assert_eq!(provenance["sandboxer_version"], env!("CARGO_PKG_VERSION"), "{listed}");
    assert!(provenance.get("git").is_none(), "no git fields\n{listed}");
    let shown = dir.ok(&["inspect", "sandbox.x"]);
    assert!(shown.stdout.contains("  commit:     (none"), "{shown}");

    // A state written before records carried provenance.
    let path = dir.join(".sandboxer/state.json");
    let mut state = read_json(&path);
    let shown_before = state.to_string();
    let record = state["projects"]["plain"]["sandbox.old"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("no sandbox.old in {shown_before}"));
    assert!(record.remove("provenance").is_some(), "{shown_before}");
    std::fs::write(&path, serde_json::to_string_pretty(&state).expect("json")).expect("write the state");
    let table = dir.ok(&["list"]);
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("sandbox.old"))
        .unwrap_or_else(|| panic!("no row for sandbox.old\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[cells.len() - 2..],
        ["-", "-"],
        "no APPLIED BY, no COMMIT\n{table}"
    );
    let shown = dir.ok(&["inspect", "sandbox.old"]);
    assert!(shown.stdout.contains("  applied by: (not recorded"), "{shown}");
    let again = dir.ok(&["plan"]);
    assert!(again.stdout.contains("No changes."), "{again}");
}

#[test]
fn provenance_round_trips_through_the_state_hub() {
    let work = Workdir::new();
    let mut hub = HubProcess::start(&work.path().join("hub-data"), Some("prov-token"));
    let project = work.path().join("project");
    let hub_line = format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", hub.url());
    work.write(
        "project/sandboxes.yaml",
        manifest_with("hubbed", &hub_line, &[local("x", "")]),
    );
    let head = commit_manifest(&project, "first");
    let run = |args: &[&str]| {
        let out = sandboxer()
            .current_dir(&project)
            .env("USER", USER)
            .env(TOKEN_ENV, "prov-token")
            .args(args)
            .run();
        assert_eq!(out.code, 0, "sandboxer {}\n{out}", args.join(" "));
        out
    };
    run(&["apply", "--auto-approve"]);

    let expected = serde_json::json!({"commit": head, "branch": "main", "dirty": false});
    let stored = |hub: &HubProcess| {
        let reply = hub.call("GET", "/v1/projects/hubbed/resources/sandbox.x", None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["record"]["provenance"].clone()
    };
    let provenance = stored(&hub);
    assert_eq!(provenance["git"], expected, "{provenance}");
    assert_eq!(provenance["applied_by"], format!("{USER}@{}", host()).as_str());

    // Kept on the hub's disk, and read back by the client.
    hub.stop_with("TERM");
    hub.restart();
    let hub_line = format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", hub.url());
    work.write(
        "project/sandboxes.yaml",
        manifest_with("hubbed", &hub_line, &[local("x", "")]),
    );
    assert_eq!(stored(&hub)["git"], expected);
    let shown = run(&["inspect", "sandbox.x"]);
    assert!(shown.stdout.contains(&format!("  commit:     {head}\n")), "{shown}");
    let listed = run(&["list", "--json"]);
    assert_eq!(
        record_of(&listed, "sandbox.x")["provenance"]["git"],
        expected,
        "{listed}"
    );
}

#[test]
fn the_markdown_plan_of_a_pull_request_shows_the_commit_the_reasons_and_the_move() {
    let work = Workdir::new();
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        manifest("review", &[local("old", ""), local("kept", "")]),
    );
    commit_manifest(dir, "two workspaces");
    as_user(dir, &["apply", "--auto-approve"]);

    // The pull request: a rename and a new entry, committed.
    let renamed = format!(
        "{}moved:\n  - from: sandbox.old\n    to: sandbox.new\n",
        manifest("review", &[local("new", ""), local("kept", ""), local("added", "")])
    );
    work.write("sandboxes.yaml", renamed);
    let head = commit_manifest(dir, "rename old, add added");
    let markdown = as_user(dir, &["plan", "--format", "markdown"]).stdout;
    assert!(markdown.contains(&head[..12]), "the commit\n{markdown}");
    assert!(!markdown.contains("uncommitted changes"), "a clean tree\n{markdown}");
    assert!(
        markdown.contains("`sandbox.added`") && markdown.contains("new in manifest"),
        "the reasons\n{markdown}"
    );
    assert!(markdown.contains("moved from `sandbox.old`"), "the move\n{markdown}");
    assert!(
        markdown.contains("1 to create") && markdown.contains("1 moved"),
        "{markdown}"
    );
}
