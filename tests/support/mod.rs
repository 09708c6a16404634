//! Shared helpers for the integration tests: run the real `sandboxer` binary and
//! prepare the folders it runs in.
//!
//! Every run is hermetic: the child gets no `SANDBOXER_*` variable from the
//! environment of `cargo test` (a test sets the ones it wants with
//! [`Sandboxer::env`]), no `RUST_LOG`, and `NO_COLOR=1`. Unless a test says
//! otherwise with [`Sandboxer::current_dir`], the binary runs in a fresh empty
//! temporary folder, so nothing it might write lands in the repository.
//!
//! Use it from a test file with `mod support;`. The submodules hold the rest:
//! `vms` (sshd VMs on loopback), `hub` (a real State Hub), `packer` (templates
//! and build folders), `gated` (a setup that waits for the test), `manifests`,
//! `workspaces` (what is on disk), `records` (`list --json`, notes),
//! `processes` (`/proc`), `snapshot` (everything below a folder), `plans`
//! (editing saved plans), `tls` (certificates and stunnel in front of a
//! hub), `terminal` (a run on a pseudo-terminal, and the screen it leaves),
//! `postgres` (a PostgreSQL server of the tests' own, for the hub's database store)
//! and `browser` (a headless Chromium over WebDriver, for the hub's dashboard).
//! `docs/testing.md` describes how they fit together.

#![allow(dead_code)] // each test file uses its own part of this module

use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A command line for the `sandboxer` binary built by cargo for this test run.
pub struct Sandboxer {
    command: Command,
    stdin: Option<Vec<u8>>,
    /// The default working folder, which also holds the run's
    /// `XDG_RUNTIME_DIR`; kept alive until the run is over.
    scratch: Option<tempfile::TempDir>,
}

/// Starts a command line for the `sandboxer` binary (hermetic, see the module docs).
pub fn sandboxer() -> Sandboxer {
    let scratch = tempfile::tempdir().expect("create a temporary folder");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandboxer"));
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("SANDBOXER_") || text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    // ssh masters: none outlives the command, and none is kept in the real
    // user's folders (a test that wants warm masters sets both itself).
    let runtime = scratch.path().join("run");
    std::fs::create_dir(&runtime).expect("create a runtime folder");
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("make the runtime folder private");
    command
        .env("NO_COLOR", "1")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SANDBOXER_SSH_PERSIST", "0")
        .current_dir(scratch.path());
    Sandboxer {
        command,
        stdin: None,
        scratch: Some(scratch),
    }
}

impl Sandboxer {
    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable of the child (also a `SANDBOXER_*` one).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs the binary in `dir` instead of a fresh empty folder.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        // The scratch folder stays: it holds the run's runtime folder.
        self.command.current_dir(dir);
        self
    }

    /// Feeds `input` to the child's stdin (otherwise stdin is empty).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs the binary to completion and collects what it printed.
    pub fn run(mut self) -> Output {
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("start the sandboxer binary");
        // Written from a thread, so that a child busy filling its stdout pipe cannot deadlock us.
        let writer = self.stdin.take().map(|input| {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                // The child may exit without reading everything; that is its business.
                let _ = pipe.write_all(&input);
            })
        });
        let output = child.wait_with_output().expect("wait for the sandboxer binary");
        if let Some(writer) = writer {
            writer.join().expect("stdin writer thread");
        }
        drop(self.scratch);
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Whatever makes `sandboxer` command lines for a test: a test file's world
/// (its folders and the flags every run gets) or a plain folder ([`Path`]: runs
/// there). Implement [`Cli::cmd`]; `run`, `expect` and `ok` come with it.
pub trait Cli {
    /// The command line every run starts from, before the run's own arguments.
    fn cmd(&self) -> Sandboxer;

    /// Runs the command line with `args` added, to completion.
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).run()
    }

    /// [`Cli::run`], asserting exit code `code` (the message shows the whole run).
    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(out.code, code, "sandboxer {}\n{out}", args.join(" "));
        out
    }

    /// [`Cli::run`], asserting exit code 0.
    fn ok(&self, args: &[&str]) -> Output {
        self.expect(0, args)
    }
}

impl Cli for Path {
    /// `sandboxer` run in this folder.
    fn cmd(&self) -> Sandboxer {
        sandboxer().current_dir(self)
    }
}

/// What one run of the binary did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; -1 when the process was killed by a signal.
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl fmt::Display for Output {
    /// The whole run, for assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The text of the file at `path`; panics naming it.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The file at `path` as JSON; panics naming it.
pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Checks `value` against the committed schema `schemas/<name>.schema.json`:
/// what a `--json` command prints is what its published schema says.
#[allow(dead_code)]
pub fn check_against_schema(name: &str, value: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{name}.schema.json"));
    let schema = read_json(path);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: not a schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{value:#}");
}

/// A temporary folder to put manifests and other files in; removed when dropped.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// A new empty folder.
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("create a temporary folder"),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `relative` inside the folder (creating parent folders);
    /// returns the full path.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The names of the entries directly in the folder (hidden ones included), sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the temporary folder")
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
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir::new()
    }
}

// ---------------------------------------------------------------------------
// Background runs, for tests that signal or race a running sandboxer.

/// A `sandboxer` process started with [`Sandboxer::spawn`]; its stdout and stderr
/// are collected as it prints them.
pub struct Running {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    scratch: Option<tempfile::TempDir>,
}

impl Sandboxer {
    /// Starts the binary in the background (stdin empty unless [`Sandboxer::stdin`]
    /// was given); [`Running::wait`] collects the result.
    pub fn spawn(mut self) -> Running {
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("start the sandboxer binary");
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout is piped"), stdout.clone()),
            collect(child.stderr.take().expect("stderr is piped"), stderr.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
            scratch: self.scratch.take(),
        }
    }
}

/// Copies everything `pipe` yields into `sink`, as it comes.
fn collect(
    mut pipe: impl std::io::Read + Send + 'static,
    sink: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&buffer[..n]),
            }
        }
    })
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        let bytes = self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// What it printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        let bytes = self.stdout.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll the sandboxer process").is_none()
    }

    /// Sends a signal with `kill -<name> <pid>` (`KILL`, `INT`, `TERM`).
    pub fn signal(&self, name: &str) {
        processes::kill(name, self.pid());
    }

    /// Waits for it to exit and returns what it printed.
    pub fn wait(mut self) -> Output {
        let status = self.child.wait().expect("wait for the sandboxer binary");
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader thread");
        }
        drop(self.scratch.take());
        let text = |buffer: &std::sync::Mutex<Vec<u8>>| {
            String::from_utf8_lossy(&buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }
}

impl Drop for Running {
    /// A test that panics half-way leaves no process behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, condition: impl FnMut() -> bool) {
    assert!(
        eventually(timeout, condition),
        "timed out after {timeout:?} waiting until {what}"
    );
}

/// Polls `condition` every 20 ms until it holds (true) or `timeout` is over
/// (false), for a test that says itself what a timeout means.
pub fn eventually(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
pub mod browser;
pub mod gated;
pub mod hub;
pub mod manifests;
pub mod packer;
pub mod plans;
pub mod postgres;
pub mod processes;
pub mod records;
pub mod snapshot;
pub mod terminal;
pub mod tls;
pub mod vms;
pub mod workspaces;

impl Sandboxer {
    /// Runs the binary as the leader of a process group of its own, so that
    /// [`Running::signal_group`] reaches it and its children as a terminal's
    /// Ctrl-C does, without reaching the test harness.
    pub fn own_process_group(mut self) -> Self {
        use std::os::unix::process::CommandExt;
        self.command.process_group(0);
        self
    }
}

impl Running {
    /// Sends a signal to the whole process group led by the process (see
    /// [`Sandboxer::own_process_group`]), as a terminal's Ctrl-C does.
    pub fn signal_group(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg("--")
            .arg(format!("-{}", self.pid()))
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} -- -{} failed", self.pid());
    }
}
