//! A real PostgreSQL server for the hub's database store, started by the test
//! itself and never a system-wide one.
//!
//! [`shared`] starts one server per test binary (on first use): `initdb` into a
//! folder of its own under the temporary folder, then `postgres` listening on
//! 127.0.0.1 at a free port, with its socket in that folder. Each test takes a
//! fresh database of it ([`PgServer::database`]). [`PgServer::own`] starts a
//! server for one test alone, which it may stop and start again.
//!
//! `initdb` and `postgres` refuse to run as root: as root (CI), they run as
//! the `postgres` user Debian's package makes, through `setpriv`, which also
//! gives the server a parent-death signal: when the test binary ends, however
//! it ends, the server gets SIGINT (a fast shutdown). The server is started
//! from a thread that never ends, since the signal follows the thread that
//! made the child. Folders of servers whose test binary is gone are removed
//! at the next start. Durability is off (`fsync=off`): the tests kill hubs,
//! not the machine.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running PostgreSQL server of the tests.
pub struct PgServer {
    root: PathBuf,
    data: PathBuf,
    port: u16,
    bin: PathBuf,
    child: Mutex<Option<Child>>,
    /// Stop it when dropped (a test's own server; the shared one stops with the binary).
    owned: bool,
    /// `-c name=value` settings of its own (TLS).
    settings: Vec<String>,
}

/// The server of this test binary, started on first use.
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| PgServer::start("shared", false, None))
}

static SERVERS: AtomicUsize = AtomicUsize::new(0);
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The folder of PostgreSQL's programs: Debian keeps them out of PATH.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let from_config = Command::new("pg_config").arg("--bindir").output();
    match from_config {
        Ok(out) if out.status.success() => PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        _ => panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres (scripts/test installs Debian's postgresql)"
        ),
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `program args...` as the server's user: as root, `postgres` through
/// `setpriv` (with the parent-death signal); else as this user.
fn as_server_user(program: &Path, pdeathsig: bool) -> Command {
    let mut command = Command::new("setpriv");
    if running_as_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    if pdeathsig {
        command.args(["--pdeathsig", "INT"]);
    }
    command.arg("--").arg(program);
    command
}

/// A free loopback port (the kernel's pick, let go at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Removes the folders of servers whose test binary is gone.
fn remove_stale_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("sandboxer-pg-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Spawns `command` from a thread that lives as long as the test binary: the
/// parent-death signal fires when the binary ends, not when a test's thread does.
fn spawn_kept(mut command: Command) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(command.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("the spawning thread answers").expect("start postgres")
}

impl PgServer {
    /// A server for one test, which it may stop and start; stopped when dropped.
    pub fn own(name: &str) -> PgServer {
        PgServer::start(name, true, None)
    }

    /// A server for one test that takes TLS with the certificate `cert` and
    /// its key `key` (PEM files; copied into the server's folder).
    pub fn own_with_tls(name: &str, cert: &Path, key: &Path) -> PgServer {
        PgServer::start(name, true, Some((cert, key)))
    }

    fn start(name: &str, owned: bool, tls: Option<(&Path, &Path)>) -> PgServer {
        remove_stale_folders();
        let bin = bin_dir();
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("sandboxer-pg-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("make the server's folder");
        // The server's user must reach its folder.
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("open the server's folder");
        let data = root.join("data");
        std::fs::create_dir(&data).expect("make the data folder");
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            let (cert_copy, key_copy) = (root.join("server.pem"), root.join("server.key"));
            std::fs::copy(cert, &cert_copy).expect("copy the certificate");
            std::fs::copy(key, &key_copy).expect("copy the key");
            // PostgreSQL refuses a key others may read.
            std::fs::set_permissions(&key_copy, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("make the key private");
            settings.extend([
                "ssl=on".to_string(),
                format!("ssl_cert_file={}", cert_copy.display()),
                format!("ssl_key_file={}", key_copy.display()),
            ]);
        }
        if running_as_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown the server's folder to postgres");
        }
        let initdb = as_server_user(&bin.join("initdb"), false)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let server = PgServer {
            root,
            data,
            port: free_port(),
            bin,
            child: Mutex::new(None),
            owned,
            settings,
        };
        server.run();
        server
    }

    /// Starts the server process and waits until it takes connections.
    fn run(&self) {
        let mut command = as_server_user(&self.bin.join("postgres"), true);
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.root)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.root.join("server.log")).map_or(Stdio::null(), Stdio::from));
        for setting in &self.settings {
            command.args(["-c", setting]);
        }
        let child = spawn_kept(command);
        *self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
        let up = super::eventually(START_DEADLINE, || self.psql("postgres", "SELECT 1").is_ok());
        if !up {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            panic!(
                "PostgreSQL took no connection on port {} within {START_DEADLINE:?}; its log:\n{log}",
                self.port
            );
        }
    }

    /// Runs one SQL statement in `database` (one per call: CREATE DATABASE
    /// cannot run in a transaction block); its output, or its error.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql])
            .env_remove("PGPASSWORD")
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The `psql` of this server's PostgreSQL.
    pub fn psql_path(&self) -> PathBuf {
        self.bin.join("psql")
    }

    /// Everything `database` holds, as `pg_dump --data-only` writes it.
    pub fn dump(&self, database: &str) -> String {
        let out = Command::new(self.bin.join("pg_dump"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "--data-only",
                database,
            ])
            .env_remove("PGPASSWORD")
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump {database}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A fresh, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "hub_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (a fast shutdown: clients are disconnected) and waits.
    pub fn stop(&self) {
        let child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        assert!(
            self.child
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none(),
            "stop the server before starting it again"
        );
        self.run();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
