//! The state: the last known record of every resource, per project, with a lock
//! for writers and progress notes per sandbox.
//!
//! [`StateStore`] is what the engine uses; [`embedded::EmbeddedStore`] keeps it in
//! a folder next to the manifest (a snapshot written atomically, a journal of
//! appended changes, OS file lock).
//!
//! Beside the state, a store keeps the capability catalog ([`vms`]): one entry
//! per VM, written by any command that probes, without the project lock.

pub mod embedded;
pub mod hub;
pub mod journal;
pub mod lock;
pub mod vms;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::capability::VmCapabilities;
use crate::profile::{DriverName, Value};
use crate::provenance::Provenance;
use crate::shared_str::SharedStr;
use crate::sorted_map::SortedMap;

pub use embedded::EmbeddedStore;
pub use hub::{HubError, HubLock, HubStore};
pub use lock::{LockError, LockInfo};

/// The last known record of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// Its address in the manifest.
    pub address: Address,
    /// The id assigned on create; names the workspace `sbx-<id>`.
    pub id: String,
    /// Profile name.
    pub profile: SharedStr,
    /// Driver.
    pub driver: DriverName,
    /// Attributes as planned (`profile`, `host`, `inputs.<name>`); sensitive values only as a hash.
    pub attributes: SortedMap<SharedStr, Value>,
    /// Digest of the attributes.
    pub spec_hash: SharedStr,
    /// Content digests (`repo` for a workspace's synced repo).
    #[serde(default)]
    pub digests: SortedMap<SharedStr, SharedStr>,
    /// What the driver made: `workspace` (path), `vm`, `root`.
    #[serde(default)]
    pub facts: SortedMap<SharedStr, String>,
    /// Addresses it depended on when applied, so deletes run in reverse order.
    #[serde(default)]
    pub depends_on: Vec<Address>,
    /// RFC 3339.
    pub created_at: SharedStr,
    /// RFC 3339.
    pub updated_at: SharedStr,
    /// Who applied it, with which sandboxer, from which commit of the
    /// manifest (absent in records written before sandboxer recorded it).
    // The records of one apply share one value, and so do equal ones read.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::provenance::deserialize_shared"
    )]
    pub provenance: Option<Arc<Provenance>>,
}

/// A progress note about a sandbox or image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// RFC 3339.
    pub at: String,
    /// The resource it is about.
    pub address: Address,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The note.
    pub text: String,
}

impl Note {
    /// A note about `address`, now.
    pub fn new(address: &Address, level: &str, text: &str) -> Self {
        Note {
            at: now_rfc3339(),
            address: address.clone(),
            level: level.to_string(),
            text: text.to_string(),
        }
    }
}

/// Records of one project, with the version of the state they were read at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Set once when the state is created; a saved plan is only valid for its lineage.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    /// Records by address.
    pub records: BTreeMap<Address, Record>,
}

/// Errors of a state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// File or URL.
        path: String,
        /// What failed.
        message: String,
    },
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The State Hub could not be used.
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl StateError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            StateError::Lock(e) => e.hint(),
            StateError::Hub(e) => e.hint(),
            StateError::Io { .. } => None,
        }
    }
}

/// Where records, the lock and notes live.
///
/// Guarantees: every write is durable when the call returns and atomic (a reader
/// or a crash sees the old or the new state). A store only hands out records of
/// the project asked for.
pub trait StateStore: Send + Sync {
    /// Records of `project`.
    fn load(&self, project: &str) -> impl Future<Output = Result<Snapshot, StateError>> + Send;
    /// Every project's records (for `list` and `inspect`).
    fn load_all(&self) -> impl Future<Output = Result<BTreeMap<String, Snapshot>, StateError>> + Send;
    /// Writes one record; returns the new serial.
    fn put(&self, project: &str, record: &Record) -> impl Future<Output = Result<u64, StateError>> + Send;
    /// Removes one record; returns the new serial.
    fn remove(&self, project: &str, address: &Address) -> impl Future<Output = Result<u64, StateError>> + Send;
    /// Appends a progress note for the resource with id `id`.
    fn add_note(&self, id: &str, note: &Note) -> impl Future<Output = Result<(), StateError>> + Send;
    /// The last `limit` notes of id `id`.
    fn notes(&self, id: &str, limit: usize) -> impl Future<Output = Result<Vec<Note>, StateError>> + Send;
    /// The lineage of this state, set now if the state has none yet (before an
    /// apply writes its first workspace marker).
    fn ensure_lineage(&self, project: &str) -> impl Future<Output = Result<String, StateError>> + Send;
    /// The key sensitive values of `project` are hashed with, made now if there
    /// is none yet (embedded: one per state folder; hub: one per project).
    fn sensitive_key(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<crate::sensitive::SensitiveKey, StateError>> + Send;
}

/// The time now, RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The store a command uses: the embedded one, or the State Hub.
#[derive(Debug)]
pub enum AnyStore {
    /// `.sandboxer/` next to the manifest (or `--state-dir`).
    Embedded(EmbeddedStore),
    /// The team's State Hub.
    Hub(HubStore),
}

/// A held state lock of either kind.
#[derive(Debug)]
pub enum AnyLock {
    /// OS file lock.
    Embedded(lock::LockGuard),
    /// Hub lease.
    Hub(HubLock),
}

impl AnyLock {
    /// Releases the lock now (dropping an embedded lock does the same).
    pub async fn release(self) {
        match self {
            AnyLock::Embedded(guard) => drop(guard),
            AnyLock::Hub(lease) => lease.release().await,
        }
    }
}

impl AnyStore {
    /// Takes the lock of `project` (the embedded store locks the whole folder).
    pub async fn lock(
        &self,
        project: &str,
        command: &str,
        timeout: std::time::Duration,
    ) -> Result<AnyLock, StateError> {
        match self {
            AnyStore::Embedded(store) => store.lock(command, timeout).await.map(AnyLock::Embedded),
            AnyStore::Hub(hub) => hub
                .lock(project, lock::this_process(command), timeout)
                .await
                .map(AnyLock::Hub),
        }
    }

    /// The key sensitive values of `project` are hashed with, if there is one,
    /// without making one in the embedded store. (The hub makes a project's key on
    /// its first request; that is the hub's own state, not a file here.)
    pub async fn existing_sensitive_key(
        &self,
        project: &str,
    ) -> Result<Option<crate::sensitive::SensitiveKey>, StateError> {
        match self {
            AnyStore::Embedded(store) => store.existing_sensitive_key(),
            AnyStore::Hub(hub) => hub.sensitive_key(project).await.map(Some),
        }
    }

    /// The capability catalog: every VM's entry, by name.
    pub async fn vm_capabilities(&self) -> Result<BTreeMap<String, VmCapabilities>, StateError> {
        let entries = match self {
            AnyStore::Embedded(store) => store.vms().await?,
            AnyStore::Hub(hub) => hub.vms().await?,
        };
        // What a store gives is checked as what it takes: an entry it should
        // never have held is left out (and probed again), not trusted.
        Ok(entries
            .into_iter()
            .filter(|e| match vms::check_vm_entry(e) {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!("{}: a capability catalog entry is ignored: {why}", self.describe());
                    false
                }
            })
            .map(|e| (e.name.clone(), e))
            .collect())
    }

    /// Stores `entry` in the capability catalog, replacing what it held of that
    /// VM (last write wins; no lock is taken).
    pub async fn put_vm_capabilities(&self, entry: &VmCapabilities) -> Result<(), StateError> {
        match self {
            AnyStore::Embedded(store) => store.put_vm(entry).await,
            AnyStore::Hub(hub) => hub.put_vm(entry).await,
        }
    }

    /// Where the state is, for messages.
    pub fn describe(&self) -> String {
        match self {
            AnyStore::Embedded(store) => store.dir().display().to_string(),
            AnyStore::Hub(hub) => format!("the State Hub at {}", hub.url()),
        }
    }
}

impl StateStore for AnyStore {
    async fn load(&self, project: &str) -> Result<Snapshot, StateError> {
        match self {
            AnyStore::Embedded(s) => s.load(project).await,
            AnyStore::Hub(s) => s.load(project).await,
        }
    }

    async fn load_all(&self) -> Result<BTreeMap<String, Snapshot>, StateError> {
        match self {
            AnyStore::Embedded(s) => s.load_all().await,
            AnyStore::Hub(s) => s.load_all().await,
        }
    }

    async fn put(&self, project: &str, record: &Record) -> Result<u64, StateError> {
        match self {
            AnyStore::Embedded(s) => s.put(project, record).await,
            AnyStore::Hub(s) => s.put(project, record).await,
        }
    }

    async fn remove(&self, project: &str, address: &Address) -> Result<u64, StateError> {
        match self {
            AnyStore::Embedded(s) => s.remove(project, address).await,
            AnyStore::Hub(s) => s.remove(project, address).await,
        }
    }

    async fn add_note(&self, id: &str, note: &Note) -> Result<(), StateError> {
        match self {
            AnyStore::Embedded(s) => s.add_note(id, note).await,
            AnyStore::Hub(s) => s.add_note(id, note).await,
        }
    }

    async fn notes(&self, id: &str, limit: usize) -> Result<Vec<Note>, StateError> {
        match self {
            AnyStore::Embedded(s) => s.notes(id, limit).await,
            AnyStore::Hub(s) => s.notes(id, limit).await,
        }
    }

    async fn ensure_lineage(&self, project: &str) -> Result<String, StateError> {
        match self {
            AnyStore::Embedded(s) => s.ensure_lineage(project).await,
            AnyStore::Hub(s) => s.ensure_lineage(project).await,
        }
    }

    async fn sensitive_key(&self, project: &str) -> Result<crate::sensitive::SensitiveKey, StateError> {
        match self {
            AnyStore::Embedded(s) => s.sensitive_key(project).await,
            AnyStore::Hub(s) => s.sensitive_key(project).await,
        }
    }
}

/// A record of a local sandbox `name` with id `id`, for unit tests of the stores.
#[cfg(test)]
pub(crate) fn test_record(name: &str, id: &str) -> Record {
    Record {
        address: crate::address::Address::sandbox(name),
        id: id.into(),
        profile: "profile.local-workspace".into(),
        driver: crate::profile::DriverName::LOCAL_WORKSPACE,
        attributes: SortedMap::new(),
        spec_hash: "h".into(),
        digests: SortedMap::new(),
        facts: SortedMap::new(),
        depends_on: Vec::new(),
        created_at: "t".into(),
        updated_at: "t".into(),
        provenance: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::GitSource;

    fn with_provenance(name: &str, provenance: &Arc<Provenance>) -> Record {
        Record {
            provenance: Some(Arc::clone(provenance)),
            ..test_record(name, &format!("id-{name}"))
        }
    }

    #[tokio::test]
    async fn provenance_survives_the_journal_and_the_snapshot_and_is_shared_when_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provenance = Arc::new(Provenance::new(
            Some("dev@build1".into()),
            Some(GitSource {
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: None,
                dirty: true,
            }),
        ));
        let store = EmbeddedStore::new(dir.path());
        store.ensure_lineage("p").await.expect("lineage");
        let (a, b) = (with_provenance("a", &provenance), with_provenance("b", &provenance));
        store.put("p", &a).await.expect("put a");
        store.put("p", &b).await.expect("put b");
        // An old record, without provenance, next to them.
        store.put("p", &test_record("old", "id-old")).await.expect("put old");

        // A fresh store replays the journal; then reads the compacted snapshot.
        for compacted in [false, true] {
            let fresh = EmbeddedStore::new(dir.path());
            let read = fresh.load("p").await.expect("load").records;
            let (ra, rb) = (&read[&a.address], &read[&b.address]);
            assert_eq!((ra, rb), (&a, &b), "compacted: {compacted}");
            assert_eq!(read[&Address::sandbox("old")].provenance, None);
            let (pa, pb) = (ra.provenance.as_ref(), rb.provenance.as_ref());
            assert!(pa.zip(pb).is_some_and(|(x, y)| Arc::ptr_eq(x, y)), "one shared value");
            store.compact().expect("compact");
        }
        assert!(!dir.path().join("state.journal").exists());
    }
}
