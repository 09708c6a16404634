//! The seam between the hub's HTTP layer and where it keeps its data: the
//! file store of one box ([`super::file::FileBackend`]) or a PostgreSQL
//! database several hubs share ([`super::postgres::PgBackend`]). Both answer
//! the same contract (docs/state-hub.md) with the same words; the handlers
//! check the request's shape, a backend everything that needs the data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::api::{
    ErrorBody, LockGranted, LockInfoBody, LockRequest, NoteList, RenewRequest, ResourceEntry, SandboxEntry,
    StoreHealth, VmCapabilities, Written,
};
use crate::state::{Note, Record};

/// An error answer: a status and its body.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub Box<ErrorBody>);

impl ApiError {
    /// An answer with `status` and the words `error`.
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        api_error(
            status,
            ErrorBody {
                error: error.into(),
                current_version: None,
                holder: None,
            },
        )
    }

    /// 500: the hub could not do what it should have.
    pub fn internal(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error)
    }

    /// 503: the hub's store cannot be reached now; a retry later may succeed.
    pub fn unavailable(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }
}

/// An error answer with a full body.
pub fn api_error(status: StatusCode, body: ErrorBody) -> ApiError {
    ApiError(status, Box::new(body))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(*self.1)).into_response()
    }
}

/// A project's lease as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The id the holder renews, releases and writes with.
    pub lock_id: String,
    /// Who holds it.
    pub holder: LockInfoBody,
    /// When it runs out (Unix milliseconds).
    pub expires_unix_ms: u64,
}

impl Lease {
    /// Whether it still holds at `now`.
    pub fn live(&self, now: u64) -> bool {
        self.expires_unix_ms > now
    }
}

/// Now, in Unix milliseconds, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// RFC 3339 (seconds) of Unix milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The answer to a granted or renewed lease.
pub fn granted(lease: &Lease) -> LockGranted {
    LockGranted {
        lock_id: lease.lock_id.clone(),
        expires_at: rfc3339_ms(lease.expires_unix_ms),
        holder: lease.holder.clone(),
    }
}

/// Leases last at least a second and at most an hour.
pub fn ttl_ms(seconds: u64) -> u64 {
    seconds.clamp(1, 3600) * 1000
}

/// A new lease for `request`, from `now`.
pub fn new_lease(request: LockRequest, now: u64) -> Lease {
    let lock_id = crate::id::random_id(12);
    let mut holder = request.holder;
    holder.id.clone_from(&lock_id);
    Lease {
        lock_id,
        holder,
        expires_unix_ms: now + ttl_ms(request.ttl_seconds),
    }
}

/// 423 to a taker while `lease` is live: who holds it and until when.
pub fn locked(project: &str, lease: &Lease) -> ApiError {
    api_error(
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
    )
}

/// 409 to a renew of a lease that is not held.
pub fn not_held(project: &str, lock_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("lock {lock_id} is not held on project {project} (expired or released)"),
    )
}

/// 409 to a release with another lease's id.
pub fn not_the_lock(project: &str, lock_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("lock {lock_id} is not the lock of project {project}"),
    )
}

/// Whether a write under the lock `given` (the request's header) may go on
/// while `lease` is the project's lease: a live lease of another holder
/// blocks it (423), and so does a lease of the writer's that ran out.
pub fn check_write_lock(lease: Option<&Lease>, project: &str, given: Option<&str>, now: u64) -> Result<(), ApiError> {
    let Some(lease) = lease.filter(|l| l.live(now)) else {
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

/// 409 to a write made against another version than the record's.
pub fn stale_write(address: &str, current: u64, expected: u64) -> ApiError {
    api_error(
        StatusCode::CONFLICT,
        ErrorBody {
            error: format!("{address} is at version {current}, the write was made against version {expected}"),
            current_version: Some(current),
            holder: None,
        },
    )
}

/// 409 to a delete made against another version than the record's.
pub fn stale_delete(address: &str, current: u64, expected: u64) -> ApiError {
    api_error(
        StatusCode::CONFLICT,
        ErrorBody {
            error: format!("{address} is at version {current}, the delete was made against version {expected}"),
            current_version: Some(current),
            holder: None,
        },
    )
}

/// 404 of a record.
pub fn no_resource(project: &str, address: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no {address} in project {project}"))
}

/// The serial after a write; it orders every write of a project and never wraps.
pub fn next_serial(serial: u64) -> Result<u64, ApiError> {
    serial
        .checked_add(1)
        .ok_or_else(|| ApiError::internal("the project's serial is at its largest value"))
}

/// The VM a record's workspace is on: its location's VM, else its `vm` fact.
/// What `GET /v1/sandboxes?vm=` selects by.
pub fn record_vm(record: &Record) -> Option<String> {
    record
        .facts
        .get("location")
        .and_then(|l| l.parse::<crate::location::Location>().ok())
        .and_then(|l| l.vm().map(str::to_string))
        .or_else(|| record.facts.get("vm").cloned())
}

/// What the dashboard's lists show of a record: not the whole record, so a
/// store can read just these columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// The project it belongs to.
    pub project: String,
    /// Its address.
    pub address: String,
    /// Its id.
    pub id: String,
    /// When it was last applied (RFC 3339).
    pub updated_at: String,
    /// The VM its workspace is on ([`record_vm`]).
    pub vm: Option<String>,
    /// Who applied it, from which commit.
    pub provenance: Option<std::sync::Arc<crate::provenance::Provenance>>,
}

impl RecordSummary {
    /// The summary of `record` of `project`.
    pub fn of(project: String, record: &Record) -> RecordSummary {
        RecordSummary {
            project,
            address: record.address.to_string(),
            id: record.id.clone(),
            updated_at: record.updated_at.to_string(),
            vm: record_vm(record),
            provenance: record.provenance.clone(),
        }
    }
}

/// A sandbox's notes as the dashboard lists the recent ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteLogSummary {
    /// The sandbox or image id the notes are about.
    pub id: String,
    /// The number of its newest note.
    pub latest: u64,
    /// When the newest note came (Unix milliseconds).
    pub last_received_unix_ms: u64,
    /// The newest note.
    pub last: Note,
}

/// The store behind a hub. Every method answers as the contract says,
/// errors included: a handler passes them on unchanged.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The lineage: set once when the store was made.
    fn lineage(&self) -> &str;

    /// Which store this is and whether it answers now.
    async fn health(&self) -> StoreHealth;

    /// A project's serial and records (none: serial 0, no records).
    async fn list_resources(&self, project: &str) -> Result<(u64, Vec<ResourceEntry>), ApiError>;

    /// One record.
    async fn get_resource(&self, project: &str, address: &str) -> Result<Option<ResourceEntry>, ApiError>;

    /// Writes `record` at `address` if its version is `expected` (0: a new
    /// record) and no other holder's lease is live (`lock`: the writer's).
    async fn put_resource(
        &self,
        project: &str,
        address: &str,
        record: Record,
        expected: u64,
        lock: Option<&str>,
    ) -> Result<Written, ApiError>;

    /// Removes the record at `address` (if at version `expected`, when given).
    async fn delete_resource(
        &self,
        project: &str,
        address: &str,
        expected: Option<u64>,
        lock: Option<&str>,
    ) -> Result<Written, ApiError>;

    /// The project's key for sensitive values, made on the first request.
    async fn sensitive_key(&self, project: &str) -> Result<String, ApiError>;

    /// The project's live lease, if any; changes nothing.
    async fn lease_status(&self, project: &str) -> Result<Option<Lease>, ApiError>;

    /// Takes the project's lease, or 423 naming who holds it.
    async fn acquire_lock(&self, project: &str, request: LockRequest) -> Result<Lease, ApiError>;

    /// Extends a held lease, or 409.
    async fn renew_lock(&self, project: &str, request: RenewRequest) -> Result<Lease, ApiError>;

    /// Lets a lease go (nothing to let go is fine), or 409 for another lease's id.
    async fn release_lock(&self, project: &str, lock_id: &str) -> Result<(), ApiError>;

    /// Appends a note (its text already cut) to a sandbox's notes; its cursor.
    async fn append_note(&self, id: &str, note: Note) -> Result<u64, ApiError>;

    /// A page of at most `limit` notes after cursor `since`.
    async fn list_notes(&self, id: &str, since: u64, limit: usize) -> Result<NoteList, ApiError>;

    /// The records of every project (on VM `vm`, when given), by project.
    async fn list_sandboxes(&self, vm: Option<&str>) -> Result<Vec<SandboxEntry>, ApiError>;

    /// What the dashboard's lists show of every record, by project and address.
    async fn list_summaries(&self) -> Result<Vec<RecordSummary>, ApiError> {
        Ok(self
            .list_sandboxes(None)
            .await?
            .into_iter()
            .map(|e| RecordSummary::of(e.project, &e.record))
            .collect())
    }

    /// The capability catalog, sorted by name.
    async fn list_vms(&self) -> Result<Vec<VmCapabilities>, ApiError>;

    /// One VM's catalog entry.
    async fn get_vm(&self, name: &str) -> Result<Option<VmCapabilities>, ApiError>;

    /// Stores a VM's (checked) entry; the last write wins.
    async fn put_vm(&self, entry: VmCapabilities) -> Result<(), ApiError>;

    /// The sandboxes whose newest note came at `since` (Unix milliseconds) or
    /// later, newest first, at most `limit`: what is being built or synced
    /// now, recorded yet or not.
    async fn recent_note_logs(&self, since: u64, limit: usize) -> Result<Vec<NoteLogSummary>, ApiError>;

    /// The newest note of a sandbox still kept, if any.
    async fn last_note(&self, id: &str) -> Result<Option<Note>, ApiError> {
        // A cursor past the end says where the end is; the page before it is the last note.
        let end = self.list_notes(id, u64::MAX, 1).await?;
        if end.latest <= end.dropped {
            return Ok(None);
        }
        let last = self.list_notes(id, end.latest - 1, 1).await?;
        Ok(last.notes.into_iter().next())
    }

    /// At a clean stop: leave the store tidy (the file store folds its journals).
    async fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_never_wraps() {
        assert_eq!(next_serial(41).ok(), Some(42));
        assert!(next_serial(u64::MAX).is_err());
    }
}
