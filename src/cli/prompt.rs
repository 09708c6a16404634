//! Asking the operator before anything changes.

use std::io::{BufRead, IsTerminal, Write};

use super::output::Hinted;

/// Asks for `yes` on stdin; a closed stdin is a refusal with a hint.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question}\n  Only 'yes' will be accepted.\n\n  Enter a value: ")?;
    err.flush()?;
    drop(err);
    let mut answer = String::new();
    let n = std::io::stdin().lock().read_line(&mut answer)?;
    if n == 0 && !std::io::stdin().is_terminal() {
        return Err(Hinted {
            message: "no confirmation: standard input is closed".into(),
            hint: "pass --auto-approve to apply without asking".into(),
        }
        .into());
    }
    Ok(answer.trim() == "yes")
}
