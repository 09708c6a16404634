//! The apply's live view on a real pseudo-terminal of 80 columns (util-linux
//! `script`), read back raw and through a terminal emulator.
//!
//! Three local workspaces whose addresses fill most of a row are held half-way
//! by `profile.gated` until the terminal shows a running line for each; then
//! they finish. Each running line (address, step, elapsed time) is wider than
//! 80 columns unclipped: every one drawn must fit in a row with its elapsed
//! time, each `created` line is printed once, a debug log line written while
//! the running lines are up stays whole, and nothing of the running lines is
//! left on the screen at the end. With `TERM=dumb` or no `TERM`, the same
//! terminal gets plain lines and no cursor movement.

mod support;

use std::time::Duration;

use support::gated::Gate;
use support::manifests::{entry, local, manifest};
use support::terminal::{self, Shown, cursor_sequences};
use support::{Workdir, wait_until};

/// How long a condition may take to hold before a test gives up.
const DEADLINE: Duration = Duration::from_secs(60);
/// The terminal's size.
const COLS: u16 = 80;
const ROWS: u16 = 24;

/// Sandbox names of 57 characters: with `sandbox.`, `: creating...`, the
/// spinner and the elapsed time, a running line needs about 90 columns.
fn long_names() -> Vec<String> {
    (1..=3)
        .map(|i| format!("live-view-{i}-with-a-name-long-enough-to-fill-most-of-a-row"))
        .collect()
}

/// Where each running line drawn in `text` (escapes stripped) starts: two
/// spaces and one mark before ` sandbox.<name>`, at a line's start.
fn running_lines<'a>(text: &'a str, names: &[String]) -> Vec<&'a str> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(" sandbox.live-view-") {
        let before: Vec<char> = text[..at].chars().rev().take(3).collect();
        if before.len() == 3 && before[0] != ' ' && before[1] == ' ' && before[2] == ' ' {
            let start = at - before[0].len_utf8() - 2;
            found.push(&text[start..]);
        }
    }
    found.retain(|line| names.iter().any(|n| line.contains(&format!("sandbox.{}", &n[..12]))));
    found
}

#[test]
fn running_lines_fit_80_columns_finished_lines_print_once_and_nothing_is_left_behind() {
    let work = Workdir::new();
    work.write("repo/README", "hello\n");
    let gate = Gate::install(&work);
    let names = long_names();
    let entries: Vec<String> = names
        .iter()
        .map(|n| entry(n, "profile.gated", "    inputs:\n      repo: ./repo\n"))
        .collect();
    work.write("sandboxes.yaml", manifest("live", &entries));

    // -vv: the apply logs its read of the repo while the running lines are up.
    let running = terminal::start(
        work.path(),
        COLS,
        ROWS,
        Some("xterm"),
        &["-vv", "apply", "--auto-approve"],
    );
    wait_until(
        "every setup started and the terminal shows each running line",
        DEADLINE,
        || {
            let text = terminal::strip_escapes(&running.raw_so_far());
            let lines = running_lines(&text, &names);
            gate.started() == names.len()
                && names
                    .iter()
                    .all(|n| lines.iter().any(|l| l.contains(&format!("sandbox.{}", &n[..12]))))
        },
    );
    gate.release();
    let shown = running.wait(COLS);
    assert_eq!(shown.code, 0, "{shown}");

    // (a) Every running line ever drawn fits in a row, its elapsed time included.
    let text = shown.text();
    let drawn = running_lines(&text, &names);
    assert!(drawn.len() >= names.len(), "{shown}");
    for line in &drawn {
        let close = line
            .find(')')
            .unwrap_or_else(|| panic!("a running line without its elapsed time: {line:?}\n{shown}"));
        let width = line[..=close].chars().count();
        assert!(
            width <= usize::from(COLS),
            "a running line of {width} columns on an {COLS}-column terminal: {:?}\n{shown}",
            &line[..=close]
        );
        assert!(
            !line[..close].contains(['\n', '\r']),
            "a running line broken: {line:?}\n{shown}"
        );
    }

    // (b) Each finished change is printed once, whole.
    let screen = shown.screen();
    for name in &names {
        let created = format!("sandbox.{name}: created after ");
        assert_eq!(text.matches(&created).count(), 1, "{created}\n{shown}");
        assert_eq!(screen.matches(&created).count(), 1, "{created} on the screen\n{shown}");
    }
    assert_eq!(
        screen
            .matches("Apply complete: 3 created, 0 updated, 0 replaced, 0 deleted.")
            .count(),
        1,
        "{shown}"
    );

    // (c) Nothing of the running lines is left on the screen: every address on
    // it is that of a finished line, and no step text remains.
    for (at, _) in screen.match_indices("sandbox.") {
        let rest = &screen[at + "sandbox.".len()..];
        assert!(
            names.iter().any(|n| rest.starts_with(&format!("{n}: created after "))),
            "left on the screen: {:?}\n{shown}",
            rest.chars().take(80).collect::<String>()
        );
    }
    assert_eq!(
        screen.matches("creat").count(),
        screen.matches("created after").count() + screen.matches(" created, ").count(),
        "step text left on the screen\n{shown}"
    );

    // The log line came above the running lines, whole.
    let logs: Vec<&str> = screen.lines().filter(|l| l.contains("DEBUG read repo ")).collect();
    assert_eq!(logs.len(), 1, "{shown}");
    assert!(
        logs[0].trim_end().starts_with("DEBUG read repo /") && logs[0].contains(" for this apply: 1 entries, sha256:"),
        "{:?}\n{shown}",
        logs[0]
    );
}

/// A plain apply of two local workspaces on an 80-column terminal whose `TERM`
/// is `term` (`None`: unset).
fn plain_apply(term: Option<&str>) -> Shown {
    let work = Workdir::new();
    work.write("repo/README", "hello\n");
    let names = long_names();
    let entries: Vec<String> = names[..2]
        .iter()
        .map(|n| local(n, "    inputs:\n      repo: ./repo\n"))
        .collect();
    work.write("sandboxes.yaml", manifest("plain", &entries));
    let shown = terminal::start(work.path(), COLS, ROWS, term, &["apply", "--auto-approve"]).wait(COLS);
    assert_eq!(shown.code, 0, "{shown}");
    let moves = cursor_sequences(&shown.raw);
    assert!(
        moves.is_empty(),
        "cursor movement with TERM={term:?}: {moves:?}\n{shown}"
    );
    let text = shown.text();
    for name in &names[..2] {
        let creating = format!("\nsandbox.{name}: creating...\n");
        assert_eq!(format!("\n{text}").matches(&creating).count(), 1, "{creating}\n{shown}");
        let created = format!("sandbox.{name}: created after ");
        assert_eq!(text.matches(&created).count(), 1, "{created}\n{shown}");
        assert!(
            text.find(&creating[1..]) < text.find(&created),
            "{name}: created before creating\n{shown}"
        );
    }
    assert!(
        text.ends_with("Apply complete: 2 created, 0 updated, 0 replaced, 0 deleted.\n"),
        "{shown}"
    );
    shown
}

#[test]
fn a_dumb_terminal_gets_plain_lines_and_no_cursor_movement() {
    plain_apply(Some("dumb"));
}

#[test]
fn a_terminal_without_term_gets_plain_lines_and_no_cursor_movement() {
    plain_apply(None);
}
