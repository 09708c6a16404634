//! Shell completion and manual pages: the scripts and pages committed in
//! `docs/completions/` and `docs/man/` are what `sandboxer completions` and
//! `sandboxer man` generate, the bash script is valid bash that completes
//! addresses and ids, and the hidden `sandboxer __complete addresses` lists
//! them from the manifest and its state, writing nothing.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::manifests::{local, manifest};
use support::{Cli, Output, Workdir, sandboxer};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The names of the files directly in `ROOT/dir`, sorted.
fn committed(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap_or_else(|e| panic!("list {dir}/: {e}"))
        .map(|e| {
            e.expect("read a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Asserts that `generated` (a folder) holds the same files, byte for byte,
/// as `ROOT/dir`; `regenerate` says how to make them equal again.
fn assert_same_files(generated: &Workdir, dir: &str, regenerate: &str) {
    let fresh = generated.entries();
    assert_eq!(
        committed(dir),
        fresh,
        "{dir}/ holds other files than sandboxer generates: {regenerate}"
    );
    for name in &fresh {
        let made = support::read(generated.path().join(name));
        let kept = support::read(Path::new(ROOT).join(dir).join(name));
        if made != kept {
            let first = made
                .lines()
                .zip(kept.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| made.lines().count().min(kept.lines().count()));
            panic!(
                "{dir}/{name} differs from what the code generates (first at line {}): {regenerate}\n\
                 generated: {:?}\ncommitted: {:?}",
                first + 1,
                made.lines().nth(first),
                kept.lines().nth(first),
            );
        }
    }
}

#[test]
fn committed_man_pages_equal_the_generated_ones() {
    let out = Workdir::new();
    let run = sandboxer().args(["man", "--out"]).arg(out.path()).run();
    assert_eq!(run.code, 0, "{run}");
    let pages = out.entries();
    for page in [
        "sandboxer.1",
        "sandboxer-plan.1",
        "sandboxer-state.1",
        "sandboxer-state-rm.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "no {page} among {pages:?}\n{run}");
    }
    assert!(
        !pages.iter().any(|p| p.contains("help") || p.contains("complete.")),
        "{pages:?}"
    );
    assert_same_files(
        &out,
        "docs/man",
        "run `cargo run -- man --out docs/man` and commit the result",
    );
}

#[test]
fn committed_completion_scripts_equal_the_generated_ones() {
    let out = Workdir::new();
    let run = sandboxer().args(["completions", "--out"]).arg(out.path()).run();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        out.entries(),
        ["_sandboxer", "sandboxer.bash", "sandboxer.fish"],
        "{run}"
    );
    assert_same_files(
        &out,
        "docs/completions",
        "run `cargo run -- completions --out docs/completions` and commit the result",
    );
}

/// A command line of `program` that sees only PATH (the folder of the
/// sandboxer binary first) and HOME.
fn shell(program: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_sandboxer"))
        .parent()
        .expect("the binary's folder");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new(program);
    command.env_clear().env("PATH", path).env("HOME", "/nonexistent");
    command
}

/// Runs `command` to completion.
fn output_of(mut command: Command) -> Output {
    let output = command.output().expect("start the shell");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn completions_bash_prints_the_committed_script_which_bash_accepts() {
    let run = sandboxer().args(["completions", "bash"]).run();
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.is_empty(), "{run}");
    assert_eq!(
        run.stdout,
        support::read(Path::new(ROOT).join("docs/completions/sandboxer.bash")),
        "completions bash prints docs/completions/sandboxer.bash"
    );
    let work = Workdir::new();
    let script = work.write("sandboxer.bash", &run.stdout);
    let mut check = shell("bash");
    check.arg("-n").arg(&script);
    let checked = output_of(check);
    assert_eq!(checked.code, 0, "bash -n refuses the script\n{checked}");
}

#[test]
fn the_zsh_and_fish_scripts_parse_where_those_shells_are_installed() {
    let scripts = Path::new(ROOT).join("docs/completions");
    for (program, check, file) in [("zsh", "-n", "_sandboxer"), ("fish", "--no-execute", "sandboxer.fish")] {
        let mut probe = shell(program);
        probe.arg("-c").arg("true");
        if probe.output().is_err() {
            eprintln!("{program} is not installed: its script is not checked");
            continue;
        }
        let mut command = shell(program);
        command.arg(check).arg(scripts.join(file));
        let checked = output_of(command);
        assert_eq!(checked.code, 0, "{program} {check} refuses {file}\n{checked}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let run = sandboxer().args(["completions", "nope"]).run();
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.stderr.contains("invalid value 'nope'"), "{run}");
    assert!(run.stderr.contains("bash, zsh, fish"), "{run}");
}

#[test]
fn global_options_come_under_their_own_heading_after_the_subcommands_own() {
    let help = sandboxer().args(["plan", "--help"]).run();
    assert_eq!(help.code, 0, "{help}");
    let own = help.stdout.find("--target <ADDR>").expect("plan's own flag");
    let heading = help.stdout.find("Global options:").expect("the heading");
    let global = help.stdout.find("--state-dir <DIR>").expect("a global flag");
    assert!(own < heading && heading < global, "{help}");
}

/// The lines `__complete addresses` prints in `dir`, with `args` after it.
fn listing(dir: &Path, args: &[&str]) -> Vec<String> {
    let run = dir.cmd().args(["__complete", "addresses"]).args(args).run();
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.is_empty(), "{run}");
    run.stdout.lines().map(str::to_string).collect()
}

/// (address, id) of every record, by `list --json`.
fn records(dir: &Path) -> Vec<(String, String)> {
    support::records::listed(&dir.ok(&["list", "--json"]))
        .into_iter()
        .map(|r| (r.address, r.id))
        .collect()
}

#[test]
fn the_address_listing_gives_the_manifests_addresses_then_the_states_records_and_writes_nothing() {
    let work = Workdir::new();
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        manifest("listing", &[local("web", ""), local("api", "")]),
    );

    let before = support::snapshot::take(dir);
    assert_eq!(listing(dir, &[]), ["sandbox.api", "sandbox.web"]);
    assert_eq!(listing(dir, &["--only", "ids"]), Vec::<String>::new());
    assert_eq!(
        support::snapshot::take(dir).changes_since(&before),
        Vec::<String>::new(),
        "listing wrote something"
    );

    dir.ok(&["apply", "--auto-approve"]);
    let recorded = records(dir);
    let ids: Vec<String> = recorded.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();

    // A record no longer declared is still offered (for `state rm`, `destroy --target`).
    work.write("sandboxes.yaml", manifest("listing", &[local("web", "")]));
    let before = support::snapshot::take(dir);
    let mut expected = vec!["sandbox.api".to_string(), "sandbox.web".to_string()];
    expected.extend(sorted_ids.iter().cloned());
    assert_eq!(listing(dir, &[]), expected);
    assert_eq!(listing(dir, &["--only", "addresses"]), ["sandbox.api", "sandbox.web"]);
    assert_eq!(listing(dir, &["--only", "ids"]), sorted_ids);
    assert_eq!(
        support::snapshot::take(dir).changes_since(&before),
        Vec::<String>::new(),
        "listing wrote something"
    );

    // From elsewhere, with -f.
    let elsewhere = Workdir::new();
    let file = dir.join("sandboxes.yaml");
    let file = file.to_str().expect("a UTF-8 path");
    assert_eq!(listing(elsewhere.path(), &["-f", file]), expected);
    assert_eq!(listing(elsewhere.path(), &[]), Vec::<String>::new());
}

#[test]
fn the_address_listing_prints_nothing_and_succeeds_without_a_readable_manifest() {
    let empty = Workdir::new();
    assert_eq!(listing(empty.path(), &[]), Vec::<String>::new());
    assert_eq!(listing(empty.path(), &["-f", "missing.yaml"]), Vec::<String>::new());
    assert_eq!(empty.entries(), Vec::<String>::new(), "listing wrote something");

    let broken = Workdir::new();
    broken.write("sandboxes.yaml", "version: 1\nproject: [not, a, name\n");
    assert_eq!(listing(broken.path(), &[]), Vec::<String>::new());

    let bad_state = Workdir::new();
    bad_state.write("sandboxes.yaml", manifest("listing", &[local("web", "")]));
    bad_state.write(".sandboxer/state.json", "{ not json");
    assert_eq!(listing(bad_state.path(), &[]), Vec::<String>::new());
}

/// What bash's completion offers for `words` (the last one being completed),
/// run in `dir` with the committed script.
fn bash_completes(dir: &Path, words: &[&str]) -> Vec<String> {
    let script = PathBuf::from(ROOT).join("docs/completions/sandboxer.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n\
         _sandboxer_with_addresses sandboxer \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
    );
    let mut command = shell("bash");
    command.arg("-c").arg(program).current_dir(dir);
    let run = output_of(command);
    assert_eq!(run.code, 0, "{run}");
    run.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_addresses_and_ids_where_the_command_line_takes_them() {
    let work = Workdir::new();
    let dir = work.path();
    work.write(
        "sandboxes.yaml",
        manifest("bash", &[local("web", ""), local("api", "")]),
    );
    dir.ok(&["apply", "--auto-approve"]);
    let mut ids: Vec<String> = records(dir).into_iter().map(|(_, id)| id).collect();
    ids.sort();
    let addresses = ["sandbox.api", "sandbox.web"];
    let both: Vec<String> = addresses.iter().map(|a| a.to_string()).chain(ids.clone()).collect();

    assert_eq!(bash_completes(dir, &["sandboxer", "plan", "--target", ""]), addresses);
    assert_eq!(
        bash_completes(dir, &["sandboxer", "apply", "--replace", "sandbox.w"]),
        ["sandbox.web"]
    );
    assert_eq!(bash_completes(dir, &["sandboxer", "inspect", ""]), both);
    assert_eq!(bash_completes(dir, &["sandboxer", "-q", "exec", ""]), both);
    assert_eq!(bash_completes(dir, &["sandboxer", "destroy", ""]), ids);
    assert_eq!(
        bash_completes(dir, &["sandboxer", "state", "rm", "sandbox.api", ""]),
        addresses
    );
    assert_eq!(
        bash_completes(dir, &["sandboxer", "state", "mv", "sandbox.api", ""]),
        addresses
    );
    // After the sandbox, exec takes the command: no address there.
    let command = bash_completes(dir, &["sandboxer", "exec", "sandbox.api", "--", ""]);
    assert!(!command.iter().any(|w| w.starts_with("sandbox.")), "{command:?}");
    // Elsewhere, with the manifest named on the line.
    let elsewhere = Workdir::new();
    let file = dir.join("sandboxes.yaml");
    let file = file.to_str().expect("a UTF-8 path");
    assert_eq!(
        bash_completes(elsewhere.path(), &["sandboxer", "ssh", "-f", file, ""]),
        both
    );
    assert_eq!(
        bash_completes(elsewhere.path(), &["sandboxer", "state", "show", ""]),
        Vec::<String>::new()
    );
}
