//! `sandboxer hub serve`: the State Hub server. Records, leases and notes live in
//! memory and on disk under `--data` with the same discipline as the embedded
//! store (atomic writes, fsync), so a restart loses nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::api::{
    ErrorBody, Health, LOCK_HEADER, LockGranted, LockInfoBody, LockRequest, NoteList, NotePosted, PutResource,
    RenewRequest, ResourceEntry, ResourceList, SandboxEntry, SandboxList, Written,
};
use crate::address::Address;
use crate::state::Note;

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (loopback unless told otherwise).
    pub listen: SocketAddr,
    /// Data folder.
    pub data: PathBuf,
    /// Bearer token every call but health must carry; none = open hub.
    pub token: Option<String>,
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ProjectData {
    serial: u64,
    resources: BTreeMap<String, ResourceEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    lock_id: String,
    holder: LockInfoBody,
    expires_unix_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    projects: HashMap<String, ProjectData>,
    leases: BTreeMap<String, Lease>,
    notes: HashMap<String, Vec<Note>>,
}

struct Hub {
    data: PathBuf,
    token: Option<String>,
    lineage: String,
    inner: Mutex<Inner>,
}

type Shared = Arc<Hub>;

/// An error answer.
struct ApiError(StatusCode, Box<ErrorBody>);

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> Self {
        api_error(
            status,
            ErrorBody {
                error: error.into(),
                current_version: None,
                holder: None,
            },
        )
    }
}

fn api_error(status: StatusCode, body: ErrorBody) -> ApiError {
    ApiError(status, Box::new(body))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(*self.1)).into_response()
    }
}

type ApiResult<T> = Result<(StatusCode, Json<T>), ApiError>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ServeError {
    ServeError::Data {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Loads (or starts) the data folder.
fn load(data: &Path) -> Result<(String, Inner), ServeError> {
    std::fs::create_dir_all(data.join("projects")).map_err(|e| io_err(data, e))?;
    std::fs::create_dir_all(data.join("notes")).map_err(|e| io_err(data, e))?;
    let hub_file = data.join("hub.json");
    let lineage = match std::fs::read(&hub_file) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| io_err(&hub_file, e))?;
            v.get("lineage")
                .and_then(|l| l.as_str())
                .unwrap_or_default()
                .to_string()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let lineage = crate::id::random_id(16);
            let bytes = serde_json::to_vec_pretty(&serde_json::json!({ "lineage": lineage }))
                .map_err(|e| io_err(&hub_file, e))?;
            crate::fsutil::write_atomic(&hub_file, &bytes).map_err(|e| io_err(&hub_file, e))?;
            lineage
        }
        Err(e) => return Err(io_err(&hub_file, e)),
    };
    let mut inner = Inner::default();
    for entry in std::fs::read_dir(data.join("projects"))
        .map_err(|e| io_err(data, e))?
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let Some(project) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let project_data: ProjectData = serde_json::from_slice(&bytes).map_err(|e| io_err(&path, e))?;
        inner.projects.insert(project.to_string(), project_data);
    }
    let locks = data.join("locks.json");
    if let Ok(bytes) = std::fs::read(&locks) {
        inner.leases = serde_json::from_slice(&bytes).map_err(|e| io_err(&locks, e))?;
    }
    Ok((lineage, inner))
}

impl Hub {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else { return Ok(()) };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
        }
    }

    fn save_project(&self, project: &str, data: &ProjectData) -> Result<(), ApiError> {
        let path = self.data.join("projects").join(format!("{project}.json"));
        let bytes = serde_json::to_vec_pretty(data)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        crate::fsutil::write_atomic(&path, &bytes).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot persist {project}: {e}"),
            )
        })
    }

    fn save_leases(&self, leases: &BTreeMap<String, Lease>) -> Result<(), ApiError> {
        let path = self.data.join("locks.json");
        let bytes = serde_json::to_vec_pretty(leases)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        crate::fsutil::write_atomic(&path, &bytes)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot persist locks: {e}")))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

fn check_id(id: &str) -> Result<(), ApiError> {
    crate::safety::check_name(id).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("id `{id}`: {e}")))
}

/// A live lease of another holder blocks writes.
fn check_write_lock(inner: &Inner, project: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get(LOCK_HEADER).and_then(|v| v.to_str().ok());
    let Some(lease) = inner.leases.get(project).filter(|l| l.expires_unix_ms > now_ms()) else {
        // A writer whose lease ran out must not write on: another may hold the project next.
        return match given {
            Some(id) => Err(ApiError::new(
                StatusCode::LOCKED,
                format!("lock {id} on project {project} has expired or was released; take the lock again"),
            )),
            None => Ok(()),
        };
    };
    if given == Some(lease.lock_id.as_str()) {
        return Ok(());
    }
    Err(api_error(
        StatusCode::LOCKED,
        ErrorBody {
            error: format!(
                "project {project} is locked by {} (pid {}) on {}",
                lease.holder.user, lease.holder.pid, lease.holder.host
            ),
            current_version: None,
            holder: Some(lease.holder.clone()),
        },
    ))
}

async fn health(State(hub): State<Shared>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        lineage: hub.lineage.clone(),
    })
}

async fn list_resources(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(project): UrlPath<String>,
) -> ApiResult<ResourceList> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    let inner = hub.inner.lock().await;
    let data = inner.projects.get(&project).cloned().unwrap_or_default();
    Ok((
        StatusCode::OK,
        Json(ResourceList {
            project,
            lineage: hub.lineage.clone(),
            serial: data.serial,
            resources: data.resources.into_values().collect(),
        }),
    ))
}

async fn get_resource(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath((project, address)): UrlPath<(String, String)>,
) -> ApiResult<ResourceEntry> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    check_address(&address)?;
    let inner = hub.inner.lock().await;
    match inner.projects.get(&project).and_then(|p| p.resources.get(&address)) {
        Some(entry) => Ok((StatusCode::OK, Json(entry.clone()))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {address} in project {project}"),
        )),
    }
}

async fn put_resource(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath((project, address)): UrlPath<(String, String)>,
    Json(body): Json<PutResource>,
) -> ApiResult<Written> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    let parsed = check_address(&address)?;
    if body.record.address != parsed {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the record is {}, not {address}", body.record.address),
        ));
    }
    let mut inner = hub.inner.lock().await;
    check_write_lock(&inner, &project, &headers)?;
    let mut data = inner.projects.get(&project).cloned().unwrap_or_default();
    let current = data.resources.get(&address).map_or(0, |e| e.version);
    if current != body.version {
        return Err(api_error(
            StatusCode::CONFLICT,
            ErrorBody {
                error: format!(
                    "{address} is at version {current}, the write was made against version {}",
                    body.version
                ),
                current_version: Some(current),
                holder: None,
            },
        ));
    }
    data.serial += 1;
    let version = current + 1;
    data.resources.insert(
        address,
        ResourceEntry {
            record: body.record,
            version,
        },
    );
    hub.save_project(&project, &data)?;
    let serial = data.serial;
    inner.projects.insert(project, data);
    Ok((StatusCode::OK, Json(Written { version, serial })))
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
    hub.authorize(&headers)?;
    check_project(&project)?;
    check_address(&address)?;
    let mut inner = hub.inner.lock().await;
    check_write_lock(&inner, &project, &headers)?;
    let mut data = inner.projects.get(&project).cloned().unwrap_or_default();
    let Some(current) = data.resources.get(&address).map(|e| e.version) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {address} in project {project}"),
        ));
    };
    if let Some(expected) = query.version
        && expected != current
    {
        return Err(api_error(
            StatusCode::CONFLICT,
            ErrorBody {
                error: format!("{address} is at version {current}, the delete was made against version {expected}"),
                current_version: Some(current),
                holder: None,
            },
        ));
    }
    data.resources.remove(&address);
    data.serial += 1;
    hub.save_project(&project, &data)?;
    let serial = data.serial;
    inner.projects.insert(project, data);
    Ok((StatusCode::OK, Json(Written { version: 0, serial })))
}

fn granted(lease: &Lease) -> LockGranted {
    LockGranted {
        lock_id: lease.lock_id.clone(),
        expires_at: rfc3339_ms(lease.expires_unix_ms),
        holder: lease.holder.clone(),
    }
}

/// Leases last at least a second and at most an hour.
fn ttl_ms(seconds: u64) -> u64 {
    seconds.clamp(1, 3600) * 1000
}

async fn acquire_lock(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<LockRequest>,
) -> ApiResult<LockGranted> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    let mut inner = hub.inner.lock().await;
    let now = now_ms();
    if let Some(lease) = inner.leases.get(&project).filter(|l| l.expires_unix_ms > now) {
        return Err(api_error(
            StatusCode::LOCKED,
            ErrorBody {
                error: format!(
                    "project {project} is locked: {} by {}@{} (pid {}) since {}, lock id {}, lease until {}",
                    lease.holder.command,
                    lease.holder.user,
                    lease.holder.host,
                    lease.holder.pid,
                    lease.holder.since,
                    lease.lock_id,
                    rfc3339_ms(lease.expires_unix_ms)
                ),
                current_version: None,
                holder: Some(lease.holder.clone()),
            },
        ));
    }
    let lock_id = crate::id::random_id(12);
    let mut holder = body.holder;
    holder.id.clone_from(&lock_id);
    let lease = Lease {
        lock_id,
        holder,
        expires_unix_ms: now + ttl_ms(body.ttl_seconds),
    };
    let mut leases = inner.leases.clone();
    leases.insert(project.clone(), lease.clone());
    hub.save_leases(&leases)?;
    inner.leases = leases;
    Ok((StatusCode::CREATED, Json(granted(&lease))))
}

async fn renew_lock(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<RenewRequest>,
) -> ApiResult<LockGranted> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    let mut inner = hub.inner.lock().await;
    let now = now_ms();
    let mut leases = inner.leases.clone();
    let Some(lease) = leases
        .get_mut(&project)
        .filter(|l| l.lock_id == body.lock_id && l.expires_unix_ms > now)
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "lock {} is not held on project {project} (expired or released)",
                body.lock_id
            ),
        ));
    };
    lease.expires_unix_ms = now + ttl_ms(body.ttl_seconds);
    let answer = granted(lease);
    hub.save_leases(&leases)?;
    inner.leases = leases;
    Ok((StatusCode::OK, Json(answer)))
}

#[derive(Debug, Deserialize)]
struct LockQuery {
    lock_id: String,
}

async fn release_lock(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(project): UrlPath<String>,
    Query(query): Query<LockQuery>,
) -> Result<StatusCode, ApiError> {
    hub.authorize(&headers)?;
    check_project(&project)?;
    let mut inner = hub.inner.lock().await;
    match inner.leases.get(&project) {
        Some(lease) if lease.lock_id == query.lock_id => {
            let mut leases = inner.leases.clone();
            leases.remove(&project);
            hub.save_leases(&leases)?;
            inner.leases = leases;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Ok(StatusCode::NO_CONTENT),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("lock {} is not the lock of project {project}", query.lock_id),
        )),
    }
}

/// Why a notes file cannot be read: its 1-based line, or the read itself.
#[derive(Debug)]
enum NotesFault {
    Line(usize, serde_json::Error),
    Read(std::io::Error),
}

/// The notes in a notes file's bytes, skipping torn appends.
///
/// The hub writes each note as one line of JSON with no raw NUL byte, its
/// newline in the same write. A crash mid-append leaves a torn line: the last
/// line without its newline (never acknowledged, whatever it holds), or, once
/// the next append has closed it, a line that ends before its JSON does or
/// holds NUL bytes (blocks a crash left zero-filled). Torn lines are skipped;
/// any other line that is not a note is corruption.
fn parse_notes(bytes: &[u8]) -> Result<Vec<Note>, (usize, serde_json::Error)> {
    let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // What follows the last newline: empty unless the last append was torn.
    let unterminated = pieces.pop().filter(|p| !p.is_empty());
    let mut notes = Vec::new();
    for (index, line) in pieces.into_iter().enumerate() {
        match serde_json::from_slice(line) {
            Ok(note) => notes.push(note),
            Err(e) if e.is_eof() || line.contains(&0) => {}
            Err(e) => return Err((index + 1, e)),
        }
    }
    if let Some(note) = unterminated.and_then(|l| serde_json::from_slice(l).ok()) {
        // Counted as it will be once the next append closes the line, so cursors stay put.
        notes.push(note);
    }
    Ok(notes)
}

/// The notes in the file at `path`; none when there is no file.
fn read_notes(path: &Path) -> Result<Vec<Note>, NotesFault> {
    match std::fs::read(path) {
        Ok(bytes) => parse_notes(&bytes).map_err(|(line, e)| NotesFault::Line(line, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(NotesFault::Read(e)),
    }
}

/// The 500 for notes that cannot be read; names the file relative to the data folder.
fn notes_error(id: &str, fault: NotesFault) -> ApiError {
    let what = match fault {
        NotesFault::Line(line, e) => {
            // serde_json places the error in the one line it parsed; the file's line is ours.
            let message = e.to_string();
            let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
            format!(
                "line {line} of notes/{id}.jsonl in the hub's data folder is not a note ({message} at column {})",
                e.column()
            )
        }
        NotesFault::Read(e) => format!("cannot read notes/{id}.jsonl in the hub's data folder: {e}"),
    };
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the notes of sandbox {id} are unreadable: {what}"),
    )
}

/// The notes of `id`, read from disk on first use. A file that cannot be read
/// is an error, and is not kept: once repaired it is read again.
fn notes_of<'a>(hub: &Hub, inner: &'a mut Inner, id: &str) -> Result<&'a mut Vec<Note>, ApiError> {
    if !inner.notes.contains_key(id) {
        let path = hub.data.join("notes").join(format!("{id}.jsonl"));
        let notes = read_notes(&path).map_err(|fault| notes_error(id, fault))?;
        inner.notes.insert(id.to_string(), notes);
    }
    Ok(inner.notes.entry(id.to_string()).or_default())
}

async fn post_note(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Json(note): Json<Note>,
) -> ApiResult<NotePosted> {
    hub.authorize(&headers)?;
    check_id(&id)?;
    let mut inner = hub.inner.lock().await;
    let notes = notes_of(&hub, &mut inner, &id)?;
    let path = hub.data.join("notes").join(format!("{id}.jsonl"));
    let line = serde_json::to_vec(&note).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    crate::fsutil::append_line(&path, &line)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot persist note: {e}")))?;
    notes.push(note);
    Ok((
        StatusCode::CREATED,
        Json(NotePosted {
            cursor: notes.len() as u64,
        }),
    ))
}

#[derive(Debug, Deserialize)]
struct NotesQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

async fn list_notes(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<NotesQuery>,
) -> ApiResult<NoteList> {
    hub.authorize(&headers)?;
    check_id(&id)?;
    let mut inner = hub.inner.lock().await;
    let notes = notes_of(&hub, &mut inner, &id)?;
    let since = usize::try_from(query.since.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(notes.len());
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let page: Vec<Note> = notes[since..].iter().take(limit).cloned().collect();
    let cursor = (since + page.len()) as u64;
    Ok((StatusCode::OK, Json(NoteList { notes: page, cursor })))
}

#[derive(Debug, Deserialize)]
struct VmQuery {
    vm: Option<String>,
}

async fn list_sandboxes(
    State(hub): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<VmQuery>,
) -> ApiResult<SandboxList> {
    hub.authorize(&headers)?;
    let inner = hub.inner.lock().await;
    let mut sandboxes = Vec::new();
    let mut projects: Vec<(&String, &ProjectData)> = inner.projects.iter().collect();
    projects.sort_by(|a, b| a.0.cmp(b.0));
    for (project, data) in projects {
        for entry in data.resources.values() {
            let vm = entry
                .record
                .facts
                .get("location")
                .and_then(|l| crate::remote::Target::from_location(l))
                .map(|t| t.vm)
                .or_else(|| entry.record.facts.get("vm").cloned());
            if query.vm.as_ref().is_none_or(|wanted| vm.as_ref() == Some(wanted)) {
                sandboxes.push(SandboxEntry {
                    project: project.clone(),
                    record: entry.record.clone(),
                    version: entry.version,
                });
            }
        }
    }
    Ok((
        StatusCode::OK,
        Json(SandboxList {
            lineage: hub.lineage.clone(),
            sandboxes,
        }),
    ))
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
            post(acquire_lock).put(renew_lock).delete(release_lock),
        )
        .route("/v1/sandboxes/{id}/notes", post(post_note).get(list_notes))
        .route("/v1/sandboxes", get(list_sandboxes))
        .with_state(hub)
}

/// Runs the hub until `shutdown` resolves; `ready` hears the bound address.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let (lineage, inner) = load(&options.data)?;
    let hub = Arc::new(Hub {
        data: options.data.clone(),
        token: options.token,
        lineage,
        inner: Mutex::new(inner),
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
        .map_err(ServeError::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> String {
        serde_json::json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.a", "level": "info", "text": text})
            .to_string()
    }

    fn read_notes_bytes(bytes: &[u8]) -> Result<Vec<Note>, NotesFault> {
        parse_notes(bytes).map_err(|(line, e)| NotesFault::Line(line, e))
    }

    fn texts(bytes: &str) -> Result<Vec<String>, usize> {
        parse_notes(bytes.as_bytes())
            .map(|notes| notes.into_iter().map(|n| n.text).collect())
            .map_err(|(line, _)| line)
    }

    #[test]
    fn torn_appends_are_skipped_wherever_a_later_append_left_them() {
        let (one, two) = (line("one"), line("two"));
        let half = &two[..two.len() / 2];
        assert_eq!(texts(""), Ok(vec![]));
        assert_eq!(texts(&format!("{one}\n{two}\n")), Ok(vec!["one".into(), "two".into()]));
        // Torn last line, whatever it holds.
        assert_eq!(texts(&format!("{one}\n{half}")), Ok(vec!["one".into()]));
        assert_eq!(texts(&format!("{one}\nnot json")), Ok(vec!["one".into()]));
        // A whole last note whose newline was cut off counts, as it will once closed.
        assert_eq!(texts(&format!("{one}\n{two}")), Ok(vec!["one".into(), "two".into()]));
        // Closed by the next append: cut short, or zero-filled.
        assert_eq!(
            texts(&format!("{one}\n{half}\n{two}\n")),
            Ok(vec!["one".into(), "two".into()])
        );
        assert_eq!(texts(&format!("{half}\0\0\0\n{two}\n")), Ok(vec!["two".into()]));
        assert_eq!(texts(&format!("\0\0\0\0\n{two}\n")), Ok(vec!["two".into()]));
    }

    #[test]
    fn any_other_line_that_is_not_a_note_is_corruption_at_its_line() {
        let (one, two) = (line("one"), line("two"));
        assert_eq!(texts(&format!("{one}\nnot json\n{two}\n")), Err(2));
        assert_eq!(texts(&format!("{one}\n{two}\n{{\"a\": 1}}\n")), Err(3));
        assert_eq!(texts(&format!("{one}}}\n{two}\n")), Err(1), "trailing characters");
        let bad_address = one.replace("sandbox.a", "nowhere");
        assert_eq!(texts(&format!("{bad_address}\n")), Err(1));
    }

    #[test]
    fn the_error_names_the_sandbox_the_file_and_the_line() {
        let fault = match read_notes_bytes(format!("{}\n{{}}\n", line("one")).as_bytes()) {
            Err(fault) => fault,
            Ok(notes) => panic!("parsed {notes:?}"),
        };
        let ApiError(status, body) = notes_error("abc123", fault);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body.error,
            "the notes of sandbox abc123 are unreadable: line 2 of notes/abc123.jsonl in the hub's data folder \
             is not a note (missing field `at` at column 2)"
        );
    }
}
