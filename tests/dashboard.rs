//! The State Hub's dashboard over HTTP, against a real `sandboxer hub serve`
//! on each store (`file_store::*`, `postgres_store::*`): what each page shows
//! of records, notes, leases and the port registry; escaping of whatever a
//! record or note says; the access rules (the sign-in page alone without the
//! token, a wrong token refused, the session cookie, the bearer header, the
//! API unchanged); the security headers; the notes stream; pagination. (A real
//! browser drives the pages in `dashboard_browser.rs`.)

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::Workdir;
use support::hub::{HubProcess, Reply, Store, request};

const TOKEN: &str = "dash-token-1";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// A record of `address` with `id` on `vm`, applied by `who` at `at`.
fn record(address: &str, id: &str, vm: &str, at: &str) -> Value {
    json!({
        "address": address,
        "id": id,
        "profile": "profile.vm-haskell-build",
        "driver": "ssh-workspace",
        "attributes": {"profile": "profile.vm-haskell-build", "inputs.vm": vm},
        "spec_hash": "sha256:00",
        "digests": {},
        "facts": {"vm": vm, "workspace": format!("/build/sbx-{id}"), "note": HOSTILE},
        "depends_on": [],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": at,
        "provenance": {
            "applied_by": "ada@build-host",
            "sandboxer_version": "0.1.0",
            "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "branch": "main", "dirty": false}
        },
    })
}

fn put(hub: &HubProcess, project: &str, record: &Value, lock: Option<&str>) {
    let address = record["address"].as_str().expect("an address");
    let body = json!({"record": record, "version": 0}).to_string();
    let headers: Vec<(&str, &str)> = lock.map(|id| ("X-Sandboxer-Lock-Id", id)).into_iter().collect();
    let reply = request(
        hub.addr(),
        "PUT",
        &format!("/v1/projects/{project}/resources/{address}"),
        Some(TOKEN),
        &headers,
        Some(&body),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

fn note(hub: &HubProcess, id: &str, text: &str) {
    let body = json!({"at": "2026-12-05T12:00:00Z", "address": "sandbox.app", "level": "info", "text": text});
    let reply = hub.call("POST", &format!("/v1/sandboxes/{id}/notes"), Some(&body.to_string()));
    assert_eq!(reply.status, 201, "{reply:?}");
}

/// A GET of a page with the bearer token.
fn page(hub: &HubProcess, path: &str) -> Reply {
    request(hub.addr(), "GET", path, Some(TOKEN), &[], None)
}

/// A GET of a page with a session cookie, or nothing.
fn page_with_cookie(hub: &HubProcess, path: &str, cookie: Option<&str>) -> Reply {
    let header = cookie.map(|c| format!("sandboxer_session={c}"));
    let headers: Vec<(&str, &str)> = header.iter().map(|h| ("Cookie", h.as_str())).collect();
    request(hub.addr(), "GET", path, None, &headers, None)
}

fn registry(work: &Workdir, vms: usize) -> String {
    let mut text = String::from("version: 1\nports:\n");
    for i in 0..vms {
        text.push_str(&format!("  {}: vm{:03}\n", 20000 + i, i));
    }
    let path = work.write("ports.yaml", text);
    path.to_str().expect("a UTF-8 path").to_string()
}

fn start(store: &Store, work: &Workdir, vms: usize) -> HubProcess {
    let ports = registry(work, vms);
    HubProcess::start_in(
        store,
        &work.path().join("hub-data"),
        Some(TOKEN),
        &["--port-registry", &ports],
    )
}

/// Asserts the headers every dashboard answer carries.
fn assert_guarded(reply: &Reply) {
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{reply:?}");
    assert!(csp.contains("script-src 'self'"), "{reply:?}");
    assert!(!csp.contains("unsafe-inline"), "{reply:?}");
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{reply:?}");
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{reply:?}");
}

/// Every page's content, escaped, on one store.
fn pages_show_vms_projects_resources_and_notes_escaped(store: Store) {
    let work = Workdir::new();
    let hub = start(&store, &work, 3);
    put(
        &hub,
        "team",
        &record("sandbox.app", "appx0001", "vm001", "2026-12-05T11:00:00Z"),
        None,
    );
    put(
        &hub,
        "team",
        &record("sandbox.lib", "libx0001", "vm001", "2026-12-05T09:00:00Z"),
        None,
    );
    put(
        &hub,
        "other",
        &record("sandbox.web", "webx0001", "vm-unregistered", "2026-12-04T08:00:00Z"),
        None,
    );
    note(&hub, "appx0001", "synced 12 files");
    note(&hub, "appx0001", HOSTILE);
    let lock = json!({
        "holder": {"id": "", "pid": 4242, "host": "ci-runner", "user": "grace", "command": "apply", "since": "2026-12-05T12:00:00Z"},
        "ttl_seconds": 600
    });
    let taken = hub.call("POST", "/v1/projects/team/lock", Some(&lock.to_string()));
    assert_eq!(taken.status, 201, "{taken:?}");

    // The VMs: the registry's three (one empty), and the one only a record names.
    let vms = page(&hub, "/");
    assert_eq!(vms.status, 200, "{vms:?}");
    assert_guarded(&vms);
    assert_eq!(vms.header("content-type"), Some("text/html; charset=utf-8"));
    for text in [
        "vm000",
        "vm001",
        "vm002",
        "vm-unregistered",
        "20001",
        "sandbox.app",
        "sandbox.lib",
    ] {
        assert!(vms.body.contains(text), "no {text} on /\n{}", vms.body);
    }
    assert!(vms.body.contains("4 VMs, 3 resources in all."), "{}", vms.body);
    // vm001's newest apply, who made it and from which commit; its last note.
    let row = vms.body.split("<a href=\"/vms/vm001\">").nth(1).expect("vm001's row");
    let row = &row[..row.find("</tr>").expect("the row's end")];
    assert!(
        row.contains("2026-12-05T11:00:00Z by ada@build-host at <code>0123456789ab</code>"),
        "{row}"
    );
    assert!(
        row.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the last note, as text: {row}"
    );
    assert!(
        row.contains("sandbox.lib</a> <span class=\"project\">team</span> <time>2026-12-05T09:00:00Z</time>"),
        "each resource with its project and last apply: {row}"
    );

    // One VM, with its resources.
    let vm = page(&hub, "/vms/vm001");
    assert_eq!(vm.status, 200, "{vm:?}");
    assert!(
        vm.body.contains("Tunnel port 20001; 2 sandboxes and images."),
        "{}",
        vm.body
    );
    assert!(vm.body.contains("Not probed yet."), "{}", vm.body);
    assert_eq!(page(&hub, "/vms/nosuchvm").status, 404);

    // The projects, with the lease and its holder.
    let projects = page(&hub, "/projects");
    assert_eq!(projects.status, 200, "{projects:?}");
    assert!(projects.body.contains("2 projects."), "{}", projects.body);
    assert!(
        projects
            .body
            .contains("held by grace@ci-runner (pid 4242, <code>apply</code>)"),
        "{}",
        projects.body
    );
    assert!(
        projects.body.contains("<span class=\"free\">free</span>"),
        "other's lock is free"
    );
    let team = page(&hub, "/projects/team");
    assert_eq!(team.status, 200, "{team:?}");
    let before_left = &team.body[..team
        .body
        .find(" s left")
        .unwrap_or_else(|| panic!("no time left in {}", team.body))];
    let left: u64 = before_left
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before `s left` in {}", team.body));
    assert!((500..=600).contains(&left), "{left} s left of a 600 s lease");
    assert!(team.body.contains("2 resources; 2 writes."), "{}", team.body);
    assert_eq!(page(&hub, "/projects/nothing").status, 404);

    // A resource: its record and its notes, every value escaped.
    let resource = page(&hub, "/projects/team/resources/sandbox.app");
    assert_eq!(resource.status, 200, "{resource:?}");
    for text in [
        "appx0001",
        "profile.vm-haskell-build",
        "/build/sbx-appx0001",
        "synced 12 files",
        "inputs.vm",
    ] {
        assert!(resource.body.contains(text), "no {text}\n{}", resource.body);
    }
    assert!(
        resource.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        resource.body
    );
    assert!(
        !resource.body.contains(HOSTILE),
        "a note became markup\n{}",
        resource.body
    );
    assert!(
        resource.body.contains("data-notes-id=\"appx0001\" data-cursor=\"2\""),
        "the timeline says where the stream starts\n{}",
        resource.body
    );
    assert!(
        resource
            .body
            .contains("<script src=\"/static/live.js\" defer></script>")
    );
    assert!(
        resource
            .body
            .contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>")
    );
    assert_eq!(page(&hub, "/projects/team/resources/sandbox.nope").status, 404);
    assert_eq!(page(&hub, "/projects/team/resources/not-an-address").status, 404);

    // The stylesheet and the script are the binary's own.
    let style = page(&hub, "/static/style.css");
    assert_eq!(style.header("content-type"), Some("text/css; charset=utf-8"));
    let script = page(&hub, "/static/live.js");
    assert!(script.body.contains("EventSource"), "{script:?}");
    assert!(!script.body.contains("innerHTML"), "notes are added as text only");
}

/// Without the token nothing but the sign-in page; a wrong token refused; the
/// session cookie and the bearer header let in; signing out ends the session;
/// the API keeps its own rules.
fn access_is_the_apis_and_a_session_comes_from_the_token(store: Store) {
    let work = Workdir::new();
    let hub = start(&store, &work, 1);
    put(
        &hub,
        "secretproject",
        &record("sandbox.app", "apps0001", "vm000", "2026-12-05T11:00:00Z"),
        None,
    );
    for path in [
        "/",
        "/vms/vm000",
        "/projects",
        "/projects/secretproject",
        "/projects/secretproject/resources/sandbox.app",
        "/events/notes/apps0001",
        "/static/live.js",
        "/no/such/page",
    ] {
        let anonymous = page_with_cookie(&hub, path, None);
        assert_eq!(anonymous.status, 401, "{path}: {anonymous:?}");
        assert!(anonymous.body.contains("<h1>Sign in</h1>"), "{path}: {anonymous:?}");
        assert!(!anonymous.body.contains("secretproject"), "{path} shows the state");
        assert_guarded(&anonymous);
        let forged = page_with_cookie(&hub, path, Some("not-a-session"));
        assert_eq!(forged.status, 401, "{path}: {forged:?}");
    }
    assert_eq!(page_with_cookie(&hub, "/login", None).status, 200);
    assert_eq!(page_with_cookie(&hub, "/static/style.css", None).status, 200);

    let form = |token: &str| {
        let mut stream = std::net::TcpStream::connect(hub.addr()).expect("connect");
        let body = format!("token={token}");
        write!(
            stream,
            "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send the form");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).expect("read the answer");
        text
    };
    let wrong = form("not-the-token");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(wrong.contains("That is not this hub&#39;s token."), "{wrong}");
    assert!(!wrong.to_ascii_lowercase().contains("set-cookie"), "{wrong}");

    let right = form(TOKEN);
    assert!(right.starts_with("HTTP/1.1 303"), "{right}");
    assert!(right.to_ascii_lowercase().contains("location: /\r\n"), "{right}");
    let cookie_line = right
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {right}"));
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let session = cookie_line
        .split("sandboxer_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("a session id")
        .to_string();
    assert!(!cookie_line.contains(TOKEN), "the cookie is not the token");

    let signed_in = page_with_cookie(&hub, "/projects/secretproject", Some(&session));
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert!(signed_in.body.contains("sandbox.app"));
    // The bearer header lets a script in too.
    assert_eq!(page(&hub, "/projects").status, 200);
    // The API is unchanged: its bearer token, not the dashboard's cookie.
    let header = format!("sandboxer_session={session}");
    let api = request(
        hub.addr(),
        "GET",
        "/v1/projects/secretproject/resources",
        None,
        &[("Cookie", &header)],
        None,
    );
    assert_eq!(api.status, 401, "{api:?}");
    assert_eq!(
        hub.call("GET", "/v1/projects/secretproject/resources", None).status,
        200
    );
    // No page writes: a POST to a page is refused, the state unchanged.
    let post = request(
        hub.addr(),
        "POST",
        "/projects/secretproject",
        Some(TOKEN),
        &[],
        Some("{}"),
    );
    assert_eq!(post.status, 405, "{post:?}");

    let out = request(hub.addr(), "POST", "/logout", None, &[("Cookie", &header)], None);
    assert_eq!(out.status, 303, "{out:?}");
    assert!(
        out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")),
        "{out:?}"
    );
    assert_eq!(
        page_with_cookie(&hub, "/", Some(&session)).status,
        401,
        "the session ended"
    );
}

/// The notes stream: a note posted after the stream opened arrives on it,
/// with its number as the event's id, escaped nowhere but as JSON text.
fn the_notes_stream_sends_what_arrives_after_the_cursor(store: Store) {
    let work = Workdir::new();
    let hub = start(&store, &work, 1);
    put(
        &hub,
        "team",
        &record("sandbox.app", "strm0001", "vm000", "2026-12-05T11:00:00Z"),
        None,
    );
    note(&hub, "strm0001", "before the page");
    let mut stream = std::net::TcpStream::connect(hub.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    write!(
        stream,
        "GET /events/notes/strm0001?since=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("ask for the stream");
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read the head") > 0,
            "closed: {head}"
        );
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/event-stream"),
        "{head}"
    );
    note(&hub, "strm0001", HOSTILE);
    let mut seen = String::new();
    while !seen.contains("onerror") {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read the stream") > 0,
            "closed: {seen}"
        );
        seen.push_str(&line);
    }
    assert!(seen.contains("event: note"), "{seen}");
    assert!(seen.contains("id: 2"), "{seen}");
    assert!(
        !seen.contains("before the page"),
        "the stream starts after the cursor: {seen}"
    );
    let data = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let note: Value = serde_json::from_str(data).expect("a note as JSON");
    assert_eq!(note["text"], HOSTILE);
}

/// Notes arriving for a resource the hub has no record of yet (an image
/// being built) are listed "In progress" on `/` and `/projects`, linking to
/// its live timeline; once its record is written, the link leads to the
/// record's page and the list no longer names it.
fn notes_of_a_resource_not_recorded_yet_are_in_progress(store: Store) {
    let work = Workdir::new();
    let hub = start(&store, &work, 1);
    let body = json!({"at": "2026-12-05T12:00:00Z", "address": "image.base", "level": "info", "text": "null.x: Running local shell script"});
    let posted = hub.call("POST", "/v1/sandboxes/bld00001/notes", Some(&body.to_string()));
    assert_eq!(posted.status, 201, "{posted:?}");
    for path in ["/", "/projects"] {
        let shown = page(&hub, path);
        assert!(shown.body.contains("<h2>In progress</h2>"), "{path}: {}", shown.body);
        assert!(
            shown.body.contains("<a href=\"/sandboxes/bld00001\">image.base</a>"),
            "{path}: {}",
            shown.body
        );
        assert!(shown.body.contains("null.x: Running local shell script"), "{path}");
    }
    let live = page(&hub, "/sandboxes/bld00001");
    assert_eq!(live.status, 200, "{live:?}");
    assert!(live.body.contains("image.base (not recorded yet)"), "{}", live.body);
    assert!(
        live.body.contains("data-notes-id=\"bld00001\" data-cursor=\"1\""),
        "{}",
        live.body
    );
    assert_eq!(page(&hub, "/sandboxes/nothing1").status, 404);

    // The build ends: its record is written.
    let mut built = record("image.base", "bld00001", "vm000", "2026-12-05T12:05:00Z");
    built["address"] = json!("image.base");
    put(&hub, "team", &built, None);
    let moved = page(&hub, "/sandboxes/bld00001");
    assert_eq!(moved.status, 303, "{moved:?}");
    assert_eq!(moved.header("location"), Some("/projects/team/resources/image.base"));
    assert!(
        !page(&hub, "/").body.contains("In progress"),
        "a recorded resource is not in progress"
    );
}

/// 120 VMs: 50 a page, with links to the others.
fn the_vms_come_in_pages_of_fifty(store: Store) {
    let work = Workdir::new();
    let hub = start(&store, &work, 120);
    let first = page(&hub, "/");
    assert!(first.body.contains("120 VMs"), "{}", first.body);
    assert_eq!(first.body.matches("<a href=\"/vms/").count(), 50);
    assert!(first.body.contains("page 1 of 3"), "{}", first.body);
    assert!(first.body.contains("<a href=\"/?page=2\">next</a>"));
    let last = page(&hub, "/?page=3");
    assert_eq!(last.body.matches("<a href=\"/vms/").count(), 20);
    assert!(last.body.contains("vm119") && !last.body.contains("vm000"));
    let past = page(&hub, "/?page=99");
    assert_eq!(past.status, 200, "{past:?}");
    assert!(
        past.body.contains("page 3 of 3") && past.body.contains("vm119"),
        "past the end: the last page\n{}",
        past.body
    );
}

/// Opens `GET path` and reads the head of the answer; the stream, to read on.
fn open_stream(hub: &HubProcess, path: &str, auth: &str) -> (String, BufReader<std::net::TcpStream>) {
    let mut stream = std::net::TcpStream::connect(hub.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Accept: text/event-stream\r\n\r\n"
    )
    .expect("ask");
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read the head") == 0 {
            break;
        }
        head.push_str(&line);
    }
    (head, reader)
}

/// Signing in: a form from another site is refused; guessing is slowed
/// (429 past 5 failures in 10 s, even for the right token); a stream opened
/// with a session ends when the session does; streams are capped.
#[test]
fn sign_in_is_guarded_and_a_stream_ends_with_its_session() {
    let work = Workdir::new();
    let hub = start(&Store::Files, &work, 1);
    let post_form = |token: &str, extra: &str| {
        let mut stream = std::net::TcpStream::connect(hub.addr()).expect("connect");
        let body = format!("token={token}");
        write!(
            stream,
            "POST /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            hub.addr(),
            body.len()
        )
        .expect("send the form");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).expect("read the answer");
        text
    };
    let elsewhere = post_form(TOKEN, "Origin: https://evil.example\r\n");
    assert!(elsewhere.starts_with("HTTP/1.1 403"), "{elsewhere}");
    let fetched = post_form(TOKEN, "Sec-Fetch-Site: cross-site\r\n");
    assert!(fetched.starts_with("HTTP/1.1 403"), "{fetched}");
    let here = post_form(TOKEN, &format!("Origin: http://{}\r\n", hub.addr()));
    assert!(here.starts_with("HTTP/1.1 303"), "{here}");
    let session = here
        .split("sandboxer_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("a session")
        .to_string();

    // A stream opened with the session ends once the session is ended.
    put(
        &hub,
        "team",
        &record("sandbox.app", "endx0001", "vm000", "2026-12-05T11:00:00Z"),
        None,
    );
    let cookie = format!("Cookie: sandboxer_session={session}\r\n");
    let (head, mut reader) = open_stream(&hub, "/events/notes/endx0001", &cookie);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let out = request(
        hub.addr(),
        "POST",
        "/logout",
        None,
        &[("Cookie", &format!("sandboxer_session={session}"))],
        None,
    );
    assert_eq!(out.status, 303, "{out:?}");
    // The body is chunked: its last chunk, `0`, ends it (the connection may
    // stay open). A stream that went on would time the read out: a panic.
    let mut rest = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line.trim_end() == "0" => break,
            Ok(_) => rest.push_str(&line),
            Err(e) => panic!("the stream went on after sign-out ({e}): {rest}"),
        }
    }

    // At most 64 streams at once; the next is told to come back later.
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    let mut open = Vec::new();
    for _ in 0..64 {
        let (head, reader) = open_stream(&hub, "/events/notes/endx0001", &bearer);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(reader);
    }
    let (refused, _) = open_stream(&hub, "/events/notes/endx0001", &bearer);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    drop(open);

    // Guesses: five wrong tokens, then even the right one waits.
    for _ in 0..5 {
        let wrong = post_form("guess", "");
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    }
    let throttled = post_form(TOKEN, "");
    assert!(throttled.starts_with("HTTP/1.1 429"), "{throttled}");
    assert!(throttled.contains("Too many failed sign-ins"), "{throttled}");
    // The API is not the dashboard's sign-in: it still answers the token.
    assert_eq!(hub.call("GET", "/v1/projects/team/resources", None).status, 200);
    let api = hub.call("GET", "/v1/projects/team/resources", None);
    assert!(api.header("x-content-type-options") == Some("nosniff"), "{api:?}");
}

/// An open hub (no token) shows its pages to anyone, as its API.
#[test]
fn an_open_hub_shows_its_pages_without_signing_in() {
    let work = Workdir::new();
    let hub = HubProcess::start_in(&Store::Files, &work.path().join("open"), None, &[]);
    let reply = request(hub.addr(), "GET", "/", None, &[], None);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("<h1>VMs</h1>"));
    let login = request(hub.addr(), "GET", "/login", None, &[], None);
    assert_eq!(login.status, 303, "nothing to sign in to: {login:?}");
    assert!(Path::new(&work.path().join("open")).is_dir());
}

macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        mod file_store {
            use super::*;
            $(
                #[test]
                fn $name() {
                    super::$name(Store::Files);
                }
            )*
        }
        mod postgres_store {
            use super::*;
            $(
                #[test]
                fn $name() {
                    super::$name(Store::Postgres);
                }
            )*
        }
    };
}

on_each_store!(
    pages_show_vms_projects_resources_and_notes_escaped,
    access_is_the_apis_and_a_session_comes_from_the_token,
    the_notes_stream_sends_what_arrives_after_the_cursor,
    the_vms_come_in_pages_of_fifty,
    notes_of_a_resource_not_recorded_yet_are_in_progress,
);
