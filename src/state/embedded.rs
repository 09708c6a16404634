//! The embedded state store in the state folder (`.sandboxer/` next to the
//! manifest by default): a snapshot, `state.json`, written atomically and
//! versioned with a lineage and a serial; a journal of the changes since then,
//! `state.journal`, one appended line per change ([`super::journal`]), folded
//! into a new snapshot under the lock; notes as one JSON-lines file per resource id;
//! the capability catalog as one file per VM in `vms/` ([`super::vms`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::journal;
use super::lock::{self, LockGuard};
use super::{Note, Record, Snapshot, StateError, StateStore, vms};
use crate::address::Address;
use crate::capability::VmCapabilities;

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
    state: Mutex<Option<Loaded>>,
    /// Held while a catalog entry is written: two writes of one VM by this
    /// process would share the temporary file's name.
    vm_writes: Mutex<()>,
}

/// The state in memory, and how long the journal behind it is.
#[derive(Debug)]
struct Loaded {
    file: StateFile,
    /// Lines in `state.journal` (applied or not).
    journal_lines: usize,
    /// When this process last put the journal on disk, if it appended since.
    synced_at: Option<Instant>,
}

/// Journal lines are written at once (a killed process loses none) and put on
/// disk together, at most this long after the last time (group commit): a
/// first apply of thousands then waits for the disk a few times a second, not
/// once per change. What a crash of the machine can lose is the last such
/// stretch of records, of workspaces whose markers the next plan adopts.
const GROUP_COMMIT: Duration = Duration::from_millis(200);

/// The journal is folded into a new snapshot once it has at least this many
/// lines, and as many as there are records: the snapshots written then add up
/// to a few times the final one, so a long apply stays linear.
const COMPACT_MIN_LINES: usize = 1024;

fn compact_at(state: &StateFile) -> usize {
    let records: usize = state.projects.values().map(BTreeMap::len).sum();
    records.max(COMPACT_MIN_LINES)
}

impl EmbeddedStore {
    /// A store in `dir`; nothing is created until the first write.
    pub fn new(dir: &Path) -> Self {
        EmbeddedStore {
            dir: dir.to_path_buf(),
            state: Mutex::new(None),
            vm_writes: Mutex::new(()),
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
        // A journal at this point was left by a holder that was killed: fold it in
        // now, under the lock, rather than replay it on every read until the next
        // command finishes.
        if std::fs::metadata(self.journal_path()).is_ok_and(|m| m.len() > 0) {
            self.compact()?;
        }
        Ok(guard)
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join("state.journal")
    }

    fn read_snapshot(&self) -> Result<StateFile, StateError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mut state: StateFile = serde_json::from_slice(&bytes)
                    .map_err(|e| self.io(&path, format!("not a valid state file: {e}")))?;
                drop(bytes);
                // Read one by one, a map's nodes are half empty; collected at
                // once, full (a plan of 10,000 sandboxes holds 2.5 MiB less).
                for records in state.projects.values_mut() {
                    *records = std::mem::take(records).into_iter().collect();
                }
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

    /// The snapshot with the journal replayed on top. Records repeat names,
    /// digests and times: read at once, the equal ones share one copy.
    fn read_file(&self) -> Result<Loaded, StateError> {
        crate::shared_str::interning(|| self.read_file_interned())
    }

    fn read_file_interned(&self) -> Result<Loaded, StateError> {
        let journal_path = self.journal_path();
        let mut gap = None;
        // A reader without the lock can read the snapshot before a compaction and
        // the journal after it: the serials then jump, and a second read sees the
        // new snapshot. Under the lock a gap stays: lines were lost.
        for _ in 0..3 {
            let mut file = self.read_snapshot()?;
            let text = match std::fs::read(&journal_path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(self.io(&journal_path, e)),
            };
            match journal::replay(&mut file, &text) {
                Ok(done) => {
                    return Ok(Loaded {
                        file,
                        journal_lines: done.lines,
                        synced_at: None,
                    });
                }
                Err(g) => gap = Some(g),
            }
        }
        let (expected, found) = gap.map(|g| (g.expected, g.found)).unwrap_or_default();
        Err(self.io(
            &journal_path,
            format!("the journal goes on at serial {found} where serial {expected} was due: changes are missing"),
        ))
    }

    fn with_state<T>(&self, refresh: bool, f: impl FnOnce(&mut Loaded) -> T) -> Result<T, StateError> {
        let mut slot = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if refresh || slot.is_none() {
            *slot = Some(self.read_file()?);
        }
        match slot.as_mut() {
            Some(state) => Ok(f(state)),
            None => Err(self.io(&self.state_path(), "state not loaded")),
        }
    }

    /// Writes `loaded` as the new snapshot, then removes the journal. A kill in
    /// between leaves journal lines at or below the snapshot's serial, which
    /// replay skips: nothing is lost and nothing applied twice.
    fn compact_loaded(&self, loaded: &mut Loaded) -> Result<(), StateError> {
        let path = self.state_path();
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let bytes = serde_json::to_vec_pretty(&loaded.file).map_err(|e| self.io(&path, e))?;
        crate::fsutil::write_atomic(&path, &bytes).map_err(|e| self.io(&path, e))?;
        let journal = self.journal_path();
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&journal, e)),
        }
        loaded.journal_lines = 0;
        loaded.synced_at = None;
        Ok(())
    }

    /// Folds the journal into a fresh `state.json`; called under the lock when a
    /// command's work is done, so a finished command leaves a complete snapshot.
    pub fn compact(&self) -> Result<(), StateError> {
        let mut slot = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            if !self.journal_path().exists() {
                return Ok(());
            }
            *slot = Some(self.read_file()?);
        }
        let Some(loaded) = slot.as_mut() else {
            return Ok(());
        };
        if loaded.journal_lines == 0 && !self.journal_path().exists() {
            return Ok(());
        }
        let result = self.compact_loaded(loaded);
        if result.is_err() {
            // What is on disk is the truth now: read it again next time.
            *slot = None;
        }
        result
    }

    /// Records one change (`record` `None`: a removal; `address` `None`: none,
    /// only the lineage and serial move on) and returns the new serial.
    fn write(&self, project: &str, address: Option<&Address>, record: Option<&Record>) -> Result<u64, StateError> {
        let mut slot = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(self.read_file()?);
        }
        let Some(loaded) = slot.as_mut() else {
            return Err(self.io(&self.state_path(), "state not loaded"));
        };
        // The serial orders every write (a saved plan is checked against it): it never wraps.
        let Some(next) = loaded.file.serial.checked_add(1) else {
            return Err(self.io(&self.state_path(), "the state's serial is at its largest value"));
        };
        let entry = address.map(|address| journal::Entry {
            lineage: loaded.file.lineage.clone(),
            serial: next,
            project: project.to_string(),
            address: address.clone(),
            record: record.cloned(),
        });
        if loaded.file.lineage.is_empty() {
            // A new state: the snapshot is written first, to hold the lineage that
            // journal lines name.
            loaded.file.lineage = crate::id::random_id(16);
            if let Some(entry) = entry {
                journal::apply(&mut loaded.file, entry);
            }
            loaded.file.serial = next;
            let result = self.compact_loaded(loaded);
            if result.is_err() {
                *slot = None;
            }
            return result.map(|()| next);
        }
        let Some(entry) = entry else {
            return Ok(loaded.file.serial);
        };
        let path = self.journal_path();
        let line = serde_json::to_vec(&entry).map_err(|e| self.io(&path, e))?;
        crate::fsutil::append_line_unsynced(&path, &line).map_err(|e| self.io(&path, e))?;
        let synced_at = *loaded.synced_at.get_or_insert_with(Instant::now);
        if synced_at.elapsed() >= GROUP_COMMIT {
            // The line is in the file whatever the disk says: the change is made
            // (memory must follow it), and the snapshot at the end is checked.
            if let Err(e) = crate::fsutil::sync_data(&path) {
                tracing::warn!("putting the state journal on disk: {e}");
            }
            loaded.synced_at = Some(Instant::now());
        }
        // In the file now; memory follows the journal, never leads it.
        journal::apply(&mut loaded.file, entry);
        loaded.file.serial = next;
        loaded.journal_lines += 1;
        if loaded.journal_lines >= compact_at(&loaded.file)
            && let Err(e) = self.compact_loaded(loaded)
        {
            // The change is in the journal; the compaction is tried again later.
            tracing::warn!("compacting the state journal: {e}");
        }
        Ok(next)
    }

    fn notes_path(&self, id: &str) -> PathBuf {
        self.dir.join("notes").join(format!("{id}.jsonl"))
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("sensitive.key")
    }

    fn vms_dir(&self) -> PathBuf {
        self.dir.join("vms")
    }

    /// The capability catalog: the entry of every VM in `vms/`, sorted by name.
    /// No folder is an empty catalog; a file that cannot be read or parsed is
    /// skipped with a warning (it is probed again), and links are not followed.
    pub async fn vms(&self) -> Result<Vec<VmCapabilities>, StateError> {
        let dir = self.vms_dir();
        let entries = vms::read_vms(&dir).map_err(|e| self.io(&dir, format!("cannot list the VM catalog: {e}")))?;
        Ok(entries.into_values().collect())
    }

    /// Writes `entry` to `vms/<name>.json` (atomically, the folder made on
    /// first use), replacing what was there: the catalog takes no lock, the
    /// last write wins. An entry the State Hub would refuse is refused here too.
    pub async fn put_vm(&self, entry: &VmCapabilities) -> Result<(), StateError> {
        let dir = self.vms_dir();
        vms::check_vm_entry(entry).map_err(|e| self.io(&dir, format!("catalog entry refused: {e}")))?;
        std::fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let path = vms::vm_file(&dir, &entry.name);
        let _one_writer = self.vm_writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        vms::write_vm(&dir, entry).map_err(|e| self.io(&path, e))
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
        // The project's records are moved out of a fresh read rather than copied
        // out of a kept one: a plan of thousands holds them once. The next write
        // reads the state again.
        let mut slot = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = None;
        let mut loaded = self.read_file()?;
        Ok(Snapshot {
            records: loaded.file.projects.remove(project).unwrap_or_default(),
            lineage: loaded.file.lineage,
            serial: loaded.file.serial,
        })
    }

    async fn load_all(&self) -> Result<BTreeMap<String, Snapshot>, StateError> {
        self.with_state(true, |loaded| {
            let state = &loaded.file;
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
        self.write(project, Some(&record.address), Some(record))
    }

    async fn remove(&self, project: &str, address: &Address) -> Result<u64, StateError> {
        self.write(project, Some(address), None)
    }

    async fn add_note(&self, id: &str, note: &Note) -> Result<(), StateError> {
        let path = self.notes_path(id);
        let dir = self.dir.join("notes");
        std::fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let line = serde_json::to_vec(note).map_err(|e| self.io(&path, e))?;
        // Notes are what happened, for people; nothing is decided on them, so
        // they are not waited for on disk (a killed process loses none).
        crate::fsutil::append_line_unsynced(&path, &line).map_err(|e| self.io(&path, e))
    }

    async fn ensure_lineage(&self, project: &str) -> Result<String, StateError> {
        let lineage = self.with_state(true, |loaded| loaded.file.lineage.clone())?;
        if !lineage.is_empty() {
            return Ok(lineage);
        }
        self.write(project, None, None)?;
        self.with_state(false, |loaded| loaded.file.lineage.clone())
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
        assert!(!dir.path().join("state.journal").exists());
    }

    fn record(name: &str) -> Record {
        crate::state::test_record(name, &format!("id-{name}"))
    }

    fn on_disk(dir: &Path) -> StateFile {
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).expect("read")).expect("json")
    }

    #[tokio::test]
    async fn changes_go_to_the_journal_and_compaction_folds_them_into_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        let lineage = store.ensure_lineage("p").await.expect("lineage");
        for name in ["a", "b", "c"] {
            store.put("p", &record(name)).await.expect("put");
        }
        let serial = store.remove("p", &Address::sandbox("b")).await.expect("remove");
        assert_eq!(serial, 5);
        assert_eq!(
            on_disk(dir.path()).serial,
            1,
            "the snapshot is not rewritten per change"
        );
        let journal = std::fs::read_to_string(dir.path().join("state.journal")).expect("journal");
        assert_eq!(journal.lines().count(), 4);

        let fresh = EmbeddedStore::new(dir.path()).load("p").await.expect("load");
        assert_eq!((fresh.lineage.as_str(), fresh.serial), (lineage.as_str(), 5));
        assert_eq!(
            fresh.records.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["sandbox.a", "sandbox.c"]
        );

        store.compact().expect("compact");
        assert!(!dir.path().join("state.journal").exists());
        let snapshot = on_disk(dir.path());
        assert_eq!((snapshot.serial, &snapshot.projects["p"]), (5, &fresh.records));
    }

    #[tokio::test]
    async fn a_kill_between_the_snapshot_and_the_journal_removal_loses_nothing_and_applies_nothing_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        store.ensure_lineage("p").await.expect("lineage");
        store.put("p", &record("a")).await.expect("put");
        store.put("p", &record("b")).await.expect("put");
        store.remove("p", &Address::sandbox("a")).await.expect("remove");
        // The snapshot written, the journal not yet removed: put it back as it was.
        let journal = dir.path().join("state.journal");
        let lines = std::fs::read(&journal).expect("journal");
        store.compact().expect("compact");
        std::fs::write(&journal, &lines).expect("the journal the kill left");

        let after = EmbeddedStore::new(dir.path());
        let loaded = after.load("p").await.expect("load");
        assert_eq!(loaded.serial, 4);
        assert_eq!(
            loaded.records.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["sandbox.b"],
            "the removal of a is not undone by replaying its put"
        );
        assert_eq!(after.put("p", &record("c")).await.expect("put"), 5);
        let again = EmbeddedStore::new(dir.path()).load("p").await.expect("load");
        assert_eq!(again.serial, 5);
        assert_eq!(again.records.len(), 2);
    }

    #[tokio::test]
    async fn taking_the_lock_folds_in_a_journal_a_killed_holder_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        store.ensure_lineage("p").await.expect("lineage");
        store.put("p", &record("a")).await.expect("put");
        let torn = b"{\"lineage\":\"x\",\"ser";
        let journal = dir.path().join("state.journal");
        let mut bytes = std::fs::read(&journal).expect("journal");
        bytes.extend_from_slice(torn);
        std::fs::write(&journal, bytes).expect("a line cut short");

        let next = EmbeddedStore::new(dir.path());
        let _guard = next.lock("apply", Duration::ZERO).await.expect("lock");
        assert!(!journal.exists());
        let snapshot = on_disk(dir.path());
        assert_eq!((snapshot.serial, snapshot.projects["p"].len()), (2, 1));
    }

    #[tokio::test]
    async fn a_journal_with_missing_serials_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        let lineage = store.ensure_lineage("p").await.expect("lineage");
        let line = serde_json::to_vec(&journal::Entry {
            lineage,
            serial: 7,
            project: "p".into(),
            address: Address::sandbox("a"),
            record: Some(record("a")),
        })
        .expect("json");
        crate::fsutil::append_line(&dir.path().join("state.journal"), &line).expect("append");
        let error = EmbeddedStore::new(dir.path()).load("p").await.expect_err("a gap");
        assert!(error.to_string().contains("serial 7 where serial 2 was due"), "{error}");
    }

    #[tokio::test]
    async fn the_vm_catalog_is_one_file_per_vm_made_on_first_write_and_read_back_sorted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(&dir.path().join("state"));
        assert_eq!(
            store.vms().await.expect("no folder"),
            [],
            "no folder is an empty catalog"
        );
        assert!(!dir.path().join("state").exists(), "reading makes nothing");

        let (b, a) = (vms::test_entry("vm-b"), vms::test_entry("vm-a.example"));
        store.put_vm(&b).await.expect("put");
        store.put_vm(&a).await.expect("put");
        let mut newer = vms::test_entry("vm-b");
        newer.observed_at = "2026-01-02T00:00:00Z".into();
        store.put_vm(&newer).await.expect("put again");
        assert_eq!(store.vms().await.expect("read"), [a.clone(), newer.clone()]);
        assert!(dir.path().join("state/vms/vm-b.json").is_file());
        let names: Vec<String> = std::fs::read_dir(dir.path().join("state/vms"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        assert_eq!(
            EmbeddedStore::new(&dir.path().join("state")).vms().await.expect("read"),
            [a, newer],
            "another process reads the same"
        );
    }

    #[tokio::test]
    async fn a_planted_link_or_a_bad_file_in_the_vm_catalog_is_skipped_and_a_bad_name_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::new(dir.path());
        store.put_vm(&vms::test_entry("vm1")).await.expect("put");
        let outside = dir.path().join("outside.json");
        let planted = serde_json::to_vec(&vms::test_entry("planted")).expect("json");
        std::fs::write(&outside, planted).expect("write");
        let catalog = dir.path().join("vms");
        std::os::unix::fs::symlink(&outside, catalog.join("planted.json")).expect("plant a link");
        std::fs::write(catalog.join("torn.json"), b"{\"name\": \"torn\", \"obs").expect("write");
        let other = serde_json::to_vec(&vms::test_entry("someone-else")).expect("json");
        std::fs::write(catalog.join("renamed.json"), other).expect("write");
        std::fs::write(catalog.join("notes.txt"), b"not an entry").expect("write");
        let names: Vec<String> = store.vms().await.expect("read").into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["vm1"]);

        for bad in ["../escape", "a/b", "..", ".hidden", "-oProxyCommand=x", ""] {
            let error = store
                .put_vm(&vms::test_entry(bad))
                .await
                .expect_err("a name that is no VM name");
            assert!(error.to_string().contains("catalog entry refused"), "{bad}: {error}");
        }
        assert!(!dir.path().join("escape.json").exists());
        let mut bad_capability = vms::test_entry("vm2");
        bad_capability
            .capabilities
            .insert("Not A Name".into(), bad_capability.capabilities["ghc"].clone());
        assert!(store.put_vm(&bad_capability).await.is_err());
        assert!(!catalog.join("vm2.json").exists());

        // Writing over a planted link replaces the link, never what it points to.
        let before = std::fs::read(&outside).expect("read");
        store.put_vm(&vms::test_entry("planted")).await.expect("put");
        assert_eq!(std::fs::read(&outside).expect("read"), before);
        assert!(
            !std::fs::symlink_metadata(catalog.join("planted.json"))
                .expect("stat")
                .file_type()
                .is_symlink()
        );
    }
}
