//! Saved plans (`plan --out`, then `apply PLAN`) on local workspaces: a plan is
//! bound to the manifest, the state and what is there when it was made, and to
//! its own content; and an apply that refuses, with a plan or a manifest,
//! changes nothing in the work folder (no `.sandboxer/`, no state, no lock, no
//! key, nothing next to a path the plan names).
//!
//! Plans are edited as JSON (`support::plans`); an edit that is resealed (given
//! the digest of its new content) reaches the checks behind the digest. "Nothing
//! changed" is the whole work folder before and after (`support::snapshot`).

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::manifests::{local, manifest, with_repo};
use support::plans::{self, change_index};
use support::records;
use support::snapshot::{self, assert_unchanged};
use support::workspaces::{self, default_root};
use support::{Cli, Output, Workdir, read, read_json};

/// A work folder with a repo and a manifest of project `demo`.
struct World {
    work: Workdir,
}

impl World {
    fn new() -> Self {
        let work = Workdir::new();
        work.write("repo/README.md", "# hello\n");
        work.write("repo/src/Main.hs", "main = putStrLn \"hello\"\n");
        World { work }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    fn manifest(&self, entries: &[String]) {
        self.work.write("sandboxes.yaml", manifest("demo", entries));
    }

    /// `plan --out NAME`; the path of the plan.
    fn plan(&self, name: &str) -> PathBuf {
        self.dir().ok(&["plan", "--out", name]);
        self.dir().join(name)
    }

    /// `apply NAME`, expected to be refused: exit 1 and nothing changed in the
    /// work folder. Returns the run.
    fn refused(&self, name: &str) -> Output {
        let before = snapshot::take(self.dir());
        let out = self.dir().run(&["apply", name]);
        assert_eq!(out.code, 1, "{out}");
        assert_unchanged(self.dir(), &before, &out);
        out
    }
}

/// Asserts that `out` refused the plan with `message`, and said to plan again.
fn says(out: &Output, message: &str) {
    assert!(out.stderr.contains(message), "expected {message:?}\n{out}");
    assert!(
        out.stderr.contains("hint: ") && out.stderr.contains("sandboxer plan --out PLAN"),
        "{out}"
    );
}

#[test]
fn a_plan_edited_for_another_project_is_refused_and_records_nothing_under_it() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo")]);
    world.dir().ok(&["apply", "--auto-approve"]);
    world.manifest(&[with_repo("a", "./repo"), with_repo("b", "./repo")]);
    let path = world.plan("p.plan");

    plans::edit(&path, |plan| plan["project"] = json!("OTHER"));
    let edited = world.refused("p.plan");
    says(&edited, "p.plan was edited since it was made");
    assert!(!edited.stderr.contains("stale"), "{edited}");

    plans::edit_sealed(&path, |_| {});
    let other = world.refused("p.plan");
    says(&other, "the saved plan is for project OTHER, but the manifest");
    assert!(other.stderr.contains("sandboxes.yaml declares project demo"), "{other}");
    let projects: Vec<String> = records::rows(&world.dir().ok(&["list", "--json"]))
        .into_iter()
        .map(|(project, _)| project)
        .collect();
    assert_eq!(projects, ["demo"], "nothing is recorded under OTHER");
}

#[test]
fn a_change_listed_twice_is_refused_before_anything_is_made() {
    let world = World::new();
    world.manifest(&[local("a", ""), local("b", "")]);
    let path = world.plan("p.plan");
    assert!(
        !world.dir().join(".sandboxer").exists(),
        "plan of a manifest without repos writes nothing"
    );

    plans::edit_sealed(&path, |plan| {
        let b = plan["changes"][1].clone();
        plan["changes"].as_array_mut().expect("changes").push(b);
        plan["summary"]["create"] = json!(3);
    });
    let out = world.refused("p.plan");
    says(&out, "changes[2] repeats changes[1] (sandbox.b)");

    // The same plan with its summary left as it was fails on the count first.
    plans::edit_sealed(&path, |plan| plan["summary"]["create"] = json!(2));
    let out = world.refused("p.plan");
    says(&out, "the summary says 2 to create, its changes 3");
}

#[test]
fn a_delete_whose_workspace_was_emptied_or_removed_is_refused_and_the_folder_and_record_stay() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo"), with_repo("b", "./repo")]);
    world.dir().ok(&["apply", "--auto-approve"]);
    world.manifest(&[with_repo("a", "./repo")]);
    let path = world.plan("p.plan");
    let original = read(&path);
    let b = change_index(&read_json(&path), "sandbox.b");
    assert_eq!(read_json(&path)["changes"][b]["action"], "delete");

    plans::edit_sealed(&path, |plan| plan["changes"][b]["workspace"] = Value::Null);
    let removed = world.refused("p.plan");
    says(
        &removed,
        &format!("changes[{b}] (sandbox.b) workspace: the plan says none, the manifest and state now give {{"),
    );

    std::fs::write(&path, &original).expect("restore the plan");
    plans::edit_sealed(&path, |plan| plan["changes"][b]["workspace"]["path"] = json!(""));
    let emptied = world.refused("p.plan");
    says(
        &emptied,
        &format!("changes[{b}] (sandbox.b) workspace: the plan says {{"),
    );

    // The plan as it was made still applies, and removes the folder.
    std::fs::write(&path, &original).expect("restore the plan");
    let out = world.dir().ok(&["apply", "p.plan"]);
    assert!(
        out.stderr
            .contains("Apply complete: 0 created, 0 updated, 0 replaced, 1 deleted"),
        "{out}"
    );
    let left: Vec<String> = workspaces::all(&default_root(world.dir()))
        .into_iter()
        .map(|w| w.address)
        .collect();
    assert_eq!(left, ["sandbox.a"]);
}

#[test]
fn a_plan_naming_another_file_or_a_folder_as_its_manifest_is_refused_and_nothing_is_made_next_to_it() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo")]);
    // Another manifest of the same project, and a folder, elsewhere in the work folder.
    world.work.write(
        "elsewhere/sandboxes.yaml",
        manifest("demo", &[local("a", ""), local("c", "")]),
    );
    world.work.write("elsewhere/folder/notes.txt", "not a manifest\n");
    let path = world.plan("p.plan");
    let original = read(&path);
    let elsewhere = world.dir().join("elsewhere");

    let cases = [
        (elsewhere.join("sandboxes.yaml"), "changed since the plan was made"),
        (elsewhere.join("folder"), "not a regular file"),
        (elsewhere.join("folder/notes.txt"), "changed since the plan was made"),
        (elsewhere.join("missing.yaml"), "No such file"),
    ];
    for (manifest, message) in cases {
        std::fs::write(&path, &original).expect("restore the plan");
        let named = manifest.to_string_lossy().into_owned();
        plans::edit_sealed(&path, |plan| plan["manifest"] = json!(named));
        let out = world.refused("p.plan");
        says(&out, message);
        assert!(out.stderr.contains(&named), "the refusal names the file\n{out}");
    }
    assert!(!elsewhere.join(".sandboxer").exists());
    assert!(!elsewhere.join("folder/.sandboxer").exists());

    // A relative path is not one `plan` writes.
    std::fs::write(&path, &original).expect("restore the plan");
    plans::edit_sealed(&path, |plan| plan["manifest"] = json!("sandboxes.yaml"));
    let out = world.refused("p.plan");
    says(&out, "which is not an absolute path");
}

#[test]
fn a_cycle_added_between_changes_is_refused_before_the_state_is_written() {
    let world = World::new();
    world.manifest(&[local("a", ""), local("b", "")]);
    let path = world.plan("p.plan");
    plans::edit_sealed(&path, |plan| {
        plan["changes"][0]["depends_on"] = json!(["sandbox.b"]);
        plan["changes"][1]["depends_on"] = json!(["sandbox.a"]);
    });
    let out = world.refused("p.plan");
    says(&out, "the plan has a dependency cycle through sandbox.");
    assert!(!world.dir().join(".sandboxer").exists(), "{out}");

    // With a state there already, it stays as it was.
    world.dir().ok(&["apply", "--auto-approve"]);
    world.manifest(&[local("a", ""), local("b", ""), local("c", "")]);
    let path = world.plan("p.plan");
    plans::edit_sealed(&path, |plan| {
        plan["changes"][2]["depends_on"] = json!(["sandbox.c"]);
    });
    let out = world.refused("p.plan");
    says(&out, "the plan has a dependency cycle through sandbox.c");
}

/// One edit of a plan's JSON.
type Edit = fn(&mut Value);

#[test]
fn a_plan_edited_after_it_was_made_is_refused_as_edited_and_a_reformatted_one_applies() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo"), local("b", "")]);
    let path = world.plan("p.plan");
    let original = read(&path);

    let edits: [(&str, Edit); 5] = [
        ("an action", |plan| plan["changes"][1]["action"] = json!("no-op")),
        ("the serial", |plan| plan["state_serial"] = json!(7)),
        ("an id", |plan| plan["changes"][0]["id"] = json!("k3x9")),
        ("the digest", |plan| plan["digest"] = json!("sha256:00")),
        ("a removed digest", |plan| {
            plan.as_object_mut().expect("an object").remove("digest");
        }),
    ];
    for (what, edit) in edits {
        std::fs::write(&path, &original).expect("restore the plan");
        plans::edit(&path, edit);
        let out = world.refused("p.plan");
        assert!(
            out.stderr.contains("p.plan was edited since it was made")
                || out
                    .stderr
                    .contains("p.plan:1:1: error: digest: the plan has no digest: it was edited since it was made"),
            "{what}: {out}"
        );
        assert!(!out.stderr.contains("stale"), "{what}: {out}");
    }

    // Layout is not content: the same plan on one line, its keys in another order, applies.
    let mut value: Value = serde_json::from_str(&original).expect("JSON");
    let reordered: serde_json::Map<String, Value> = value
        .as_object_mut()
        .expect("an object")
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    std::fs::write(&path, serde_json::to_string(&reordered).expect("JSON")).expect("write");
    let out = world.dir().ok(&["apply", "p.plan"]);
    assert!(out.stderr.contains("Apply complete: 2 created"), "{out}");
}

#[test]
fn a_plan_of_the_old_format_keeps_its_refusal() {
    let world = World::new();
    world.manifest(&[local("a", "")]);
    let path = world.plan("p.plan");
    plans::edit(&path, |plan| {
        plan["format_version"] = json!(2);
        plan.as_object_mut().expect("an object").remove("digest");
    });
    let out = world.refused("p.plan");
    assert!(
        out.stderr
            .contains("p.plan:2:3: error: format_version: plan format 2; this sandboxer reads plan format 3"),
        "{out}"
    );
    assert!(out.stderr.contains("make the plan again with this sandboxer"), "{out}");
}

#[test]
fn a_plan_the_world_moved_under_is_refused_naming_the_first_difference() {
    let world = World::new();
    world.manifest(&[local("a", ""), with_repo("b", "./repo")]);
    world.dir().ok(&["apply", "--auto-approve"]);
    world.work.write("repo/README.md", "# hello again\n");
    let path = world.plan("p.plan");
    let plan = read_json(&path);
    let b = change_index(&plan, "sandbox.b");
    assert_eq!(plan["changes"][b]["action"], "update", "{plan:#}");

    // The workspace goes, the state does not move: the plan would update what is not there.
    let root = default_root(world.dir());
    let workspace = workspaces::all(&root)
        .into_iter()
        .find(|w| w.address == "sandbox.b")
        .expect("b's workspace");
    std::fs::remove_dir_all(&workspace.path).expect("remove b's workspace");
    let out = world.refused("p.plan");
    says(
        &out,
        &format!("changes[{b}] (sandbox.b): the plan says update, the manifest and state now give create"),
    );
    assert!(!out.stderr.contains("edited"), "{out}");

    // Planned again, it applies.
    world.plan("p.plan");
    world.dir().ok(&["apply", "p.plan"]);
    world.dir().expect(0, &["plan", "--detailed-exitcode"]);
}

#[test]
fn a_plan_made_with_targets_is_made_again_with_them_and_applies_only_them() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo"), local("b", "")]);
    world.dir().ok(&["plan", "--target", "sandbox.a", "--out", "p.plan"]);
    let out = world.dir().ok(&["apply", "p.plan"]);
    assert!(out.stderr.contains("Apply complete: 1 created"), "{out}");
    let made: Vec<String> = workspaces::all(&default_root(world.dir()))
        .into_iter()
        .map(|w| w.address)
        .collect();
    assert_eq!(made, ["sandbox.a"]);

    // Another target than the one planned with is not the same plan.
    world.dir().ok(&["plan", "--target", "sandbox.b", "--out", "q.plan"]);
    plans::edit_sealed(&world.dir().join("q.plan"), |plan| {
        plan["targets"] = json!(["sandbox.nope"]);
    });
    let out = world.refused("q.plan");
    says(&out, "the saved plan targets sandbox.nope, which the manifest");
    assert!(out.stderr.contains("sandboxes.yaml does not declare"), "{out}");
}

#[test]
fn plan_json_prints_the_document_plan_out_saves() {
    let world = World::new();
    world.manifest(&[with_repo("a", "./repo")]);
    let out = world.dir().ok(&["plan", "--json", "--out", "p.plan"]);
    assert_eq!(out.stdout, read(world.dir().join("p.plan")), "one document");
    let plan: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(plan["format_version"], 3);
    assert_eq!(plan["digest"], json!(plans::digest_of(&plan)), "{plan:#}");
}

#[test]
fn a_saved_plan_never_makes_a_sensitive_key() {
    let world = World::new();
    world.work.write(
        "profiles/secretive.yaml",
        "name: profile.secretive\ndriver: local-workspace\ninputs:\n  api_key: {type: string, sensitive: true}\n",
    );
    world.work.write(
        "sandboxes.yaml",
        "version: 1\nproject: demo\nsandboxes:\n  a:\n    profile: profile.secretive\n    inputs:\n      api_key: hunter2\n",
    );
    let path = world.plan("p.plan");
    let key = world.dir().join(".sandboxer/sensitive.key");
    assert!(key.exists(), "plan makes the state's key");
    assert!(!read(&path).contains("hunter2"));

    std::fs::remove_file(&key).expect("remove the key");
    let out = world.refused("p.plan");
    says(&out, "has no key to hash the sensitive inputs of");
    assert!(!key.exists());

    world.plan("p.plan");
    world.dir().ok(&["apply", "p.plan"]);
}

#[test]
fn an_apply_of_a_manifest_that_is_refused_creates_nothing() {
    let cases = [
        ("bad YAML", "version: 1\nproject: demo\nsandboxes:\n  a: [\n", vec![]),
        (
            "an unknown profile",
            "version: 1\nproject: demo\nsandboxes:\n  a:\n    profile: profile.lcoal-workspace\n",
            vec![],
        ),
        (
            "a cycle",
            "version: 1\nproject: demo\nsandboxes:\n  a:\n    profile: profile.local-workspace\n    depends_on: [sandbox.b]\n  b:\n    profile: profile.local-workspace\n    depends_on: [sandbox.a]\n",
            vec![],
        ),
        (
            "an undeclared target",
            "version: 1\nproject: demo\nsandboxes:\n  a:\n    profile: profile.local-workspace\n",
            vec!["--target", "sandbox.nope"],
        ),
    ];
    for (what, text, extra) in cases {
        let work = Workdir::new();
        work.write("sandboxes.yaml", text);
        let before = snapshot::take(work.path());
        let mut args = vec!["apply", "--auto-approve"];
        args.extend(extra);
        let out = work.path().run(&args);
        assert_eq!(out.code, 1, "{what}: {out}");
        assert_unchanged(work.path(), &before, &format!("{what}: {out}"));
    }
}
