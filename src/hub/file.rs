//! The file store of one box: records, leases, notes and the VM catalog in
//! memory and on disk under `--data`, with the same discipline as the
//! embedded store (atomic writes, fsync), so a restart loses nothing. A record
//! write is one line appended to its project's journal ([`super::store`]).
//!
//! Each project has a lock of its own, and each sandbox's notes another: writes
//! of one project (or one sandbox's notes) go one at a time, different ones side
//! by side. Reads of records take no such lock. File I/O runs on tokio's
//! blocking threads, never on the async workers.
//!
//! Notes are kept within a [`NotesPolicy`]: per sandbox the last N, younger
//! than an age; a notes file is rewritten without the dropped ones.
//!
//! The VM capability catalog is one file per VM under `vms/`, kept in memory
//! too; each VM's writes go one at a time, and take no project's lock or lease.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::api::{NoteList, ResourceEntry, SandboxEntry, StoreHealth, VmCapabilities, Written};
use super::backend::{self, ApiError, Backend, Lease, NoteLogSummary, now_ms};
use super::server::{NotesPolicy, ServeError};
use super::store::{self, Change, ProjectData};
use crate::state::{Note, Record, vms};

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

/// The file store: what `hub serve --data DIR` keeps.
pub struct FileBackend {
    data: PathBuf,
    /// `hub.lock`, locked for as long as this hub serves the folder: a second
    /// hub, or `hub migrate-store` copying it, is refused meanwhile.
    _lock: Option<std::fs::File>,
    notes_policy: NotesPolicy,
    lineage: String,
    projects: PerKey<Project>,
    /// Every project's lease, as `locks.json` holds them. One file for all, so
    /// its rewrites go one at a time; taken after the project's `writer`.
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
    notes: PerKey<Notes>,
    /// The VM catalog as on disk. Changed only under the VM's writer, once its
    /// file is written; readers never wait for a disk write.
    vms: Arc<std::sync::RwLock<BTreeMap<String, Arc<VmCapabilities>>>>,
    /// One writer per VM at a time: its file and memory change together, and
    /// two writes would share the temporary file's name.
    vm_writers: PerKey<Mutex<()>>,
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

/// Every project's lease, as `locks.json` in `data` holds them: none without
/// the file; any other failure to read it is an error (starting without the
/// leases would let another take a project that is held).
fn read_leases(data: &Path) -> Result<BTreeMap<String, Lease>, ServeError> {
    let locks = data.join("locks.json");
    match std::fs::read(&locks) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_err(&locks, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(io_err(&locks, e)),
    }
}

/// The lock file of a data folder.
fn lock_path(data: &Path) -> PathBuf {
    data.join("hub.lock")
}

/// Takes the data folder's lock, held while the returned file is open; an
/// error naming the folder when a hub holds it.
fn lock_folder(data: &Path) -> Result<std::fs::File, ServeError> {
    let path = lock_path(data);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(io_err(
            data,
            "a State Hub serves this data folder (it holds hub.lock); stop it first",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path, e)),
    }
}

/// Loads (or starts) the data folder, with its lock taken.
fn load(data: &Path) -> Result<(Loaded, std::fs::File), ServeError> {
    std::fs::create_dir_all(data).map_err(|e| io_err(data, e))?;
    let lock = lock_folder(data)?;
    Ok((load_locked(data)?, lock))
}

fn load_locked(data: &Path) -> Result<Loaded, ServeError> {
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
    loaded.leases = read_leases(data)?;
    // A catalog file that does not parse is skipped (with a warning): the VM is probed again.
    let catalog = data.join("vms");
    loaded.vms = vms::read_vms(&catalog).map_err(|e| io_err(&catalog, e))?;
    Ok(loaded)
}

/// A file store as `hub migrate-store` copies it: read, never written.
#[derive(Debug, Default)]
pub struct FileContents {
    /// The store's lineage.
    pub lineage: String,
    /// Every project, journals replayed.
    pub projects: BTreeMap<String, ProjectData>,
    /// Every project's lease.
    pub leases: BTreeMap<String, Lease>,
    /// Every sandbox's notes: how many went before the first one kept, and
    /// the kept ones with when the hub received them (their numbers follow).
    pub notes: BTreeMap<String, (u64, Vec<(Note, u64)>)>,
    /// The VM catalog.
    pub vms: BTreeMap<String, VmCapabilities>,
}

/// Reads the file store in `data` without writing to it (a journal stays a
/// journal). Stop the hub that serves it first: a hub still writing would add
/// what this read cannot see.
pub fn read_contents(data: &Path) -> Result<FileContents, ServeError> {
    // Held while reading: a hub started meanwhile waits for nothing, it is refused.
    let _lock = lock_folder(data)?;
    let hub_file = data.join("hub.json");
    let bytes = std::fs::read(&hub_file).map_err(|e| io_err(&hub_file, e))?;
    let meta: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| io_err(&hub_file, e))?;
    let lineage = meta
        .get("lineage")
        .and_then(serde_json::Value::as_str)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| io_err(&hub_file, "no lineage: not a State Hub's data folder"))?
        .to_string();
    let projects_dir = data.join("projects");
    let store_error = |e: store::StoreError| ServeError::Data {
        path: e.path,
        message: e.message,
    };
    let mut contents = FileContents {
        lineage,
        ..FileContents::default()
    };
    for project in store::project_names(&projects_dir).map_err(store_error)? {
        let (read, _) = store::read(&projects_dir, &project).map_err(store_error)?;
        contents.projects.insert(project, read);
    }
    contents.leases = read_leases(data)?;
    let notes_dir = data.join("notes");
    let now = now_ms();
    let entries = match std::fs::read_dir(&notes_dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&notes_dir, e)),
    };
    for path in entries {
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
            .filter(|id| crate::safety::check_name(id).is_ok())
        else {
            continue;
        };
        let log = read_notes(&path, now).map_err(|fault| io_err(&path, notes_error(id, fault).1.error))?;
        let held = log.held.into_iter().map(|h| (h.note, h.received_unix_ms)).collect();
        contents.notes.insert(id.to_string(), (log.dropped, held));
    }
    let catalog = data.join("vms");
    if catalog.is_dir() {
        contents.vms = vms::read_vms(&catalog).map_err(|e| io_err(&catalog, e))?;
    }
    Ok(contents)
}

impl FileBackend {
    /// Opens (or starts) the data folder `data`.
    pub async fn open(data: PathBuf, notes_policy: NotesPolicy) -> Result<FileBackend, ServeError> {
        let folder = data.clone();
        let (loaded, lock) =
            tokio::task::spawn_blocking(move || load(&folder))
                .await
                .map_err(|e| ServeError::Data {
                    path: data.clone(),
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
        Ok(FileBackend {
            data,
            _lock: Some(lock),
            notes_policy,
            lineage: loaded.lineage,
            projects: PerKey::new(projects),
            leases: Arc::new(Mutex::new(loaded.leases)),
            notes: PerKey::new(HashMap::new()),
            vms: Arc::new(std::sync::RwLock::new(
                loaded.vms.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            )),
            vm_writers: PerKey::new(HashMap::new()),
        })
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

    /// Sets (`None`: removes) the lease of `project`: in `locks.json`, then in memory.
    async fn set_lease(
        &self,
        project: String,
        mut writer: OwnedMutexGuard<Option<Lease>>,
        lease: Option<Lease>,
    ) -> Result<(), ApiError> {
        let mut leases = Arc::clone(&self.leases).lock_owned().await;
        let path = self.data.join("locks.json");
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

    /// Appends `change` to the project's journal and commits it, under `writer`.
    async fn write(
        &self,
        project: &str,
        entry: Arc<Project>,
        writer: OwnedMutexGuard<Option<Lease>>,
        change: Change,
        written: Written,
    ) -> Result<Written, ApiError> {
        let dir = self.projects_dir();
        let project = project.to_string();
        blocking(move || {
            store::append(&dir, &project, &change).map_err(|e| persist_error(&project, e))?;
            entry.commit_journaled(&dir, &project, change);
            // Named here so the guard moves into this closure; the next writer may go.
            drop(writer);
            Ok(written)
        })
        .await
    }
}

#[async_trait]
impl Backend for FileBackend {
    fn lineage(&self) -> &str {
        &self.lineage
    }

    async fn health(&self) -> StoreHealth {
        StoreHealth {
            kind: "file".into(),
            reachable: true,
            error: None,
        }
    }

    async fn list_resources(&self, project: &str) -> Result<(u64, Vec<ResourceEntry>), ApiError> {
        let data = self.projects.get(project).map(|p| p.committed()).unwrap_or_default();
        Ok((data.serial, data.resources.values().cloned().collect()))
    }

    async fn get_resource(&self, project: &str, address: &str) -> Result<Option<ResourceEntry>, ApiError> {
        let data = self.projects.get(project).map(|p| p.committed());
        Ok(data.and_then(|d| d.resources.get(address).cloned()))
    }

    async fn put_resource(
        &self,
        project: &str,
        address: &str,
        record: Record,
        expected: u64,
        lock: Option<&str>,
    ) -> Result<Written, ApiError> {
        let entry = self.project(project);
        let writer = Arc::clone(&entry.writer).lock_owned().await;
        backend::check_write_lock(writer.as_ref(), project, lock, now_ms())?;
        let committed = entry.committed();
        let current = committed.resources.get(address).map_or(0, |e| e.version);
        if current != expected {
            return Err(backend::stale_write(address, current, expected));
        }
        let serial = backend::next_serial(committed.serial)?;
        drop(committed);
        let version = current + 1;
        let change = Change {
            serial,
            address: address.to_string(),
            entry: Some(ResourceEntry { record, version }),
        };
        self.write(project, entry, writer, change, Written { version, serial })
            .await
    }

    async fn delete_resource(
        &self,
        project: &str,
        address: &str,
        expected: Option<u64>,
        lock: Option<&str>,
    ) -> Result<Written, ApiError> {
        let entry = self.project(project);
        let writer = Arc::clone(&entry.writer).lock_owned().await;
        backend::check_write_lock(writer.as_ref(), project, lock, now_ms())?;
        let committed = entry.committed();
        let Some(current) = committed.resources.get(address).map(|e| e.version) else {
            return Err(backend::no_resource(project, address));
        };
        if let Some(expected) = expected
            && expected != current
        {
            return Err(backend::stale_delete(address, current, expected));
        }
        let serial = backend::next_serial(committed.serial)?;
        drop(committed);
        let change = Change {
            serial,
            address: address.to_string(),
            entry: None,
        };
        self.write(project, entry, writer, change, Written { version: 0, serial })
            .await
    }

    async fn sensitive_key(&self, project: &str) -> Result<String, ApiError> {
        let entry = self.project(project);
        if let Some(key) = entry.committed().sensitive_key.clone() {
            return Ok(key);
        }
        let writer = Arc::clone(&entry.writer).lock_owned().await;
        let mut data = ProjectData::clone(&entry.committed());
        if let Some(key) = data.sensitive_key.clone() {
            return Ok(key);
        }
        let key = crate::sensitive::SensitiveKey::generate_hex()
            .map_err(|e| ApiError::internal(format!("no random key: {e}")))?;
        data.sensitive_key = Some(key.clone());
        let dir = self.projects_dir();
        let project = project.to_string();
        blocking(move || {
            // Once per project: the key goes into a new snapshot, which holds the journal too.
            store::save(&dir, &project, &data).map_err(|e| persist_error(&project, e))?;
            entry.commit(data);
            entry.journal_lines.store(0, std::sync::atomic::Ordering::Relaxed);
            drop(writer);
            Ok(())
        })
        .await?;
        Ok(key)
    }

    async fn lease_status(&self, project: &str) -> Result<Option<Lease>, ApiError> {
        Ok(match self.projects.get(project) {
            Some(known) => {
                let writer = known.writer.lock().await;
                writer.as_ref().filter(|l| l.live(now_ms())).cloned()
            }
            None => None,
        })
    }

    async fn acquire_lock(&self, project: &str, request: super::api::LockRequest) -> Result<Lease, ApiError> {
        let writer = Arc::clone(&self.project(project).writer).lock_owned().await;
        let now = now_ms();
        if let Some(lease) = writer.as_ref().filter(|l| l.live(now)) {
            return Err(backend::locked(project, lease));
        }
        let lease = backend::new_lease(request, now);
        self.set_lease(project.to_string(), writer, Some(lease.clone())).await?;
        Ok(lease)
    }

    async fn renew_lock(&self, project: &str, request: super::api::RenewRequest) -> Result<Lease, ApiError> {
        let writer = Arc::clone(&self.project(project).writer).lock_owned().await;
        let now = now_ms();
        let Some(held) = writer.as_ref().filter(|l| l.lock_id == request.lock_id && l.live(now)) else {
            return Err(backend::not_held(project, &request.lock_id));
        };
        let lease = Lease {
            expires_unix_ms: now + backend::ttl_ms(request.ttl_seconds),
            ..held.clone()
        };
        self.set_lease(project.to_string(), writer, Some(lease.clone())).await?;
        Ok(lease)
    }

    async fn release_lock(&self, project: &str, lock_id: &str) -> Result<(), ApiError> {
        let writer = Arc::clone(&self.project(project).writer).lock_owned().await;
        match writer.as_ref() {
            Some(lease) if lease.lock_id == lock_id => self.set_lease(project.to_string(), writer, None).await,
            None => Ok(()),
            Some(_) => Err(backend::not_the_lock(project, lock_id)),
        }
    }

    async fn append_note(&self, id: &str, note: Note) -> Result<u64, ApiError> {
        let policy = self.notes_policy;
        let path = self.notes_file(id);
        let mut notes = self.notes(id).lock_owned().await;
        let id = id.to_string();
        // One append or rewrite at a time per sandbox, under its lock: each note's
        // number is one more than the last, whatever was dropped before it.
        blocking(move || {
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
            let persist = |e: std::io::Error| ApiError::internal(format!("cannot persist note: {e}"));
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
            Ok(log.latest())
        })
        .await
    }

    async fn list_notes(&self, id: &str, since: u64, limit: usize) -> Result<NoteList, ApiError> {
        let slot = self.notes(id);
        let mut notes = slot.lock().await;
        let now = now_ms();
        if notes.is_none() {
            // Not kept when it fails: a repaired file is read again next time.
            let path = self.notes_file(id);
            let id = id.to_string();
            *notes = Some(blocking(move || read_notes(&path, now).map_err(|fault| notes_error(&id, fault))).await?);
        }
        let log = notes.get_or_insert_default();
        // Dropped from what is served at once; from the file at its next rewrite.
        log.drop_oldest(log.to_drop(&self.notes_policy, now, 0));
        Ok(log.page(since, limit))
    }

    async fn recent_note_logs(&self, since: u64, limit: usize) -> Result<Vec<NoteLogSummary>, ApiError> {
        // The notes posted since this hub started are in memory: a post reads its log first.
        let mut recent = Vec::new();
        for (id, slot) in self.notes.sorted() {
            let log = slot.lock().await;
            if let Some(log) = log.as_ref()
                && let Some(last) = log.held.back()
                && last.received_unix_ms >= since
            {
                recent.push(NoteLogSummary {
                    id,
                    latest: log.latest(),
                    last_received_unix_ms: last.received_unix_ms,
                    last: last.note.clone(),
                });
            }
        }
        recent.sort_by_key(|log| std::cmp::Reverse(log.last_received_unix_ms));
        recent.truncate(limit);
        Ok(recent)
    }

    async fn list_sandboxes(&self, vm: Option<&str>) -> Result<Vec<SandboxEntry>, ApiError> {
        let mut sandboxes = Vec::new();
        for (project, entry) in self.projects.sorted() {
            let data = entry.committed();
            for entry in data.resources.values() {
                if vm.is_none_or(|wanted| backend::record_vm(&entry.record).as_deref() == Some(wanted)) {
                    sandboxes.push(SandboxEntry {
                        project: project.clone(),
                        record: entry.record.clone(),
                        version: entry.version,
                    });
                }
            }
        }
        Ok(sandboxes)
    }

    async fn list_vms(&self) -> Result<Vec<VmCapabilities>, ApiError> {
        let held: Vec<Arc<VmCapabilities>> = {
            let vms = self.vms.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            vms.values().cloned().collect()
        };
        // Copied out after the lock is let go: a large catalog holds up no writer.
        Ok(held.iter().map(|entry| VmCapabilities::clone(entry)).collect())
    }

    async fn get_vm(&self, name: &str) -> Result<Option<VmCapabilities>, ApiError> {
        Ok(self.vm(name).map(|entry| VmCapabilities::clone(&entry)))
    }

    async fn put_vm(&self, entry: VmCapabilities) -> Result<(), ApiError> {
        let name = entry.name.clone();
        let writer = self.vm_writers.get_or_make(&name, || Mutex::new(())).lock_owned().await;
        let dir = self.vms_dir();
        let catalog = Arc::clone(&self.vms);
        blocking(move || {
            vms::write_vm(&dir, &entry)
                .map_err(|e| ApiError::internal(format!("cannot persist the catalog entry of VM {name}: {e}")))?;
            catalog
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name, Arc::new(entry));
            // Named here so the guard moves into this closure; the next writer may go.
            drop(writer);
            Ok(())
        })
        .await
    }

    /// Folds each project's journal into its snapshot, at a clean stop: the data
    /// folder is then one file per project, and the next start reads no journal.
    /// A fold that fails leaves the journal, which the next start folds.
    async fn close(&self) {
        for (project, entry) in self.projects.sorted() {
            let writer = Arc::clone(&entry.writer).lock_owned().await;
            if entry.journal_lines.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                continue;
            }
            let dir = self.projects_dir();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        let hub = FileBackend {
            data: PathBuf::from("/nonexistent"),
            _lock: None,
            notes_policy: NotesPolicy::default(),
            lineage: String::new(),
            projects: PerKey::new(HashMap::new()),
            leases: Arc::new(Mutex::new(BTreeMap::new())),
            notes: PerKey::new(HashMap::new()),
            vms: Arc::new(std::sync::RwLock::new(BTreeMap::new())),
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
}
