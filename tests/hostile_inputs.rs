//! Input files built to hurt: nesting 100,000 deep, alias bombs, bytes that are
//! not UTF-8, second documents, keys that are not text, numbers past 64 bits,
//! tags. Each is refused by the real binary with exit code 1, `file:line:col`
//! and a hint, and nothing is written. The limits stop the reader at the first
//! node past them: the refusal's column proves where it stopped.

mod support;

use support::{Output, Workdir, sandboxer};

const HEAD: &str = "version: 1\nproject: demo\n";

/// Writes `files` into a fresh folder and runs `validate -f sandboxes.yaml` there.
fn validate(files: &[(&str, &[u8])]) -> (Workdir, Output) {
    let work = Workdir::new();
    for (name, content) in files {
        work.write(name, content);
    }
    let before = work.entries();
    let out = sandboxer()
        .current_dir(work.path())
        .args(["validate", "-f", "sandboxes.yaml"])
        .run();
    assert_eq!(work.entries(), before, "validate wrote nothing\n{out}");
    (work, out)
}

/// The one diagnostic line (`file:line:col: error: ...`) and its hint.
fn refusal(out: &Output) -> (&str, &str) {
    assert_eq!(out.code, 1, "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(": error: "))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    let hint = lines
        .get(i + 1)
        .and_then(|l| l.strip_prefix("  hint: "))
        .unwrap_or_else(|| panic!("no hint after the diagnostic\n{out}"));
    (lines[i], hint)
}

#[test]
fn a_manifest_nested_100000_deep_is_refused_at_the_first_level_past_the_limit() {
    // Block nesting is counted by the reader: item 65 is the first past 64.
    // The root mapping is level 1, so the 64th `- ` opens level 65.
    let block = format!("{HEAD}sandboxes:\n{}x\n", "- ".repeat(100_000));
    let (_work, out) = validate(&[("sandboxes.yaml", block.as_bytes())]);
    let (line, hint) = refusal(&out);
    let column = 2 * 63 + 1;
    assert!(
        line.starts_with(&format!("sandboxes.yaml:4:{column}: error: ")),
        "{line}"
    );
    assert!(line.contains("nest deeper than 64 levels"), "{line}");
    assert!(hint.contains("unclosed"), "{hint}");

    // Flow brackets are counted by the YAML scanner while it looks ahead for a
    // key: it stops at the 256th open bracket, long before the end of the file.
    for open in ["[", "{a: "] {
        let flow = format!("{HEAD}sandboxes: {}\n", open.repeat(100_000));
        let (_work, out) = validate(&[("sandboxes.yaml", flow.as_bytes())]);
        let (line, _) = refusal(&out);
        let column: usize = line
            .strip_prefix("sandboxes.yaml:3:")
            .and_then(|rest| rest.split(':').next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(column <= "sandboxes: ".len() + 256 * open.len() + 1, "{line}");
        assert!(line.contains("nest deeper than 64 levels"), "{line}");
    }
}

#[test]
fn a_profile_nested_50000_deep_is_refused_with_its_place() {
    let manifest = format!("{HEAD}sandboxes: {{}}\n");
    let profile = format!(
        "name: profile.deep\ndriver: local-workspace\nsetup:\n{}x\n",
        "- ".repeat(50_000)
    );
    let (_work, out) = validate(&[
        ("sandboxes.yaml", manifest.as_bytes()),
        ("profiles/deep.yaml", profile.as_bytes()),
    ]);
    let (line, _) = refusal(&out);
    assert!(line.contains("profiles/deep.yaml:4:"), "{line}");
    assert!(line.contains("nest deeper than 64 levels"), "{line}");
}

#[test]
fn an_alias_bomb_is_refused_by_the_count_of_values() {
    let mut text = format!("{HEAD}x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
    for i in 1..10 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        text.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    let (_work, out) = validate(&[("sandboxes.yaml", text.as_bytes())]);
    let (line, hint) = refusal(&out);
    assert!(line.contains("more than 1000000 values"), "{line}");
    assert!(hint.contains("aliases"), "{hint}");
}

#[test]
fn content_refusals_say_where_and_what_is_accepted() {
    let app = "sandboxes:\n  app:\n    profile: profile.local-workspace\n    inputs:\n";
    let cases: Vec<(Vec<u8>, &str, &str, &str)> = vec![
        (
            [format!("{HEAD}{app}      repo: \"a").as_bytes(), b"\xff", b"b\"\n"].concat(),
            "sandboxes.yaml:7:15:",
            "not UTF-8",
            "save the file as UTF-8",
        ),
        (
            format!("{HEAD}sandboxes: {{}}\n---\nversion: 2\n").into_bytes(),
            "sandboxes.yaml:4:1:",
            "a second YAML document",
            "remove this `---` line",
        ),
        (
            format!("{HEAD}{app}      [a]: 3\n").into_bytes(),
            "sandboxes.yaml:7:7:",
            "a key must be text",
            "write the key as plain text",
        ),
        (
            format!("{HEAD}{app}      .nan: 3\n").into_bytes(),
            "sandboxes.yaml:7:7:",
            "a key must be text or a whole number",
            "quote the key",
        ),
        (
            format!("{HEAD}{app}      tunnel_port: 1.5\n").into_bytes(),
            "sandboxes.yaml:7:7: error: sandboxes.app.inputs.tunnel_port:",
            "none of what is accepted here",
            "whole number",
        ),
        (
            format!("{HEAD}{app}      tunnel_port: 99999999999999999999\n").into_bytes(),
            "sandboxes.yaml:7:20:",
            "number too large",
            "between -9223372036854775808 and 18446744073709551615",
        ),
        (
            format!("{HEAD}{app}      repo: !custom .\n").into_bytes(),
            "sandboxes.yaml:7:21:",
            "the YAML tag `!custom` is not supported",
            "remove the tag",
        ),
        (
            format!("{HEAD}{app}      repo: .inf\n").into_bytes(),
            "sandboxes.yaml:7:13:",
            "not a finite number",
            "quote it",
        ),
        (
            b"version: 1\nproject: [demo]\n".to_vec(),
            "sandboxes.yaml:2:1: error: project:",
            "expected text, found a list",
            "accepted here",
        ),
    ];
    for (text, at, message, hint_part) in cases {
        let (_work, out) = validate(&[("sandboxes.yaml", &text)]);
        let (line, hint) = refusal(&out);
        assert!(line.starts_with(at), "expected {at}\n{out}");
        assert!(line.contains(message), "expected {message:?}\n{out}");
        assert!(hint.contains(hint_part), "expected a hint with {hint_part:?}\n{out}");
    }
}

#[test]
fn a_whole_number_written_as_a_float_is_that_number_as_the_schema_says() {
    let text = "version: 1.0\nproject: demo\nsandboxes:\n  app:\n    profile: profile.local-workspace\n    inputs:\n      repo: .\n";
    let (_work, out) = validate(&[("sandboxes.yaml", text.as_bytes())]);
    assert_eq!(out.code, 0, "{out}");
}
