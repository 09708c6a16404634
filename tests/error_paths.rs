//! Error paths an operator meets: what is said when something on the side
//! fails (a note that cannot be saved), the hint a failed change carries,
//! output that stays clean when it goes to a file, and flags refused.

mod support;

use support::{Workdir, sandboxer};

/// A manifest with one local workspace whose profile's setup fails.
fn failing_setup(dir: &Workdir) -> std::path::PathBuf {
    dir.write(
        "profiles/failing.yaml",
        "name: profile.failing\ndriver: local-workspace\ninputs:\n  repo: {type: local_path}\nsetup: [\"echo about to fail; exit 3\"]\n",
    );
    dir.write("repo/README", "hello\n");
    dir.write(
        "sandboxes.yaml",
        "version: 1\nproject: paths\nsandboxes:\n  broken:\n    profile: profile.failing\n    inputs:\n      repo: ./repo\n  fine:\n    profile: profile.local-workspace\n    inputs:\n      repo: ./repo\n",
    )
}

#[test]
fn notes_that_cannot_be_saved_are_warned_about_and_a_failed_setup_says_what_to_do() {
    let dir = Workdir::new();
    let manifest = failing_setup(&dir);
    // The notes folder is a file: no note can be written.
    dir.write(".sandboxer/notes", "not a folder");

    let out = sandboxer().args(["apply", "--auto-approve", "-f"]).arg(&manifest).run();
    assert_eq!(out.code, 1, "{out}");
    // The failed change's error note and the other's sync note are both said to be lost.
    assert!(
        out.stderr.contains("warning: a note for sandbox.broken was not saved"),
        "{out}"
    );
    assert!(
        out.stderr.contains("warning: a note for sandbox.fine was not saved"),
        "{out}"
    );
    assert!(out.stderr.contains("1 created"), "the unrelated sandbox is made: {out}");
    assert!(
        out.stderr
            .contains("sandbox.broken: setup `echo about to fail; exit 3` failed (exit status: 3): about to fail"),
        "{out}"
    );
    assert!(
        out.stderr.contains("    hint: fix the profile's setup command"),
        "{out}"
    );
}

/// `apply > out.txt` from a terminal: stderr is the terminal (progress may be
/// coloured), stdout is a file and gets the plan without escape codes.
#[test]
fn apply_into_a_file_from_a_terminal_writes_no_escape_codes() {
    let dir = Workdir::new();
    dir.write("repo/README", "hello\n");
    let manifest = dir.write(
        "sandboxes.yaml",
        "version: 1\nproject: colours\nsandboxes:\n  a:\n    profile: profile.local-workspace\n    inputs:\n      repo: ./repo\n",
    );
    let out_file = dir.path().join("out.txt");
    let binary = env!("CARGO_BIN_EXE_sandboxer");
    // `script` gives the command a terminal; the redirection makes stdout a file.
    let line = format!(
        "'{binary}' apply --auto-approve -f '{}' > '{}'",
        manifest.display(),
        out_file.display()
    );
    let status = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run script");
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&out_file).expect("out.txt");
    assert!(text.contains("+ sandbox.a will be created"), "{text}");
    assert!(!text.contains('\x1b'), "escape codes in a file: {text:?}");
}

/// The hub token and a sensitive input's variable are sandboxer's to read:
/// a setup command that dumps its environment finds neither.
#[test]
fn a_setup_command_never_sees_the_hub_token_or_a_sensitive_variable() {
    let dir = Workdir::new();
    dir.write(
        "profiles/dumper.yaml",
        "name: profile.dumper\ndriver: local-workspace\ninputs:\n  api_key: {type: string, sensitive: true, env: SBX_TEST_API_KEY}\nsetup: [\"env > env.txt\"]\n",
    );
    let manifest = dir.write(
        "sandboxes.yaml",
        "version: 1\nproject: secrets\nsandboxes:\n  a:\n    profile: profile.dumper\n",
    );
    let out = sandboxer()
        .env("SANDBOXER_HUB_TOKEN", "tok-Zq81")
        .env("SBX_TEST_API_KEY", "key-Pw55")
        .env("SBX_TEST_HARMLESS", "visible-3")
        .args(["apply", "--auto-approve", "-f"])
        .arg(&manifest)
        .run();
    assert_eq!(out.code, 0, "{out}");
    let root = dir.path().join(".sandboxer/workspaces");
    let ws = std::fs::read_dir(&root)
        .expect("workspaces")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("sbx-"))
        .expect("a workspace")
        .path();
    let env = std::fs::read_to_string(ws.join("env.txt")).expect("env.txt");
    assert!(env.contains("SBX_TEST_HARMLESS=visible-3"), "the dump works: {env}");
    assert!(!env.contains("tok-Zq81"), "the hub token reached a setup command");
    assert!(!env.contains("key-Pw55"), "a sensitive input reached a setup command");
    assert!(!format!("{out}").contains("key-Pw55"), "{out}");
}

/// A sensitive value is kept as a keyed hash: two states never show the same
/// hash for the same secret, the key is private to its state, and a second plan
/// settles.
#[test]
fn sensitive_values_are_kept_as_a_hash_keyed_per_state() {
    use std::os::unix::fs::PermissionsExt;
    let profile = "name: profile.secretive\ndriver: local-workspace\ninputs:\n  api_key: {type: string, sensitive: true, env: SBX_TEST_API_KEY_2}\n";
    let manifest = "version: 1\nproject: keyed\nsandboxes:\n  a:\n    profile: profile.secretive\n    inputs:\n      api_key: hunter2\n";
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let dir = Workdir::new();
        dir.write("profiles/secretive.yaml", profile);
        dir.write("sandboxes.yaml", manifest);
        let apply = sandboxer()
            .current_dir(dir.path())
            .env("SBX_TEST_API_KEY_2", "hunter2")
            .args(["apply", "--auto-approve"])
            .run();
        assert_eq!(apply.code, 0, "{apply}");
        let state = std::fs::read_to_string(dir.path().join(".sandboxer/state.json")).expect("state");
        assert!(!state.contains("hunter2"), "{state}");
        let start = state
            .find("(sensitive, hmac-sha256:")
            .expect("a keyed hash in the state");
        hashes.push(state[start..start + 41].to_string());
        let key = dir.path().join(".sandboxer/sensitive.key");
        let mode = std::fs::metadata(&key).expect("the key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let plan = sandboxer()
            .current_dir(dir.path())
            .env("SBX_TEST_API_KEY_2", "hunter2")
            .args(["plan", "--detailed-exitcode"])
            .run();
        assert_eq!(plan.code, 0, "the keyed hash is stable: {plan}");
    }
    assert_ne!(hashes[0], hashes[1], "two states, two hashes of one secret");
}

/// `--max-connections` and `--parallel-builds` (and their variables) take a
/// positive number or `unlimited`; anything else is a usage error: exit 1,
/// the flag named with what to give instead, and no state folder made.
#[test]
fn a_limit_that_is_not_a_positive_number_is_refused_with_what_to_give() {
    let dir = Workdir::new();
    let manifest = dir.write(
        "sandboxes.yaml",
        "version: 1\nproject: limits\nsandboxes:\n  a:\n    profile: profile.local-workspace\n",
    );
    let hint = "give a positive whole number such as 8, or `unlimited` for no bound";
    let refused = [
        (
            vec!["plan", "--max-connections", "0"],
            None,
            "invalid value '0' for '--max-connections <N>': 0 would let nothing run",
        ),
        (
            vec!["apply", "--auto-approve", "--parallel-builds", "many"],
            None,
            "invalid value 'many' for '--parallel-builds <N>': `many` is not a number",
        ),
        (
            vec!["plan"],
            Some(("SANDBOXER_MAX_CONNECTIONS", "-3")),
            "invalid value '-3' for '--max-connections <N>'",
        ),
    ];
    for (args, env, error) in refused {
        let mut command = sandboxer().current_dir(dir.path()).args(&args).arg("-f").arg(&manifest);
        if let Some((name, value)) = env {
            command = command.env(name, value);
        }
        let out = command.run();
        assert_eq!(out.code, 1, "{args:?}: {out}");
        assert!(out.stderr.contains(error), "{args:?}: {out}");
        assert!(out.stderr.contains(hint), "{args:?}: {out}");
        assert!(
            !dir.path().join(".sandboxer").exists(),
            "{args:?} made the state folder"
        );
    }
    let out = sandboxer()
        .current_dir(dir.path())
        .args(["plan", "--max-connections", "unlimited", "--parallel-builds", "3", "-f"])
        .arg(&manifest)
        .run();
    assert_eq!(out.code, 0, "{out}");
}
