//! A real State Hub (`sandboxer hub serve`) for integration tests, and a tiny
//! HTTP/1.1 client to talk to it directly.
//!
//! [`HubProcess::start`] runs `sandboxer hub serve --listen 127.0.0.1:0 --data DIR`
//! as a child of the test, reads the bound address from its stderr line
//! `State Hub listening on http://ADDR (...)` (polled with a deadline) and kills it
//! when dropped. The token, if any, reaches the hub through the variable
//! [`HUB_TOKEN_ENV`] (`--token-env`), never on the command line.
//!
//! [`request`] sends one request over a fresh `TcpStream` (`Connection: close`)
//! and returns the status and the body (read up to its `Content-Length`, else to
//! the end of the stream): enough for JSON APIs on loopback (the hub's, and
//! chromedriver's for [`super::browser`]), with no HTTP client crate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Output, Running, sandboxer, wait_until};

/// The variable the test hub reads its token from (`--token-env`).
pub const HUB_TOKEN_ENV: &str = "SBX_TEST_HUB_SERVER_TOKEN";

/// How long a hub may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Where a test hub keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// The file store, in the hub's data folder.
    Files,
    /// A fresh database of the test binary's PostgreSQL server
    /// ([`super::postgres::shared`]); the data folder stays empty.
    Postgres,
    /// This PostgreSQL database (a URL).
    Database(String),
}

/// A running `sandboxer hub serve`.
pub struct HubProcess {
    running: Option<Running>,
    addr: SocketAddr,
    data: PathBuf,
    token: Option<String>,
    /// `--data DIR` or `--store URL`, then any other flags.
    args: Vec<String>,
}

/// Why a hub did not start.
#[derive(Debug)]
pub struct StartFailed(pub Output);

impl HubProcess {
    /// Starts a hub on a free loopback port with data folder `data`.
    pub fn start(data: &Path, token: Option<&str>) -> HubProcess {
        HubProcess::start_in(&Store::Files, data, token, &[])
    }

    /// Starts a hub keeping its data in `store` (in `data` for the file
    /// store), with `flags` of its own.
    pub fn start_in(store: &Store, data: &Path, token: Option<&str>, flags: &[&str]) -> HubProcess {
        let mut args = match store {
            Store::Files => vec!["--data".to_string(), data.display().to_string()],
            Store::Postgres => vec!["--store".to_string(), super::postgres::shared().database()],
            Store::Database(url) => vec!["--store".to_string(), url.clone()],
        };
        args.extend(flags.iter().map(|f| (*f).to_string()));
        let hub = HubProcess::launch("127.0.0.1:0", data, token, args)
            .unwrap_or_else(|e| panic!("the hub did not start\n{}", e.0));
        // The store the test asked for, and no other.
        let health = hub.call("GET", "/v1/health", None).json();
        let kind = match store {
            Store::Files => "file",
            Store::Postgres | Store::Database(_) => "postgres",
        };
        assert_eq!(health["store"]["kind"], kind, "{health}");
        hub
    }

    /// Starts another hub on the same store (the same database, or the same
    /// data folder) as this one, with its token and flags.
    pub fn another(&self) -> HubProcess {
        HubProcess::launch("127.0.0.1:0", &self.data, self.token.as_deref(), self.args.clone())
            .unwrap_or_else(|e| panic!("the hub did not start\n{}", e.0))
    }

    /// Starts a hub listening on `listen`; `Err` with its output when it exits
    /// before listening (e.g. the port is taken).
    pub fn start_on(listen: &str, data: &Path, token: Option<&str>) -> Result<HubProcess, StartFailed> {
        HubProcess::launch(
            listen,
            data,
            token,
            vec!["--data".to_string(), data.display().to_string()],
        )
    }

    fn launch(listen: &str, data: &Path, token: Option<&str>, args: Vec<String>) -> Result<HubProcess, StartFailed> {
        let mut command = sandboxer()
            .args(["hub", "serve", "--listen", listen])
            .args(&args)
            .args(["--token-env", HUB_TOKEN_ENV]);
        if let Some(token) = token {
            command = command.env(HUB_TOKEN_ENV, token);
        }
        let mut running = command.spawn();
        let mut exited = false;
        wait_until("the hub prints the address it listens on", START_DEADLINE, || {
            exited = !running.is_running();
            exited || listening_addr(&running.stderr_so_far()).is_some()
        });
        let addr = listening_addr(&running.stderr_so_far());
        match addr {
            Some(addr) if !exited => Ok(HubProcess {
                running: Some(running),
                addr,
                data: data.to_path_buf(),
                token: token.map(str::to_string),
                args,
            }),
            _ => Err(StartFailed(running.wait())),
        }
    }

    /// The store URL of a hub on PostgreSQL.
    pub fn store_url(&self) -> Option<&str> {
        self.args
            .iter()
            .position(|a| a == "--store")
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data folder.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.running.as_ref().expect("the hub runs").pid()
    }

    /// What it printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.running.as_ref().map(Running::stderr_so_far).unwrap_or_default()
    }

    /// Sends `signal` (`KILL`, `TERM`) and waits for it to exit.
    pub fn stop_with(&mut self, signal: &str) -> Output {
        let running = self.running.take().expect("the hub runs");
        running.signal(signal);
        running.wait()
    }

    /// Starts it again on the same store, token and flags, on the same port if
    /// it can be bound within a few seconds, else on a new free port (check
    /// [`HubProcess::url`] afterwards).
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "stop the hub before restarting it");
        let same = self.addr.to_string();
        let mut last = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            match HubProcess::launch(&same, &self.data, self.token.as_deref(), self.args.clone()) {
                Ok(mut hub) => {
                    self.running = hub.running.take();
                    return;
                }
                Err(StartFailed(out)) => last = Some(out),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "port {} not free again ({}); restarting on a new port",
            self.addr.port(),
            last.map(|o| o.stderr).unwrap_or_default()
        );
        let mut hub = HubProcess::launch("127.0.0.1:0", &self.data, self.token.as_deref(), self.args.clone())
            .unwrap_or_else(|e| panic!("the hub did not start\n{}", e.0));
        self.running = hub.running.take();
        self.addr = hub.addr;
    }

    /// One request to this hub with its token (if it has one).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        request(self.addr, method, path, self.token.as_deref(), &[], body)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        // `Running`'s own drop kills a process still running.
        self.running.take();
    }
}

/// The address in `State Hub listening on http://ADDR (...)`.
fn listening_addr(stderr: &str) -> Option<SocketAddr> {
    let rest = stderr.split("State Hub listening on http://").nth(1)?;
    let end = rest.find(|c: char| c.is_whitespace())?;
    rest[..end].parse().ok()
}

/// A status, the headers and a body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
    /// The header lines (`name: value`), as sent.
    pub headers: Vec<String>,
}

impl Reply {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body as JSON (panics, showing the reply, if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Sends one HTTP/1.1 request to `addr` and reads the whole answer.
/// `token` becomes `Authorization: Bearer <token>`; `body` is sent as JSON.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    try_request(addr, method, path, token, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// [`request`], with I/O errors (e.g. nothing listening) returned.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let raw = read_answer(&mut stream)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no end of headers in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    let headers = head.lines().skip(1).map(str::to_string).collect();
    Ok(Reply { status, body, headers })
}

/// The bytes of one answer: up to the end of its body when it has a
/// `Content-Length`, else up to the end of the stream. (A server may answer
/// without the connection ending: chromedriver's sockets are inherited by the
/// browser it starts.)
fn read_answer(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|length| raw.len() >= end + 4 + length) {
                return Ok(raw);
            }
        }
        match stream.read(&mut buffer)? {
            0 => return Ok(raw),
            n => raw.extend_from_slice(&buffer[..n]),
        }
    }
}

/// The payload of a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Seconds since the epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn unix_seconds(rfc3339: &str) -> Option<i64> {
    let (date, time) = rfc3339.trim().trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (hh, mm) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let ss = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Seconds since the epoch now.
pub fn now_unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
