//! The JSON Schemas committed in `schemas/` are what `sandboxer schema` generates,
//! and every profile and example manifest points its editor at the right one.

mod support;

use std::path::{Path, PathBuf};

use support::{Workdir, sandboxer};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REGENERATE: &str = "run `cargo run -- schema --out schemas` and commit the result";
const SCHEMA_LINE: &str = "# yaml-language-server: $schema=";

/// The `*.<ext>` files directly in `ROOT/dir`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap_or_else(|e| panic!("list {dir}/: {e}"))
        .map(|e| e.expect("read a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> String {
    path.file_name().expect("a file name").to_string_lossy().into_owned()
}

#[test]
fn committed_schemas_equal_the_generated_ones() {
    let out = Workdir::new();
    let output = sandboxer().args(["schema", "--out"]).arg(out.path()).run();
    assert_eq!(output.code, 0, "{output}");

    let generated = out.entries();
    let committed: Vec<String> = files("schemas", "json").iter().map(|p| file_name(p)).collect();
    for contract in ["manifest.schema.json", "profile.schema.json"] {
        assert!(
            generated.iter().any(|n| n == contract),
            "sandboxer schema --out did not write {contract}\n{output}"
        );
    }
    assert_eq!(
        committed, generated,
        "schemas/ holds other files than sandboxer generates: {REGENERATE}"
    );

    for name in &generated {
        let fresh = std::fs::read(out.path().join(name)).expect("read a generated schema");
        let kept = std::fs::read(Path::new(ROOT).join("schemas").join(name)).expect("read a committed schema");
        if fresh != kept {
            let fresh = String::from_utf8_lossy(&fresh);
            let kept = String::from_utf8_lossy(&kept);
            let first = fresh
                .lines()
                .zip(kept.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| fresh.lines().count().min(kept.lines().count()));
            panic!(
                "schemas/{name} differs from what the code generates (first at line {}): {REGENERATE}\n\
                 generated: {:?}\ncommitted: {:?}",
                first + 1,
                fresh.lines().nth(first),
                kept.lines().nth(first),
            );
        }
    }
}

/// Asserts that every file starts with a `$schema` line pointing at `schema`, which exists.
fn assert_schema_lines(files: &[PathBuf], schema: &str) {
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let first = text.lines().next().unwrap_or_default();
        let target = first.strip_prefix(SCHEMA_LINE).unwrap_or_else(|| {
            panic!(
                "{}: the first line must be `{SCHEMA_LINE}<path>`, found {first:?}",
                file.display()
            )
        });
        let resolved = file.parent().expect("a folder").join(target.trim());
        assert!(
            resolved.is_file(),
            "{}: $schema points at {target}, which does not exist",
            file.display()
        );
        assert_eq!(
            resolved.file_name().map(|n| n.to_string_lossy().into_owned()),
            Some(schema.to_string()),
            "{}: $schema must point at {schema}",
            file.display()
        );
    }
}

#[test]
fn every_profile_points_at_the_profile_schema() {
    let profiles = files("profiles", "yaml");
    assert!(profiles.len() >= 3, "expected the built-in profiles: {profiles:?}");
    assert_schema_lines(&profiles, "profile.schema.json");
}

#[test]
fn every_example_points_at_the_manifest_schema() {
    let examples = files("examples", "yaml");
    assert!(examples.len() >= 3, "expected the example manifests: {examples:?}");
    assert_schema_lines(&examples, "manifest.schema.json");
}

#[test]
fn one_schema_is_printed_by_name_and_a_closed_pipe_ends_it_quietly() {
    let manifest = sandboxer().args(["schema", "manifest"]).run();
    assert_eq!(manifest.code, 0, "{manifest}");
    let committed = std::fs::read_to_string(Path::new(ROOT).join("schemas/manifest.schema.json"))
        .expect("read the committed manifest schema");
    assert_eq!(manifest.stdout, committed, "one document, the committed one");
    let plan = sandboxer().args(["schema", "plan"]).run();
    assert!(plan.stdout.contains("\"refused\""), "{plan}");

    let unknown = sandboxer().args(["schema", "nope"]).run();
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("manifest, profile, plan"), "{unknown}");

    // `| head -c 10`, at its worst: the reader is gone before the first write.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let piped = std::process::Command::new(env!("CARGO_BIN_EXE_sandboxer"))
        .args(["schema", "manifest"])
        .stdout(writer)
        .output()
        .expect("run sandboxer");
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(piped.status.success(), "exit {:?}: {stderr}", piped.status.code());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Checks `value` against the committed schema `schemas/<name>.schema.json`.
fn check_against(name: &str, value: &serde_json::Value) {
    support::check_against_schema(name, value);
}

#[test]
fn what_the_json_commands_print_matches_their_published_schemas() {
    use support::Cli;
    let work = Workdir::new();
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: shapes\nsandboxes:\n  a:\n    profile: profile.local-workspace\n",
    );
    let parse = |text: &str| -> serde_json::Value { serde_json::from_str(text).expect("JSON") };

    check_against("validate-output", &parse(&dir.ok(&["validate", "--json"]).stdout));
    work.write(
        "broken.yaml",
        "version: 1\nproject: shapes\nsandboxes:\n  a:\n    profile: profile.nope\n",
    );
    let broken = dir.run(&["validate", "--json", "-f", "broken.yaml"]);
    assert_eq!(broken.code, 1, "{broken}");
    let broken = parse(&broken.stdout);
    assert_eq!(broken["valid"], false);
    check_against("validate-output", &broken);

    let applied = dir.ok(&["apply", "--auto-approve", "--json"]);
    assert!(!applied.stdout.trim().is_empty(), "{applied}");
    for line in applied.stdout.lines() {
        check_against("apply-events", &parse(line));
    }
    let again = dir.ok(&["apply", "--auto-approve", "--json"]);
    check_against("apply-events", &parse(again.stdout.trim()));
    // destroy --json with nothing to destroy: the one JSON event, no words.
    work.write("empty.yaml", "version: 1\nproject: empty\nsandboxes: {}\n");
    let nothing = dir.ok(&["destroy", "-f", "empty.yaml", "--auto-approve", "--json"]);
    let event = parse(nothing.stdout.trim());
    assert_eq!(event["event"], "no_changes", "{nothing}");
    check_against("apply-events", &event);

    let inspected = parse(&dir.ok(&["inspect", "sandbox.a", "--json"]).stdout);
    assert!(inspected["observed"]["marker"].is_object(), "{inspected}");
    check_against("inspect-output", &inspected);

    let listed = parse(&dir.ok(&["list", "--json"]).stdout);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    check_against("list-output", &listed);

    let vms = parse(&dir.ok(&["list", "--vms", "--json"]).stdout);
    check_against("vms-output", &vms);

    // No VM, image or hub: an empty array, still of the published shape.
    check_against("doctor-output", &parse(&dir.ok(&["doctor", "--json"]).stdout));
    // A finding of each kind, as doctor writes them.
    check_against(
        "doctor-output",
        &serde_json::json!([
            {"scope": "vm1", "check": "tcp", "ok": false, "detail": "refused", "hint": "start it"},
            {"scope": "vm1", "check": "banner", "ok": null, "detail": "not checked (tcp failed)", "hint": null}
        ]),
    );
}

/// Python's `jsonschema`, in draft-07 mode, over YAML read by PyYAML: a
/// validator and a YAML reader that share no code with sandboxer. Returns the
/// problems found in each file, by path.
fn python_draft7(schema: &Path, files: &[PathBuf]) -> std::collections::BTreeMap<String, Vec<String>> {
    const SCRIPT: &str = r#"
import json, sys
try:
    import jsonschema, yaml
except ImportError as e:
    sys.exit(f"{e}: install python3-jsonschema and python3-yaml (scripts/test does)")
request = json.load(sys.stdin)
with open(request["schema"]) as f:
    schema = json.load(f)
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
found = {}
for path in request["files"]:
    with open(path) as f:
        document = yaml.safe_load(f)
    found[path] = ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(document)]
print(json.dumps(found))
"#;
    let request = serde_json::json!({
        "schema": schema,
        "files": files,
    });
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3 (scripts/test installs it)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("python's stdin");
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("write to python");
    }
    let output = child.wait_with_output().expect("wait for python3");
    assert!(
        output.status.success(),
        "python3 jsonschema failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

/// The `jsonschema` crate held to draft 7, over YAML read by libyaml.
fn crate_draft7(schema: &Path, file: &Path) -> Vec<String> {
    let schema = support::read_json(schema);
    let validator = jsonschema::draft7::new(&schema).expect("a draft-07 schema");
    let text = std::fs::read_to_string(file).expect("read a YAML file");
    let document: serde_json::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Both validators' problems with `file`.
fn draft7_problems(schema: &Path, file: &Path) -> (Vec<String>, Vec<String>) {
    let python = python_draft7(schema, &[file.to_path_buf()])
        .into_values()
        .next()
        .unwrap_or_default();
    (python, crate_draft7(schema, file))
}

#[test]
fn every_example_and_profile_is_valid_for_independent_draft_07_validators() {
    let schemas = Path::new(ROOT).join("schemas");
    for (files, schema) in [
        (files("examples", "yaml"), "manifest.schema.json"),
        (files("profiles", "yaml"), "profile.schema.json"),
    ] {
        let text = std::fs::read_to_string(schemas.join(schema)).expect("read a schema");
        assert!(
            text.contains("\"$schema\": \"http://json-schema.org/draft-07/schema#\""),
            "{schema} is not draft-07"
        );
        assert!(
            text.contains("\"$id\": \"urn:sandboxer:schema:v1:"),
            "{schema} has no stable $id"
        );
        let found = python_draft7(&schemas.join(schema), &files);
        assert_eq!(found.len(), files.len(), "{found:?}");
        for (file, problems) in found {
            assert!(problems.is_empty(), "{file} against {schema} (python): {problems:?}");
        }
        for file in &files {
            let problems = crate_draft7(&schemas.join(schema), file);
            assert!(problems.is_empty(), "{} against {schema}: {problems:?}", file.display());
        }
    }
}

#[test]
fn the_editor_schema_refuses_a_misspelt_profile_and_an_unknown_input() {
    use support::Cli;
    let work = Workdir::new();
    let dir = work.path();
    let published = Path::new(ROOT).join("schemas/manifest.schema.json");
    let sandbox = |profile: &str, inputs: &str| {
        format!("version: 1\nproject: editors\nsandboxes:\n  app:\n    profile: {profile}\n    inputs:\n{inputs}")
    };
    // A profile of the project's own, next to the manifest.
    std::fs::create_dir_all(dir.join("profiles")).expect("make profiles/");
    let builtin =
        std::fs::read_to_string(Path::new(ROOT).join("profiles/local-workspace.yaml")).expect("read a profile");
    work.write(
        "profiles/team.yaml",
        builtin.replace("name: profile.local-workspace", "name: profile.team-workspace"),
    );
    let good = work.write(
        "good.yaml",
        sandbox(
            "profile.vm-haskell-build",
            "      vm: haskell-build\n      tunnel_port: 12222\n      repo: ./app\n",
        ),
    );
    let typo = work.write(
        "typo.yaml",
        sandbox("profile.vm-haskel-build", "      vm: haskell-build\n"),
    );
    let unknown_input = work.write(
        "unknown-input.yaml",
        sandbox(
            "profile.vm-haskell-build",
            "      vm: haskell-build\n      tunel_port: 12222\n",
        ),
    );
    let missing_vm = work.write(
        "missing-vm.yaml",
        sandbox("profile.vm-haskell-build", "      repo: ./app\n"),
    );
    let own = work.write("own.yaml", sandbox("profile.team-workspace", "      repo: ./app\n"));

    // The project's schema: the built-in profiles and profiles/, no other name.
    let project = dir.ok(&["schema", "manifest", "-f", "good.yaml"]);
    let project_schema = work.write("project.schema.json", &project.stdout);
    assert!(
        project.stdout.contains("\"const\": \"profile.team-workspace\""),
        "{project}"
    );

    for schema in [&published, &project_schema] {
        let (python, ours) = draft7_problems(schema, &good);
        assert!(python.is_empty() && ours.is_empty(), "{python:?} {ours:?}");
        for (file, at) in [
            (&unknown_input, "sandboxes/app/inputs"),
            (&missing_vm, "sandboxes/app/inputs"),
        ] {
            let (python, ours) = draft7_problems(schema, file);
            assert!(
                python.iter().any(|p| p.starts_with(at)),
                "{} against {}: {python:?}",
                file.display(),
                schema.display()
            );
            assert!(!ours.is_empty(), "{}", file.display());
        }
    }
    // A misspelt name: an error where the profiles are known...
    let (python, ours) = draft7_problems(&project_schema, &typo);
    assert!(
        python.iter().any(|p| p.starts_with("sandboxes/app/profile")),
        "{python:?}"
    );
    assert!(!ours.is_empty());
    let (python, ours) = draft7_problems(&project_schema, &own);
    assert!(python.is_empty() && ours.is_empty(), "{python:?} {ours:?}");
    // ...while the published schema, which cannot know a project's own
    // profiles, takes any `profile.<name>` (and `validate` names the typo).
    let (python, _) = draft7_problems(&published, &own);
    assert!(python.is_empty(), "{python:?}");
    let validated = dir.run(&["validate", "-f", "typo.yaml"]);
    assert_eq!(validated.code, 1, "{validated}");
    assert!(validated.stderr.contains("profile.vm-haskell-build"), "{validated}");

    // The schema of a project is the manifest's alone.
    let other = dir.run(&["schema", "plan", "-f", "good.yaml"]);
    assert_eq!(other.code, 1, "{other}");
}
