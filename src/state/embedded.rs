//! The embedded state store: one JSON file in the state folder (`.sandboxer/`
//! next to the manifest by default), written atomically, versioned with a lineage
//! and a serial; notes as one JSON-lines file per resource id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::lock::{self, LockGuard};
use super::{Note, Record, Snapshot, StateError, StateStore};
use crate::address::Address;

/// The format version of `state.json`.
pub const STATE_VERSION: u32 = 1;

/// `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version.
    pub version: u32,
    /// Set once when the state is first written.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    /// project → address → record.
    pub projects: BTreeMap<String, BTreeMap<Address, Record>>,
}

/// The embedded store in one folder.
#[derive(Debug)]
pub struct EmbeddedStore {
    dir: PathBuf,
    state: Mutex<Option<StateFile>>,
}

impl EmbeddedStore {
    /// A store in `dir`; nothing is created until the first write.
    pub fn new(dir: &Path) -> Self {
        EmbeddedStore {
            dir: dir.to_path_buf(),
            state: Mutex::new(None),
        }
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("state.lock")
    }

    fn io(&self, path: &Path, e: impl std::fmt::Display) -> StateError {
        StateError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Takes the state lock for `command`, waiting up to `timeout`.
    pub async fn lock(&self, command: &str, timeout: Duration) -> Result<LockGuard, StateError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let (path, info) = (self.lock_path(), lock::this_process(command));
        // Waiting for a holder sleeps between tries: off the async worker threads.
        let guard = tokio::task::spawn_blocking(move || lock::acquire(&path, info, timeout))
            .await
            .map_err(|e| self.io(&self.lock_path(), crate::task::join_error_text(e)))??;
        // Whatever we had in memory may be older than what the last holder wrote.
        *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        Ok(guard)
    }

    fn read_file(&self) -> Result<StateFile, StateError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let state: StateFile = serde_json::from_slice(&bytes)
                    .map_err(|e| self.io(&path, format!("not a valid state file: {e}")))?;
                if state.version != STATE_VERSION {
                    return Err(self.io(
                        &path,
                        format!(
                            "state format version {} is not supported (this sandboxer reads {STATE_VERSION})",
                            state.version
                        ),
                    ));
                }
                Ok(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateFile {
                version: STATE_VERSION,
                ..StateFile::default()
            }),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    fn with_state<T>(&self, refresh: bool, f: impl FnOnce(&mut StateFile) -> T) -> Result<T, StateError> {
        let mut slot = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if refresh || slot.is_none() {
            *slot = Some(self.read_file()?);
        }
        match slot.as_mut() {
            Some(state) => Ok(f(state)),
            None => Err(self.io(&self.state_path(), "state not loaded")),
        }
    }

    fn write(&self, mutate: impl FnOnce(&mut StateFile)) -> Result<u64, StateError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let path = self.state_path();
        let bytes = self.with_state(false, |state| {
            if state.lineage.is_empty() {
                state.lineage = crate::id::random_id(16);
            }
            // The serial orders every write (a saved plan is checked against it): it never wraps.
            let Some(next) = state.serial.checked_add(1) else {
                return Err(std::io::Error::other("the state's serial is at its largest value"));
            };
            mutate(state);
            state.serial = next;
            state.projects.retain(|_, records| !records.is_empty());
            serde_json::to_vec_pretty(state)
                .map(|b| (b, state.serial))
                .map_err(std::io::Error::other)
        })?;
        let (bytes, serial) = bytes.map_err(|e| self.io(&path, e))?;
        crate::fsutil::write_atomic(&path, &bytes).map_err(|e| self.io(&path, e))?;
        Ok(serial)
    }

    fn notes_path(&self, id: &str) -> PathBuf {
        self.dir.join("notes").join(format!("{id}.jsonl"))
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("sensitive.key")
    }

    /// The key sensitive values are hashed with, if the state has one; never
    /// makes one (a refused saved plan leaves no key behind).
    pub fn existing_sensitive_key(&self) -> Result<Option<crate::sensitive::SensitiveKey>, StateError> {
        let path = self.key_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => crate::sensitive::SensitiveKey::from_hex(&text)
                .map(Some)
                .map_err(|e| self.io(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path, e)),
        }
    }
}

impl StateStore for EmbeddedStore {
    async fn load(&self, project: &str) -> Result<Snapshot, StateError> {
        self.with_state(true, |state| Snapshot {
            lineage: state.lineage.clone(),
            serial: state.serial,
            records: state.projects.get(project).cloned().unwrap_or_default(),
        })
    }

    async fn load_all(&self) -> Result<BTreeMap<String, Snapshot>, StateError> {
        self.with_state(true, |state| {
            state
                .projects
                .iter()
                .map(|(project, records)| {
                    (
                        project.clone(),
                        Snapshot {
                            lineage: state.lineage.clone(),
                            serial: state.serial,
                            records: records.clone(),
                        },
                    )
                })
                .collect()
        })
    }

    async fn put(&self, project: &str, record: &Record) -> Result<u64, StateError> {
        self.write(|state| {
            state
                .projects
                .entry(project.to_string())
                .or_default()
                .insert(record.address.clone(), record.clone());
        })
    }

    async fn remove(&self, project: &str, address: &Address) -> Result<u64, StateError> {
        self.write(|state| {
            if let Some(records) = state.projects.get_mut(project) {
                records.remove(address);
            }
        })
    }

    async fn add_note(&self, id: &str, note: &Note) -> Result<(), StateError> {
        let path = self.notes_path(id);
        let dir = self.dir.join("notes");
        std::fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let line = serde_json::to_vec(note).map_err(|e| self.io(&path, e))?;
        crate::fsutil::append_line(&path, &line).map_err(|e| self.io(&path, e))
    }

    async fn ensure_lineage(&self, _project: &str) -> Result<String, StateError> {
        let lineage = self.with_state(true, |state| state.lineage.clone())?;
        if !lineage.is_empty() {
            return Ok(lineage);
        }
        self.write(|_| {})?;
        self.with_state(false, |state| state.lineage.clone())
    }

    /// `sensitive.key` in the state folder, mode 0600, made on first use.
    async fn sensitive_key(&self, _project: &str) -> Result<crate::sensitive::SensitiveKey, StateError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.key_path();
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match made {
            Ok(mut file) => {
                let key = crate::sensitive::SensitiveKey::generate_hex().map_err(|e| self.io(&path, e))?;
                file.write_all(key.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| self.io(&path, e))?;
                crate::fsutil::sync_dir(&self.dir).map_err(|e| self.io(&self.dir, e))?;
            }
            // Made before, or by another process just now: read it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.io(&path, e)),
        }
        self.existing_sensitive_key()?
            .ok_or_else(|| self.io(&path, "the key file went away as it was made"))
    }

    async fn notes(&self, id: &str, limit: usize) -> Result<Vec<Note>, StateError> {
        let path = self.notes_path(id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&path, e)),
        };
        // A line cut short by a crash is skipped, not fatal.
        let notes: Vec<Note> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Ok(notes[notes.len().saturating_sub(limit)..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_serial_at_its_largest_value_refuses_the_write_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        let full = StateFile {
            version: STATE_VERSION,
            lineage: "L".into(),
            serial: u64::MAX,
            projects: BTreeMap::new(),
        };
        let path = dir.path().join("state.json");
        std::fs::write(&path, serde_json::to_vec(&full).expect("json")).expect("write");
        let before = std::fs::read(&path).expect("read");
        let error = store
            .remove("p", &Address::sandbox("a"))
            .await
            .expect_err("the serial cannot go on");
        assert!(error.to_string().contains("largest value"), "{error}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
