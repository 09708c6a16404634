//! The State Hub's dashboard in a real browser: a headless Chromium driven
//! over WebDriver ([`support::browser`]) against a real `hub serve` with a
//! token and a port registry, on loopback.
//!
//! Each test starts its own hub (file store in `W/hub-data`, VMs `build-01`
//! to `build-03` in `W/ports.yaml`) and its own browser, and signs in through
//! the sign-in form as an operator would. The hub's content comes from a real
//! `apply` of a Packer null-builder image through the hub (project
//! `web-shop`), and from records, notes and a catalog entry written through
//! the API with the token, as clients write them.
//!
//! Screenshots of every page are written to `W/screenshots/` (checked to be
//! PNG images); with `SANDBOXER_UPDATE_SCREENSHOTS=1` also to
//! `docs/dashboard/`, which `docs/state-hub.md` shows.
//!
//! Nothing is waited for with a sleep: a condition on the page's DOM is
//! polled with a deadline.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::browser::{Browser, PNG_MAGIC, png_size};
use support::hub::{HubProcess, Reply, Store};
use support::packer::PackerDirs;
use support::{Cli, Sandboxer, Workdir, sandboxer, wait_until};

/// How long a condition may take to hold before a test gives up.
const DEADLINE: Duration = Duration::from_secs(30);
/// The hub's token.
const TOKEN: &str = "dashboard-team-token-1";
/// The variable the manifests name in `hub.token_env`.
const TOKEN_ENV: &str = "SBX_TEAM_TOKEN";
/// Set to `1` to write the screenshots into `docs/dashboard/` as well.
const UPDATE_SCREENSHOTS: &str = "SANDBOXER_UPDATE_SCREENSHOTS";

/// The port registry of the hub: three build VMs.
const PORTS: &str = "version: 1\nports:\n  12221: build-01\n  12222: build-02\n  12223: build-03\n";

/// A null-builder image in two steps, each saying what it does.
const BASE_IMAGE: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = ["echo installing the toolchain on ${var.vm_name}", "echo toolchain ready"]
  }

  provisioner "shell-local" {
    inline = ["echo warming the build cache", "echo cache is cold, filling it >&2"]
  }
}
"#;

// ---------------------------------------------------------------------------
// Helpers

/// A test's browser, its hub and its folder (dropped in that order).
struct World {
    browser: Browser,
    hub: HubProcess,
    work: Workdir,
}

impl World {
    fn start() -> World {
        let work = Workdir::new();
        let ports = work.write("ports.yaml", PORTS);
        let hub = HubProcess::start_in(
            &Store::Files,
            &work.path().join("hub-data"),
            Some(TOKEN),
            &["--port-registry", &ports.display().to_string()],
        );
        let browser = Browser::start();
        World { browser, hub, work }
    }

    /// `http://ADDR/path` of the hub.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.hub.url())
    }

    /// A request to the hub's API with the token.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        self.hub.call(method, path, body.as_deref())
    }

    /// Signs in through the form on the sign-in page (any page shows it
    /// without a session).
    fn sign_in(&self) {
        self.browser.goto(&self.url("/"));
        assert!(self.browser.title().starts_with("Sign in"), "{}", self.browser.source());
        self.browser.type_into("#token", TOKEN);
        self.browser.click("form.login button");
        self.wait_for(
            "the VMs page after signing in",
            "return !!document.querySelector('table.vms');",
        );
    }

    /// Polls `script` (a function body returning true or false) in the page.
    fn wait_for(&self, what: &str, script: &str) {
        let mut last = Value::Null;
        let held = support::eventually(DEADLINE, || {
            last = self.browser.run(script, &[]);
            last == Value::Bool(true)
        });
        assert!(
            held,
            "timed out after {DEADLINE:?} waiting for {what} ({script} gave {last}) on {}:\n{}",
            self.browser.url(),
            self.browser.source()
        );
    }

    /// Clicks the link `css` and waits until the page is `title`.
    fn follow(&self, css: &str, title: &str) {
        self.browser.click(css);
        wait_until(&format!("the page {title:?} after clicking {css}"), DEADLINE, || {
            self.browser.title().starts_with(title)
        });
        assert_eq!(self.browser.alert_text(), None);
    }

    /// Writes a screenshot of the whole page as `W/screenshots/NAME.png` (and
    /// as `docs/dashboard/NAME.png` when asked to).
    fn screenshot(&self, name: &str) {
        let png = self.browser.screenshot_page();
        let size = png_size(&png);
        assert!(
            matches!(size, Some((w, h)) if w >= 800 && h >= 600),
            "{name}: not a PNG of the window ({size:?}, {} bytes)",
            png.len()
        );
        let file = self.work.write(format!("screenshots/{name}.png"), &png);
        let written = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        assert!(
            written.starts_with(PNG_MAGIC) && written.len() > PNG_MAGIC.len(),
            "{}",
            file.display()
        );
        if std::env::var(UPDATE_SCREENSHOTS).is_ok_and(|v| v == "1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard");
            std::fs::create_dir_all(&docs).unwrap_or_else(|e| panic!("create {}: {e}", docs.display()));
            let target = docs.join(format!("{name}.png"));
            std::fs::write(&target, &png).unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
        }
    }

    /// Posts a note to sandbox or image `id` through the API.
    fn note(&self, id: &str, address: &str, level: &str, text: &str) {
        let note = json!({"at": sandboxer::state::now_rfc3339(), "address": address, "level": level, "text": text});
        let posted = self.call("POST", &format!("/v1/sandboxes/{id}/notes"), Some(&note));
        assert_eq!(posted.status, 201, "{posted:?}");
    }

    /// Writes a record of a sandbox on a VM through the API, as an apply would.
    fn sandbox_record(&self, project: &str, name: &str, id: &str, vm_location: &str, extra: Value) {
        let mut attributes = json!({
            "profile": "profile.vm-haskell-build",
            "inputs.repo": "./services/checkout",
            "inputs.vm": vm_location,
        });
        if let (Some(attributes), Some(extra)) = (attributes.as_object_mut(), extra.as_object()) {
            attributes.extend(extra.clone());
        }
        let vm = vm_location.split(':').next().unwrap_or(vm_location);
        let record = json!({
            "address": format!("sandbox.{name}"),
            "id": id,
            "profile": "profile.vm-haskell-build",
            "driver": "ssh-workspace",
            "attributes": attributes,
            "spec_hash": "sha256:5f1c0a",
            "digests": {"repo": "sha256:9b2e47d1"},
            "facts": {"workspace": format!("/build/sbx-{id}"), "location": vm_location, "vm": vm},
            "depends_on": [],
            "created_at": "2026-03-02T09:14:05Z",
            "updated_at": sandboxer::state::now_rfc3339(),
            "provenance": {
                "applied_by": "dana@ops-laptop",
                "sandboxer_version": env!("CARGO_PKG_VERSION"),
                "git": {"commit": "4be1c07d93a25e8f61b0c2d4e7a9f3b5c8d1e2f4", "branch": "main", "dirty": false},
            },
        });
        let put = self.call(
            "PUT",
            &format!("/v1/projects/{project}/resources/sandbox.{name}"),
            Some(&json!({"record": record, "version": 0})),
        );
        assert_eq!(put.status, 200, "{put:?}");
    }

    /// The id of the record at `address` of `project` on the hub.
    fn id_of(&self, project: &str, address: &str) -> String {
        let got = self.call("GET", &format!("/v1/projects/{project}/resources/{address}"), None);
        assert_eq!(got.status, 200, "{got:?}");
        got.json()["record"]["id"].as_str().expect("an id").to_string()
    }

    /// The texts of the notes timeline's items, as the page shows them now.
    fn timeline(&self) -> Vec<String> {
        let texts = self.browser.run(
            "return Array.from(document.querySelectorAll('#notes li')).map(li => li.textContent);",
            &[],
        );
        texts
            .as_array()
            .expect("an array")
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The number in `#notes-count`.
    fn notes_count(&self) -> u64 {
        self.browser
            .text("#notes-count")
            .trim()
            .parse()
            .expect("a count of notes")
    }
}

impl Cli for World {
    /// `sandboxer` in W with the team token in `SBX_TEAM_TOKEN`.
    fn cmd(&self) -> Sandboxer {
        sandboxer().current_dir(self.work.path()).env(TOKEN_ENV, TOKEN)
    }
}

/// Builds the image `image.base` of project `web-shop` with the null builder,
/// applied through the world's hub.
fn apply_base_image(w: &World) {
    let dirs = PackerDirs::make(w.work.path());
    dirs.template("base", BASE_IMAGE);
    w.work.write(
        "sandboxes.yaml",
        format!(
            "version: 1\nproject: web-shop\nhub: {{ url: '{}', token_env: {TOKEN_ENV} }}\nimages:\n  base:\n    \
             profile: profile.vm-packer-build\n    inputs:\n      packer_template: ./tpl/base\n      vm_name: build-01\n",
            w.hub.url()
        ),
    );
    let out = dirs.command(w.cmd()).args(["apply", "--auto-approve"]).run();
    assert_eq!(out.code, 0, "{out}");
}

/// The page's `img` elements, and those inside the notes timeline.
fn images(w: &World) -> (u64, u64) {
    let counted = w.browser.run(
        "return [document.querySelectorAll('img').length, document.querySelectorAll('#notes img').length];",
        &[],
    );
    (
        counted[0].as_u64().unwrap_or(u64::MAX),
        counted[1].as_u64().unwrap_or(u64::MAX),
    )
}

// ---------------------------------------------------------------------------
// Signing in, every page, and notes arriving while a page is open

/// An operator opens the hub: the sign-in page (a wrong token refused), then
/// the VMs, a VM, the projects, a project, and the image a real apply built,
/// whose timeline shows the notes that arrive after it loaded without a
/// reload; signing out leaves only the sign-in page.
#[test]
fn an_operator_signs_in_walks_every_page_and_sees_notes_arrive_without_a_reload() {
    let w = World::start();
    apply_base_image(&w);
    let image = w.id_of("web-shop", "image.base");
    w.sandbox_record("payments", "api", "k3v9q2xa", "build-01:12221", json!({}));
    w.sandbox_record("payments", "worker", "p8d2m4ne", "build-02:12222", json!({}));
    w.note(
        "k3v9q2xa",
        "sandbox.api",
        "info",
        "setup: cabal build all finished in 3m12s",
    );
    let catalog = json!({
        "name": "build-01",
        "observed_at": "2026-03-02T09:10:00Z",
        "capabilities": {
            "ghc": {"value": "9.6.4", "status": "present", "source": "probe", "observed_at": "2026-03-02T09:10:00Z"},
            "cabal": {"value": "3.10.2.1", "status": "present", "source": "probe", "observed_at": "2026-03-02T09:10:00Z"},
            "nix": {"status": "absent", "source": "probe", "observed_at": "2026-03-02T09:10:00Z", "detail": "command not found"},
        },
        "free_disk": {
            "/build": {"value": "53687091200", "status": "present", "source": "fact", "observed_at": "2026-03-02T09:10:00Z"},
        },
        "files": {"/etc/sandboxer/capabilities.json": "missing"},
    });
    let put = w.call("PUT", "/v1/vms/build-01", Some(&catalog));
    assert_eq!(put.status, 200, "{put:?}");
    let holder = json!({"id": "", "pid": 4242, "host": "ops-laptop", "user": "dana", "command": "apply", "since": sandboxer::state::now_rfc3339()});
    let lock = w.call(
        "POST",
        "/v1/projects/payments/lock",
        Some(&json!({"holder": holder, "ttl_seconds": 600})),
    );
    assert_eq!(lock.status, 201, "{lock:?}");

    // Not signed in: every page is the sign-in page.
    w.browser.goto(&w.url("/projects"));
    assert!(w.browser.title().starts_with("Sign in"), "{}", w.browser.source());
    assert!(
        w.browser.find("table").is_none(),
        "nothing of the state before signing in"
    );
    w.browser.goto(&w.url("/login"));
    w.screenshot("login");
    w.browser.type_into("#token", "not-the-token");
    w.browser.click("form.login button");
    w.wait_for(
        "the refusal of a wrong token",
        "return !!document.querySelector('p.error') && document.querySelector('p.error').textContent.includes(\"not this hub's token\");",
    );
    assert!(w.browser.find("table").is_none());

    // Signing in lands on the VMs.
    w.browser.type_into("#token", TOKEN);
    w.browser.click("form.login button");
    w.wait_for("the VMs page", "return !!document.querySelector('table.vms');");
    assert_eq!(w.browser.url(), w.url("/"));
    assert_eq!(w.browser.text("h1"), "VMs");
    let rows = w.browser.run(
        "return Array.from(document.querySelectorAll('table.vms tbody tr')).map(tr => \
         Array.from(tr.cells).slice(0, 3).map(td => td.innerText));",
        &[],
    );
    let rows = rows.as_array().expect("rows").clone();
    assert_eq!(rows.len(), 3, "the registry's three VMs: {rows:?}");
    assert_eq!(rows[0][0], "build-01");
    assert_eq!(rows[0][1], "12221");
    assert!(
        rows[0][2].as_str().unwrap_or_default().contains("sandbox.api"),
        "{rows:?}"
    );
    assert_eq!(rows[1][0], "build-02");
    assert!(
        rows[1][2].as_str().unwrap_or_default().contains("sandbox.worker"),
        "{rows:?}"
    );
    assert_eq!(rows[2][0], "build-03");
    // The session is the browser's, out of reach of the page's scripts.
    let cookies = w.browser.run("return document.cookie;", &[]);
    assert!(
        !cookies.as_str().unwrap_or_default().contains("sandboxer_session"),
        "the session cookie is HttpOnly: {cookies}"
    );
    w.screenshot("vms");

    w.follow("table.vms a[href='/vms/build-01']", "VM build-01");
    let capabilities = w.browser.text("table.capabilities");
    assert!(
        capabilities.contains("ghc") && capabilities.contains("9.6.4"),
        "{capabilities}"
    );
    assert!(w.browser.text("table.resources").contains("sandbox.api"));
    w.screenshot("vm");

    w.follow("nav a[href='/projects']", "Projects");
    let projects = w.browser.run(
        "return Array.from(document.querySelectorAll('table.projects tbody tr')).map(tr => \
         [tr.cells[0].innerText, tr.cells[1].innerText, tr.cells[3].innerText]);",
        &[],
    );
    let projects = projects.as_array().expect("rows").clone();
    assert_eq!(projects.len(), 2, "{projects:?}");
    assert_eq!(
        (&projects[0][0], &projects[0][1]),
        (&json!("payments"), &json!("2")),
        "{projects:?}"
    );
    let lease = projects[0][2].as_str().unwrap_or_default();
    assert!(
        lease.starts_with("held by dana@ops-laptop (pid 4242, apply)"),
        "the lease and its holder: {lease}"
    );
    assert_eq!(projects[1], json!(["web-shop", "1", "free"]), "{projects:?}");
    w.screenshot("projects");

    w.follow("table.projects a[href='/projects/web-shop']", "Project web-shop");
    assert!(w.browser.text("table.resources").contains("image.base"));
    w.screenshot("project");

    w.follow(
        "table.resources a[href='/projects/web-shop/resources/image.base']",
        "image.base (web-shop)",
    );
    // The build's own notes, from the real apply: its steps and what it said on stderr.
    let loaded = w.timeline();
    let steps = loaded
        .iter()
        .filter(|t| t.contains("Running local shell script"))
        .count();
    assert_eq!(steps, 2, "{loaded:#?}");
    assert!(
        loaded.iter().any(|t| t.ends_with("null.x: cache is cold, filling it")),
        "{loaded:#?}"
    );
    assert_eq!(w.notes_count(), loaded.len() as u64);

    // Notes posted after the page loaded appear in it, in order, without a
    // reload. (Posted through the API as a client posts them; a build under
    // way is followed from "In progress" in the next test.)
    w.browser.run("window.sandboxerLoadedOnce = 'yes';", &[]);
    let later = [
        ("info", "artifact uploaded to the image store"),
        ("warn", "build-01 has 3 GiB of disk left"),
    ];
    for (level, text) in later {
        assert!(!loaded.iter().any(|t| t.contains(text)));
        w.note(&image, "image.base", level, text);
    }
    wait_until("the notes posted after the page loaded appear in it", DEADLINE, || {
        w.timeline().len() == loaded.len() + later.len()
    });
    let now = w.timeline();
    assert_eq!(now[..loaded.len()], loaded[..], "the notes on load stay as they were");
    for (shown, (_, text)) in now[loaded.len()..].iter().zip(later) {
        assert!(shown.ends_with(text), "{shown:?} is the note {text:?}");
    }
    assert_eq!(w.notes_count(), now.len() as u64, "the count follows");
    let fresh = w.browser.run(
        "return Array.from(document.querySelectorAll('#notes li.fresh span.note')).map(s => s.className);",
        &[],
    );
    assert_eq!(
        fresh,
        json!(["note info", "note warn"]),
        "new notes are marked as new, with their level"
    );
    let same_page = w.browser.run(
        "return [window.sandboxerLoadedOnce, performance.getEntriesByType('navigation').length];",
        &[],
    );
    assert_eq!(same_page, json!(["yes", 1]), "the page was not reloaded");
    w.screenshot("resource");

    // Signing out: back to the sign-in page, and the pages are closed again.
    w.browser.click("nav form button");
    wait_until("the sign-in page after signing out", DEADLINE, || {
        w.browser.title().starts_with("Sign in")
    });
    w.browser.goto(&w.url("/projects/web-shop"));
    assert!(w.browser.title().starts_with("Sign in"), "{}", w.browser.source());
    assert!(w.browser.find("table").is_none());
}

/// A build that waits for the test between its two steps (60 s at most).
const WAITING_IMAGE: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = [
      "echo building ${var.vm_name}: waiting for the go-ahead >&2",
      "i=0; while [ ! -e @OUT@/go-ahead ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done",
    ]
  }

  provisioner "shell-local" {
    inline = ["echo go-ahead received, image sealed >&2"]
  }
}
"#;

/// While a Packer build runs through the hub, the VMs page lists it "In
/// progress" (the hub has no record of it until it ends); its page shows the
/// build's notes, and the notes the build prints after the page loaded
/// appear in it without a reload; once the build ends, the image has its
/// record and the link leads to it.
#[test]
fn a_build_under_way_is_followed_live_from_the_vms_page() {
    let w = World::start();
    w.sign_in();
    let dirs = PackerDirs::make(w.work.path());
    dirs.template("waiting", WAITING_IMAGE);
    w.work.write(
        "sandboxes.yaml",
        format!(
            "version: 1\nproject: web-shop\nhub: {{ url: '{}', token_env: {TOKEN_ENV} }}\nimages:\n  base:\n    \
             profile: profile.vm-packer-build\n    inputs:\n      packer_template: ./tpl/waiting\n      vm_name: build-01\n",
            w.hub.url()
        ),
    );
    let apply = dirs.command(w.cmd()).args(["apply", "--auto-approve"]).spawn();

    // The build's first notes reach the hub: the VMs page lists it.
    wait_until("the VMs page lists the build in progress", DEADLINE, || {
        w.browser.goto(&w.url("/"));
        w.browser.find("table.in-progress a").is_some()
    });
    assert!(w.browser.text("table.in-progress").contains("image.base"));
    w.follow("table.in-progress a", "image.base (not recorded yet)");
    wait_until("the build says it waits", DEADLINE, || {
        w.timeline().iter().any(|t| t.contains("waiting for the go-ahead"))
    });
    let loaded = w.timeline();
    assert!(!loaded.iter().any(|t| t.contains("image sealed")), "{loaded:#?}");
    w.browser.run("window.sandboxerLoadedOnce = 'yes';", &[]);

    // The build goes on: what it prints now appears in the open page.
    std::fs::write(dirs.out().join("go-ahead"), "").expect("let the build go on");
    wait_until("the build's later notes appear without a reload", DEADLINE, || {
        w.timeline()
            .iter()
            .any(|t| t.contains("go-ahead received, image sealed"))
    });
    let same_page = w.browser.run(
        "return [window.sandboxerLoadedOnce, performance.getEntriesByType('navigation').length];",
        &[],
    );
    assert_eq!(same_page, json!(["yes", 1]), "the page was not reloaded");
    assert!(w.notes_count() > loaded.len() as u64);

    let done = apply.wait();
    assert_eq!(done.code, 0, "{done}");
    // Recorded now: the VMs page no longer lists it in progress, and its id leads to its record.
    let id = w.id_of("web-shop", "image.base");
    w.browser.goto(&w.url(&format!("/sandboxes/{id}")));
    wait_until("the image's own page", DEADLINE, || {
        w.browser.title().starts_with("image.base (web-shop)")
    });
    w.browser.goto(&w.url("/"));
    assert!(w.browser.find("table.in-progress").is_none(), "{}", w.browser.source());
}

// ---------------------------------------------------------------------------
// Markup in what clients write

/// A note whose text is markup shows as that text, on load and when it
/// arrives through the live stream, and so does markup in a record's
/// attributes: no element is made of it and no script runs (no alert opens,
/// which the browser would show, as the last check proves).
#[test]
fn markup_in_notes_and_records_stays_text_on_load_and_when_streamed() {
    let w = World::start();
    let payload = "<img src=x onerror=alert(1)>";
    w.sandbox_record(
        "payments",
        "probe",
        "x55q0zr1",
        "build-02:12222",
        json!({"inputs.branch": "<img src=x onerror=alert(2)>"}),
    );
    w.note("x55q0zr1", "sandbox.probe", "info", "setup started");
    w.note("x55q0zr1", "sandbox.probe", "error", payload);
    w.sign_in();

    // The VMs page shows the last note of build-02: the payload, as text.
    let last_note = w.browser.run(
        "return Array.from(document.querySelectorAll('table.vms tbody tr')).find(tr => tr.cells[0].innerText === 'build-02').cells[4].innerText;",
        &[],
    );
    assert!(last_note.as_str().unwrap_or_default().ends_with(payload), "{last_note}");
    assert_eq!(images(&w), (0, 0));
    assert_eq!(w.browser.alert_text(), None);

    w.browser.goto(&w.url("/projects/payments/resources/sandbox.probe"));
    assert_eq!(w.browser.alert_text(), None, "no script of a note ran on load");
    assert_eq!(images(&w), (0, 0), "no element was made of the markup");
    let timeline = w.timeline();
    assert!(timeline.last().is_some_and(|t| t.ends_with(payload)), "{timeline:#?}");
    assert!(w.browser.text("#notes").contains(payload), "shown as text");
    assert!(
        w.browser
            .text("table.attributes")
            .contains("<img src=x onerror=alert(2)>")
    );

    // The same through the live stream, while the page is open.
    let streamed = "<img src=y onerror=alert(3)><script>alert(4)</script>";
    w.note("x55q0zr1", "sandbox.probe", "error", streamed);
    wait_until("the streamed note appears", DEADLINE, || {
        w.timeline().len() == timeline.len() + 1
    });
    let now = w.timeline();
    assert!(now.last().is_some_and(|t| t.ends_with(streamed)), "{now:#?}");
    let elements = w.browser.run(
        "return document.querySelectorAll('#notes img, #notes script').length;",
        &[],
    );
    assert_eq!(elements, json!(0), "no element was made of the streamed markup");
    assert_eq!(images(&w), (0, 0));
    assert_eq!(w.browser.alert_text(), None, "no script of a streamed note ran");
    assert!(w.browser.text("#notes").contains(streamed), "shown as text");

    // The checks above would see an alert: this page, opening one itself, does.
    w.browser.run("setTimeout(function () { alert('an alert'); }, 0);", &[]);
    wait_until("the browser reports the page's alert", DEADLINE, || {
        w.browser.alert_text().as_deref() == Some("an alert")
    });
    w.browser.dismiss_alert();
}
