//! `sandboxer hub serve`: the State Hub server, the HTTP side. The token is
//! checked by a layer in front of every route, before any extractor reads the
//! request's body, query or content type; each handler checks the request's
//! shape (names, addresses, ids, bodies), cuts a note's text past the hub's
//! limit, and hands the rest to the store behind it ([`super::backend`]): the
//! files of one box ([`super::file`]) or a PostgreSQL database that several
//! hubs share ([`super::postgres`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::api::{
    Health, LOCK_HEADER, LeaseStatus, LockGranted, LockRequest, NOTES_PAGE_MAX, NoteList, NotePosted, PutResource,
    RenewRequest, ResourceEntry, ResourceList, SandboxList, VmCapabilities, VmList, Written,
};
use super::backend::{self, ApiError, Backend};
use super::dashboard::Dashboard;
use super::file::FileBackend;
use super::postgres::{PgBackend, PgError, StoreUrl};
use crate::address::Address;
use crate::state::{Note, vms};

/// Where a hub keeps its data.
#[derive(Debug, Clone)]
pub enum StoreSpec {
    /// The file store in this data folder (one hub).
    Files(PathBuf),
    /// A PostgreSQL database, shared by every hub given the same URL.
    Postgres {
        /// The database (boxed: its settings are large, and read once).
        url: Box<StoreUrl>,
        /// Connections kept at most.
        connections: usize,
    },
}

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (loopback unless told otherwise).
    pub listen: SocketAddr,
    /// Where the data is kept.
    pub store: StoreSpec,
    /// The port registry the dashboard lists VMs from, with those records name.
    pub registry: Option<crate::port_registry::LoadedRegistry>,
    /// Bearer token every call but health must carry; none = open hub.
    pub token: Option<String>,
    /// What is kept of notes.
    pub notes: NotesPolicy,
}

/// Notes kept per sandbox unless told otherwise (`--notes-keep`).
pub const DEFAULT_NOTES_KEEP: usize = 1000;
/// Bytes of a note's text kept unless told otherwise (`--note-max-bytes`).
pub const DEFAULT_NOTE_MAX_BYTES: usize = 16 * 1024;
/// The most `--note-max-bytes` may be: a text of that size still fits in a body.
pub const NOTE_MAX_BYTES_CEILING: usize = 512 * 1024;
/// The largest body a note may be posted with; a larger one is 413.
pub const NOTE_BODY_MAX: usize = 1024 * 1024;
/// The largest body a VM's catalog entry may be put with; a larger one is 413.
pub const VM_BODY_MAX: usize = 1024 * 1024;

/// What the hub keeps of notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotesPolicy {
    /// At most this many notes per sandbox (at least one is kept); the oldest go first.
    pub keep: usize,
    /// Notes received longer ago than this are dropped; `None`: no age limit.
    pub max_age: Option<Duration>,
    /// A note's text is cut after this many bytes (at a character boundary) and marked.
    pub max_text_bytes: usize,
}

impl Default for NotesPolicy {
    fn default() -> Self {
        NotesPolicy {
            keep: DEFAULT_NOTES_KEEP,
            max_age: None,
            max_text_bytes: DEFAULT_NOTE_MAX_BYTES,
        }
    }
}

/// Errors starting the hub.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data folder could not be read or made.
    #[error("data folder {path}: {message}")]
    Data {
        /// The folder or file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    /// The PostgreSQL store could not be opened.
    #[error(transparent)]
    Store(PgError),
}

/// The HTTP side of a hub: who may call, what is kept of notes, the store,
/// and the dashboard's pages over it.
struct Hub {
    token: Option<String>,
    notes_policy: NotesPolicy,
    backend: Arc<dyn Backend>,
    dashboard: Arc<Dashboard>,
}

type Shared = Arc<Hub>;

type ApiResult<T> = Result<(StatusCode, Json<T>), ApiError>;

impl Hub {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else { return Ok(()) };
        if bearer_matches(headers, token) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
        }
    }
}

/// Whether the request's `Authorization: Bearer` header carries `token`.
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Whether two secrets are equal, in a time that depends on their length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_project(project: &str) -> Result<(), ApiError> {
    crate::safety::check_name(project)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("project `{project}`: {e}")))
}

fn check_address(address: &str) -> Result<Address, ApiError> {
    address
        .parse()
        .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, e))
}

fn check_vm(name: &str) -> Result<(), ApiError> {
    vms::check_vm_name(name).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("VM `{name}`: {e}")))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    crate::safety::check_name(id).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("id `{id}`: {e}")))
}

/// 400 for a body with a NUL character in a string: no store keeps one the
/// same (PostgreSQL keeps none), and sandboxer never writes one.
fn no_nul(what: &str, body: &impl serde::Serialize) -> Result<(), ApiError> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let value = serde_json::to_value(body).map_err(|e| ApiError::internal(e.to_string()))?;
    if has_nul(&value) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{what} holds a NUL character (\\u0000), which the hub does not keep"),
        ));
    }
    Ok(())
}

/// The lock a write names (`X-Sandboxer-Lock-Id`), if any.
fn lock_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(LOCK_HEADER).and_then(|v| v.to_str().ok())
}

/// The token, checked in front of every API route but health: before any
/// extractor reads the body, the query or the content type, so a request
/// without the token learns nothing but 401. (The dashboard, outside `/v1`,
/// has its own guard: the token or a session.)
async fn require_token(State(hub): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !(path == "/v1" || path.starts_with("/v1/")) {
        return super::dashboard::guard(&hub.dashboard, request, next).await;
    }
    let mut response = if path == "/v1/health" {
        next.run(request).await
    } else {
        match hub.authorize(request.headers()) {
            Ok(()) => next.run(request).await,
            Err(refused) => refused.into_response(),
        }
    };
    // JSON is never to be read as anything else (a script, say).
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// 200 while the store answers; 503 (same body) when it does not, so a load
/// balancer sends clients to another hub.
async fn health(State(hub): State<Shared>) -> (StatusCode, Json<Health>) {
    let store = hub.backend.health().await;
    let status = if store.reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if store.reachable { "ok" } else { "unavailable" }.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            lineage: hub.backend.lineage().to_string(),
            store: Some(store),
        }),
    )
}

async fn list_resources(State(hub): State<Shared>, UrlPath(project): UrlPath<String>) -> ApiResult<ResourceList> {
    check_project(&project)?;
    let (serial, resources) = hub.backend.list_resources(&project).await?;
    Ok((
        StatusCode::OK,
        Json(ResourceList {
            project,
            lineage: hub.backend.lineage().to_string(),
            serial,
            resources,
        }),
    ))
}

async fn get_resource(
    State(hub): State<Shared>,
    UrlPath((project, address)): UrlPath<(String, String)>,
) -> ApiResult<ResourceEntry> {
    check_project(&project)?;
    check_address(&address)?;
    match hub.backend.get_resource(&project, &address).await? {
        Some(entry) => Ok((StatusCode::OK, Json(entry))),
        None => Err(backend::no_resource(&project, &address)),
    }
}

async fn put_resource(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath((project, address)): UrlPath<(String, String)>,
    Json(body): Json<PutResource>,
) -> ApiResult<Written> {
    check_project(&project)?;
    let parsed = check_address(&address)?;
    no_nul("the record", &body.record)?;
    if body.record.address != parsed {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the record is {}, not {address}", body.record.address),
        ));
    }
    let written = hub
        .backend
        .put_resource(&project, &address, body.record, body.version, lock_of(&headers))
        .await?;
    Ok((StatusCode::OK, Json(written)))
}

/// The project's key for sensitive values; made (and kept with the project)
/// on the first request. Needs the token like every other call; no lease: a plan
/// needs it too, and whoever comes first makes it.
async fn sensitive_key(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
) -> ApiResult<crate::hub::api::SensitiveKeyBody> {
    check_project(&project)?;
    let key = hub.backend.sensitive_key(&project).await?;
    Ok((StatusCode::OK, Json(crate::hub::api::SensitiveKeyBody { key })))
}

#[derive(Debug, Deserialize)]
struct VersionQuery {
    version: Option<u64>,
}

async fn delete_resource(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath((project, address)): UrlPath<(String, String)>,
    Query(query): Query<VersionQuery>,
) -> ApiResult<Written> {
    check_project(&project)?;
    check_address(&address)?;
    let written = hub
        .backend
        .delete_resource(&project, &address, query.version, lock_of(&headers))
        .await?;
    Ok((StatusCode::OK, Json(written)))
}

/// Who holds the project's lease, if anyone: read only, and no project is made.
async fn lease_status(State(hub): State<Shared>, UrlPath(project): UrlPath<String>) -> ApiResult<LeaseStatus> {
    check_project(&project)?;
    let lease = hub.backend.lease_status(&project).await?;
    Ok((
        StatusCode::OK,
        Json(LeaseStatus {
            lease: lease.as_ref().map(backend::granted),
        }),
    ))
}

async fn acquire_lock(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<LockRequest>,
) -> ApiResult<LockGranted> {
    check_project(&project)?;
    no_nul("the lock's holder", &body.holder)?;
    let lease = hub.backend.acquire_lock(&project, body).await?;
    Ok((StatusCode::CREATED, Json(backend::granted(&lease))))
}

async fn renew_lock(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<RenewRequest>,
) -> ApiResult<LockGranted> {
    check_project(&project)?;
    let lease = hub.backend.renew_lock(&project, body).await?;
    Ok((StatusCode::OK, Json(backend::granted(&lease))))
}

#[derive(Debug, Deserialize)]
struct LockQuery {
    lock_id: String,
}

async fn release_lock(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
    Query(query): Query<LockQuery>,
) -> Result<StatusCode, ApiError> {
    check_project(&project)?;
    hub.backend.release_lock(&project, &query.lock_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cuts `text` after `max` bytes, at a character boundary, and marks it with
/// how many bytes went; whether it did.
fn cut_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(" [cut by the State Hub: {cut} more bytes]"));
    true
}

async fn post_note(
    State(hub): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Result<Json<Note>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(note)) => append_note(hub, id, note).await.into_response(),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a note's body may be at most {NOTE_BODY_MAX} bytes (its text is cut past the hub's limit)"),
        )
        .into_response(),
        // As any other route answers them: 400, 415 or 422 in plain text.
        Err(rejection) => rejection.into_response(),
    }
}

async fn append_note(hub: Shared, id: String, mut note: Note) -> ApiResult<NotePosted> {
    check_id(&id)?;
    // A NUL in what a build printed is shown as U+FFFD (PostgreSQL keeps no
    // NUL in text), the same on every store.
    for text in [&mut note.text, &mut note.at, &mut note.level] {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{fffd}");
        }
    }
    let cut = cut_text(&mut note.text, hub.notes_policy.max_text_bytes);
    let cursor = hub.backend.append_note(&id, note).await?;
    Ok((StatusCode::CREATED, Json(NotePosted { cursor, cut })))
}

#[derive(Debug, Deserialize)]
struct NotesQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

async fn list_notes(
    State(hub): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<NotesQuery>,
) -> ApiResult<NoteList> {
    check_id(&id)?;
    let limit = query.limit.unwrap_or(NOTES_PAGE_MAX).min(NOTES_PAGE_MAX);
    let page = hub.backend.list_notes(&id, query.since.unwrap_or(0), limit).await?;
    Ok((StatusCode::OK, Json(page)))
}

#[derive(Debug, Deserialize)]
struct VmQuery {
    vm: Option<String>,
}

async fn list_sandboxes(State(hub): State<Shared>, Query(query): Query<VmQuery>) -> ApiResult<SandboxList> {
    if query.vm.as_deref().is_some_and(|vm| vm.contains('\0')) {
        // No VM is named so; no store needs asking.
        return Ok((
            StatusCode::OK,
            Json(SandboxList {
                lineage: hub.backend.lineage().to_string(),
                sandboxes: Vec::new(),
            }),
        ));
    }
    let sandboxes = hub.backend.list_sandboxes(query.vm.as_deref()).await?;
    Ok((
        StatusCode::OK,
        Json(SandboxList {
            lineage: hub.backend.lineage().to_string(),
            sandboxes,
        }),
    ))
}

/// The catalog, sorted by name.
async fn list_vms(State(hub): State<Shared>) -> ApiResult<VmList> {
    let vms = hub.backend.list_vms().await?;
    Ok((StatusCode::OK, Json(VmList { vms })))
}

async fn get_vm(State(hub): State<Shared>, UrlPath(name): UrlPath<String>) -> ApiResult<VmCapabilities> {
    check_vm(&name)?;
    match hub.backend.get_vm(&name).await? {
        Some(entry) => Ok((StatusCode::OK, Json(entry))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no VM {name} in the catalog"),
        )),
    }
}

/// `PUT /v1/vms/{name}` and `PUT /v1/vms/{name}/capabilities`.
async fn put_vm(
    State(hub): State<Shared>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<VmCapabilities>, JsonRejection>,
) -> Response {
    if let Err(refused) = check_vm(&name) {
        return refused.into_response();
    }
    match body {
        Ok(Json(entry)) => store_vm(hub, name, entry).await.into_response(),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a VM's catalog entry may be at most {VM_BODY_MAX} bytes"),
        )
        .into_response(),
        // As any other route answers them: 400, 415 or 422 in plain text.
        Err(rejection) => rejection.into_response(),
    }
}

/// Stores a VM's entry, replacing what the catalog held of it: no version, no
/// lease; the last write wins.
async fn store_vm(hub: Shared, name: String, entry: VmCapabilities) -> ApiResult<VmCapabilities> {
    if entry.name != name {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the entry is of VM `{}`, not `{name}`", vms::shown(&entry.name)),
        ));
    }
    vms::check_vm_entry(&entry).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("VM `{name}`: {e}")))?;
    no_nul("the entry", &entry)?;
    let answer = entry.clone();
    hub.backend.put_vm(entry).await?;
    Ok((StatusCode::OK, Json(answer)))
}

/// The router, for the server and for tests.
fn router(hub: Shared) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/projects/{project}/resources", get(list_resources))
        .route(
            "/v1/projects/{project}/resources/{address}",
            get(get_resource).put(put_resource).delete(delete_resource),
        )
        .route(
            "/v1/projects/{project}/lock",
            get(lease_status)
                .post(acquire_lock)
                .put(renew_lock)
                .delete(release_lock),
        )
        .route(
            "/v1/sandboxes/{id}/notes",
            post(post_note)
                .get(list_notes)
                .layer(DefaultBodyLimit::max(NOTE_BODY_MAX)),
        )
        .route("/v1/projects/{project}/sensitive-key", get(sensitive_key))
        .route("/v1/sandboxes", get(list_sandboxes))
        .route("/v1/vms", get(list_vms))
        .route(
            "/v1/vms/{name}",
            get(get_vm).put(put_vm).layer(DefaultBodyLimit::max(VM_BODY_MAX)),
        )
        .route(
            "/v1/vms/{name}/capabilities",
            put(put_vm).layer(DefaultBodyLimit::max(VM_BODY_MAX)),
        )
        .with_state(Arc::clone(&hub))
        .merge(super::dashboard::router(Arc::clone(&hub.dashboard)))
        // Outermost: runs before routing's extractors, and for unknown paths too.
        .layer(middleware::from_fn_with_state(hub, require_token))
}

/// Runs the hub until `shutdown` resolves; `ready` hears the bound address.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let backend: Arc<dyn Backend> = match options.store {
        StoreSpec::Files(data) => Arc::new(FileBackend::open(data, options.notes).await?),
        StoreSpec::Postgres { url, connections } => Arc::new(
            PgBackend::open(&url, connections, options.notes)
                .await
                .map_err(ServeError::Store)?,
        ),
    };
    let dashboard = Arc::new(Dashboard::new(
        Arc::clone(&backend),
        options.registry,
        options.token.clone(),
    ));
    let hub = Arc::new(Hub {
        token: options.token,
        notes_policy: options.notes,
        backend: Arc::clone(&backend),
        dashboard,
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    ready(addr);
    axum::serve(listener, router(hub))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)?;
    backend.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary_and_marked() {
        let mut text = "ab€d".to_string();
        assert!(cut_text(&mut text, 3));
        assert_eq!(text, "ab [cut by the State Hub: 4 more bytes]");
        let mut short = "abc".to_string();
        assert!(!cut_text(&mut short, 3));
        assert_eq!(short, "abc");
    }
}
