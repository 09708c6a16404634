//! `sandboxer hub serve`: the State Hub server. Records, leases and notes live in
//! memory and on disk under `--data` with the same discipline as the embedded
//! store (atomic writes, fsync), so a restart loses nothing. A record write is
//! one line appended to its project's journal ([`super::store`]).
//!
//! Each project has a lock of its own, and each sandbox's notes another: writes
//! of one project (or one sandbox's notes) go one at a time, different ones side
//! by side. Reads of records take no such lock. File I/O runs on tokio's
//! blocking threads, never on the async workers.
//!
//! The token is checked by a layer in front of every route, before any
//! extractor reads the request's body, query or content type. Notes are kept
//! within a [`NotesPolicy`]: texts cut past a size, and per sandbox the last N,
//! younger than an age; a notes file is rewritten without the dropped ones.
//!
//! The VM capability catalog is one file per VM under `vms/`, kept in memory
//! too; each VM's writes go one at a time, and take no project's lock or lease.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::api::{
    ErrorBody, Health, LOCK_HEADER, LeaseStatus, LockGranted, LockInfoBody, LockRequest, NOTES_PAGE_MAX, NoteList,
    NotePosted, PutResource, RenewRequest, ResourceEntry, ResourceList, SandboxEntry, SandboxList, VmCapabilities,
    VmList, Written,
};
use super::store::{self, Change, ProjectData};
use crate::address::Address;
use crate::state::{Note, vms};

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (loopback unless told otherwise).
    pub listen: SocketAddr,
    /// Data folder.
    pub data: PathBuf,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    lock_id: String,
    holder: LockInfoBody,
    expires_unix_ms: u64,
}

/// One project: the lock its writers take and its committed data.
struct Project {
    /// Held by a write or lease change of this project from its checks until
    /// its file is on disk and the change committed. Holds the project's lease.
    writer: Arc<Mutex<Option<Lease>>>,
    /// What is on disk. Changed only under `writer`, once the change is on
    /// disk, so readers never wait for a disk write nor see one that failed.
    committed: std::sync::RwLock<Arc<ProjectData>>,
    /// Lines in the project's journal; changed only under `writer`.
    journal_lines: std::sync::atomic::AtomicUsize,
}

impl Project {
    fn new(data: ProjectData, lease: Option<Lease>) -> Project {
        Project {
            writer: Arc::new(Mutex::new(lease)),
            committed: std::sync::RwLock::new(Arc::new(data)),
            journal_lines: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn committed(&self) -> Arc<ProjectData> {
        // Held only to copy or swap an `Arc`: nothing can panic with it held.
        Arc::clone(&self.committed.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn commit(&self, data: ProjectData) {
        *self
            .committed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(data);
    }

    /// Applies a change that is in the journal of `project` (in the projects
    /// folder `dir`), and folds the journal into a new snapshot when it is due.
    /// Called under `writer`.
    fn commit_journaled(&self, dir: &Path, project: &str, change: Change) {
        use std::sync::atomic::Ordering;
        {
            let mut committed = self
                .committed
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // In place, unless a reader still holds the previous value (it then keeps its copy).
            Arc::make_mut(&mut committed).apply(change);
        }
        let lines = self.journal_lines.fetch_add(1, Ordering::Relaxed) + 1;
        let data = self.committed();
        if data.compaction_due(lines) {
            match store::save(dir, project, &data) {
                Ok(()) => self.journal_lines.store(0, Ordering::Relaxed),
                // The change is in the journal; the fold is tried again at the next write.
                Err(e) => tracing::warn!("folding the journal of project {project}: {e}"),
            }
        }
    }
}

/// One value per key (project, sandbox id), made on first use and kept.
struct PerKey<T> {
    map: std::sync::Mutex<HashMap<String, Arc<T>>>,
}

impl<T> PerKey<T> {
    fn new(map: HashMap<String, Arc<T>>) -> PerKey<T> {
        PerKey {
            map: std::sync::Mutex::new(map),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<T>>> {
        // Held only for a map lookup or insert, never across an await or I/O.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value of `key`, made by `make` if there is none yet.
    fn get_or_make(&self, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
        Arc::clone(self.map().entry(key.to_string()).or_insert_with(|| Arc::new(make())))
    }

    fn get(&self, key: &str) -> Option<Arc<T>> {
        self.map().get(key).cloned()
    }

    /// Every value, by key.
    fn sorted(&self) -> Vec<(String, Arc<T>)> {
        let mut all: Vec<(String, Arc<T>)> = self.map().iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// A note as the hub holds it: with when it received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldNote {
    note: Note,
    received_unix_ms: u64,
}

/// One sandbox's notes. They are numbered from 1 in the order received; the
/// oldest `dropped` are gone, so the ones held are `dropped + 1` onwards.
#[derive(Debug, Default, PartialEq, Eq)]
struct NoteLog {
    dropped: u64,
    held: VecDeque<HeldNote>,
    /// How many notes the file itself no longer holds (its first line says so):
    /// `dropped - dropped_in_file` notes are still in the file, to go at its next rewrite.
    dropped_in_file: u64,
}

impl NoteLog {
    /// The number of the newest note (0: none yet).
    fn latest(&self) -> u64 {
        self.dropped + self.held.len() as u64
    }

    /// How many of the oldest notes go at `now` with `incoming` more about to
    /// be added: those past `keep`, and those past `max_age` (oldest first: a
    /// note goes with every note before it).
    fn to_drop(&self, policy: &NotesPolicy, now: u64, incoming: usize) -> usize {
        let over = (self.held.len() + incoming).saturating_sub(policy.keep.max(1));
        let aged = policy.max_age.filter(|age| !age.is_zero()).map_or(0, |age| {
            let cutoff = now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            self.held.iter().take_while(|h| h.received_unix_ms < cutoff).count()
        });
        over.max(aged).min(self.held.len())
    }

    fn drop_oldest(&mut self, count: usize) {
        let count = count.min(self.held.len());
        self.held.drain(..count);
        self.dropped += count as u64;
    }

    /// Whether the file is rewritten once `dropping` more are dropped and
    /// `held` notes remain: when the notes it still holds for nothing are as
    /// many as those kept, or a quarter of `keep`. Each rewrite so costs at
    /// most four note lines per note dropped.
    fn rewrite_due(&self, dropping: usize, held: usize, keep: usize) -> bool {
        let stale = self.dropped - self.dropped_in_file + dropping as u64;
        stale > 0 && stale >= held.min(keep / 4).max(1) as u64
    }

    /// The page of at most `limit` notes after cursor `since`.
    fn page(&self, since: u64, limit: usize) -> NoteList {
        let latest = self.latest();
        let start = since.min(latest).max(self.dropped);
        let skip = usize::try_from(start - self.dropped).unwrap_or(usize::MAX);
        let notes: Vec<Note> = self
            .held
            .iter()
            .skip(skip)
            .take(limit)
            .map(|h| h.note.clone())
            .collect();
        let cursor = start + notes.len() as u64;
        NoteList {
            notes,
            cursor,
            more: cursor < latest,
            dropped: self.dropped,
            latest,
        }
    }
}

/// A sandbox's notes; `None` until they are read from disk.
type Notes = Mutex<Option<NoteLog>>;

struct Hub {
    data: PathBuf,
    token: Option<String>,
    notes_policy: NotesPolicy,
    lineage: String,
    projects: PerKey<Project>,
    /// Every project's lease, as `locks.json` holds them. One file for all, so
    /// its rewrites go one at a time; taken after the project's `writer`.
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
    notes: PerKey<Notes>,
    /// The VM catalog as on disk. Changed only under the VM's writer, once its
    /// file is written; readers never wait for a disk write.
    vms: std::sync::RwLock<BTreeMap<String, Arc<VmCapabilities>>>,
    /// One writer per VM at a time: its file and memory change together, and
    /// two writes would share the temporary file's name.
    vm_writers: PerKey<Mutex<()>>,
}

type Shared = Arc<Hub>;

/// An error answer.
#[derive(Debug)]
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

/// What the data folder holds at start.
#[derive(Debug, Default)]
struct Loaded {
    lineage: String,
    projects: HashMap<String, ProjectData>,
    leases: BTreeMap<String, Lease>,
    vms: BTreeMap<String, VmCapabilities>,
}

/// Loads (or starts) the data folder.
fn load(data: &Path) -> Result<Loaded, ServeError> {
    std::fs::create_dir_all(data.join("projects")).map_err(|e| io_err(data, e))?;
    // Project files hold the projects' keys for sensitive values: the hub's user only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data.join("projects"), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(data, e))?;
    }
    std::fs::create_dir_all(data.join("notes")).map_err(|e| io_err(data, e))?;
    std::fs::create_dir_all(data.join("vms")).map_err(|e| io_err(data, e))?;
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
    let mut loaded = Loaded {
        lineage,
        ..Loaded::default()
    };
    loaded.projects = store::load_all(&data.join("projects")).map_err(|e| ServeError::Data {
        path: e.path,
        message: e.message,
    })?;
    let locks = data.join("locks.json");
    if let Ok(bytes) = std::fs::read(&locks) {
        loaded.leases = serde_json::from_slice(&bytes).map_err(|e| io_err(&locks, e))?;
    }
    // A catalog file that does not parse is skipped (with a warning): the VM is probed again.
    let catalog = data.join("vms");
    loaded.vms = vms::read_vms(&catalog).map_err(|e| io_err(&catalog, e))?;
    Ok(loaded)
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

    fn project(&self, project: &str) -> Arc<Project> {
        self.projects
            .get_or_make(project, || Project::new(ProjectData::default(), None))
    }

    fn projects_dir(&self) -> PathBuf {
        self.data.join("projects")
    }

    fn notes(&self, id: &str) -> Arc<Notes> {
        self.notes.get_or_make(id, || Mutex::new(None))
    }

    fn notes_file(&self, id: &str) -> PathBuf {
        self.data.join("notes").join(format!("{id}.jsonl"))
    }

    fn vms_dir(&self) -> PathBuf {
        self.data.join("vms")
    }

    fn vm(&self, name: &str) -> Option<Arc<VmCapabilities>> {
        // Held only to copy an `Arc`: nothing can panic with it held.
        let vms = self.vms.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        vms.get(name).cloned()
    }
}

/// Runs blocking file I/O on a blocking thread. What `work` captures (a lock
/// guard, the change to commit) goes with it: a started write and its commit
/// finish together, under the lock, even if the request is dropped meanwhile.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")))?
}

fn persist_error(project: &str, e: store::StoreError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot persist {project}: {e}"),
    )
}

fn save_leases(path: &Path, leases: &BTreeMap<String, Lease>) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec_pretty(leases)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    crate::fsutil::write_atomic(path, &bytes)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot persist locks: {e}")))
}

/// Sets (`None`: removes) the lease of `project`: in `locks.json`, then in memory.
async fn set_lease(
    hub: &Hub,
    project: String,
    mut writer: OwnedMutexGuard<Option<Lease>>,
    lease: Option<Lease>,
) -> Result<(), ApiError> {
    let mut leases = Arc::clone(&hub.leases).lock_owned().await;
    let path = hub.data.join("locks.json");
    blocking(move || {
        let mut all = BTreeMap::clone(&leases);
        match &lease {
            Some(lease) => all.insert(project, lease.clone()),
            None => all.remove(&project),
        };
        save_leases(&path, &all)?;
        *leases = all;
        *writer = lease;
        Ok(())
    })
    .await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The serial after a write; it orders every write of a project and never wraps.
fn next_serial(serial: u64) -> Result<u64, ApiError> {
    serial.checked_add(1).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the project's serial is at its largest value",
        )
    })
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

/// A live lease of another holder blocks writes.
fn check_write_lock(lease: Option<&Lease>, project: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get(LOCK_HEADER).and_then(|v| v.to_str().ok());
    let Some(lease) = lease.filter(|l| l.expires_unix_ms > now_ms()) else {
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

/// The token, checked in front of every route but health: before any extractor
/// reads the body, the query or the content type, so a request without the
/// token learns nothing but 401.
async fn require_token(State(hub): State<Shared>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/v1/health" {
        return next.run(request).await;
    }
    match hub.authorize(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

async fn health(State(hub): State<Shared>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        lineage: hub.lineage.clone(),
    })
}

async fn list_resources(State(hub): State<Shared>, UrlPath(project): UrlPath<String>) -> ApiResult<ResourceList> {
    check_project(&project)?;
    let data = hub.projects.get(&project).map(|p| p.committed()).unwrap_or_default();
    Ok((
        StatusCode::OK,
        Json(ResourceList {
            project,
            lineage: hub.lineage.clone(),
            serial: data.serial,
            resources: data.resources.values().cloned().collect(),
        }),
    ))
}

async fn get_resource(
    State(hub): State<Shared>,
    UrlPath((project, address)): UrlPath<(String, String)>,
) -> ApiResult<ResourceEntry> {
    check_project(&project)?;
    check_address(&address)?;
    let data = hub.projects.get(&project).map(|p| p.committed());
    match data.as_ref().and_then(|d| d.resources.get(&address)) {
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
    check_project(&project)?;
    let parsed = check_address(&address)?;
    if body.record.address != parsed {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the record is {}, not {address}", body.record.address),
        ));
    }
    let entry = hub.project(&project);
    let writer = Arc::clone(&entry.writer).lock_owned().await;
    check_write_lock(writer.as_ref(), &project, &headers)?;
    let committed = entry.committed();
    let current = committed.resources.get(&address).map_or(0, |e| e.version);
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
    let serial = next_serial(committed.serial)?;
    drop(committed);
    let version = current + 1;
    let change = Change {
        serial,
        address,
        entry: Some(ResourceEntry {
            record: body.record,
            version,
        }),
    };
    let dir = hub.projects_dir();
    let written = blocking(move || {
        store::append(&dir, &project, &change).map_err(|e| persist_error(&project, e))?;
        entry.commit_journaled(&dir, &project, change);
        // Named here so the guard moves into this closure; the next writer may go.
        drop(writer);
        Ok(Written { version, serial })
    })
    .await?;
    Ok((StatusCode::OK, Json(written)))
}

/// The project's key for sensitive values; made (and written with the project)
/// on the first request. Needs the token like every other call; no lease: a plan
/// needs it too, and whoever comes first makes it, under the project's lock.
async fn sensitive_key(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
) -> ApiResult<crate::hub::api::SensitiveKeyBody> {
    check_project(&project)?;
    let entry = hub.project(&project);
    if let Some(key) = entry.committed().sensitive_key.clone() {
        return Ok((StatusCode::OK, Json(crate::hub::api::SensitiveKeyBody { key })));
    }
    let writer = Arc::clone(&entry.writer).lock_owned().await;
    let mut data = ProjectData::clone(&entry.committed());
    if let Some(key) = data.sensitive_key.clone() {
        return Ok((StatusCode::OK, Json(crate::hub::api::SensitiveKeyBody { key })));
    }
    let key = crate::sensitive::SensitiveKey::generate_hex()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("no random key: {e}")))?;
    data.sensitive_key = Some(key.clone());
    let dir = hub.projects_dir();
    blocking(move || {
        // Once per project: the key goes into a new snapshot, which holds the journal too.
        store::save(&dir, &project, &data).map_err(|e| persist_error(&project, e))?;
        entry.commit(data);
        entry.journal_lines.store(0, std::sync::atomic::Ordering::Relaxed);
        drop(writer);
        Ok(())
    })
    .await?;
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
    let entry = hub.project(&project);
    let writer = Arc::clone(&entry.writer).lock_owned().await;
    check_write_lock(writer.as_ref(), &project, &headers)?;
    let committed = entry.committed();
    let Some(current) = committed.resources.get(&address).map(|e| e.version) else {
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
    let serial = next_serial(committed.serial)?;
    drop(committed);
    let change = Change {
        serial,
        address,
        entry: None,
    };
    let dir = hub.projects_dir();
    let written = blocking(move || {
        store::append(&dir, &project, &change).map_err(|e| persist_error(&project, e))?;
        entry.commit_journaled(&dir, &project, change);
        // Named here so the guard moves into this closure; the next writer may go.
        drop(writer);
        Ok(Written { version: 0, serial })
    })
    .await?;
    Ok((StatusCode::OK, Json(written)))
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

/// Who holds the project's lease, if anyone: read only, and no project is made.
async fn lease_status(State(hub): State<Shared>, UrlPath(project): UrlPath<String>) -> ApiResult<LeaseStatus> {
    check_project(&project)?;
    let lease = match hub.projects.get(&project) {
        Some(known) => {
            let writer = known.writer.lock().await;
            writer.as_ref().filter(|l| l.expires_unix_ms > now_ms()).map(granted)
        }
        None => None,
    };
    Ok((StatusCode::OK, Json(LeaseStatus { lease })))
}

async fn acquire_lock(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<LockRequest>,
) -> ApiResult<LockGranted> {
    check_project(&project)?;
    let writer = Arc::clone(&hub.project(&project).writer).lock_owned().await;
    let now = now_ms();
    if let Some(lease) = writer.as_ref().filter(|l| l.expires_unix_ms > now) {
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
    let answer = granted(&lease);
    set_lease(&hub, project, writer, Some(lease)).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn renew_lock(
    State(hub): State<Shared>,
    UrlPath(project): UrlPath<String>,
    Json(body): Json<RenewRequest>,
) -> ApiResult<LockGranted> {
    check_project(&project)?;
    let writer = Arc::clone(&hub.project(&project).writer).lock_owned().await;
    let now = now_ms();
    let Some(held) = writer
        .as_ref()
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
    let lease = Lease {
        expires_unix_ms: now + ttl_ms(body.ttl_seconds),
        ..held.clone()
    };
    let answer = granted(&lease);
    set_lease(&hub, project, writer, Some(lease)).await?;
    Ok((StatusCode::OK, Json(answer)))
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
    let writer = Arc::clone(&hub.project(&project).writer).lock_owned().await;
    match writer.as_ref() {
        Some(lease) if lease.lock_id == query.lock_id => {
            set_lease(&hub, project, writer, None).await?;
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

/// The first line of a rewritten notes file: how many notes were dropped
/// before the first one in it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesHeader {
    dropped: u64,
}

/// When the hub received a note, as its line says (absent from lines written
/// before the hub kept it).
#[derive(Debug, Deserialize)]
struct Received {
    received_unix_ms: Option<u64>,
}

/// A note's line in its file: the note's fields and when the hub received it.
#[derive(Debug, Serialize)]
struct StoredNote<'a> {
    #[serde(flatten)]
    note: &'a Note,
    received_unix_ms: u64,
}

/// The line (without newline) of `held` in its notes file.
fn note_line(held: &HeldNote) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&StoredNote {
        note: &held.note,
        received_unix_ms: held.received_unix_ms,
    })
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode note: {e}")))
}

/// A whole notes file: the header, then one line per note.
fn notes_file_bytes<'a>(dropped: u64, notes: impl Iterator<Item = &'a HeldNote>) -> Result<Vec<u8>, ApiError> {
    let mut bytes = serde_json::to_vec(&NotesHeader { dropped })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode notes: {e}")))?;
    bytes.push(b'\n');
    for held in notes {
        bytes.extend(note_line(held)?);
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// A note read from `line`, dated by the line's `received_unix_ms`; a line of
/// an older hub by its note's own `at` (never later than `now`: a poster's
/// clock ahead of the hub's must not keep later notes from ageing), else as
/// received `now`.
fn held_note(note: Note, line: &[u8], now: u64) -> HeldNote {
    let received_unix_ms = serde_json::from_slice::<Received>(line)
        .ok()
        .and_then(|r| r.received_unix_ms)
        .or_else(|| {
            humantime::parse_rfc3339_weak(&note.at)
                .ok()
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(now))
        })
        .unwrap_or(now);
    HeldNote { note, received_unix_ms }
}

/// The notes in a notes file's bytes, skipping torn appends; `now` dates notes
/// that say nothing of when they came.
///
/// A file the hub rewrote starts with a [`NotesHeader`] line. The hub writes
/// each note as one line of JSON with no raw NUL byte, its newline in the same
/// write. A crash mid-append leaves a torn line: the last line without its
/// newline (never acknowledged, whatever it holds), or, once the next append
/// has closed it, a line that ends before its JSON does or holds NUL bytes
/// (blocks a crash left zero-filled). Torn lines are skipped and numbered
/// nothing; any other line that is not a note is corruption.
fn parse_notes(bytes: &[u8], now: u64) -> Result<NoteLog, (usize, serde_json::Error)> {
    let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // What follows the last newline: empty unless the last append was torn.
    let unterminated = pieces.pop().filter(|p| !p.is_empty());
    let mut log = NoteLog::default();
    let mut lines = pieces.into_iter().enumerate().peekable();
    if let Some(header) = lines
        .peek()
        .and_then(|(_, first)| serde_json::from_slice::<NotesHeader>(first).ok())
    {
        log.dropped = header.dropped;
        log.dropped_in_file = header.dropped;
        lines.next();
    }
    for (index, line) in lines {
        match serde_json::from_slice(line) {
            Ok(note) => log.held.push_back(held_note(note, line, now)),
            Err(e) if e.is_eof() || line.contains(&0) => {}
            Err(e) => return Err((index + 1, e)),
        }
    }
    if let Some((line, note)) = unterminated.and_then(|l| serde_json::from_slice(l).ok().map(|n| (l, n))) {
        // Counted as it will be once the next append closes the line, so cursors stay put.
        log.held.push_back(held_note(note, line, now));
    }
    Ok(log)
}

/// The notes in the file at `path`; none when there is no file.
fn read_notes(path: &Path, now: u64) -> Result<NoteLog, NotesFault> {
    match std::fs::read(path) {
        Ok(bytes) => parse_notes(&bytes, now).map_err(|(line, e)| NotesFault::Line(line, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NoteLog::default()),
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
    let policy = hub.notes_policy;
    let cut = cut_text(&mut note.text, policy.max_text_bytes);
    let path = hub.notes_file(&id);
    let mut notes = hub.notes(&id).lock_owned().await;
    // One append or rewrite at a time per sandbox, under its lock: each note's
    // number is one more than the last, whatever was dropped before it.
    let posted = blocking(move || {
        let now = now_ms();
        if notes.is_none() {
            *notes = Some(read_notes(&path, now).map_err(|fault| notes_error(&id, fault))?);
        }
        let log = notes.get_or_insert_default();
        let dropping = log.to_drop(&policy, now, 1);
        let held = HeldNote {
            note,
            // Never before the last one, so the oldest notes are always the first.
            received_unix_ms: now.max(log.held.back().map_or(0, |h| h.received_unix_ms)),
        };
        let persist =
            |e: std::io::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot persist note: {e}"));
        if log.rewrite_due(dropping, log.held.len() - dropping + 1, policy.keep) {
            // A new file with the notes kept and this one, then renamed over the old.
            let kept = log.held.iter().skip(dropping).chain(std::iter::once(&held));
            let bytes = notes_file_bytes(log.dropped + dropping as u64, kept)?;
            crate::fsutil::write_atomic(&path, &bytes).map_err(persist)?;
            log.drop_oldest(dropping);
            log.dropped_in_file = log.dropped;
        } else {
            crate::fsutil::append_line(&path, &note_line(&held)?).map_err(persist)?;
            log.drop_oldest(dropping);
        }
        log.held.push_back(held);
        Ok(NotePosted {
            cursor: log.latest(),
            cut,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(posted)))
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
    let slot = hub.notes(&id);
    let mut notes = slot.lock().await;
    let now = now_ms();
    if notes.is_none() {
        // Not kept when it fails: a repaired file is read again next time.
        let path = hub.notes_file(&id);
        *notes = Some(blocking(move || read_notes(&path, now).map_err(|fault| notes_error(&id, fault))).await?);
    }
    let log = notes.get_or_insert_default();
    // Dropped from what is served at once; from the file at its next rewrite.
    log.drop_oldest(log.to_drop(&hub.notes_policy, now, 0));
    let limit = query.limit.unwrap_or(NOTES_PAGE_MAX).min(NOTES_PAGE_MAX);
    Ok((StatusCode::OK, Json(log.page(query.since.unwrap_or(0), limit))))
}

#[derive(Debug, Deserialize)]
struct VmQuery {
    vm: Option<String>,
}

async fn list_sandboxes(State(hub): State<Shared>, Query(query): Query<VmQuery>) -> ApiResult<SandboxList> {
    let mut sandboxes = Vec::new();
    for (project, entry) in hub.projects.sorted() {
        let data = entry.committed();
        for entry in data.resources.values() {
            let vm = entry
                .record
                .facts
                .get("location")
                .and_then(|l| l.parse::<crate::location::Location>().ok())
                .and_then(|l| l.vm().map(str::to_string))
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

/// The catalog, sorted by name.
async fn list_vms(State(hub): State<Shared>) -> ApiResult<VmList> {
    let held: Vec<Arc<VmCapabilities>> = {
        let vms = hub.vms.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        vms.values().cloned().collect()
    };
    // Copied out after the lock is let go: a large catalog holds up no writer.
    let vms = held.iter().map(|entry| VmCapabilities::clone(entry)).collect();
    Ok((StatusCode::OK, Json(VmList { vms })))
}

async fn get_vm(State(hub): State<Shared>, UrlPath(name): UrlPath<String>) -> ApiResult<VmCapabilities> {
    check_vm(&name)?;
    match hub.vm(&name) {
        Some(entry) => Ok((StatusCode::OK, Json(VmCapabilities::clone(&entry)))),
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
    let writer = hub.vm_writers.get_or_make(&name, || Mutex::new(())).lock_owned().await;
    let answer = entry.clone();
    let shared = Arc::clone(&hub);
    blocking(move || {
        vms::write_vm(&shared.vms_dir(), &entry).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot persist the catalog entry of VM {name}: {e}"),
            )
        })?;
        shared
            .vms
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name, Arc::new(entry));
        // Named here so the guard moves into this closure; the next writer may go.
        drop(writer);
        Ok(())
    })
    .await?;
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
        // Outermost: runs before routing's extractors, and for unknown paths too.
        .layer(middleware::from_fn_with_state(hub, require_token))
}

/// Runs the hub until `shutdown` resolves; `ready` hears the bound address.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let data = options.data.clone();
    let loaded = tokio::task::spawn_blocking(move || load(&data))
        .await
        .map_err(|e| ServeError::Data {
            path: options.data.clone(),
            message: format!("loading stopped: {e}"),
        })??;
    let mut projects: HashMap<String, Arc<Project>> = HashMap::new();
    for (project, data) in loaded.projects {
        let lease = loaded.leases.get(&project).cloned();
        projects.insert(project, Arc::new(Project::new(data, lease)));
    }
    for (project, lease) in &loaded.leases {
        projects
            .entry(project.clone())
            .or_insert_with(|| Arc::new(Project::new(ProjectData::default(), Some(lease.clone()))));
    }
    let hub = Arc::new(Hub {
        data: options.data.clone(),
        token: options.token,
        notes_policy: options.notes,
        lineage: loaded.lineage,
        projects: PerKey::new(projects),
        leases: Arc::new(Mutex::new(loaded.leases)),
        notes: PerKey::new(HashMap::new()),
        vms: std::sync::RwLock::new(loaded.vms.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
        vm_writers: PerKey::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    ready(addr);
    axum::serve(listener, router(Arc::clone(&hub)))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)?;
    fold_journals(&hub).await;
    Ok(())
}

/// Folds each project's journal into its snapshot, at a clean stop: the data
/// folder is then one file per project, and the next start reads no journal.
/// A fold that fails leaves the journal, which the next start folds.
async fn fold_journals(hub: &Hub) {
    for (project, entry) in hub.projects.sorted() {
        let writer = Arc::clone(&entry.writer).lock_owned().await;
        if entry.journal_lines.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            continue;
        }
        let dir = hub.projects_dir();
        let folded = blocking(move || {
            let data = entry.committed();
            let saved = store::save(&dir, &project, &data);
            if let Err(e) = &saved {
                tracing::warn!("folding the journal of project {project}: {e}");
            } else {
                entry.journal_lines.store(0, std::sync::atomic::Ordering::Relaxed);
            }
            drop(writer);
            Ok(())
        })
        .await;
        if let Err(e) = folded {
            tracing::warn!("folding a journal: {}", e.1.error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_never_wraps() {
        assert_eq!(next_serial(41).ok(), Some(42));
        assert!(next_serial(u64::MAX).is_err());
    }

    fn line(text: &str) -> String {
        serde_json::json!({"at": "2026-01-01T00:00:00Z", "address": "sandbox.a", "level": "info", "text": text})
            .to_string()
    }

    fn read_notes_bytes(bytes: &[u8]) -> Result<NoteLog, NotesFault> {
        parse_notes(bytes, 0).map_err(|(line, e)| NotesFault::Line(line, e))
    }

    fn texts(bytes: &str) -> Result<Vec<String>, usize> {
        parse_notes(bytes.as_bytes(), 0)
            .map(|log| log.held.into_iter().map(|h| h.note.text).collect())
            .map_err(|(line, _)| line)
    }

    fn held(text: &str, received_unix_ms: u64) -> HeldNote {
        let note = serde_json::from_str(&line(text)).expect("a note");
        HeldNote { note, received_unix_ms }
    }

    fn log_of(dropped: u64, received: &[u64]) -> NoteLog {
        NoteLog {
            dropped,
            held: received
                .iter()
                .enumerate()
                .map(|(i, r)| held(&format!("n{i}"), *r))
                .collect(),
            dropped_in_file: dropped,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn each_project_has_its_own_writer_lock_and_keeps_it() {
        let hub = Hub {
            data: PathBuf::from("/nonexistent"),
            token: None,
            notes_policy: NotesPolicy::default(),
            lineage: String::new(),
            projects: PerKey::new(HashMap::new()),
            leases: Arc::new(Mutex::new(BTreeMap::new())),
            notes: PerKey::new(HashMap::new()),
            vms: std::sync::RwLock::new(BTreeMap::new()),
            vm_writers: PerKey::new(HashMap::new()),
        };
        let (a, again, b) = (hub.project("a"), hub.project("a"), hub.project("b"));
        assert!(Arc::ptr_eq(&a, &again) && Arc::ptr_eq(&a.writer, &again.writer));
        assert!(!Arc::ptr_eq(&a.writer, &b.writer));
        let held = a.writer.try_lock().expect("a is free");
        assert!(again.writer.try_lock().is_err(), "one writer of a at a time");
        assert!(b.writer.try_lock().is_ok(), "b does not wait for a");
        drop(held);
        assert!(Arc::ptr_eq(&hub.notes("x1"), &hub.notes("x1")));
        assert!(!Arc::ptr_eq(&hub.notes("x1"), &hub.notes("x2")));
        let names: Vec<String> = hub.projects.sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(hub.projects.get("c").is_none(), "reads make no project");
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

    #[test]
    fn a_rewritten_file_says_how_many_notes_went_before_it_and_keeps_when_each_came() {
        let now = 1_800_000_000_000;
        let parsed = parse_notes(format!("{{\"dropped\":7}}\n{}\n", line("eight")).as_bytes(), now).expect("parses");
        assert_eq!((parsed.dropped, parsed.dropped_in_file, parsed.latest()), (7, 7, 8));
        // A line of an older hub is dated by its `at`, but never ahead of the hub's clock.
        assert_eq!(parsed.held[0].received_unix_ms, 1_767_225_600_000);
        let ahead = parse_notes(format!("{}\n", line("x")).as_bytes(), 1_000).expect("parses");
        assert_eq!(ahead.held[0].received_unix_ms, 1_000);
        let bytes = notes_file_bytes(7, [held("eight", 42)].iter()).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(text.starts_with("{\"dropped\":7}\n"), "{text}");
        assert!(text.ends_with(",\"received_unix_ms\":42}\n"), "{text}");
        let again = parse_notes(&bytes, 5).expect("parses");
        assert_eq!(again.held, [held("eight", 42)]);
        assert_eq!(again.latest(), 8);
        // Anywhere else a header is no note.
        assert_eq!(texts(&format!("{}\n{{\"dropped\":7}}\n", line("one"))), Err(2));
        let undated = line("x").replace("2026-01-01T00:00:00Z", "yesterday");
        assert_eq!(
            parse_notes(format!("{undated}\n").as_bytes(), 5).expect("parses").held[0].received_unix_ms,
            5
        );
    }

    #[test]
    fn the_oldest_notes_go_past_keep_or_past_max_age_and_the_file_is_rewritten_in_batches() {
        let now = 10 * 60_000;
        let keep3 = NotesPolicy {
            keep: 3,
            ..NotesPolicy::default()
        };
        let log = log_of(0, &[now, now, now]);
        assert_eq!((log.to_drop(&keep3, now, 0), log.to_drop(&keep3, now, 1)), (0, 1));
        let aged = NotesPolicy {
            max_age: Some(MINUTE),
            ..NotesPolicy::default()
        };
        let log = log_of(4, &[now - 3 * 60_000, now - 2 * 60_000, now - 30_000, now - 70_000]);
        assert_eq!(
            log.to_drop(&aged, now, 1),
            2,
            "oldest first: a note goes with those before it"
        );
        assert_eq!(log.to_drop(&NotesPolicy::default(), now, 1), 0);

        let mut log = log_of(4, &[now; 8]);
        assert!(!log.rewrite_due(0, 9, 1000), "nothing to drop from the file");
        assert!(log.rewrite_due(2, 2, 1000), "as many stale as kept");
        assert!(!log.rewrite_due(1, 8, 1000));
        log.drop_oldest(3);
        assert_eq!(
            (log.dropped, log.dropped_in_file, log.held.len(), log.latest()),
            (7, 4, 5, 12)
        );
        assert!(log.rewrite_due(0, 5, 8), "a quarter of keep: 2");
        assert!(!log.rewrite_due(0, 5, 1000), "3 stale, 5 kept");
    }

    #[test]
    fn pages_start_after_the_cursor_or_at_the_oldest_note_kept() {
        let log = log_of(7, &[1, 2, 3, 4, 5]);
        let page = |since, limit| {
            let p = log.page(since, limit);
            let texts: Vec<String> = p.notes.iter().map(|n| n.text.clone()).collect();
            (texts, p.cursor, p.more, p.dropped, p.latest)
        };
        assert_eq!(page(0, 2), (vec!["n0".into(), "n1".into()], 9, true, 7, 12));
        assert_eq!(page(10, 500), (vec!["n3".into(), "n4".into()], 12, false, 7, 12));
        assert_eq!(
            page(99, 500),
            (vec![], 12, false, 7, 12),
            "past the end reads as the end"
        );
        assert_eq!(page(0, 0), (vec![], 7, true, 7, 12));
        assert_eq!(NoteLog::default().page(0, 500).cursor, 0);
    }

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
