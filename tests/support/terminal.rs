//! `sandboxer` on a real pseudo-terminal of a given size, made by util-linux
//! `script` (Debian's `bsdutils`), and what the terminal showed: the raw bytes
//! as they came, and the screen a terminal emulator (`vt100`) draws from them.
//!
//! The child gets the hermetic environment of [`super::sandboxer`] (no
//! `SANDBOXER_*` variable, no `RUST_LOG`, `NO_COLOR=1`) and the `TERM` the
//! test names (`None`: no `TERM` at all). Its stdout is a file, so the terminal
//! shows stderr alone: what the reporter draws, the logs and the summary.

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A `sandboxer` command running on a pseudo-terminal.
pub struct OnTerminal {
    child: Child,
    shown: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    stdout: PathBuf,
}

/// What the terminal got once the command was over.
pub struct Shown {
    /// The command's exit code (-1 when a signal ended it).
    pub code: i32,
    /// Every byte written to the terminal, escape sequences included.
    pub raw: String,
    /// What the command wrote to stdout (a file, not the terminal).
    pub stdout: String,
    /// The terminal's width.
    pub cols: u16,
}

/// Quotes `word` for `sh`.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Starts `sandboxer args` in `dir` on a terminal of `cols` x `rows`, with
/// `TERM` set to `term` (or unset).
pub fn start(dir: &Path, cols: u16, rows: u16, term: Option<&str>, args: &[&str]) -> OnTerminal {
    let stdout = dir.join(".terminal-stdout");
    let mut line = format!(
        "stty cols {cols} rows {rows} && exec {}",
        quoted(env!("CARGO_BIN_EXE_sandboxer"))
    );
    for arg in args {
        line.push(' ');
        line.push_str(&quoted(arg));
    }
    line.push_str(&format!(" > {}", quoted(&stdout.to_string_lossy())));
    let mut command = Command::new("script");
    // -q: no banner; -f: pass output on at once; -e: the command's exit code.
    command.args(["-qfec", &line, "/dev/null"]);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("SANDBOXER_") || text == "RUST_LOG" || text == "TERM" {
            command.env_remove(&name);
        }
    }
    if let Some(term) = term {
        command.env("TERM", term);
    }
    command
        .env("NO_COLOR", "1")
        .env("SANDBOXER_SSH_PERSIST", "0")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "util-linux `script` is not installed (Debian: bsdutils); \
             the terminal tests need it to make a pseudo-terminal"
        ),
        Err(e) => panic!("cannot run script: {e}"),
    };
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stdout.take().expect("script's stdout is piped");
    let sink = shown.clone();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&buffer[..n]),
            }
        }
    });
    OnTerminal {
        child,
        shown,
        reader: Some(reader),
        stdout,
    }
}

impl OnTerminal {
    /// The raw bytes the terminal got so far.
    pub fn raw_so_far(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Waits for the command to end.
    pub fn wait(mut self, cols: u16) -> Shown {
        let status = self.child.wait().expect("wait for script");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("terminal reader thread");
        }
        Shown {
            code: status.code().unwrap_or(-1),
            raw: self.raw_so_far(),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            cols,
        }
    }
}

impl Drop for OnTerminal {
    /// A test that panics half-way leaves no process behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Shown {
    /// The screen a terminal of this width shows after all of it, with every
    /// line ever written kept: the emulated screen is far taller than the
    /// terminal the command was told of, so nothing scrolls away (what is
    /// drawn never moves the cursor more rows up than the terminal has).
    pub fn screen(&self) -> String {
        let rows = std::num::NonZeroU16::new(2000).expect("rows");
        let cols = std::num::NonZeroU16::new(self.cols).expect("a terminal has columns");
        let mut parser = vt100::Parser::new(rows, cols, 0);
        parser.process(self.raw.as_bytes());
        parser.screen().contents()
    }

    /// The raw bytes without escape sequences (CSI and two-byte ones), with
    /// the terminal's `\r\n` as `\n`.
    pub fn text(&self) -> String {
        strip_escapes(&self.raw).replace("\r\n", "\n")
    }
}

impl std::fmt::Display for Shown {
    /// The whole run, for assertion messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- terminal (raw) ---\n{:?}\n--- screen ---\n{}\n--- stdout ---\n{}--- end ---",
            self.code,
            self.raw,
            self.screen(),
            self.stdout
        )
    }
}

/// `text` without its escape sequences.
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // CSI: parameters and intermediates up to a final byte in @..~; any
        // other escape is two characters.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The cursor movement and erase sequences in `raw` (CSI ... A/B/C/D/E/F/G/H/J/K/f,
/// and cursor hiding), each as written.
pub fn cursor_sequences(raw: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = raw;
    while let Some(at) = rest.find("\x1b[") {
        let after = &rest[at + 2..];
        let end = after.find(|c: char| ('@'..='~').contains(&c)).unwrap_or(after.len());
        let sequence = &after[..(end + 1).min(after.len())];
        if sequence.ends_with(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'f'])
            || sequence == "?25l"
            || sequence == "?25h"
        {
            found.push(format!("\\x1b[{sequence}"));
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    found
}
