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
    let schema = support::read_json(Path::new(ROOT).join("schemas").join(format!("{name}.schema.json")));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: not a schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{value:#}");
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
