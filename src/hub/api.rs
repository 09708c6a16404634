//! The State Hub's HTTP contract: paths, bodies and status codes (docs/state-hub.md).
//!
//! | method and path | body | answers |
//! | --- | --- | --- |
//! | `GET /v1/health` | | 200 [`Health`] (no token needed); 503 with the same body while the store does not answer |
//! | `GET /v1/projects/{p}/resources` | | 200 [`ResourceList`] |
//! | `GET /v1/projects/{p}/resources/{address}` | | 200 [`ResourceEntry`], 404 |
//! | `PUT /v1/projects/{p}/resources/{address}` | [`PutResource`] | 200 [`Written`], 409 stale version, 423 locked by another |
//! | `DELETE /v1/projects/{p}/resources/{address}?version=N` | | 200 [`Written`], 404, 409, 423 |
//! | `POST /v1/projects/{p}/lock` | [`LockRequest`] | 201 [`LockGranted`], 423 [`ErrorBody`] with the holder |
//! | `PUT /v1/projects/{p}/lock` | [`RenewRequest`] | 200 [`LockGranted`], 409 not the holder |
//! | `DELETE /v1/projects/{p}/lock?lock_id=ID` | | 204, 409 not the holder |
//! | `GET /v1/projects/{p}/lock` | | 200 [`LeaseStatus`] (read only: takes, renews and releases nothing) |
//! | `POST /v1/sandboxes/{id}/notes` | [`Note`] | 201 [`NotePosted`] (a long text cut), 413 body over 1 MiB |
//! | `GET /v1/sandboxes/{id}/notes?since=CURSOR&limit=N` | | 200 [`NoteList`], one page of at most [`NOTES_PAGE_MAX`] |
//! | `GET /v1/sandboxes?vm=NAME` | | 200 [`SandboxList`] (all projects) |
//! | `GET /v1/projects/{p}/sensitive-key` | | 200 [`SensitiveKeyBody`] (made on first request) |
//! | `GET /v1/vms` | | 200 [`VmList`] |
//! | `GET /v1/vms/{name}` | | 200 [`VmCapabilities`], 404 |
//! | `PUT /v1/vms/{name}` (also `.../capabilities`) | [`VmCapabilities`] | 200 [`VmCapabilities`] as stored, 400 a bad name or entry, 413 body over 1 MiB |
//!
//! Every call but health needs `Authorization: Bearer <token>` when the hub has a
//! token: without it, 401 before anything else of the request is looked at.
//! Writes may carry `X-Sandboxer-Lock-Id`; a write while another holder's lease
//! is live gets 423. The VM catalog is an observation cache: its writes take
//! no lease, and the last one wins.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::capability::VmCapabilities;
use crate::state::{LockInfo, Note, Record};

/// Header naming the lock a write is made under.
pub const LOCK_HEADER: &str = "x-sandboxer-lock-id";

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The hub's sandboxer version.
    pub version: String,
    /// Set once when the hub's store was made.
    pub lineage: String,
    /// The store behind the hub (absent from hubs before it was told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreHealth>,
}

/// `store` of [`Health`]: which store a hub keeps its data in, and whether it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoreHealth {
    /// `file` (one hub's data folder) or `postgres` (a database several hubs share).
    pub kind: String,
    /// Whether the store answered just now.
    pub reachable: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A record with its version (bumped on every write of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceEntry {
    /// The record.
    pub record: Record,
    /// Its version; a write must name it.
    pub version: u64,
}

/// `GET /v1/projects/{p}/resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceList {
    /// The project.
    pub project: String,
    /// The hub's lineage.
    pub lineage: String,
    /// The project's serial, bumped on every write.
    pub serial: u64,
    /// Every record.
    pub resources: Vec<ResourceEntry>,
}

/// `PUT /v1/projects/{p}/resources/{address}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PutResource {
    /// The record to store.
    pub record: Record,
    /// The version the writer read; 0 for a record the writer believes new.
    pub version: u64,
}

/// `GET /v1/projects/{project}/sensitive-key`: the key the project's sensitive
/// values are hashed with (HMAC-SHA256), made by the hub on first request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SensitiveKeyBody {
    /// 64 hex digits.
    pub key: String,
}

impl std::fmt::Debug for SensitiveKeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SensitiveKeyBody(..)")
    }
}

/// Answer to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Written {
    /// The record's version now (0 after a delete).
    pub version: u64,
    /// The project's serial now.
    pub serial: u64,
}

/// `POST /v1/projects/{p}/lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockRequest {
    /// Who asks (its `id` is ignored: the hub assigns the lock id).
    pub holder: LockInfoBody,
    /// Lease length; the holder renews before it runs out.
    pub ttl_seconds: u64,
}

/// `PUT /v1/projects/{p}/lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenewRequest {
    /// The lock id from [`LockGranted`].
    pub lock_id: String,
    /// New lease length from now.
    pub ttl_seconds: u64,
}

/// A granted or renewed lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockGranted {
    /// The lock id, for renew, release and writes.
    pub lock_id: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The holder.
    pub holder: LockInfoBody,
}

/// `GET /v1/projects/{p}/lock`: who holds the project's lease, looked at
/// without taking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseStatus {
    /// The live lease; `null` when the project has none (none taken, released or expired).
    pub lease: Option<LockGranted>,
}

/// [`LockInfo`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockInfoBody {
    /// Lock id.
    pub id: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// User.
    pub user: String,
    /// Command.
    pub command: String,
    /// RFC 3339.
    pub since: String,
}

impl From<LockInfo> for LockInfoBody {
    fn from(i: LockInfo) -> Self {
        LockInfoBody {
            id: i.id,
            pid: i.pid,
            host: i.host,
            user: i.user,
            command: i.command,
            since: i.since,
        }
    }
}

impl From<LockInfoBody> for LockInfo {
    fn from(i: LockInfoBody) -> Self {
        LockInfo {
            id: i.id,
            pid: i.pid,
            host: i.host,
            user: i.user,
            command: i.command,
            since: i.since,
        }
    }
}

/// The most notes one `GET /v1/sandboxes/{id}/notes` answers, and how many
/// it answers without `limit`.
pub const NOTES_PAGE_MAX: usize = 500;

/// `POST /v1/sandboxes/{id}/notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotePosted {
    /// This note's number: notes of an id are numbered 1, 2, 3... in the order
    /// the hub received them, and a number is never given twice.
    pub cursor: u64,
    /// True when the note's text was longer than the hub keeps, and was cut
    /// (its text then ends with a marker saying how much); absent otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cut: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `GET /v1/sandboxes/{id}/notes`: one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoteList {
    /// Notes after the cursor asked for, oldest first, at most the page's limit.
    pub notes: Vec<Note>,
    /// Cursor to ask from for the next page: the number of the last note here
    /// (where the page started when it is empty).
    pub cursor: u64,
    /// Whether notes after `cursor` are there already: ask again at once.
    #[serde(default)]
    pub more: bool,
    /// How many of the oldest notes the hub dropped (retention): notes 1 to
    /// `dropped` are gone, and a cursor before them reads on from the oldest kept.
    #[serde(default)]
    pub dropped: u64,
    /// The number of the newest note: how many notes the id has had.
    #[serde(default)]
    pub latest: u64,
}

/// One row of `GET /v1/sandboxes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SandboxEntry {
    /// Its project.
    pub project: String,
    /// The record.
    pub record: Record,
    /// Its version.
    pub version: u64,
}

/// `GET /v1/sandboxes?vm=NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SandboxList {
    /// The hub's lineage.
    pub lineage: String,
    /// Matching records of every project.
    pub sandboxes: Vec<SandboxEntry>,
}

/// `GET /v1/vms`: the capability catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VmList {
    /// Every VM's entry, sorted by name.
    pub vms: Vec<VmCapabilities>,
}

/// Any error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// On 409: the record's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// On 423: who holds the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<LockInfoBody>,
}

/// JSON Schemas of the API bodies, published as `schemas/state-hub.schema.json`.
pub fn json_schema() -> serde_json::Value {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    #[schemars(title = "sandboxer State Hub API bodies")]
    struct Bodies {
        health: Health,
        resource_list: ResourceList,
        resource_entry: ResourceEntry,
        put_resource: PutResource,
        written: Written,
        lock_request: LockRequest,
        renew_request: RenewRequest,
        lock_granted: LockGranted,
        lease_status: LeaseStatus,
        note: Note,
        note_posted: NotePosted,
        note_list: NoteList,
        sandbox_list: SandboxList,
        sensitive_key: SensitiveKeyBody,
        vm_capabilities: VmCapabilities,
        vm_list: VmList,
        error: ErrorBody,
    }
    crate::document::schema_of::<Bodies>()
}
