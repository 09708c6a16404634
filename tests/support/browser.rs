//! A real headless Chromium for tests of the hub's dashboard as an operator's
//! browser shows it, driven over WebDriver (W3C, JSON over HTTP) by Debian's
//! `chromedriver`.
//!
//! [`Browser::start`] runs `chromedriver --port=0` as a child of the test in a
//! process group of its own (it prints the port it took; polled with a
//! deadline), then opens a session: Chromium with `--headless=new`,
//! `--no-sandbox` (the tests run as root on CI), its profile, config and
//! cache in a temporary folder (nothing lands in the user's), no background
//! networking, component updates, sync or first-run pages, no proxy and no
//! host name resolved (the tests reach the hub by `127.0.0.1`), and a
//! 1280x900 window. An alert a page opens is left open
//! (`unhandledPromptBehavior: ignore`), so [`Browser::alert_text`] can see
//! it. Dropping the browser ends the session (Chromium quits), then
//! chromedriver's process group.
//!
//! The requests to chromedriver go through [`super::hub::try_request`]: one
//! HTTP/1.1 exchange per connection on loopback, no client library. A
//! WebDriver error (`{"value": {"error": ..., "message": ...}}`) comes back as
//! [`WebDriverError`].
//!
//! Without `chromium` or `chromedriver` on the `PATH` the tests fail, naming
//! the Debian packages (`chromium chromium-driver`; `scripts/test` installs them).

#![allow(dead_code)] // each test file uses its own part of this module

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::wait_until;

/// How long chromedriver may take to listen, and Chromium to start.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The key of an element reference in W3C WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The PNG signature every screenshot starts with.
pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// An error chromedriver answered with (or the exchange failing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDriverError {
    /// The W3C error code, e.g. `no such alert`, `no such element`.
    pub error: String,
    /// What chromedriver said of it.
    pub message: String,
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// `chromedriver`, a child of the test leading a process group of its own.
struct Chromedriver {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Chromedriver {
    /// Starts chromedriver with `home` as the browser's config and cache
    /// folders (crash reports land there, not in the user's).
    fn start(program: &Path, home: &Path) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(program)
            .arg("--port=0")
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout is piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr is piped")),
        ] {
            let sink = Arc::clone(&output);
            std::thread::spawn(move || copy_into(pipe, &sink));
        }
        let mut port = None;
        let mut exited = false;
        wait_until("chromedriver prints the port it listens on", START_DEADLINE, || {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            port = listening_port(&text_of(&output));
            exited || port.is_some()
        });
        match port {
            Some(port) if !exited => Chromedriver {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                output,
            },
            _ => panic!("chromedriver exited before listening:\n{}", text_of(&output)),
        }
    }
}

impl Drop for Chromedriver {
    /// Ends the whole group: chromedriver and any browser it left.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
            let gone = super::eventually(Duration::from_secs(5), || matches!(self.child.try_wait(), Ok(Some(_))));
            if gone {
                break;
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_into(mut pipe: impl std::io::Read, sink: &Mutex<Vec<u8>>) {
    let mut buffer = [0u8; 4096];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(&buffer[..n]),
        }
    }
}

fn text_of(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

/// The port in chromedriver's `ChromeDriver was started successfully on port N.`
fn listening_port(output: &str) -> Option<u16> {
    let rest = output.split("started successfully on port ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The full path of `program` on the `PATH`, if it is there.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
}

/// Chromium's and chromedriver's paths; panics naming the Debian packages when
/// either is missing.
pub fn programs() -> (PathBuf, PathBuf) {
    let chromium = on_path("chromium");
    let chromedriver = on_path("chromedriver");
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        (chromium, chromedriver) => {
            let missing: Vec<&str> = [
                ("chromium", chromium.is_none()),
                ("chromedriver", chromedriver.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            panic!(
                "the dashboard's browser tests drive a headless Chromium through chromedriver, and {} {} \
                 not on the PATH: install Debian's packages `chromium chromium-driver` \
                 (apt-get install chromium chromium-driver; scripts/test installs them)",
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" }
            )
        }
    }
}

/// One WebDriver session of a headless Chromium.
pub struct Browser {
    session: String,
    // Dropped in this order: the driver (after the session was deleted), then
    // the folder of the browser's profile, config and cache.
    driver: Chromedriver,
    home: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (see the module docs).
    pub fn start() -> Browser {
        let (chromium, chromedriver) = programs();
        let home = tempfile::tempdir().expect("create a temporary folder for the browser");
        let driver = Chromedriver::start(&chromedriver, home.path());
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            format!("--user-data-dir={}", home.path().join("profile").display()),
            "--disable-background-networking".to_string(),
            "--no-first-run".to_string(),
            "--disable-component-update".to_string(),
            "--disable-default-apps".to_string(),
            "--disable-sync".to_string(),
            "--window-size=1280,900".to_string(),
            // Loopback only: no proxy between the browser and the hub, and no
            // host name resolves (the tests reach the hub by its address).
            "--no-proxy-server".to_string(),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string(),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "unhandledPromptBehavior": "ignore",
                    "goog:chromeOptions": {
                        "binary": chromium.display().to_string(),
                        "args": args,
                    },
                },
            },
        });
        let answer = send(driver.addr, "POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| panic!("chromedriver did not start Chromium: {e}\n{}", text_of(&driver.output)));
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {answer}"))
            .to_string();
        Browser { session, driver, home }
    }

    /// The temporary folder of the browser's profile (`profile/`), config
    /// and cache.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// One command of this session: `method` on `/session/{id}{path}`.
    pub fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WebDriverError> {
        send(
            self.driver.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// [`Browser::command`], panicking with chromedriver's error.
    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Loads `url` and waits for the page's load event.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The URL of the page shown.
    pub fn url(&self) -> String {
        self.must("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.must("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's markup as the DOM is now (serialised by the browser).
    pub fn source(&self) -> String {
        self.must("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page
    /// and returns what it returns.
    pub fn run(&self, script: &str, args: &[Value]) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The element matching the CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        match self.command(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        ) {
            Ok(found) => found[ELEMENT].as_str().map(str::to_string),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("WebDriver find {css:?}: {e}"),
        }
    }

    fn element(&self, css: &str) -> String {
        self.find(css)
            .unwrap_or_else(|| panic!("no element {css:?} on {}:\n{}", self.url(), self.source()))
    }

    /// The rendered text of the element matching `css` (panics when there is none).
    pub fn text(&self, css: &str) -> String {
        let element = self.element(css);
        self.must("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.must(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        );
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.must("POST", &format!("/element/{element}/click"), Some(&json!({})));
    }

    /// The text of the alert (or confirm, or prompt) the page has open, if any.
    pub fn alert_text(&self) -> Option<String> {
        match self.command("GET", "/alert/text", None) {
            Ok(text) => Some(text.as_str().unwrap_or_default().to_string()),
            Err(e) if e.error == "no such alert" => None,
            Err(e) => panic!("WebDriver alert text: {e}"),
        }
    }

    /// Dismisses the open alert.
    pub fn dismiss_alert(&self) {
        self.must("POST", "/alert/dismiss", Some(&json!({})));
    }

    /// The window's viewport as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.must("GET", "/screenshot", None);
        let encoded = encoded.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_else(|e| panic!("the screenshot is not base64: {e}"))
    }

    /// The whole page as PNG bytes: for the shot, the window is made as tall
    /// as the page (at most 4,000 pixels), then given its height back.
    pub fn screenshot_page(&self) -> Vec<u8> {
        let rect = self.must("GET", "/window/rect", None);
        let (width, height) = (
            rect["width"].as_u64().unwrap_or_default(),
            rect["height"].as_u64().unwrap_or_default(),
        );
        let needed = self
            .run(
                "return document.documentElement.scrollHeight + (window.outerHeight - window.innerHeight);",
                &[],
            )
            .as_u64()
            .unwrap_or_default()
            .min(4000);
        if needed <= height {
            return self.screenshot();
        }
        // chromedriver changes neither without both.
        self.must(
            "POST",
            "/window/rect",
            Some(&json!({ "width": width, "height": needed })),
        );
        let png = self.screenshot();
        self.must(
            "POST",
            "/window/rect",
            Some(&json!({ "width": width, "height": height })),
        );
        png
    }
}

impl Drop for Browser {
    /// Ends the session, so Chromium quits before chromedriver is stopped
    /// (the driver's process group is ended afterwards in any case).
    fn drop(&mut self) {
        let _ = send(self.driver.addr, "DELETE", &format!("/session/{}", self.session), None);
    }
}

/// One WebDriver request to chromedriver at `addr`: the answer's `value`, or its error.
fn send(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WebDriverError> {
    let body = body.map(Value::to_string);
    let reply =
        super::hub::try_request(addr, method, path, None, &[], body.as_deref()).map_err(|e| WebDriverError {
            error: "no answer".into(),
            message: e.to_string(),
        })?;
    let answer: Value = serde_json::from_str(&reply.body).map_err(|e| WebDriverError {
        error: "not JSON".into(),
        message: format!("{e}: HTTP {} {:?}", reply.status, reply.body),
    })?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if reply.status == 200 {
        return Ok(value);
    }
    Err(WebDriverError {
        error: value["error"].as_str().unwrap_or("unknown error").to_string(),
        message: value["message"].as_str().unwrap_or_default().to_string(),
    })
}

/// Whether `bytes` is a PNG image (its signature and an `IHDR` chunk), and its
/// width and height.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(PNG_MAGIC) || bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    (width > 0 && height > 0).then_some((width, height))
}
