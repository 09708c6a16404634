//! TLS in front of a test hub: certificates made with the `openssl` command
//! line, and Debian's `stunnel4` terminating TLS on a loopback port and
//! forwarding the plain HTTP to the hub, as an operator's proxy would.
//!
//! [`TestCa::make`] writes a CA (`ca.pem`, `ca.key`) and a server certificate
//! it signed for `127.0.0.1` and `localhost` (`server.pem`, `server.key`) into
//! a folder of the test. [`Stunnel::start`] runs `stunnel4` in the foreground
//! with a config written in that folder (no pid file, its log in
//! `stunnel.log` there), on a free loopback port, and waits with a deadline
//! until the port accepts connections; dropping it kills the process.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, wait_until};

/// How long stunnel may take to listen.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `openssl ARGS` in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run openssl (scripts/test installs it): {e}"));
    assert!(
        output.status.success(),
        "openssl {} failed\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a server certificate it signed, as files in a folder.
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes the CA `ca.pem`/`ca.key` and the server certificate
    /// `server.pem`/`server.key` (for `127.0.0.1` and `localhost`) in `dir`.
    /// P-256 keys, valid for two days.
    pub fn make(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).expect("create the certificates' folder");
        TestCa::make_ca(dir, "ca", "sandboxer test CA");
        #[rustfmt::skip]
        openssl(dir, &[
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        ]);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("write server.ext");
        #[rustfmt::skip]
        openssl(dir, &[
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-CAserial", "ca.srl", "-days", "2",
            "-extfile", "server.ext", "-out", "server.pem",
        ]);
        TestCa { dir: dir.to_path_buf() }
    }

    /// Makes another, unrelated self-signed CA `NAME.pem`/`NAME.key` in `dir`
    /// (one that signed nothing the hub presents); returns its certificate.
    pub fn make_ca(dir: &Path, name: &str, common_name: &str) -> PathBuf {
        let (cert, key, subject) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("/CN={common_name}"),
        );
        #[rustfmt::skip]
        openssl(dir, &[
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subject,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        dir.join(cert)
    }

    /// The CA's certificate (PEM).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's certificate (PEM).
    pub fn server_pem(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// A running `stunnel4` terminating TLS for a plain-HTTP backend.
pub struct Stunnel {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Stunnel {
    /// Starts stunnel in `dir` (config and log there) presenting `ca`'s server
    /// certificate on a free loopback port and forwarding to `backend`.
    pub fn start(dir: &Path, ca: &TestCa, backend: SocketAddr) -> Stunnel {
        let mut last = String::new();
        // A free port is picked, then bound by stunnel: another process may
        // take it in between, so a bind failure is tried again on a new one.
        for _ in 0..5 {
            let port = free_port();
            match Stunnel::try_start(dir, ca, backend, port) {
                Ok(stunnel) => return stunnel,
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("stunnel did not start\n{log}"),
            }
        }
        panic!("stunnel found no free port\n{last}");
    }

    fn try_start(dir: &Path, ca: &TestCa, backend: SocketAddr, port: u16) -> Result<Stunnel, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = dir.join("stunnel.conf");
        let log = dir.join("stunnel.log");
        // `pid =` empty: no pid file anywhere; the log goes to stderr in the foreground.
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = notice\n\n[hub]\naccept = {addr}\nconnect = {backend}\ncert = {}\nkey = {}\n",
                ca.server_pem().display(),
                ca.server_key().display()
            ),
        )
        .expect("write stunnel.conf");
        let stderr = File::create(&log).expect("create stunnel.log");
        let child = Command::new(stunnel_binary())
            .arg(&config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("run stunnel4 (scripts/test installs it): {e}"));
        let mut stunnel = Stunnel { child, addr, log };
        let mut exited = false;
        let listening = eventually(START_DEADLINE, || {
            exited = !stunnel.is_running();
            exited || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        });
        match (listening, exited) {
            (true, false) => {
                // The check's connection is logged a moment later: wait for it,
                // so that `connections()` counts from a settled number.
                wait_until("stunnel logs the readiness check's connection", START_DEADLINE, || {
                    stunnel.connections() >= 1
                });
                Ok(stunnel)
            }
            (_, true) => Err(stunnel.log()),
            (false, false) => panic!(
                "timed out after {START_DEADLINE:?} waiting until stunnel listens on {addr}\n{}",
                stunnel.log()
            ),
        }
    }

    /// The address it accepts TLS on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connections it accepted so far (the readiness check made one).
    pub fn connections(&self) -> usize {
        self.log().matches("accepted connection from").count()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's name for stunnel 5 (`stunnel4`), else plain `stunnel`.
fn stunnel_binary() -> &'static str {
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    if on_path("stunnel4") { "stunnel4" } else { "stunnel" }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}
