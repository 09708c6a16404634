//! Logging set-up and error printing: `error:`, `caused by:`, `hint:`.

use std::io::IsTerminal;

use sandboxer::diagnostic::Diagnostics;

use super::settings::{ColorChoice, GlobalOpts};

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

/// Sets up tracing on stderr; returns whether stderr gets colour.
pub fn init(global: &GlobalOpts) -> bool {
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
    };
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
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .try_init();
    color
}

/// Prints an error chain on stderr.
pub fn print_error(error: &anyhow::Error, color: bool) {
    let (red, bold, reset) = if color {
        ("\x1b[31m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    if let Some(reported) = error.downcast_ref::<Reported>() {
        eprintln!("{red}{bold}error{reset}: {}", reported.0);
        return;
    }
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        print_diagnostics(diagnostics, color);
        return;
    }
    eprintln!("{red}{bold}error{reset}: {error}");
    let mut hint = None;
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    for cause in error.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            hint = Some(h.hint.clone());
        }
    }
    if let Some(hint) = hint {
        eprintln!("  hint: {hint}");
    }
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
