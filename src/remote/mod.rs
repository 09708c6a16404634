//! Remote access to build VMs: one ssh master connection per VM (opened lazily,
//! with retries while a VM boots, or found warm from an earlier run within
//! `--ssh-persist`), commands built from quoted words, and rsync through the
//! master's control socket.

mod attached;
mod control;
mod error;
pub mod quote;
mod turns;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::Session;
use tokio::sync::{Mutex, OnceCell, Semaphore};

pub use attached::GroupSignal;
pub use control::ControlRoots;
pub use error::{ConnectFailure, RemoteError};
pub use quote::quote;
pub use turns::Turn;

/// Commands at once on one connection: below sshd's default MaxSessions (10),
/// with room for an rsync.
const SESSIONS_PER_CONNECTION: usize = 8;

/// Without persistence, how long an idle master stays up: a killed sandboxer
/// leaves none for longer.
const MASTER_IDLE_SECS: u64 = 300;

/// How sandboxer reaches VMs.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// An ssh config file instead of the operator's `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// Accept (and remember) the host key of a VM seen for the first time.
    /// Changed keys are always refused.
    pub accept_new_host_keys: bool,
    /// How long a master outlives the run that opened it, for the next runs to
    /// reuse (OpenSSH's `ControlPersist`); zero closes masters when the run ends.
    pub persist: Duration,
    /// Where the folder of control sockets goes.
    pub control_roots: ControlRoots,
    /// VMs being connected to or observed at once (`--max-connections`);
    /// `None`: no bound.
    pub max_connections: Option<std::num::NonZeroUsize>,
}

/// Which connection: VM alias, tunnel port, jump host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The VM's SSH alias.
    pub vm: String,
    /// The tunnel port, overriding the alias's port.
    pub port: Option<u16>,
    /// A jump host, when sandboxer does not run where the tunnels end.
    pub jump: Option<String>,
}

impl Target {
    /// The location name used in plans and records: `[jump/]vm[:port]`.
    pub fn location(&self) -> String {
        let mut s = String::new();
        if let Some(j) = &self.jump {
            s.push_str(j);
            s.push('/');
        }
        s.push_str(&self.vm);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }

    /// Reads a location name back (names are `[A-Za-z0-9._-]`, so this is unambiguous).
    pub fn from_location(location: &str) -> Option<Target> {
        let (jump, rest) = match location.split_once('/') {
            Some((j, r)) => (Some(j.to_string()), r),
            None => (None, location),
        };
        let (vm, port) = match rest.split_once(':') {
            Some((vm, p)) => (vm, Some(p.parse().ok()?)),
            None => (rest, None),
        };
        crate::safety::check_ssh_alias(vm).ok()?;
        Some(Target {
            vm: vm.to_string(),
            port,
            jump,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.vm)?;
        if let Some(p) = self.port {
            write!(f, " (port {p})")?;
        }
        if let Some(j) = &self.jump {
            write!(f, " via {j}")?;
        }
        Ok(())
    }
}

/// One open connection.
pub struct Connection {
    session: Session,
    target: Target,
    limit: Semaphore,
    options: SshOptions,
    /// The master's control socket.
    socket: PathBuf,
    /// This run launched the master (else it was found warm).
    launched: bool,
}

/// The output of a remote command.
#[derive(Debug, Clone)]
pub struct RemoteOutput {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Connection {
    /// Runs `script` with `sh` on the VM. The script must be built from words
    /// quoted with [`quote()`].
    ///
    /// The script goes to the shell's standard input, not on its command line:
    /// the command line is one argument of the VM's login shell, which the
    /// kernel caps at 128 KiB, and the script of a batch of a few hundred
    /// workspaces is longer. It is sent as one brace group whose own input is
    /// `/dev/null`: the shell reads the whole group before it runs any of it,
    /// and no command in it can read the script.
    pub async fn run(&self, script: &str) -> Result<RemoteOutput, RemoteError> {
        let _permit = self.permit().await?;
        tracing::debug!(vm = %self.target, "remote: sh -s: {script}");
        let session_error = |detail: String| RemoteError::Session {
            target: self.target.clone(),
            detail,
        };
        let mut child = self
            .session
            .raw_command("sh -s")
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| session_error(error_text(&e)))?;
        let stdin = child.stdin().take();
        let feed = async move {
            use tokio::io::AsyncWriteExt;
            let Some(mut stdin) = stdin else {
                return Ok(());
            };
            stdin.write_all(b"{\n").await?;
            stdin.write_all(script.as_bytes()).await?;
            stdin.write_all(b"\n} </dev/null\n").await?;
            stdin.shutdown().await
        };
        // Fed while the output is read: neither side waits on a full pipe.
        let (fed, output) = tokio::join!(feed, child.wait_with_output());
        let output = output.map_err(|e| session_error(error_text(&e)))?;
        if let Err(e) = fed
            && output.status.code() != Some(0)
        {
            return Err(session_error(format!("sending the script: {e}")));
        }
        Ok(RemoteOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs `script` and fails unless it exits 0.
    pub async fn run_ok(&self, script: &str, what: &str) -> Result<String, RemoteError> {
        let out = self.run(script).await?;
        if out.code == Some(0) {
            Ok(out.stdout)
        } else {
            Err(self.failed(what, &out))
        }
    }

    /// The error of a command that exited non-zero.
    pub fn failed(&self, what: &str, out: &RemoteOutput) -> RemoteError {
        RemoteError::Command {
            vm: self.target.vm.clone(),
            what: what.to_string(),
            status: out.code.map_or("a signal".to_string(), |c| format!("exit {c}")),
            stderr: out.stderr.trim().to_string(),
        }
    }

    /// Output of a command that is not what was expected.
    pub fn bad_output(&self, what: &str, problem: impl Into<String>) -> RemoteError {
        RemoteError::Output {
            vm: self.target.vm.clone(),
            what: what.to_string(),
            problem: problem.into(),
        }
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, RemoteError> {
        self.limit.acquire().await.map_err(|_| RemoteError::Session {
            target: self.target.clone(),
            detail: "the connection was closed".into(),
        })
    }

    /// rsync of local folder `src` into `dest` on the VM, through this connection.
    /// `-s` keeps paths away from the remote shell. A `prelude` (a script of
    /// quoted words) runs on the VM first, in the same session; the transfer
    /// starts only if it succeeds.
    pub async fn rsync(
        &self,
        src: &Path,
        dest: &str,
        excludes: &[String],
        delete: bool,
        prelude: Option<&str>,
    ) -> Result<String, RemoteError> {
        let socket = self.session.control_socket();
        let mut ssh = vec![
            "ssh".to_string(),
            "-S".into(),
            socket.to_string_lossy().into_owned(),
            "-o".into(),
            "ControlMaster=no".into(),
        ];
        if let Some(config) = &self.options.config_file {
            ssh.push("-F".into());
            ssh.push(config.to_string_lossy().into_owned());
        }
        // Should the master be gone, ssh connects by itself: to the same VM, then.
        if let Some(port) = self.target.port {
            ssh.push("-p".into());
            ssh.push(port.to_string());
        }
        if let Some(jump) = &self.target.jump {
            ssh.push("-J".into());
            ssh.push(jump.clone());
        }
        ssh.push("-o".into());
        ssh.push("BatchMode=yes".into());
        // rsync splits -e on whitespace; refuse paths that would be cut in two.
        if let Some(word) = ssh.iter().find(|w| w.chars().any(char::is_whitespace)) {
            return Err(RemoteError::RsyncSpawn {
                message: format!("`{word}` contains whitespace"),
            });
        }
        let mut command = tokio::process::Command::new("rsync");
        crate::secret_env::scrub_async(&mut command);
        // Modification times are compared to the nanosecond, as the repo digest does:
        // with rsync's default (whole seconds), an edit that keeps a file's size,
        // made within the second of the last sync, would be skipped.
        command
            .arg("-az")
            .arg("-s")
            .arg("--modify-window=-1")
            // No devices, FIFOs or sockets (-a would copy them): as the digest and the
            // local copy, which leave them out.
            .arg("--no-D")
            .arg("--stats")
            .arg("-e")
            .arg(ssh.join(" "));
        if delete {
            command.arg("--delete");
        }
        if let Some(prelude) = prelude {
            // Run before the receiving rsync, in its session: one session fewer
            // than a command of its own. `sh -c`, whatever the login shell is.
            let run = format!("{prelude} && exec rsync \"$@\"");
            command.arg(format!("--rsync-path=sh -c {} rsync", quote(&run)));
        }
        // sandboxer's own names are never taken from a repo (nor deleted on the VM):
        // a repo cannot plant a link where the marker and its temporary file go.
        command.arg(format!("--exclude=/{}*", crate::repo::RESERVED_PREFIX));
        for pattern in excludes {
            command.arg(format!("--exclude={pattern}"));
        }
        let mut source = src.as_os_str().to_owned();
        source.push("/");
        command.arg(source).arg(format!("{}:{dest}/", self.target.vm));
        // Its own group: a terminal's Ctrl-C drains, the sync in flight finishes.
        command
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .process_group(0);
        let _permit = self.permit().await?;
        let child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let child = child.map_err(|e| RemoteError::RsyncSpawn { message: e.to_string() })?;
        let registered = child.id().map(crate::process_group::register);
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| RemoteError::RsyncSpawn { message: e.to_string() })?;
        drop(registered);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let missing_on_vm = error::rsync_missing_on_vm(&stderr);
            return Err(RemoteError::Rsync {
                vm: self.target.vm.clone(),
                dest: dest.to_string(),
                status: output.status.to_string(),
                stderr,
                missing_on_vm,
            });
        }
        let stats = String::from_utf8_lossy(&output.stdout);
        let transferred = stats
            .lines()
            .find(|l| l.starts_with("Number of regular files transferred"))
            .and_then(|l| l.rsplit(':').next())
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "?".into());
        Ok(format!("rsync: {transferred} files transferred"))
    }

    /// The connection's target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether the master was found warm, left by an earlier run within
    /// `--ssh-persist`, rather than launched by this one (its host key and
    /// login were checked when it was launched).
    pub fn reused(&self) -> bool {
        !self.launched
    }
}

/// A target's connection: not yet tried, open, or failed (a failure is kept for
/// the run, so every sandbox on an unreachable VM fails at once with it).
type Slot = Arc<Mutex<Option<Result<Arc<Connection>, RemoteError>>>>;

/// The connections of one run, one per target, opened on first use (or found
/// warm, left by an earlier run within `--ssh-persist`).
pub struct SshPool {
    options: SshOptions,
    /// Found (and made, mode 0700) once, by the first connection: connections to
    /// several VMs start together.
    control_dir: OnceCell<Result<PathBuf, RemoteError>>,
    /// Names the sockets of this run when masters do not outlive it.
    run_tag: String,
    slots: Mutex<HashMap<Target, Slot>>,
    /// `--max-connections`.
    turns: turns::Turns,
}

impl std::fmt::Debug for SshPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshPool")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What a connection attempt gave.
enum Attempt {
    Open(Box<Connection>),
    Failed(String),
}

impl SshPool {
    /// A pool whose control sockets live in the folder of `options.control_roots`,
    /// found (or made) on the first connection.
    pub fn new(options: SshOptions) -> Self {
        SshPool {
            turns: turns::Turns::new(options.max_connections),
            options,
            control_dir: OnceCell::new(),
            run_tag: crate::id::random_id(8),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Whether masters outlive the run.
    fn persists(&self) -> bool {
        !self.options.persist.is_zero()
    }

    /// The connection to `target`, opening it (with retries up to `timeout`) on first use.
    /// A failure is remembered for the rest of the run: every sandbox on that VM
    /// fails at once with the same error.
    ///
    /// Opening a master takes a turn of `--max-connections`, given back once
    /// it is open.
    pub async fn get(&self, target: &Target, timeout: Duration) -> Result<Arc<Connection>, RemoteError> {
        self.open(target, timeout, false)
            .await
            .map(|(connection, _)| connection)
    }

    /// [`SshPool::get`], with a turn of `--max-connections` that the caller
    /// keeps for the work it does next on the VM (observing it), and ends by
    /// dropping it. The turn is taken even when the connection is open already.
    pub async fn get_for_a_turn(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<(Arc<Connection>, Turn), RemoteError> {
        self.open(target, timeout, true).await
    }

    async fn open(
        &self,
        target: &Target,
        timeout: Duration,
        keep_turn: bool,
    ) -> Result<(Arc<Connection>, Turn), RemoteError> {
        let slot = self.slots.lock().await.entry(target.clone()).or_default().clone();
        let mut state = slot.lock().await;
        if let Some(Err(e)) = state.as_ref() {
            return Err(e.clone());
        }
        // A turn is taken with the slot held, never the other way round: a
        // holder of a turn never waits for a slot, so the two cannot deadlock.
        let kept = if keep_turn {
            self.turns.take(target).await?
        } else {
            Turn::default()
        };
        match state.as_ref() {
            // A master can go away while the run waits (an operator reading the
            // plan, a long image build first): check it, and open a new one if so.
            Some(Ok(connection)) if connection.session.check().await.is_ok() => {
                return Ok((connection.clone(), kept));
            }
            Some(Ok(_)) => tracing::info!(vm = %target, "ssh master gone; reconnecting"),
            _ => {}
        }
        let opening = if keep_turn {
            Turn::default()
        } else {
            self.turns.take(target).await?
        };
        let result = self.connect(target.clone(), timeout).await;
        drop(opening);
        *state = Some(result.clone());
        Ok((result?, kept))
    }

    /// The control folder, found and checked once per pool, whichever connection
    /// comes first.
    async fn control_dir(&self) -> Result<PathBuf, RemoteError> {
        self.control_dir
            .get_or_init(|| async { self.options.control_roots.folder() })
            .await
            .clone()
    }

    /// What keys `target`'s master: the config file, and the user, host, port and
    /// jump host ssh resolves for it (`ssh -G`, which reads only the config).
    async fn key(&self, target: &Target) -> control::ConnectionKey {
        let given = control::ConnectionKey {
            config_file: self.options.config_file.clone(),
            alias: target.vm.clone(),
            user: String::new(),
            hostname: target.vm.clone(),
            port: target.port.map(|p| p.to_string()).unwrap_or_default(),
            jump: target.jump.clone().unwrap_or_else(|| "none".into()),
        };
        let mut command = tokio::process::Command::new("ssh");
        crate::secret_env::scrub_async(&mut command);
        command.arg("-G").args(self.target_args(target)).arg(&target.vm);
        command.stdin(std::process::Stdio::null()).kill_on_drop(true);
        match command.output().await {
            Ok(out) if out.status.success() => given.with_resolved(&String::from_utf8_lossy(&out.stdout)),
            // ssh says what is wrong when it connects: the key is the given names then.
            _ => given,
        }
    }

    /// `-p`, `-F`, `-J` for `target`, in the order the master's command line has them.
    fn target_args(&self, target: &Target) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        if let Some(port) = target.port {
            args.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(config) = &self.options.config_file {
            args.extend(["-F".into(), config.clone().into_os_string()]);
        }
        if let Some(jump) = &target.jump {
            args.extend(["-J".into(), jump.into()]);
        }
        args
    }

    async fn connect(&self, target: Target, timeout: Duration) -> Result<Arc<Connection>, RemoteError> {
        let dir = self.control_dir().await?;
        let key = self.key(&target).await.name();
        let name = if self.persists() {
            key
        } else {
            format!("{key}-{}", self.run_tag)
        };
        let socket = dir.join(&name);
        let log = dir.join(format!("{name}.log"));
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let connect_timeout = remaining.clamp(Duration::from_secs(1), Duration::from_secs(10));
            let raw = match self.attempt(&target, &socket, &log, connect_timeout).await {
                Ok(Attempt::Open(connection)) => {
                    tracing::info!(vm = %target, attempts, reused = !connection.launched, "ssh connected");
                    return Ok(Arc::from(connection));
                }
                Ok(Attempt::Failed(raw)) => raw,
                Err(e) => return Err(e),
            };
            let kind = ConnectFailure::classify(&raw);
            let text = one_line(&error::without_banner(&raw));
            if kind.is_permanent() || Instant::now() + delay >= deadline {
                return Err(RemoteError::Connect {
                    keygen: error::keygen_line(&raw),
                    target,
                    attempts,
                    kind,
                    detail: text,
                });
            }
            tracing::info!(vm = %target, "ssh not reachable yet, retrying in {delay:?}: {text}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// One try: a live master at `socket` is used as it is; otherwise a stale
    /// socket is removed and a master launched there. With persistence, the log
    /// file is locked meanwhile, so two runs never launch masters on one socket
    /// (ssh would fall back to a connection without a socket, and linger).
    async fn attempt(
        &self,
        target: &Target,
        socket: &Path,
        log: &Path,
        connect_timeout: Duration,
    ) -> Result<Attempt, RemoteError> {
        let lock = if self.persists() {
            Some(lock_file(log).await?)
        } else {
            None
        };
        if self.persists() && socket.exists() {
            let session = Session::resume_mux(socket.into(), Some(log.into()));
            if session.check().await.is_ok() {
                return Ok(Attempt::Open(Box::new(self.connection(session, target, socket, false))));
            }
            tracing::info!(vm = %target, "removing the stale ssh control socket {}", socket.display());
        }
        match std::fs::remove_file(socket) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(RemoteError::ControlDir {
                    path: socket.display().to_string(),
                    message: format!("cannot remove a stale control socket: {e}"),
                });
            }
            _ => {}
        }
        if let Some(file) = &lock {
            // One launch's words at a time (ssh appends).
            let _ = file.set_len(0);
        }
        let mut command = tokio::process::Command::new("ssh");
        crate::secret_env::scrub_async(&mut command);
        // As the openssh crate launches its masters (tests match `-M ... -p PORT `).
        let persist = if self.persists() {
            self.options.persist.as_millis().div_ceil(1000).max(1)
        } else {
            u128::from(MASTER_IDLE_SECS)
        };
        command
            .arg("-E")
            .arg(log)
            .arg("-S")
            .arg(socket)
            .arg("-M")
            .arg("-f")
            .arg("-N")
            .arg("-o")
            .arg(format!("ControlPersist={persist}s"))
            .arg("-o")
            .arg("BatchMode=yes")
            .arg("-o")
            .arg(if self.options.accept_new_host_keys {
                "StrictHostKeyChecking=accept-new"
            } else {
                "StrictHostKeyChecking=yes"
            })
            // known_hosts holds the keys the operator accepted and no others:
            // ssh would add the VM's other host keys after the login.
            .arg("-o")
            .arg("UpdateHostKeys=no")
            .arg("-o")
            .arg(format!("ConnectTimeout={}", connect_timeout.as_secs().max(1)))
            .arg("-o")
            .arg("ServerAliveInterval=15")
            .args(self.target_args(target))
            .arg(&target.vm)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // ssh forks once connected (`-f`): its exit is the end of the handshake.
        let status = command.status().await;
        let words = std::fs::read_to_string(log).unwrap_or_default();
        if !self.persists() {
            // The master writes on into the open file; nothing is left behind by it.
            let _ = std::fs::remove_file(log);
        }
        drop(lock);
        match status {
            Ok(status) if status.success() => {
                launched().insert(socket.to_path_buf());
                let session = Session::resume_mux(socket.into(), None);
                Ok(Attempt::Open(Box::new(self.connection(session, target, socket, true))))
            }
            Ok(status) if words.trim().is_empty() => Ok(Attempt::Failed(format!("ssh exited with {status}"))),
            Ok(_) => Ok(Attempt::Failed(words)),
            Err(e) => Ok(Attempt::Failed(format!("cannot run ssh: {e}"))),
        }
    }

    fn connection(&self, session: Session, target: &Target, socket: &Path, launched: bool) -> Connection {
        Connection {
            session,
            target: target.clone(),
            limit: Semaphore::new(SESSIONS_PER_CONNECTION),
            options: self.options.clone(),
            socket: socket.to_path_buf(),
            launched,
        }
    }

    /// The end of the run. With persistence, masters stay up for others to reuse
    /// and exit by themselves once idle for the window; without, every master
    /// this run launched is told to exit, and its socket goes.
    pub async fn close(&self) {
        let slots: Vec<Slot> = self.slots.lock().await.drain().map(|(_, s)| s).collect();
        for slot in slots {
            let Some(Ok(connection)) = Arc::try_unwrap(slot).ok().and_then(Mutex::into_inner) else {
                continue;
            };
            if self.persists() || !connection.launched {
                continue;
            }
            let socket = connection.socket.clone();
            drop(connection);
            tokio::task::spawn_blocking(move || stop_master(&socket))
                .await
                .unwrap_or_else(|e| tracing::debug!("closing an ssh master: {e}"));
        }
    }
}

/// Opens (creating, mode 0600) and locks `path`, waiting for another run that
/// holds it (for one connection attempt at most).
async fn lock_file(path: &Path) -> Result<std::fs::File, RemoteError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.to_path_buf();
    let failed = |path: &Path, e: std::io::Error| RemoteError::ControlDir {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| failed(&path, e))?;
        file.lock().map_err(|e| failed(&path, e))?;
        Ok(file)
    })
    .await
    .unwrap_or_else(|e| {
        Err(RemoteError::ControlDir {
            path: String::new(),
            message: e.to_string(),
        })
    })
}

/// The sockets of the masters this process launched, for [`close_all_now`].
static LAUNCHED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn launched() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<PathBuf>> {
    LAUNCHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Tells the master at `socket` to exit (`ssh -O exit`), and removes the socket.
/// Blocking; a master answers at once.
fn stop_master(socket: &Path) {
    launched().remove(socket);
    let _ = std::process::Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-O", "exit", "sandboxer-master"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let _ = std::fs::remove_file(socket);
}

/// Just before the process exits at once (a second Ctrl-C or SIGTERM): tells
/// every ssh master this process launched to exit, warm or not, so none
/// outlives sandboxer. Masters found warm belong to earlier runs and are left.
/// Blocking; each master answers at once.
pub fn close_all_now() {
    let sockets: Vec<PathBuf> = std::mem::take(&mut *launched()).into_iter().collect();
    for socket in sockets {
        stop_master(&socket);
    }
}

/// ssh's own words on one line: the crate wraps them in an io::Error source.
fn error_text(e: &openssh::Error) -> String {
    one_line(&error_text_raw(e))
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// ssh's own words, lines kept.
fn error_text_raw(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_folder_is_made_once_when_vms_connect_together() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            for _ in 0..50 {
                let home = tempfile::tempdir().expect("a home folder");
                let options = SshOptions {
                    control_roots: ControlRoots {
                        runtime_dir: None,
                        home: Some(home.path().to_path_buf()),
                    },
                    ..SshOptions::default()
                };
                let pool = Arc::new(SshPool::new(options));
                let start = Arc::new(tokio::sync::Barrier::new(4));
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let (pool, start) = (pool.clone(), start.clone());
                        tokio::spawn(async move {
                            start.wait().await;
                            pool.control_dir().await
                        })
                    })
                    .collect();
                for task in tasks {
                    let dir = task.await.expect("task").expect("the control folder is made");
                    assert_eq!(dir, home.path().join(".cache/sandboxer/ssh"));
                    assert!(dir.is_dir());
                }
            }
        });
    }
}
