//! Real sshd "VMs" on loopback for integration tests (see `docs/testing.md`).
//!
//! [`TestBed::start`] makes a short temporary folder T under `/tmp` and runs one
//! `/usr/sbin/sshd -D -e` per VM as a child of the test process, each with its own
//! ed25519 host key, its own loopback port and its own workspace root `T/vmK/build`.
//! The VMs share this machine's filesystem: the workspace root is what tells them
//! apart, so a test may check a VM's files directly below [`Vm::build_root`].
//!
//! Clients use `ssh -F T/ssh_config vmK` ([`TestBed::ssh_config`]): key-only, strict
//! host key checking against `T/known_hosts`, batch mode, and a last `Host *` block
//! that sends any unknown alias to the closed port 1 on loopback instead of DNS.
//!
//! Layout of T:
//!
//! ```text
//! T/id_ed25519, T/id_ed25519.pub   the one client key
//! T/authorized_keys                its public half, read by every VM
//! T/known_hosts                    `[127.0.0.1]:PORT ssh-ed25519 ...` per VM
//! T/ssh_config                     `Host vmK` per VM, then `Host *`
//! T/cm/                            for ssh control sockets (mode 0700)
//! T/vmK/sshd_config, T/vmK/ssh_host_ed25519_key{,.pub}
//! T/vmK/sshd.log                   sshd's stderr, appended across restarts
//! T/vmK/build/                     the VM's workspace root
//! ```
//!
//! Each sshd sets `TESTBED_VM=vmK` and `TESTBED_ROOT=T/vmK/build` for the commands
//! it runs, so `ssh vmK 'echo $TESTBED_VM'` tells which VM answered.
//!
//! Dropping the [`TestBed`] closes ssh masters with a socket in `T/cm`, ends every
//! listener and its per-connection processes, waits on its children and removes T.
//! Runs as root only (sshd needs it for privilege separation).

#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::processes::{alive, descendants};

/// The sshd binary every VM runs (an absolute path: sshd re-executes itself).
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long a VM may take to answer with its banner before the harness gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two readiness probes or two looks at a process.
const POLL: Duration = Duration::from_millis(10);
/// How long stopped processes get to exit after SIGTERM before they get SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// How many fresh ports [`TestBed::start`] tries for one VM.
const PORT_ATTEMPTS: usize = 20;

/// A set of running sshd "VMs" `vm1..vmN` on loopback, and the client files to reach them.
///
/// Everything lives in one temporary folder, removed (after every process is
/// ended) when the bed is dropped.
pub struct TestBed {
    vms: Vec<Vm>,
    root: PathBuf,
    /// Declared last: removed only after `Drop` stopped the VMs.
    dir: tempfile::TempDir,
}

/// One sshd "VM" of a [`TestBed`].
pub struct Vm {
    name: String,
    port: u16,
    dir: PathBuf,
    build_root: PathBuf,
    log: PathBuf,
    config: PathBuf,
    host_key: PathBuf,
    /// The listening sshd while the VM runs.
    child: Option<Child>,
}

impl Vm {
    /// The VM's ssh alias in [`TestBed::ssh_config`], `vmK`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback port sshd listens on; kept across [`TestBed::stop_vm`] / [`TestBed::start_vm`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The VM's folder `T/vmK` (config, host key, log, workspace root).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The VM's workspace root `T/vmK/build` (exists; also `$TESTBED_ROOT` on the VM).
    pub fn build_root(&self) -> &Path {
        &self.build_root
    }

    /// The sshd log `T/vmK/sshd.log` (stderr of the listener and its connections).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The process id of the listening sshd, if the VM is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the VM's sshd is running (it was started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl TestBed {
    /// Starts `n` VMs `vm1..vmN`, each answering on its own free loopback port, and
    /// writes the client key, `known_hosts` and `ssh_config`. Returns once every VM
    /// has sent its SSH banner. Panics (after cleaning up) if a VM cannot start.
    pub fn start(n: usize) -> TestBed {
        // Without it every sshd exits: "Missing privilege separation directory: /run/sshd".
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        // Short: ssh control socket paths below T must fit in 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("sbx")
            .tempdir_in("/tmp")
            .expect("create the test bed folder under /tmp");
        let root = dir.path().to_path_buf();
        let cm = root.join("cm");
        fs::create_dir(&cm).expect("create T/cm");
        set_mode(&cm, 0o700);

        let vms: Vec<Vm> = (1..=n)
            .map(|k| {
                let vm_dir = root.join(format!("vm{k}"));
                let build_root = vm_dir.join("build");
                fs::create_dir_all(&build_root).unwrap_or_else(|e| panic!("create {}: {e}", build_root.display()));
                Vm {
                    name: format!("vm{k}"),
                    port: 0,
                    log: vm_dir.join("sshd.log"),
                    config: vm_dir.join("sshd_config"),
                    host_key: vm_dir.join("ssh_host_ed25519_key"),
                    build_root,
                    dir: vm_dir,
                    child: None,
                }
            })
            .collect();
        let mut bed = TestBed { vms, root, dir };

        // All keys at once: ssh-keygen runs in parallel.
        let mut keys = vec![(bed.root.join("id_ed25519"), "testbed-client".to_string())];
        keys.extend(bed.vms.iter().map(|vm| (vm.host_key.clone(), vm.name.clone())));
        generate_keys(&keys);
        fs::copy(bed.root.join("id_ed25519.pub"), bed.root.join("authorized_keys")).expect("write T/authorized_keys");

        // Spawn every sshd first, then wait for them: startup overlaps.
        let mut pending: Vec<(usize, usize, u64)> = Vec::new(); // (index, attempts, log offset)
        for i in 0..bed.vms.len() {
            let offset = bed.spawn_on_free_port(i);
            pending.push((i, 1, offset));
        }
        while let Some((i, attempts, offset)) = pending.pop() {
            match bed.wait_ready(i, offset) {
                Ok(()) => {}
                Err(StartError::PortTaken(_)) if attempts < PORT_ATTEMPTS => {
                    let offset = bed.spawn_on_free_port(i);
                    pending.push((i, attempts + 1, offset));
                }
                Err(e) => panic!("{} did not start: {e}", bed.vms[i].name),
            }
        }
        bed.write_client_files();
        bed
    }

    /// The test bed folder T (short, under `/tmp`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `sandboxer` run in `work`, with `run` as its `XDG_RUNTIME_DIR` (where
    /// its ssh masters live) and this bed's ssh config.
    pub fn sandboxer_in(&self, work: &Path, run: &RuntimeDir) -> super::Sandboxer {
        super::sandboxer()
            .current_dir(work)
            .env("XDG_RUNTIME_DIR", run.path())
            .arg("--ssh-config")
            .arg(self.ssh_config())
    }

    /// `T/ssh_config`: use as `ssh -F <it> vmK` (the only config ssh then reads).
    pub fn ssh_config(&self) -> PathBuf {
        self.root.join("ssh_config")
    }

    /// `T/known_hosts`: the VMs' host keys as first started.
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }

    /// `T/id_ed25519`: the client's private key, accepted by every VM.
    pub fn identity(&self) -> PathBuf {
        self.root.join("id_ed25519")
    }

    /// `T/cm`: an empty folder (mode 0700) for ssh control sockets, e.g. `ControlPath=T/cm/%C`
    /// or the `openssh` crate's `control_directory`. Masters found there are closed on drop.
    pub fn control_dir(&self) -> PathBuf {
        self.root.join("cm")
    }

    /// The `rsync -e` value that reaches the VMs by alias: `ssh -F T/ssh_config`.
    pub fn rsync_shell(&self) -> String {
        format!("ssh -F {}", self.ssh_config().display())
    }

    /// The number of VMs.
    pub fn len(&self) -> usize {
        self.vms.len()
    }

    /// Whether the bed has no VM at all.
    pub fn is_empty(&self) -> bool {
        self.vms.is_empty()
    }

    /// VM `k` (1-based, as in `vmK`). Panics when there is no such VM.
    pub fn vm(&self, k: usize) -> &Vm {
        &self.vms[self.index(k)]
    }

    /// All VMs, `vm1` first.
    pub fn vms(&self) -> &[Vm] {
        &self.vms
    }

    /// Stops VM `k` as if it went down: its port then refuses connections. Ends the
    /// listener (SIGTERM, `wait()`ed on) and every process below it, including open
    /// connections and the commands they run. Does nothing if it is stopped already.
    pub fn stop_vm(&mut self, k: usize) {
        let i = self.index(k);
        if let Some(child) = self.vms[i].child.take() {
            stop_tree(child);
        }
    }

    /// Starts VM `k` again on the same port with its current host key, and waits until it
    /// answers. Does nothing if it is running. Panics if it does not come up in time.
    pub fn start_vm(&mut self, k: usize) {
        let i = self.index(k);
        if self.vms[i].child.is_some() {
            return;
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let offset = self.spawn(i);
            match self.wait_ready(i, offset) {
                Ok(()) => return,
                // The old port may be held for a moment by someone else (an outgoing
                // connection's local port, say): keep trying the same port.
                Err(StartError::PortTaken(_)) if Instant::now() < deadline => thread::sleep(POLL * 5),
                Err(e) => panic!("{} did not restart on port {}: {e}", self.vms[i].name, self.vms[i].port),
            }
        }
    }

    /// Gives VM `k` a new host key and restarts it on the same port. `known_hosts` keeps
    /// the old key, so clients with strict checking now fail host key verification.
    pub fn regenerate_host_key(&mut self, k: usize) {
        let i = self.index(k);
        self.stop_vm(k);
        let key = self.vms[i].host_key.clone();
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        generate_keys(&[(key, self.vms[i].name.clone())]);
        self.start_vm(k);
    }

    /// How many connections VM `k` accepted (`Accepted publickey` lines in its log, since the
    /// bed started: the log is kept across restarts). Counts ssh logins, not multiplexed commands.
    pub fn accepted_connections(&self, k: usize) -> usize {
        let log = fs::read_to_string(&self.vm(k).log).unwrap_or_default();
        log.lines().filter(|l| l.contains("Accepted publickey")).count()
    }

    /// A `Command` for `ssh -F T/ssh_config vmK`, stdin empty; add `--` and the remote command.
    pub fn ssh_command(&self, k: usize) -> Command {
        ssh_command_via(&self.ssh_config(), self.vm(k).name())
    }

    /// Runs `ssh -F T/ssh_config vmK -- cmd` to completion (the remote shell parses `cmd`).
    pub fn ssh(&self, k: usize, cmd: &str) -> Output {
        self.ssh_command(k).arg("--").arg(cmd).output().expect("run ssh")
    }

    fn index(&self, k: usize) -> usize {
        assert!(
            (1..=self.vms.len()).contains(&k),
            "no vm{k}: this test bed has vm1..vm{}",
            self.vms.len()
        );
        k - 1
    }

    /// Picks a free port for VM `i`, writes its sshd_config and spawns sshd. Returns the log
    /// offset from which this run writes.
    fn spawn_on_free_port(&mut self, i: usize) -> u64 {
        self.vms[i].port = free_port();
        self.write_sshd_config(i);
        self.spawn(i)
    }

    /// Spawns `sshd -D -e -f T/vmK/sshd_config` for VM `i`, stderr appended to its log.
    fn spawn(&mut self, i: usize) -> u64 {
        let vm = &mut self.vms[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&vm.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", vm.log.display()));
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&vm.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {SSHD} for {}: {e} (apt-get install openssh-server)", vm.name));
        vm.child = Some(child);
        offset
    }

    /// Waits until VM `i` sends its banner on its port and logged that it listens there.
    /// On failure the VM's process is ended and `child` is `None`.
    fn wait_ready(&mut self, i: usize, offset: u64) -> Result<(), StartError> {
        let vm = &mut self.vms[i];
        let addr = SocketAddr::from(([127, 0, 0, 1], vm.port));
        let listening = format!("Server listening on 127.0.0.1 port {}", vm.port);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = vm.child.as_mut().expect("a VM being started has a child");
            if let Ok(Some(status)) = child.try_wait() {
                vm.child = None;
                let log = read_from(&vm.log, offset);
                return Err(if log.contains("Address already in use") {
                    StartError::PortTaken(log)
                } else {
                    StartError::Exited(format!("sshd exited ({status}); its log:\n{log}"))
                });
            }
            // The banner alone could come from someone else on a port we lost in a race:
            // also require our sshd's own "listening" line.
            if banner(addr) && read_from(&vm.log, offset).contains(&listening) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let child = vm.child.take().expect("checked above");
                stop_tree(child);
                let log = read_from(&vm.log, offset);
                return Err(StartError::Exited(format!(
                    "no SSH banner on {addr} within {READY_TIMEOUT:?}; its log:\n{log}"
                )));
            }
            thread::sleep(POLL);
        }
    }

    fn write_sshd_config(&self, i: usize) {
        let vm = &self.vms[i];
        let text = format!(
            "# generated by tests/support/vms.rs: loopback test VM {name}\n\
             Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {authorized_keys}\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             # T lives below world-writable /tmp, which StrictModes refuses\n\
             StrictModes no\n\
             UseDNS no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             X11Forwarding no\n\
             # default 10 caps concurrent commands per multiplexed connection\n\
             MaxSessions 256\n\
             # default 10:30:100 drops simultaneous cold connections\n\
             MaxStartups 200:30:400\n\
             LogLevel INFO\n\
             # SHLVL=1: bash skips ~/.bashrc for `ssh vm cmd` (slow or chatty rc files)\n\
             SetEnv SHLVL=1 TESTBED_VM={name} TESTBED_ROOT={build_root}\n\
             Subsystem sftp internal-sftp\n",
            name = vm.name,
            port = vm.port,
            host_key = vm.host_key.display(),
            authorized_keys = self.root.join("authorized_keys").display(),
            build_root = vm.build_root.display(),
        );
        fs::write(&vm.config, text).unwrap_or_else(|e| panic!("write {}: {e}", vm.config.display()));
    }

    /// Writes `T/known_hosts` and `T/ssh_config` for the VMs' current ports and host keys.
    fn write_client_files(&self) {
        let mut known_hosts = String::new();
        let mut ssh_config = String::from("# generated by tests/support/vms.rs\n");
        for vm in &self.vms {
            let public = fs::read_to_string(vm.host_key.with_extension("pub")).expect("read a host public key");
            let key: Vec<&str> = public.split_whitespace().take(2).collect();
            known_hosts.push_str(&format!("[127.0.0.1]:{} {}\n", vm.port, key.join(" ")));
            ssh_config.push_str(&format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {identity}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n  UpdateHostKeys no\n  CheckHostIP no\n  BatchMode yes\n  \
                 ConnectTimeout 5\n\n",
                name = vm.name,
                port = vm.port,
                identity = self.identity().display(),
                known_hosts = self.known_hosts().display(),
            ));
        }
        ssh_config.push_str(
            "# last: an unknown alias hits a closed loopback port instead of DNS\n\
             Host *\n  HostName 127.0.0.1\n  Port 1\n  BatchMode yes\n",
        );
        fs::write(self.known_hosts(), known_hosts).expect("write T/known_hosts");
        fs::write(self.ssh_config(), ssh_config).expect("write T/ssh_config");
    }

    /// Asks every ssh master with a socket in `T/cm` to exit (plain `ControlPath=T/cm/...`
    /// sockets and the `openssh` crate's `T/cm/.ssh-connection*/master`).
    fn close_masters(&self) {
        let mut sockets = Vec::new();
        for entry in fs::read_dir(self.control_dir()).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sockets.push(path.join("master"));
            } else {
                sockets.push(path);
            }
        }
        for socket in sockets.iter().filter(|s| is_socket(s)) {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", socket.display()))
                .args(["-O", "exit", "_testbed"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        if thread::panicking() {
            // The logs vanish with T: show their ends for the failure report.
            for vm in &self.vms {
                let log = fs::read_to_string(&vm.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(20)..];
                eprintln!(
                    "--- {} ({}), last lines ---\n{}",
                    vm.name,
                    vm.log.display(),
                    tail.join("\n")
                );
            }
        }
        self.close_masters();
        for vm in &mut self.vms {
            if let Some(child) = vm.child.take() {
                stop_tree(child);
            }
        }
    }
}

/// A `Command` for `ssh -F <config> <alias>`, stdin empty; add `--` and the remote
/// command. With `config` the only file ssh reads, e.g. a test's altered copy of
/// `T/ssh_config`.
pub fn ssh_command_via(config: &Path, alias: &str) -> Command {
    let mut command = Command::new("ssh");
    command.arg("-F").arg(config).arg(alias).stdin(Stdio::null());
    command
}

/// Why a VM did not come up.
#[derive(Debug)]
enum StartError {
    /// sshd could not bind its port ("Address already in use"); holds the log.
    PortTaken(String),
    /// Anything else, with an explanation and the log.
    Exited(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::PortTaken(log) => write!(f, "its port is in use; its log:\n{log}"),
            StartError::Exited(text) => f.write_str(text),
        }
    }
}

/// A loopback port nobody listens on right now (bound to 127.0.0.1:0, then
/// released), and never handed out before in this test process: a VM that a
/// test stopped must stay refused, not answer as another test's VM (whose
/// host key would then be "changed").
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        if GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(port)
        {
            return port;
        }
    }
}

/// Whether `addr` accepts a connection and sends a line starting `SSH-2.0-`.
fn banner(addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    if stream.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("SSH-2.0-")
}

/// Runs `ssh-keygen -q -t ed25519 -N '' -C comment -f path` for every pair, in parallel.
fn generate_keys(keys: &[(PathBuf, String)]) {
    let children: Vec<(Child, &PathBuf)> = keys
        .iter()
        .map(|(path, comment)| {
            let child = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run ssh-keygen (apt-get install openssh-client)");
            (child, path)
        })
        .collect();
    for (child, path) in children {
        let output = child.wait_with_output().expect("wait for ssh-keygen");
        assert!(
            output.status.success(),
            "ssh-keygen for {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Ends `child` and every process below it, and waits until they are gone.
///
/// Per-connection sshd processes outlive the listener, and once it is gone they belong
/// to PID 1 and cannot be found by parent any more. So the tree is frozen first
/// (SIGSTOP, so nothing forks meanwhile), then the whole tree gets SIGTERM and SIGCONT;
/// the listener is `wait()`ed on, the rest polled in `/proc` (a zombie counts as gone:
/// PID 1 reaps late). Whatever is left after [`TERM_GRACE`] gets SIGKILL.
fn stop_tree(mut child: Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal("STOP", &[pid]);
    let mut tree: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    // Freeze what we find until a pass finds nothing new.
    loop {
        let fresh: Vec<u32> = descendants(pid).into_iter().filter(|p| seen.insert(*p)).collect();
        if fresh.is_empty() {
            break;
        }
        signal("STOP", &fresh);
        tree.extend(fresh);
    }
    let mut all = vec![pid];
    all.extend(&tree);
    signal("TERM", &all);
    signal("CONT", &all);

    let deadline = Instant::now() + TERM_GRACE;
    let mut killed = false;
    loop {
        let listener_done = matches!(child.try_wait(), Ok(Some(_)) | Err(_));
        let left: Vec<u32> = tree.iter().copied().filter(|p| alive(*p)).collect();
        if listener_done && left.is_empty() {
            return;
        }
        if !killed && Instant::now() >= deadline {
            let mut rest = left;
            if !listener_done {
                rest.push(pid);
            }
            signal("KILL", &rest);
            killed = true;
        }
        if killed && Instant::now() >= deadline + TERM_GRACE {
            // Nothing more to do (a process stuck in the kernel); do not hang the test run.
            let _ = child.wait();
            return;
        }
        thread::sleep(POLL);
    }
}

/// Sends `kill -SIG pid...` (errors ignored: a process may be gone already).
fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The text of `path` from byte `offset` on (empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A private folder (mode 0700, short, under `/tmp`) to give sandboxer as
/// `XDG_RUNTIME_DIR`: its ssh masters keep their sockets in `<dir>/sandboxer/`,
/// apart from every other test's and from the user's own. Dropping it tells each
/// master there to exit (`ssh -O exit`) and waits until no process names the
/// folder any more, so no master outlives the test.
pub struct RuntimeDir {
    dir: tempfile::TempDir,
}

impl RuntimeDir {
    /// A new empty folder, mode 0700.
    pub fn new() -> RuntimeDir {
        let dir = tempfile::Builder::new()
            .prefix("sbr")
            .tempdir_in("/tmp")
            .expect("create a runtime folder");
        set_mode(dir.path(), 0o700);
        RuntimeDir { dir }
    }

    /// The folder (the value of `XDG_RUNTIME_DIR`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/sandboxer`: where sandboxer puts its control sockets.
    pub fn sockets_dir(&self) -> PathBuf {
        self.dir.path().join("sandboxer")
    }

    /// The control sockets in [`RuntimeDir::sockets_dir`].
    pub fn sockets(&self) -> Vec<PathBuf> {
        let mut sockets: Vec<PathBuf> = fs::read_dir(self.sockets_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_socket(p))
            .collect();
        sockets.sort();
        sockets
    }

    /// The ssh processes whose command line names this folder (masters), as
    /// (pid, command line).
    pub fn ssh_processes(&self) -> Vec<(u32, String)> {
        let needle = self.dir.path().display().to_string();
        super::processes::processes_mentioning(&needle)
            .into_iter()
            .filter(|(_, command)| command.starts_with("ssh "))
            .collect()
    }

    /// Tells every master with a socket here to exit, and waits (10 s at most)
    /// until no ssh process names the folder.
    pub fn close_masters(&self) {
        for socket in self.sockets() {
            let _ = Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "_testbed"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.ssh_processes();
            if left.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                // A master without a socket any more: end it, the test owns it.
                for (pid, _) in &left {
                    signal("KILL", &[*pid]);
                }
                return;
            }
            thread::sleep(POLL);
        }
    }
}

impl Default for RuntimeDir {
    fn default() -> Self {
        RuntimeDir::new()
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        self.close_masters();
    }
}
