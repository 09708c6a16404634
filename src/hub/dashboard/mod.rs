//! The dashboard: read-only pages of the hub's state at `/` (the API stays
//! under `/v1`), server-rendered HTML with one stylesheet and one small
//! script, both in the binary. Every page reads through the hub's store
//! ([`Backend`]), so it shows the same on the file store and on PostgreSQL.
//!
//! - `/` — the VMs: one row per VM of the port registry (`hub serve
//!   --port-registry FILE`) and per VM a record names, with its tunnel port,
//!   the resources on it, the last apply and the last note; 50 VMs a page.
//! - `/vms/{name}` — one VM: its resources and its capability catalog entry.
//! - `/projects` and `/projects/{p}` — the projects: their resources, the last
//!   apply (who, when, which commit), the lease and its holder with the time left.
//! - "In progress" on `/` and `/projects`: the resources notes arrive for that
//!   have no record yet (an image being built), each linking to
//!   `/sandboxes/{id}`, its notes live.
//! - `/projects/{p}/resources/{address}` — a sandbox or image: its record and
//!   its notes as a timeline. `live.js` streams the notes that arrive after
//!   the page was made (`/events/notes/{id}`, server-sent events from the
//!   notes cursor); without JavaScript the page reloads itself every 5 s.
//!
//! Access is the API's: with a token, the pages need it, as the bearer header
//! or a session made by signing in with it (`/login`); without it, only the
//! sign-in page is shown. No page changes anything. Every value from records,
//! notes and leases is escaped ([`html::esc`]); the responses carry a
//! Content-Security-Policy that allows the hub's own stylesheet and script
//! and nothing else.

pub mod html;
pub mod session;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use self::html::{Html, Page, Section, esc, link, url_part};
use super::backend::{self, ApiError, Backend, RecordSummary};
use crate::port_registry::LoadedRegistry;
use crate::state::{Note, Record};

/// VMs on one page of `/`.
pub const VMS_PER_PAGE: usize = 50;
/// Resources named in one VM's row of `/` (the VM's page lists them all).
const RESOURCES_PER_ROW: usize = 8;
/// Notes on a resource's page (the newest).
const NOTES_SHOWN: u64 = 200;
/// How often the notes stream looks for new notes.
const NOTES_POLL: Duration = Duration::from_millis(500);
/// How long one notes stream runs; the browser then opens a new one, which
/// passes the sign-in check again.
const STREAM_LIFE: Duration = Duration::from_secs(3600);
/// Notes streams open at once on this hub; past it, 503 (each polls the store).
pub const MAX_STREAMS: usize = 64;

const STYLE: &str = include_str!("style.css");
const LIVE: &str = include_str!("live.js");

/// The Content-Security-Policy of every dashboard response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the dashboard reads and whom it lets in.
pub struct Dashboard {
    /// The hub's store.
    pub backend: Arc<dyn Backend>,
    /// The port registry the hub was given, for the VMs no record names yet.
    pub registry: Option<LoadedRegistry>,
    /// The hub's token; none: an open hub.
    pub token: Option<String>,
    /// Signed-in browsers.
    pub sessions: session::Sessions,
    /// One permit per open notes stream.
    pub streams: Arc<tokio::sync::Semaphore>,
}

impl Dashboard {
    /// A dashboard over `backend`.
    pub fn new(backend: Arc<dyn Backend>, registry: Option<LoadedRegistry>, token: Option<String>) -> Dashboard {
        Dashboard {
            backend,
            registry,
            token,
            sessions: session::Sessions::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        }
    }
}

impl Dashboard {
    /// Whether a request may see the pages: an open hub, the bearer token, or
    /// a live session.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        super::server::bearer_matches(headers, token) || session_of(headers).is_some_and(|id| self.sessions.valid(id))
    }
}

fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_cookies)
}

type Shared = Arc<Dashboard>;

/// The dashboard's routes (everything but `/v1`), with their own state.
pub fn router(dashboard: Shared) -> Router {
    Router::new()
        .route("/", get(vms_page))
        .route("/vms/{name}", get(vm_page))
        .route("/projects", get(projects_page))
        .route("/projects/{project}", get(project_page))
        .route("/projects/{project}/resources/{address}", get(resource_page))
        .route("/sandboxes/{id}", get(sandbox_page))
        .route("/events/notes/{id}", get(notes_stream))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(live))
        .with_state(dashboard)
}

/// Paths anyone may fetch: the sign-in page and what it needs.
pub fn public(path: &str) -> bool {
    matches!(path, "/login" | "/static/style.css")
}

/// In front of the dashboard (every path outside `/v1`, unknown ones too):
/// the sign-in page for whoever is not admitted, and the security headers on
/// every answer.
pub async fn guard(dashboard: &Dashboard, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut response = if public(&path) || dashboard.admits(request.headers()) {
        next.run(request).await
    } else {
        login_form(StatusCode::UNAUTHORIZED, None)
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Links to other sites carry no referrer; the hub's own forms keep their origin.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !path.starts_with("/static/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page of the dashboard: its layout around `body`.
fn page_response(status: StatusCode, title: &str, section: Section, body: Html) -> Response {
    html_response(
        status,
        html::page(Page {
            title,
            section,
            body,
            refresh_without_script: None,
            live: false,
        }),
    )
}

/// A page whose notes timeline goes on live (and reloads every 5 s without script).
fn live_page_response(title: &str, section: Section, body: Html) -> Response {
    html_response(
        StatusCode::OK,
        html::page(Page {
            title,
            section,
            body,
            refresh_without_script: Some(5),
            live: true,
        }),
    )
}

/// A store error where a value would be, as the page says it.
fn error_span(e: &ApiError) -> Html {
    Html::raw(format!("<span class=\"error\">{}</span>", esc(&e.1.error)))
}

fn html_response(status: StatusCode, body: Html) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into_string(),
    )
        .into_response()
}

/// A store error as a page, with the status the API would give.
fn error_page(e: ApiError) -> Response {
    let body = Html::raw(format!("<p>{}</p>", error_span(&e)));
    page_response(e.0, "The hub could not answer", Section::Vms, body)
}

fn not_found(what: &str) -> Response {
    let body = Html::raw(format!("<p>{}</p>", esc(what)));
    page_response(StatusCode::NOT_FOUND, "Not found", Section::Vms, body)
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn live() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], LIVE).into_response()
}

// ---------------------------------------------------------------------------
// Signing in and out

fn login_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem.map_or(Html::default(), |p| {
        Html::raw(format!("<p class=\"error\">{}</p>", esc(p)))
    });
    let body = Html::raw(format!(
        "<p>This State Hub needs its token to be read.</p>{problem}\
         <form method=\"post\" action=\"/login\" class=\"login\">\
         <label for=\"token\">Token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button>Sign in</button></form>"
    ));
    page_response(status, "Sign in", Section::Login, body)
}

async fn login_page(State(dashboard): State<Shared>, headers: HeaderMap) -> Response {
    if dashboard.token.is_none() || dashboard.admits(&headers) {
        return Redirect::to("/").into_response();
    }
    login_form(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// Whether a form was posted from another site: the browser says so
/// (`Sec-Fetch-Site`), or its `Origin` is not the host it was sent to.
fn cross_site(headers: &HeaderMap) -> bool {
    // A browser that says where a request comes from is believed: no page can
    // set this header. `none` is the user's own navigation.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    // Older browsers: the origin, unless hidden (`null`), must be the host.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null") | None, _) => false,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        (Some(_), None) => true,
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "a form of another site; sign in on the hub's own page",
    )
        .into_response()
}

async fn login(State(dashboard): State<Shared>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = &dashboard.token else {
        return Redirect::to("/").into_response();
    };
    if cross_site(&headers) {
        return forbidden();
    }
    if dashboard.sessions.sign_in_throttled() {
        return login_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins on this hub just now; wait a few seconds."),
        );
    }
    if !super::server::constant_time_eq(form.token.as_bytes(), token.as_bytes()) {
        dashboard.sessions.failed_sign_in();
        tracing::warn!("dashboard: a sign-in with a wrong token");
        return login_form(StatusCode::UNAUTHORIZED, Some("That is not this hub's token."));
    }
    // A new session replaces the browser's old one.
    if let Some(old) = session_of(&headers) {
        dashboard.sessions.end(old);
    }
    let id = match dashboard.sessions.start() {
        Ok(id) => id,
        Err(e) => {
            tracing::error!("dashboard: no session made: cannot read the kernel's random source: {e}");
            return login_form(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("The hub cannot make a session now."),
            );
        }
    };
    // Behind a TLS proxy that says so, the cookie travels over HTTPS only.
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id, secure)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout(State(dashboard): State<Shared>, headers: HeaderMap) -> Response {
    if cross_site(&headers) {
        return forbidden();
    }
    if let Some(id) = session_of(&headers) {
        dashboard.sessions.end(id);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---------------------------------------------------------------------------
// Pieces shared by the pages

/// When and by whom a record was last applied, and from which commit.
fn applied(record: &Record) -> Html {
    applied_at(&record.updated_at, record.provenance.as_deref())
}

/// [`applied`] of the parts a summary has.
fn applied_at(updated_at: &str, provenance: Option<&crate::provenance::Provenance>) -> Html {
    let mut out = String::new();
    out.push_str(&esc(updated_at).into_string());
    if let Some(provenance) = provenance {
        if let Some(by) = &provenance.applied_by {
            out.push_str(&format!(" by {}", esc(by)));
        }
        if let Some(git) = &provenance.git {
            out.push_str(&format!(
                " at <code>{}</code>{}",
                esc(git.short_commit()),
                if git.dirty { " (uncommitted changes)" } else { "" }
            ));
        }
    }
    Html::raw(out)
}

/// The link to a resource's page.
fn resource_href(project: &str, address: &str) -> Html {
    Html::raw(format!(
        "/projects/{}/resources/{}",
        url_part(project),
        url_part(address)
    ))
}

fn note_line(note: &Note) -> Html {
    let level = match note.level.as_str() {
        level @ ("info" | "warn" | "error") => level,
        _ => "info",
    };
    Html::raw(format!(
        "<span class=\"note {level}\"><time>{}</time> {}</span>",
        esc(&note.at),
        esc(&note.text)
    ))
}

/// The lease of a project as words: its holder and the time left.
fn lease_words(lease: Option<&backend::Lease>) -> Html {
    let Some(lease) = lease else {
        return Html::raw("<span class=\"free\">free</span>");
    };
    let left = lease.expires_unix_ms.saturating_sub(backend::now_ms()) / 1000;
    Html::raw(format!(
        "<span class=\"held\">held by {}@{} (pid {}, <code>{}</code>) since {}, {} s left</span>",
        esc(&lease.holder.user),
        esc(&lease.holder.host),
        lease.holder.pid,
        esc(&lease.holder.command),
        esc(&lease.holder.since),
        left
    ))
}

/// `?page=N`.
#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
}

// ---------------------------------------------------------------------------
// The VMs

/// One VM's row: its port and its records, newest apply first.
struct VmRow {
    port: Option<u16>,
    records: Vec<RecordSummary>,
}

/// Every VM: the registry's and every one a record names; and the records on no VM.
fn vm_rows(
    registry: Option<&LoadedRegistry>,
    all: Vec<RecordSummary>,
) -> (BTreeMap<String, VmRow>, Vec<RecordSummary>) {
    let mut rows: BTreeMap<String, VmRow> = BTreeMap::new();
    if let Some(registry) = registry {
        for (port, vm) in &registry.registry.ports {
            rows.entry(vm.clone()).or_insert(VmRow {
                port: Some(*port),
                records: Vec::new(),
            });
        }
    }
    let mut elsewhere = Vec::new();
    for summary in all {
        match summary.vm.clone() {
            Some(vm) => {
                let port = registry.and_then(|r| r.port_of(&vm));
                rows.entry(vm)
                    .or_insert(VmRow {
                        port,
                        records: Vec::new(),
                    })
                    .records
                    .push(summary);
            }
            None => elsewhere.push(summary),
        }
    }
    for row in rows.values_mut() {
        row.records
            .sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.address.cmp(&b.address)));
    }
    (rows, elsewhere)
}

async fn vms_page(State(dashboard): State<Shared>, Query(query): Query<PageQuery>) -> Response {
    let all = match dashboard.backend.list_summaries().await {
        Ok(all) => all,
        Err(e) => return error_page(e),
    };
    let total_resources = all.len();
    let recorded: std::collections::HashSet<String> = all.iter().map(|s| s.id.clone()).collect();
    let (rows, elsewhere) = vm_rows(dashboard.registry.as_ref(), all);
    let pages = rows.len().div_ceil(VMS_PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let mut table_rows = Vec::new();
    for (vm, row) in rows.iter().skip((page - 1) * VMS_PER_PAGE).take(VMS_PER_PAGE) {
        let mut names = String::new();
        for record in row.records.iter().take(RESOURCES_PER_ROW) {
            names.push_str(&format!(
                "<li>{} <span class=\"project\">{}</span> <time>{}</time></li>",
                link(resource_href(&record.project, &record.address), &record.address),
                esc(&record.project),
                esc(&record.updated_at)
            ));
        }
        if row.records.len() > RESOURCES_PER_ROW {
            names.push_str(&format!(
                "<li><a href=\"/vms/{}\">and {} more</a></li>",
                url_part(vm),
                row.records.len() - RESOURCES_PER_ROW
            ));
        }
        let newest = row.records.first();
        let last_note = match newest {
            Some(record) => match dashboard.backend.last_note(&record.id).await {
                Ok(Some(note)) => note_line(&note),
                Ok(None) => Html::raw("<span class=\"none\">none</span>"),
                Err(e) => error_span(&e),
            },
            None => Html::default(),
        };
        table_rows.push(vec![
            link(Html::raw(format!("/vms/{}", url_part(vm))), vm),
            esc(&row.port.map_or("-".to_string(), |p| p.to_string())),
            Html::raw(format!("<ul class=\"plain\">{names}</ul>")),
            newest.map_or(Html::raw("<span class=\"none\">never</span>"), |r| {
                applied_at(&r.updated_at, r.provenance.as_deref())
            }),
            last_note,
        ]);
    }
    let mut body = Html::raw(format!(
        "<p class=\"summary\">{} VMs, {} resources in all.</p>",
        rows.len(),
        total_resources
    ));
    body.push(in_progress(&dashboard, &recorded).await);
    body.push(html::table(
        "vms",
        &["VM", "Tunnel port", "Sandboxes and images", "Last applied", "Last note"],
        table_rows,
    ));
    body.push(html::pager("/", page, pages));
    if !elsewhere.is_empty() {
        body.push(Html::raw(format!(
            "<p>{} resources on no VM (local workspaces, images being built): see <a href=\"/projects\">Projects</a>.</p>",
            elsewhere.len()
        )));
    }
    page_response(StatusCode::OK, "VMs", Section::Vms, body)
}

async fn vm_page(State(dashboard): State<Shared>, UrlPath(name): UrlPath<String>) -> Response {
    if crate::state::vms::check_vm_name(&name).is_err() {
        return not_found("There is no such VM.");
    }
    let all = match dashboard.backend.list_sandboxes(Some(&name)).await {
        Ok(all) => all,
        Err(e) => return error_page(e),
    };
    let catalog = dashboard.backend.get_vm(&name).await;
    let port = dashboard.registry.as_ref().and_then(|r| r.port_of(&name));
    if all.is_empty() && port.is_none() {
        match catalog {
            Ok(Some(_)) => {}
            Ok(None) => return not_found("No record, registry entry or catalog entry names this VM."),
            // The catalog could not be read: that is the answer, not "not found".
            Err(e) => return error_page(e),
        }
    }
    let mut records: Vec<_> = all.into_iter().map(|e| (e.project, e.record)).collect();
    records.sort_by(|a, b| b.1.updated_at.cmp(&a.1.updated_at));
    let rows = records.iter().map(|(project, record)| {
        vec![
            link(
                resource_href(project, &record.address.to_string()),
                &record.address.to_string(),
            ),
            link(Html::raw(format!("/projects/{}", url_part(project))), project),
            esc(&record.id),
            applied(record),
        ]
    });
    let mut body = Html::raw(format!(
        "<p class=\"summary\">Tunnel port {}; {} sandboxes and images.</p>",
        esc(&port.map_or("-".to_string(), |p| p.to_string())),
        records.len()
    ));
    body.push(html::table(
        "resources",
        &["Address", "Project", "Id", "Last applied"],
        rows,
    ));
    body.push(Html::raw("<h2>Capabilities</h2>"));
    match catalog {
        Ok(Some(entry)) => {
            body.push(Html::raw(format!("<p>Probed {}.</p>", esc(&entry.observed_at))));
            let rows = entry
                .rows()
                .into_iter()
                .map(|(name, value)| vec![esc(&name), esc(&value.shown(&name))]);
            body.push(html::table("capabilities", &["Capability", "Value"], rows));
        }
        Ok(None) => body.push(Html::raw("<p class=\"none\">Not probed yet.</p>")),
        Err(e) => body.push(Html::raw(format!("<p>{}</p>", error_span(&e)))),
    }
    page_response(StatusCode::OK, &format!("VM {name}"), Section::Vms, body)
}

// ---------------------------------------------------------------------------
// The projects

async fn projects_page(State(dashboard): State<Shared>) -> Response {
    let all = match dashboard.backend.list_summaries().await {
        Ok(all) => all,
        Err(e) => return error_page(e),
    };
    let recorded: std::collections::HashSet<String> = all.iter().map(|s| s.id.clone()).collect();
    let mut projects: BTreeMap<String, Vec<RecordSummary>> = BTreeMap::new();
    for summary in all {
        projects.entry(summary.project.clone()).or_default().push(summary);
    }
    let mut rows = Vec::new();
    for (project, records) in &projects {
        let newest = records.iter().max_by(|a, b| a.updated_at.cmp(&b.updated_at));
        let lease = match dashboard.backend.lease_status(project).await {
            Ok(lease) => lease_words(lease.as_ref()),
            Err(e) => error_span(&e),
        };
        rows.push(vec![
            link(Html::raw(format!("/projects/{}", url_part(project))), project),
            esc(&records.len().to_string()),
            newest.map_or(Html::default(), |r| applied_at(&r.updated_at, r.provenance.as_deref())),
            lease,
        ]);
    }
    let mut body = Html::raw(format!("<p class=\"summary\">{} projects.</p>", projects.len()));
    body.push(html::table(
        "projects",
        &["Project", "Resources", "Last applied", "Lock"],
        rows,
    ));
    body.push(in_progress(&dashboard, &recorded).await);
    page_response(StatusCode::OK, "Projects", Section::Projects, body)
}

async fn project_page(State(dashboard): State<Shared>, UrlPath(project): UrlPath<String>) -> Response {
    if crate::safety::check_name(&project).is_err() {
        return not_found("There is no such project.");
    }
    let (serial, resources) = match dashboard.backend.list_resources(&project).await {
        Ok(listed) => listed,
        Err(e) => return error_page(e),
    };
    if resources.is_empty() && serial == 0 {
        return not_found("The hub holds nothing of this project.");
    }
    let lease = match dashboard.backend.lease_status(&project).await {
        Ok(lease) => lease_words(lease.as_ref()),
        Err(e) => error_span(&e),
    };
    let rows = resources.iter().map(|entry| {
        let record = &entry.record;
        vec![
            link(
                resource_href(&project, &record.address.to_string()),
                &record.address.to_string(),
            ),
            esc(&record.id),
            esc(&record.profile),
            esc(&backend::record_vm(record).unwrap_or_else(|| "-".into())),
            esc(&entry.version.to_string()),
            applied(record),
        ]
    });
    let mut body = Html::raw(format!(
        "<p class=\"summary\">Lock: {lease}. {} resources; {} writes.</p>",
        resources.len(),
        serial
    ));
    body.push(html::table(
        "resources",
        &["Address", "Id", "Profile", "VM", "Version", "Last applied"],
        rows,
    ));
    page_response(StatusCode::OK, &format!("Project {project}"), Section::Projects, body)
}

// ---------------------------------------------------------------------------
// A sandbox or image

async fn resource_page(
    State(dashboard): State<Shared>,
    UrlPath((project, address)): UrlPath<(String, String)>,
) -> Response {
    if crate::safety::check_name(&project).is_err() || address.parse::<crate::address::Address>().is_err() {
        return not_found("There is no such resource.");
    }
    let entry = match dashboard.backend.get_resource(&project, &address).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return not_found("The hub holds no such record."),
        Err(e) => return error_page(e),
    };
    let record = &entry.record;
    let timeline = match notes_timeline(&dashboard, &record.id).await {
        Ok(timeline) => timeline,
        Err(e) => return error_page(e),
    };
    let mut facts = vec![
        (
            "Project",
            link(Html::raw(format!("/projects/{}", url_part(&project))), &project),
        ),
        ("Id", esc(&record.id)),
        ("Profile", esc(&record.profile)),
        ("Driver", esc(record.driver.as_str())),
        ("Version", esc(&entry.version.to_string())),
        ("Created", esc(&record.created_at)),
        ("Last applied", applied(record)),
    ];
    if let Some(vm) = backend::record_vm(record) {
        facts.push(("VM", link(Html::raw(format!("/vms/{}", url_part(&vm))), &vm)));
    }
    for (name, value) in record.facts.iter() {
        facts.push((name.as_ref(), esc(value)));
    }
    let mut body = Html::raw("<table class=\"record\"><tbody>");
    for (name, value) in facts {
        body.push(Html::raw(format!("<tr><th>{}</th><td>{value}</td></tr>", esc(name))));
    }
    body.push(Html::raw("</tbody></table>"));
    let attributes = record
        .attributes
        .iter()
        .map(|(name, value)| vec![esc(name), esc(&value.to_string())]);
    body.push(Html::raw("<h2>Attributes</h2>"));
    body.push(html::table("attributes", &["Attribute", "Value"], attributes));
    body.push(timeline);
    live_page_response(&format!("{address} ({project})"), Section::Projects, body)
}

/// The notes of `id` as a timeline (the newest [`NOTES_SHOWN`]) that
/// `live.js` goes on from.
async fn notes_timeline(dashboard: &Dashboard, id: &str) -> Result<Html, ApiError> {
    let head = dashboard.backend.list_notes(id, u64::MAX, 1).await?;
    let since = head.latest.saturating_sub(NOTES_SHOWN).max(head.dropped);
    let notes = dashboard.backend.list_notes(id, since, NOTES_SHOWN as usize).await?;
    let mut items = String::new();
    for note in &notes.notes {
        items.push_str(&format!("<li>{}</li>", note_line(note)));
    }
    Ok(Html::raw(format!(
        "<h2>Notes</h2><p class=\"summary\"><span id=\"notes-count\">{}</span> notes{}.</p>\
         <ol id=\"notes\" class=\"timeline\" data-notes-id=\"{}\" data-cursor=\"{}\">{items}</ol>",
        notes.latest - notes.dropped,
        if notes.dropped > 0 {
            format!(" (the {} before them are no longer kept)", notes.dropped)
        } else {
            String::new()
        },
        esc(id),
        notes.cursor
    )))
}

/// How far back "now" reaches for notes of resources not recorded yet.
const IN_PROGRESS: Duration = Duration::from_secs(15 * 60);

/// The notes arriving for resources the hub has no record of yet (an image
/// being built, a workspace being made): newest first, each linking to its
/// live timeline. Empty when there are none.
async fn in_progress(dashboard: &Dashboard, recorded: &std::collections::HashSet<String>) -> Html {
    let now = backend::now_ms();
    let since = now.saturating_sub(u64::try_from(IN_PROGRESS.as_millis()).unwrap_or(u64::MAX));
    let recent = match dashboard.backend.recent_note_logs(since, 50).await {
        Ok(recent) => recent,
        Err(e) => return Html::raw(format!("<p>{}</p>", error_span(&e))),
    };
    let rows: Vec<Vec<Html>> = recent
        .into_iter()
        .filter(|log| !recorded.contains(&log.id))
        .map(|log| {
            let address = log.last.address.to_string();
            vec![
                link(Html::raw(format!("/sandboxes/{}", url_part(&log.id))), &address),
                esc(&log.id),
                note_line(&log.last),
                esc(&format!(
                    "{} s ago",
                    now.saturating_sub(log.last_received_unix_ms) / 1000
                )),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Html::default();
    }
    let mut out = Html::raw(
        "<h2>In progress</h2><p class=\"summary\">Notes of the last 15 minutes about resources the hub has no \
         record of yet: builds and creates under way.</p>",
    );
    out.push(html::table(
        "in-progress",
        &["Resource", "Id", "Last note", "Received"],
        rows,
    ));
    out
}

/// `/sandboxes/{id}`: a resource by its id. One with a record goes to its
/// page; one without (being built) shows its live notes alone.
async fn sandbox_page(State(dashboard): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    if crate::safety::check_name(&id).is_err() {
        return not_found("There is no such sandbox.");
    }
    let all = match dashboard.backend.list_summaries().await {
        Ok(all) => all,
        Err(e) => return error_page(e),
    };
    if let Some(entry) = all.iter().find(|s| s.id == id) {
        let href = resource_href(&entry.project, &entry.address);
        return Redirect::to(href.as_str()).into_response();
    }
    let last = match dashboard.backend.last_note(&id).await {
        Ok(Some(note)) => note,
        Ok(None) => return not_found("The hub holds no record and no note of this id."),
        Err(e) => return error_page(e),
    };
    let timeline = match notes_timeline(&dashboard, &id).await {
        Ok(timeline) => timeline,
        Err(e) => return error_page(e),
    };
    let mut body = Html::raw(format!(
        "<p class=\"summary\">Id {}: the hub has no record of it yet (it is being built or made, or its apply \
         failed). Its notes, live:</p>",
        esc(&id)
    ));
    body.push(timeline);
    live_page_response(&format!("{} (not recorded yet)", last.address), Section::Vms, body)
}

/// A notes stream as it runs.
struct Streaming {
    dashboard: Shared,
    id: String,
    cursor: u64,
    pending: Vec<Event>,
    /// The session it was opened with; none for the bearer header or an open hub.
    session: Option<String>,
    ends: tokio::time::Instant,
    /// Held while the stream runs.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// `?since=CURSOR`: the stream starts after that note.
#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

/// The notes of `id` after the cursor, as server-sent events (`event: note`,
/// `id:` the note's number, `data:` the note as JSON), looked for every half
/// second until the browser goes. A reconnecting browser says where it was
/// (`Last-Event-ID`).
async fn notes_stream(
    State(dashboard): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<SinceQuery>,
    headers: HeaderMap,
) -> Response {
    if crate::safety::check_name(&id).is_err() {
        return not_found("There is no such sandbox.");
    }
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let cursor = resumed.or(query.since).unwrap_or(0);
    let Ok(permit) = Arc::clone(&dashboard.streams).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} notes streams are open on this hub; reload later"),
        )
            .into_response();
    };
    // A stream of a signed-in browser ends with its session (signed out,
    // expired or idle), and every stream after an hour: the browser's next
    // one passes the guard again.
    let session = session_of(&headers).map(str::to_string);
    let ends = tokio::time::Instant::now() + STREAM_LIFE;
    let state = Streaming {
        dashboard,
        id,
        cursor,
        pending: Vec::new(),
        session,
        ends,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if !s.pending.is_empty() {
                let event = s.pending.remove(0);
                return Some((Ok::<Event, Infallible>(event), s));
            }
            let signed_in = match &s.session {
                Some(id) => s.dashboard.sessions.still_valid(id),
                // The bearer header, or an open hub: nothing to end.
                None => true,
            };
            if !signed_in || tokio::time::Instant::now() >= s.ends {
                return None;
            }
            match s.dashboard.backend.list_notes(&s.id, s.cursor, 100).await {
                Ok(page) if !page.notes.is_empty() => {
                    let first = page.cursor - page.notes.len() as u64;
                    for (i, note) in page.notes.iter().enumerate() {
                        let data = serde_json::json!({
                            "at": note.at, "level": note.level, "text": note.text, "address": note.address,
                        });
                        s.pending.push(
                            Event::default()
                                .event("note")
                                .id((first + i as u64 + 1).to_string())
                                .data(data.to_string()),
                        );
                    }
                    s.cursor = page.cursor;
                }
                // Nothing new, or the store is away for now: look again soon.
                _ => tokio::time::sleep(NOTES_POLL).await,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
