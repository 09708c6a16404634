//! The one reporter: it owns stderr while an apply runs and turns engine events
//! into the live view (on a terminal), plain progress lines (coloured when
//! asked) or JSON lines.

mod live;
pub mod outputs;

pub use live::{LogWriter, stderr_redraws};

use std::io::Write;

use tokio::sync::mpsc;

use crate::apply::Event;
use crate::duration::format_elapsed;
use crate::plan::Action;
use outputs::ApplyEvent;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Human lines on stderr.
    Lines {
        /// ANSI colours.
        color: bool,
    },
    /// On a terminal: finished changes as lines, running ones below them, one
    /// redrawn line each with the current step and elapsed time, clipped to
    /// the terminal's width.
    Live {
        /// ANSI colours.
        color: bool,
    },
    /// One JSON object per event on stdout.
    Json,
    /// Nothing but failures.
    Quiet,
}

fn verb(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("creating", "created"),
        Action::Update => ("updating", "updated"),
        Action::Replace => ("replacing", "replaced"),
        Action::Delete => ("deleting", "deleted"),
        Action::NoOp => ("checking", "unchanged"),
        Action::Refused => ("refusing", "refused"),
    }
}

/// Prints events until the channel closes.
pub async fn run(mut events: mpsc::UnboundedReceiver<Event>, mode: Mode) {
    if let Mode::Live { color } = mode {
        return live::run(events, color).await;
    }
    while let Some(event) = events.recv().await {
        match mode {
            Mode::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", to_json(&event));
            }
            Mode::Lines { color } => {
                let _ = writeln!(std::io::stderr().lock(), "{}", line(&event, color));
            }
            Mode::Live { .. } => {}
            Mode::Quiet => {
                if matches!(event, Event::Failed { .. } | Event::Notice { .. }) {
                    let _ = writeln!(std::io::stderr().lock(), "{}", line(&event, false));
                }
            }
        }
    }
}

/// One human line for an event. Progress and errors quote what Packer, ssh
/// and VMs print: control characters in them are shown escaped.
pub fn line(event: &Event, color: bool) -> String {
    use crate::safety::printable;
    let paint = |code: &str, text: String| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    match event {
        Event::Started { address, action } => format!("{address}: {}...", verb(*action).0),
        Event::Progress { address, message } => format!("{address}: {}", printable(message)),
        Event::Finished {
            address,
            action,
            id,
            workspace,
            elapsed,
        } => {
            let mut detail = Vec::new();
            if let Some(id) = id
                && *action != Action::Delete
            {
                detail.push(format!("id {id}"));
            }
            if let Some(w) = workspace {
                detail.push(printable(w));
            }
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", detail.join(", "))
            };
            paint(
                "32",
                format!(
                    "{address}: {} after {}{detail}",
                    verb(*action).1,
                    format_elapsed(*elapsed)
                ),
            )
        }
        Event::Failed {
            address,
            action,
            error,
            elapsed,
        } => paint(
            "31",
            format!(
                "{address}: {} failed after {}: {}",
                action,
                format_elapsed(*elapsed),
                printable(error)
            ),
        ),
        Event::Skipped {
            address,
            action,
            because,
        } => paint(
            "33",
            format!("{address}: {action} skipped: dependency failed ({because})"),
        ),
        Event::Notice { message } => paint("33", printable(message)),
    }
}

/// The JSON line `apply --json` prints when there is nothing to do.
pub fn no_changes_json(project: &str) -> serde_json::Value {
    to_value(&ApplyEvent::NoChanges {
        at: now_ms(),
        project: project.to_string(),
    })
}

/// Now, to the millisecond: every JSON event says when it happened.
fn now_ms() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// An event as the JSON line of its published shape ([`ApplyEvent`]).
fn to_json(event: &Event) -> serde_json::Value {
    to_value(&apply_event(event, now_ms()))
}

fn to_value(event: &ApplyEvent) -> serde_json::Value {
    // A value of plain strings and numbers: serialising it cannot fail.
    serde_json::to_value(event).unwrap_or_default()
}

fn millis(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn apply_event(event: &Event, at: String) -> ApplyEvent {
    match event.clone() {
        Event::Started { address, action } => ApplyEvent::Started { at, address, action },
        Event::Progress { address, message } => ApplyEvent::Progress { at, address, message },
        Event::Finished {
            address,
            action,
            id,
            workspace,
            elapsed,
        } => ApplyEvent::Finished {
            at,
            address,
            action,
            id,
            workspace,
            elapsed_ms: millis(elapsed),
        },
        Event::Failed {
            address,
            action,
            error,
            elapsed,
        } => ApplyEvent::Failed {
            at,
            address,
            action,
            error,
            elapsed_ms: millis(elapsed),
        },
        Event::Skipped {
            address,
            action,
            because,
        } => ApplyEvent::Skipped {
            at,
            address,
            action,
            because: because.to_string(),
        },
        Event::Notice { message } => ApplyEvent::Notice { at, message },
    }
}
