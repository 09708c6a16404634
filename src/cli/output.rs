//! What the command layer writes: logging set-up, data on stdout (a closed pipe
//! is not an error), errors as `error:`, `caused by:`, `hint:`.

use std::io::Write;

use anyhow::Context;
use sandboxer::diagnostic::Diagnostics;

use super::settings::{Colors, GlobalOpts};

/// An error with advice for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

/// A command failed and already said why on stderr; only the exit code is left.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reported(pub String);

/// Sets up tracing on stderr; returns the colour of each stream.
pub fn init(global: &GlobalOpts) -> Colors {
    let colors = Colors::decide(global.color);
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("sandboxer={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through the live view's writer: during an apply, log lines print
        // above the running lines instead of inside them.
        .with_writer(sandboxer::report::LogWriter)
        .with_ansi(colors.stderr)
        .with_target(false)
        .without_time()
        .try_init();
    colors
}

/// Writes data on stdout; a closed pipe (`plan | head`) is not an error.
pub fn print_data(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Says there is nothing to do: with `--json`, the `no_changes` event (stdout
/// holds only JSON); else `words` on stdout, unless quiet.
pub fn print_nothing_to_do(json: bool, quiet: bool, project: &str, words: &str) -> anyhow::Result<()> {
    if json {
        print_data(&format!("{}\n", sandboxer::report::no_changes_json(project)))
    } else if !quiet {
        print_data(&format!("{words}\n"))
    } else {
        Ok(())
    }
}

/// Prints a plan as text on stdout, coloured when stdout is a terminal that wants it.
pub fn print_plan(plan: &sandboxer::plan::Plan, colors: Colors) -> anyhow::Result<()> {
    use sandboxer::plan::render;
    print_data(&render::text(plan, render::Style { color: colors.stdout }))
}

/// The advice an error of the engine carries, from the first layer that has one.
fn hint_of(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            Some(h.hint.clone())
        } else if let Some(e) = cause.downcast_ref::<sandboxer::state::StateError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<sandboxer::state::LockError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<sandboxer::apply::ApplyError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<sandboxer::driver::DriverError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<sandboxer::remote::RemoteError>() {
            e.hint()
        } else {
            None
        }
    })
}

/// Prints an error chain on stderr.
pub fn print_error(error: &anyhow::Error, color: bool) {
    let (red, bold, reset) = if color {
        ("\x1b[31m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    if let Some(reported) = error.downcast_ref::<Reported>() {
        eprintln!("{red}{bold}error{reset}: {}", escaped(&reported.0));
        return;
    }
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        print_diagnostics(diagnostics, color);
        return;
    }
    eprintln!("{red}{bold}error{reset}: {}", escaped(&error.to_string()));
    let mut last = error.to_string();
    for cause in error.chain().skip(1) {
        // A transparent layer repeats its source's words: say them once.
        let text = cause.to_string();
        if text != last {
            eprintln!("  caused by: {}", escaped(&text));
        }
        last = text;
    }
    if let Some(hint) = hint_of(error) {
        eprintln!("  hint: {}", escaped(&hint));
    }
}

/// Error text quotes what VMs, hubs, lock files and child processes said:
/// its lines stay lines, any other control character is shown escaped.
pub fn escaped(text: &str) -> String {
    text.split('\n')
        .map(sandboxer::safety::printable)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints diagnostics, then how many there were.
pub fn print_diagnostics(diagnostics: &Diagnostics, color: bool) {
    let (red, reset) = if color { ("\x1b[31m", "\x1b[0m") } else { ("", "") };
    for d in &diagnostics.0 {
        let text = d
            .to_string()
            .replacen(": error: ", &format!(": {red}error{reset}: "), 1);
        eprintln!("{text}");
    }
    let n = diagnostics.0.len();
    eprintln!(
        "{n} problem{} found; nothing was changed.",
        if n == 1 { "" } else { "s" }
    );
}

/// What the plan refused, one line each: the apply fails for them.
pub fn refused_message(plan: &sandboxer::plan::Plan) -> String {
    let mut message = format!(
        "{} resource{} refused: {} VM does not meet what it requires",
        plan.summary.refused,
        if plan.summary.refused == 1 { " is" } else { "s are" },
        if plan.summary.refused == 1 { "its" } else { "their" },
    );
    for change in plan
        .changes
        .iter()
        .filter(|c| c.action == sandboxer::plan::Action::Refused)
    {
        for reason in &change.reasons {
            message.push_str(&format!("\n  {}: {}", change.address, escaped(&reason.to_string())));
        }
    }
    message
}
