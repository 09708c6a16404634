//! `sandboxer validate` run as a real binary: every class of bad input is refused
//! with exit code 1, its file, line, column, key path and hint on stderr, and
//! nothing is written next to the manifest.
//!
//! Fixtures live in `tests/fixtures/validate/`, one small manifest per error class.
//! Each test copies its fixture into a fresh folder and runs `validate -f <name>`
//! there, so the file names in the expected output are the bare fixture names.

mod support;

use support::{Output, Workdir, sandboxer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/validate");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

/// One diagnostic that stderr must hold.
struct Expected {
    /// `LINE:COLUMN` in the fixture.
    at: &'static str,
    /// The key path; empty for a problem with the whole file (a syntax error).
    key_path: &'static str,
    /// A part of the message.
    message: &'static str,
    /// The whole hint, printed on the line after the diagnostic.
    hint: &'static str,
}

/// Copies fixture `name` into a fresh folder and runs `sandboxer validate -f <name> <extra>` there.
fn validate_fixture(name: &str, extra: &[&str], env: &[(&str, &str)]) -> (Workdir, Output) {
    let work = Workdir::new();
    let text =
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("read fixture {name}: {e}"));
    work.write(name, text);
    let mut command = sandboxer()
        .current_dir(work.path())
        .args(["validate", "-f", name])
        .args(extra);
    for (key, value) in env {
        command = command.env(key, value);
    }
    let output = command.run();
    (work, output)
}

/// Lines of stderr that are diagnostics (not hints, not the summary).
fn error_lines(output: &Output) -> Vec<&str> {
    output.stderr.lines().filter(|l| l.contains(": error: ")).collect()
}

/// Asserts that validating fixture `name` (with `env`) fails with exactly the `expected`
/// diagnostics, each with its hint, the summary line, and nothing written.
fn assert_refused_with_env(name: &str, env: &[(&str, &str)], expected: &[Expected]) {
    let (work, output) = validate_fixture(name, &[], env);
    assert_eq!(output.code, 1, "{name}: expected exit code 1\n{output}");
    assert_eq!(
        output.stdout, "",
        "{name}: validate prints problems on stderr only\n{output}"
    );
    let errors = error_lines(&output);
    assert_eq!(
        errors.len(),
        expected.len(),
        "{name}: expected {} diagnostic(s)\n{output}",
        expected.len()
    );
    let lines: Vec<&str> = output.stderr.lines().collect();
    for e in expected {
        let prefix = if e.key_path.is_empty() {
            format!("{name}:{}: error: ", e.at)
        } else {
            format!("{name}:{}: error: {}: ", e.at, e.key_path)
        };
        let i = lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{name}: no diagnostic starting with {prefix:?}\n{output}"));
        assert!(
            lines[i][prefix.len()..].contains(e.message),
            "{name}: the diagnostic at {} should say {:?}\n{output}",
            e.at,
            e.message
        );
        assert_eq!(
            lines.get(i + 1).copied(),
            Some(format!("  hint: {}", e.hint).as_str()),
            "{name}: wrong hint for the diagnostic at {}\n{output}",
            e.at
        );
    }
    let n = expected.len();
    let summary = format!(
        "{n} problem{} found; nothing was changed.",
        if n == 1 { "" } else { "s" }
    );
    assert_eq!(
        lines.last().copied(),
        Some(summary.as_str()),
        "{name}: summary line\n{output}"
    );
    assert_eq!(
        work.entries(),
        [name],
        "{name}: validate must write nothing (no .sandboxer folder) next to the manifest"
    );
}

/// [`assert_refused_with_env`] without environment variables.
fn assert_refused(name: &str, expected: &[Expected]) {
    assert_refused_with_env(name, &[], expected);
}

/// The checker above must be able to fail: here it is told a wrong line.
#[test]
#[should_panic(expected = "cycle.yaml: no diagnostic starting with \"cycle.yaml:8:5: error: ")]
fn the_checker_fails_on_a_wrong_line_number() {
    assert_refused(
        "cycle.yaml",
        &[Expected {
            at: "8:5",
            key_path: "sandboxes.a.depends_on",
            message: "dependency cycle",
            hint: CYCLE_HINT,
        }],
    );
}

#[test]
fn malformed_yaml_is_refused_with_the_line_of_the_syntax_error() {
    assert_refused(
        "malformed-yaml.yaml",
        &[Expected {
            at: "7:8",
            key_path: "sandboxes",
            message: "did not find expected key",
            hint: "check the indentation, and quote a value that holds `: ` or starts with `[`, `{`, `*`, `&` or `!`",
        }],
    );
}

#[test]
fn unknown_key_at_the_root_suggests_the_known_one() {
    assert_refused(
        "unknown-key-root.yaml",
        &[Expected {
            at: "4:1",
            key_path: "sandboxs",
            message: "unknown key `sandboxs`",
            hint: "did you mean `sandboxes`?",
        }],
    );
}

#[test]
fn unknown_key_in_a_sandbox_suggests_the_known_one() {
    assert_refused(
        "unknown-key-sandbox.yaml",
        &[Expected {
            at: "7:5",
            key_path: "sandboxes.app.hots",
            message: "unknown key `hots`",
            hint: "did you mean `host`?",
        }],
    );
}

#[test]
fn unknown_profile_suggests_the_closest_profile() {
    assert_refused(
        "unknown-profile.yaml",
        &[Expected {
            at: "6:5",
            key_path: "sandboxes.app.profile",
            message: "unknown profile `profile.vm-haskel-build`",
            hint: "did you mean `profile.vm-haskell-build`?",
        }],
    );
}

#[test]
fn missing_required_input_names_its_alias() {
    assert_refused(
        "missing-input.yaml",
        &[Expected {
            at: "7:5",
            key_path: "sandboxes.app.inputs",
            message: "required input `vm` is missing",
            hint: "add `vm: <ssh_alias>` (or `ssh_target`) under inputs",
        }],
    );
}

#[test]
fn port_out_of_range_is_refused() {
    assert_refused(
        "port-out-of-range.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.tunnel_port",
            message: "`70000`: port out of range",
            hint: "a port is a number from 1 to 65535",
        }],
    );
}

#[test]
fn port_that_is_not_a_number_is_refused() {
    assert_refused(
        "port-not-a-number.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.tunnel_port",
            message: "`twelve`: expected a port number",
            hint: "a port is a number from 1 to 65535",
        }],
    );
}

#[test]
fn enum_value_not_allowed_suggests_the_closest_value() {
    assert_refused(
        "enum-value.yaml",
        &[Expected {
            at: "8:7",
            key_path: "images.haskell-build.inputs.mode",
            message: "`biuld`: not an allowed value",
            hint: "did you mean `build`?",
        }],
    );
}

#[test]
fn two_images_cannot_build_one_vm() {
    assert_refused(
        "duplicate-vm-name.yaml",
        &[Expected {
            at: "14:7",
            key_path: "images.second.inputs.vm_name",
            message: "vm_name `haskell-build` is already built by image.first",
            hint: "each VM is built by one image entry; give this one another vm_name",
        }],
    );
}

#[test]
fn depends_on_an_undeclared_resource_suggests_the_declared_one() {
    assert_refused(
        "unknown-dependency.yaml",
        &[Expected {
            at: "13:18",
            key_path: "sandboxes.app.depends_on[0]",
            message: "depends on `image.haskell-buld`, which is not declared",
            hint: "did you mean `image.haskell-build`?",
        }],
    );
}

const CYCLE_HINT: &str =
    "remove one of these dependencies (a sandbox depends on an image when its `vm` is the image's `vm_name`)";

#[test]
fn dependency_cycle_is_named_resource_by_resource() {
    assert_refused(
        "cycle.yaml",
        &[Expected {
            at: "7:5",
            key_path: "sandboxes.a.depends_on",
            message: "dependency cycle: sandbox.a -> sandbox.b -> sandbox.a",
            hint: CYCLE_HINT,
        }],
    );
}

#[test]
fn dependency_cycle_is_found_past_a_dead_end() {
    let (work, output) = validate_fixture("cycle-not-found-by-greedy-walk.yaml", &[], &[]);
    assert_eq!(output.code, 1, "a dependency cycle must be refused\n{output}");
    assert!(output.stderr.contains("dependency cycle: sandbox.a -> "), "{output}");
    assert_eq!(work.entries(), ["cycle-not-found-by-greedy-walk.yaml"]);
}

const SSH_ALIAS_HINT: &str = "an SSH alias or host name: letters, digits, `.`, `_`, `-`; not starting with `-`";

#[test]
fn vm_that_ssh_would_read_as_an_option_is_refused() {
    assert_refused(
        "unsafe-vm-option.yaml",
        &[Expected {
            at: "8:7",
            key_path: "sandboxes.app.inputs.vm",
            message: "`-oProxyCommand=x`: must not start with `-` (ssh would read it as an option)",
            hint: SSH_ALIAS_HINT,
        }],
    );
}

#[test]
fn vm_with_a_shell_metacharacter_is_refused() {
    assert_refused(
        "unsafe-vm-shell.yaml",
        &[Expected {
            at: "8:7",
            key_path: "sandboxes.app.inputs.vm",
            message: "`a;b`: character ';' is not allowed in a host name",
            hint: SSH_ALIAS_HINT,
        }],
    );
}

#[test]
fn input_with_a_newline_is_refused_and_shown_escaped() {
    assert_refused(
        "unsafe-newline.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.repo",
            message: r"`./repo\nrm -rf /`: contains a newline",
            hint: "inputs are single-line text",
        }],
    );
}

#[test]
fn relative_workspace_dir_is_refused() {
    assert_refused(
        "unsafe-workspace-dir-relative.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.workspace_dir",
            message: "`relative`: must be an absolute path",
            hint: "write an absolute path such as /build/my-workspace",
        }],
    );
}

#[test]
fn workspace_dir_must_be_directly_under_the_root() {
    assert_refused(
        "workspace-dir-not-under-root.yaml",
        &[
            Expected {
                at: "9:7",
                key_path: "sandboxes.app.inputs.workspace_dir",
                message: "`/srv/elsewhere/ws` is not directly under the workspace root `/build`",
                hint: "name a folder in /build, e.g. /build/my-workspace",
            },
            Expected {
                at: "14:7",
                key_path: "sandboxes.same-as-root.inputs.workspace_dir",
                message: "`/build/` is not directly under the workspace root `/build`",
                hint: "name a folder in /build, e.g. /build/my-workspace",
            },
        ],
    );
}

#[test]
fn workspace_dir_climbing_out_with_dotdot_is_refused() {
    assert_refused(
        "unsafe-workspace-dir-dotdot.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.workspace_dir",
            message: "`/build/../etc`: must not contain `..`",
            hint: "write an absolute path such as /build/my-workspace",
        }],
    );
}

#[test]
fn host_that_ssh_would_read_as_an_option_is_refused() {
    assert_refused(
        "unsafe-host-option.yaml",
        &[Expected {
            at: "7:5",
            key_path: "sandboxes.app.host",
            message: "`-x`: must not start with `-` (ssh would read it as an option)",
            hint: "`localhost`, or the SSH alias of a jump host",
        }],
    );
}

#[test]
fn unknown_input_name_suggests_the_closest_input() {
    assert_refused(
        "unknown-input.yaml",
        &[Expected {
            at: "9:7",
            key_path: "sandboxes.app.inputs.tunel_port",
            message: "unknown input `tunel_port` for profile.vm-haskell-build",
            hint: "did you mean `tunnel_port`?",
        }],
    );
}

#[test]
fn three_different_errors_are_all_reported_in_one_run() {
    assert_refused(
        "three-errors.yaml",
        &[
            Expected {
                at: "9:7",
                key_path: "sandboxes.app.inputs.tunnel_port",
                message: "`70000`: port out of range",
                hint: "a port is a number from 1 to 65535",
            },
            Expected {
                at: "12:18",
                key_path: "sandboxes.lib.depends_on[0]",
                message: "depends on `sandbox.ap`, which is not declared",
                hint: "did you mean `sandbox.app`?",
            },
            Expected {
                at: "14:5",
                key_path: "sandboxes.tool.profile",
                message: "unknown profile `profile.no-such-profile`",
                hint: "known profiles: profile.local-workspace, profile.vm-haskell-build, profile.vm-packer-build",
            },
        ],
    );
    // The same count, said independently of the checker above.
    let (_, output) = validate_fixture("three-errors.yaml", &[], &[]);
    assert_eq!(error_lines(&output).len(), 3, "{output}");
}

#[test]
fn bad_env_fallback_value_names_the_variable() {
    assert_refused_with_env(
        "env-fallback.yaml",
        &[("SANDBOXER_VM_TUNNEL_PORT", "99999")],
        &[Expected {
            at: "7:5",
            key_path: "sandboxes.app.inputs.tunnel_port",
            message: "`99999` (from SANDBOXER_VM_TUNNEL_PORT): port out of range",
            hint: "a port is a number from 1 to 65535",
        }],
    );
}

#[test]
fn good_env_fallback_value_validates() {
    let (work, output) = validate_fixture("env-fallback.yaml", &[], &[("SANDBOXER_VM_TUNNEL_PORT", "12223")]);
    assert_eq!(output.code, 0, "{output}");
    assert_eq!(
        output.stdout, "env-fallback.yaml: valid (project env, 0 images, 1 sandbox)\n",
        "{output}"
    );
    assert_eq!(work.entries(), ["env-fallback.yaml"]);
}

#[test]
fn json_output_lists_every_diagnostic() {
    let (work, output) = validate_fixture("three-errors.yaml", &["--json"], &[]);
    assert_eq!(output.code, 1, "{output}");
    let value: serde_json::Value =
        serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{output}"));
    assert_eq!(value["valid"], serde_json::json!(false), "{output}");
    let diagnostics = value["diagnostics"].as_array().expect("a diagnostics list");
    assert_eq!(diagnostics.len(), 3, "{output}");
    assert_eq!(
        diagnostics[0],
        serde_json::json!({
            "file": "three-errors.yaml",
            "line": 9,
            "column": 7,
            "key_path": "sandboxes.app.inputs.tunnel_port",
            "message": "`70000`: port out of range",
            "hint": "a port is a number from 1 to 65535",
        })
    );
    let lines: Vec<_> = diagnostics.iter().map(|d| d["line"].as_u64()).collect();
    assert_eq!(lines, [Some(9), Some(12), Some(14)], "{output}");
    let key_paths: Vec<_> = diagnostics.iter().map(|d| d["key_path"].as_str()).collect();
    assert_eq!(
        key_paths,
        [
            Some("sandboxes.app.inputs.tunnel_port"),
            Some("sandboxes.lib.depends_on[0]"),
            Some("sandboxes.tool.profile")
        ],
        "{output}"
    );
    assert_eq!(work.entries(), ["three-errors.yaml"]);

    let (_, output) = validate_fixture("valid.yaml", &["--json"], &[]);
    assert_eq!(output.code, 0, "{output}");
    let value: serde_json::Value =
        serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{output}"));
    assert_eq!(value["valid"], serde_json::json!(true), "{output}");
    assert_eq!(value["diagnostics"], serde_json::json!([]), "{output}");
}

#[test]
fn every_example_validates() {
    let mut examples: Vec<_> = std::fs::read_dir(EXAMPLES)
        .expect("list examples/")
        .map(|e| e.expect("read an entry of examples/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 3, "expected the examples in {EXAMPLES}: {examples:?}");
    for example in examples {
        let output = sandboxer().arg("validate").arg("-f").arg(&example).run();
        assert_eq!(output.code, 0, "{}\n{output}", example.display());
        assert!(
            output
                .stdout
                .starts_with(&format!("{}: valid (project ", example.display())),
            "{}\n{output}",
            example.display()
        );
        assert_eq!(output.stderr, "", "{}\n{output}", example.display());
    }
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let work = Workdir::new();
    let valid = work.write("m.yaml", include_str!("fixtures/validate/valid.yaml"));
    let loud = sandboxer().args(["validate", "-f"]).arg(&valid).run();
    assert_eq!(loud.code, 0, "{loud}");
    assert!(loud.stdout.contains("valid (project fine"), "{loud}");

    let before = sandboxer().args(["-q", "validate", "-f"]).arg(&valid).run();
    assert_eq!(
        (before.code, before.stdout.as_str()),
        (0, ""),
        "-q before the subcommand\n{before}"
    );
    let after = sandboxer().args(["validate", "-f"]).arg(&valid).arg("-q").run();
    assert_eq!(
        (after.code, after.stdout.as_str()),
        (0, ""),
        "-q after the subcommand\n{after}"
    );

    // --quiet never hides the problems themselves.
    let bad = work.write("bad.yaml", include_str!("fixtures/validate/cycle.yaml"));
    let quiet_bad = sandboxer().args(["validate", "--quiet", "-f"]).arg(&bad).run();
    assert_eq!(quiet_bad.code, 1, "{quiet_bad}");
    assert!(quiet_bad.stderr.contains("dependency cycle"), "{quiet_bad}");
}

#[test]
fn default_manifest_is_sandboxes_yaml_in_the_current_folder() {
    let work = Workdir::new();
    work.write("sandboxes.yaml", include_str!("fixtures/validate/valid.yaml"));
    let output = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(output.code, 0, "{output}");
    assert_eq!(
        output.stdout, "sandboxes.yaml: valid (project fine, 0 images, 1 sandbox)\n",
        "{output}"
    );
    assert_eq!(work.entries(), ["sandboxes.yaml"]);
}

#[test]
fn without_a_manifest_the_hint_mentions_dash_f() {
    let work = Workdir::new();
    let output = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(output.code, 1, "{output}");
    assert!(
        output
            .stderr
            .starts_with("sandboxes.yaml: error: cannot read manifest: "),
        "{output}"
    );
    let hint = output
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("  hint: "))
        .unwrap_or_else(|| panic!("no hint\n{output}"));
    assert!(hint.contains("-f FILE"), "{output}");
    assert!(
        work.entries().is_empty(),
        "nothing may be written: {:?}",
        work.entries()
    );
}

/// A manifest that is not a regular file (a FIFO would block for ever) or is
/// larger than 16 MiB is refused before it is read whole.
#[test]
fn a_manifest_that_is_a_fifo_or_too_large_is_refused_before_it_is_read() {
    let work = Workdir::new();
    let fifo = work.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let out = sandboxer()
        .current_dir(work.path())
        .args(["validate", "-f", "fifo.yaml"])
        .run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("fifo.yaml: error: cannot read manifest: not a regular file"),
        "{out}"
    );

    let big = work.path().join("big.yaml");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(16 * 1024 * 1024 + 1).expect("grow");
    let out = sandboxer()
        .current_dir(work.path())
        .args(["validate", "-f", "big.yaml"])
        .run();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("more than the limit of 16777216"), "{out}");
}

/// `create --input k=...` given twice is an error, not "the last one wins".
#[test]
fn a_repeated_create_input_is_an_error() {
    let work = Workdir::new();
    let out = sandboxer()
        .current_dir(work.path())
        .args([
            "create",
            "--profile",
            "profile.local-workspace",
            "--input",
            "repo=/tmp/a",
            "--input",
            "repo=/tmp/b",
            "--auto-approve",
        ])
        .run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("--input repo: `repo` is given more than once"),
        "{out}"
    );
    assert!(work.entries().is_empty(), "nothing was written: {:?}", work.entries());
}

/// `1` and `"1"` (or `true` and `"true"`) are two keys to YAML and one name to
/// sandboxer: a manifest that gives both is refused at the second, with line:col.
#[test]
fn keys_that_differ_only_in_type_are_duplicates_with_line_and_column() {
    let work = Workdir::new();
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: p\nsandboxes:\n  1:\n    profile: profile.local-workspace\n  \"1\":\n    profile: profile.local-workspace\n",
    );
    let out = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("sandboxes.yaml:6:3: error: sandboxes.1: this key is given twice (first at line 4, column 3)"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: keep one of them"), "{out}");
}

/// Orphan workspaces under a root are removed, so `/` or a system folder as the
/// root is refused unless the manifest says it is meant.
#[test]
fn a_system_folder_as_workspace_root_needs_an_explicit_acknowledgement() {
    let work = Workdir::new();
    let entry = |extra: &str| {
        format!(
            "version: 1\nproject: p\nsandboxes:\n  a:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm1\n      tunnel_port: 12222\n      workspace_root: /etc\n{extra}"
        )
    };
    work.write("sandboxes.yaml", entry(""));
    let out = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("sandboxes.a.inputs.workspace_root: `/etc` is / or a system folder"),
        "{out}"
    );
    assert!(out.stderr.contains("add `system_root_ok: true`"), "{out}");
    work.write("sandboxes.yaml", entry("      system_root_ok: true\n"));
    let out = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(out.code, 0, "{out}");
}

/// A profile naming a driver this sandboxer does not have is refused at the
/// entry that uses it, with the drivers it has.
#[test]
fn a_profile_with_an_unknown_driver_is_refused_with_the_known_ones() {
    let work = Workdir::new();
    work.write("profiles/box.yaml", "name: profile.box\ndriver: container-workspace\n");
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: p\nsandboxes:\n  a:\n    profile: profile.box\n",
    );
    let out = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(
            "sandboxes.yaml:5:5: error: sandboxes.a.profile: profile.box uses driver `container-workspace`, which this sandboxer does not have"
        ),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: drivers: local-workspace, ssh-workspace, packer"),
        "{out}"
    );
}

/// sandboxer's own folders on a VM (`.sandboxer-cache`, the repo caches) are
/// never a workspace: a `workspace_dir` there is refused with its place.
#[test]
fn a_workspace_dir_in_sandboxers_own_folders_is_refused() {
    let work = Workdir::new();
    work.write(
        "sandboxes.yaml",
        "version: 1\nproject: p\nsandboxes:\n  app:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm1\n      tunnel_port: 12222\n      workspace_root: /build\n      workspace_dir: /build/.sandboxer-cache\n",
    );
    let out = sandboxer().current_dir(work.path()).arg("validate").run();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(
            "sandboxes.yaml:10:7: error: sandboxes.app.inputs.workspace_dir: `/build/.sandboxer-cache` is inside sandboxer's own folders"
        ),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: name a folder that does not start with `.sandboxer-`"),
        "{out}"
    );
}
