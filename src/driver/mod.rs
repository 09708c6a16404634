//! Drivers: the one seam between the engine and the world. A driver observes,
//! creates, updates and destroys one kind of thing (a workspace on this machine,
//! a workspace on a VM, a Packer image); the engine (observe, diff, apply) only
//! ever talks to the [`Driver`] trait, looked up by the profile's `driver:` name
//! in one [`Registry`], and to [`Location`]s, never to a concrete driver.
//!
//! Each operation states its contract:
//!
//! - **Guarantees**: what holds when it returns `Ok`.
//! - **Assumptions**: what it relies on.
//! - **Caveats**: what a kill at any point leaves behind, and how the next plan
//!   sees it (it always can: a workspace carries its marker from its first moment).

mod error;
pub mod registry;

pub mod local;
pub mod packer;
pub mod ssh;
mod ssh_batch;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::address::Address;
use crate::capability::{ProbeReport, ProbeSpec};
use crate::desired::DesiredResource;
use crate::reason::Reason;
use crate::state::Record;

pub use crate::location::{Location, LocationParseError};
pub use crate::profile::{DriverName, DriverNameError};
pub use error::DriverError;
pub use registry::Registry;

/// Name of the marker file at the top of every workspace.
pub const MARKER_FILE: &str = ".sandboxer-workspace.json";

/// The marker: who a workspace belongs to. Written before any content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Marker {
    /// The sandbox id; the folder is `sbx-<id>`.
    pub id: String,
    /// The project that owns it.
    pub project: String,
    /// Lineage of the state that made it: two checkouts of one manifest with
    /// their own state never adopt or delete each other's workspaces.
    #[serde(default)]
    pub lineage: String,
    /// Its address in that project's manifest.
    pub address: Address,
    /// Spec hash when last applied.
    pub spec_hash: String,
    /// Digest of the repo content last synced completely.
    #[serde(default)]
    pub repo_digest: Option<String>,
    /// False while a create or sync is in progress (or was interrupted).
    pub complete: bool,
    /// The profile's setup commands have yet to succeed here; the next sync
    /// (an adopt or an update after an interrupted create) runs them.
    #[serde(default)]
    pub setup_pending: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Marker {
    /// The marker of a workspace being made for `resource`: incomplete, and with
    /// the profile's setup still to run if it has one.
    pub fn new(owner: &Owner, resource: &DesiredResource, id: &str) -> Self {
        let now = crate::state::now_rfc3339();
        Marker {
            id: id.to_string(),
            project: owner.project.clone(),
            lineage: owner.lineage.clone(),
            address: resource.address.clone(),
            spec_hash: resource.spec_hash(),
            repo_digest: None,
            complete: false,
            setup_pending: !resource.setup.is_empty(),
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// Whose a new workspace is: its project, and the lineage of the state recording it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The project.
    pub project: String,
    /// The state's lineage.
    pub lineage: String,
}

/// An existing workspace a change acts on: the driver that made it (and so
/// removes it), where it is, its folder and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceRef {
    /// The driver that made it, and so removes it.
    pub driver: DriverName,
    /// Where it is.
    pub location: Location,
    /// The workspace folder.
    pub path: String,
    /// The id in its marker.
    pub id: String,
}

/// A workspace found by observing a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundWorkspace {
    /// The driver that found it (and so the one that removes it).
    pub driver: DriverName,
    /// Where it is.
    pub location: Location,
    /// The folder.
    pub path: String,
    /// Its marker.
    pub marker: Marker,
    /// A staging or half-deleted folder left by an interrupted apply.
    pub leftover: bool,
}

impl FoundWorkspace {
    /// How a change refers to it.
    pub fn reference(&self) -> WorkspaceRef {
        WorkspaceRef {
            driver: self.driver.clone(),
            location: self.location.clone(),
            path: self.path.clone(),
            id: self.marker.id.clone(),
        }
    }
}

/// What one driver is asked to look at in one location: the resources of the
/// manifest it drives there, and the records of resources it made there.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The project observed; only its workspaces are reported.
    pub project: &'a str,
    /// The location.
    pub location: &'a Location,
    /// Desired resources of this driver at this location.
    pub desired: &'a [&'a DesiredResource],
    /// Records of this driver at this location.
    pub records: &'a [&'a Record],
    /// The capabilities to probe there, in the same session as the listing,
    /// when the catalog's entry of that VM is too old or lacks them; none: no
    /// probe. A driver whose locations are not VMs ignores it.
    pub probe: Option<&'a ProbeSpec>,
}

/// What a driver found at one location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Workspaces of the project (marked with it), leftovers included.
    pub workspaces: Vec<FoundWorkspace>,
    /// Why a recorded resource must be made anew although its inputs are the
    /// same (an image's template changed, its artifact is gone).
    pub replace_reasons: BTreeMap<Address, Vec<Reason>>,
    /// What the probe of [`Scope::probe`] printed, when one was asked for and ran.
    pub capabilities: Option<ProbeReport>,
}

/// What a create or update made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Made {
    /// The workspace folder (empty when the driver makes none, as for images).
    pub path: String,
    /// Digest of the repo content synced, if a repo is synced.
    pub repo_digest: Option<String>,
    /// Lines worth keeping as notes (setup output, sync figures).
    pub notes: Vec<String>,
    /// Further digests to record (`template:<file>` for images).
    pub digests: BTreeMap<String, String>,
    /// Further facts to record (`root`, `vm`, artifacts, log). The engine adds
    /// `workspace` and `location` when a workspace was made.
    pub facts: BTreeMap<String, String>,
}

/// What kind of progress a line is, for throttling notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    /// A new step (`==> ...`).
    Step,
    /// Output of a running step.
    Message,
    /// An error line.
    Error,
}

/// Receives progress while an operation runs: (kind, text, whether it is kept
/// as a note).
pub type ProgressSink = Arc<dyn Fn(ProgressKind, &str, bool) + Send + Sync>;

/// A progress sink that drops everything.
pub fn no_progress() -> ProgressSink {
    Arc::new(|_, _, _| {})
}

/// One create or update, with what it may need while it runs.
#[derive(Clone)]
pub struct Request<'a> {
    /// Whose the resource is (written into new markers).
    pub owner: &'a Owner,
    /// The resource as the manifest wants it.
    pub resource: &'a DesiredResource,
    /// Its id: new for a create, the workspace's for an update.
    pub id: &'a str,
    /// Where live progress goes.
    pub progress: ProgressSink,
    /// Becomes true when the operator interrupts: long operations stop cleanly.
    pub cancel: watch::Receiver<bool>,
    /// The repo trees this apply has read, shared by all its changes: a repo
    /// is walked and digested once per (repo, excludes), not once per workspace.
    pub repos: Arc<crate::repo::RepoTrees>,
}

/// One delete.
#[derive(Debug, Clone, Copy)]
pub struct Removal<'a> {
    /// The project the workspace must belong to.
    pub project: &'a str,
    /// The workspace, where it was found or recorded.
    pub workspace: &'a WorkspaceRef,
    /// The resource as the manifest still wants it, if it does (a replace):
    /// its connection settings are used.
    pub resource: Option<&'a DesiredResource>,
}

/// One change of a batch: a create (no workspace yet) or an update.
#[derive(Clone)]
pub struct BatchItem<'a> {
    /// The change.
    pub request: Request<'a>,
    /// The existing workspace, for an update.
    pub workspace: Option<WorkspaceRef>,
}

/// How [`Driver::relabel`] rewrites a workspace's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerEdit {
    /// The workspace now belongs to this address (`moved:`, `state mv`).
    Readdress(Address),
    /// The workspace no longer belongs to this state (`state rm`): its
    /// marker's lineage becomes [`RELEASED_LINEAGE`], so no plan of this
    /// state adopts it or deletes it as an orphan.
    Release,
}

/// The lineage of a released workspace's marker: never a state's (those are random ids).
pub const RELEASED_LINEAGE: &str = "released";

impl MarkerEdit {
    /// The marker as this edit leaves it.
    pub fn apply(&self, marker: &mut Marker) {
        match self {
            MarkerEdit::Readdress(address) => marker.address = address.clone(),
            MarkerEdit::Release => marker.lineage = RELEASED_LINEAGE.to_string(),
        }
        marker.updated_at = crate::state::now_rfc3339();
    }
}

/// A bound a driver puts on its own creates, updates and replaces, below
/// `--parallelism` (Packer builds: `--parallel-builds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLimit {
    /// How many run at once (at least 1).
    pub at_once: usize,
    /// What a change held back by the bound says while it waits.
    pub waiting: String,
}

/// The contract every driver keeps. Implementations are registered by name in
/// a [`Registry`]; see `docs/architecture.md` for adding one.
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug {
    /// The name profiles give it (`driver: ssh-workspace`).
    fn name(&self) -> DriverName;

    /// Where a resource of this driver lives. Pure: no I/O.
    fn location(&self, resource: &DesiredResource) -> Location;

    /// Everything of `scope.project` at one location, in one call.
    ///
    /// Guarantees: reads only; reports only workspaces marked with the project.
    /// Caveats: an `Err` means the location could not be looked at; the engine
    /// then plans nothing for it that would act on a guess.
    async fn observe(&self, scope: Scope<'_>) -> Result<Observation, DriverError>;

    /// Makes the resource.
    ///
    /// Guarantees: on `Ok`, the resource is as `request.resource` declares.
    /// Assumptions: `request.id` is new. Caveats: killed at any point, what is
    /// left is found by the next observe (a marked workspace is adopted or removed).
    async fn create(&self, request: Request<'_>) -> Result<Made, DriverError>;

    /// Brings an existing resource up to date in place.
    ///
    /// Guarantees: on `Ok`, the resource is as declared. Assumptions: `workspace`
    /// is the one observed for `request.id` (the driver checks its marker before
    /// writing). Caveats: killed half-way, the next plan updates it again.
    async fn update(&self, request: Request<'_>, workspace: &WorkspaceRef) -> Result<Made, DriverError>;

    /// Removes a workspace.
    ///
    /// Guarantees: removes nothing that does not carry the marker of
    /// `removal.project` and the workspace's id; on `Ok` it is gone (already
    /// gone is `Ok`). Caveats: killed half-way, a leftover the next plan removes.
    async fn delete(&self, removal: Removal<'_>) -> Result<(), DriverError>;

    /// Whether the engine should hand this driver the creates and updates of one
    /// location together, through [`Driver::apply_batch`].
    fn batches(&self) -> bool {
        false
    }

    /// Several creates and updates at one location together (to send a repo
    /// once per VM, say). Returns one result per item, in order: each item
    /// succeeds or fails by itself.
    ///
    /// Guarantees and caveats: those of [`Driver::create`] and
    /// [`Driver::update`] for every item. The default runs them one by one.
    async fn apply_batch(&self, location: &Location, items: Vec<BatchItem<'_>>) -> Vec<Result<Made, DriverError>> {
        let _ = location;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(match &item.workspace {
                Some(workspace) => self.update(item.request, workspace).await,
                None => self.create(item.request).await,
            });
        }
        results
    }

    /// How many of this driver's creates, updates and replaces may run at
    /// once; `None` leaves them to `--parallelism` alone. The engine keeps the
    /// others ready and starts them as running ones finish, so a change that
    /// waits for its driver takes no place of `--parallelism` meanwhile.
    fn change_limit(&self) -> Option<ChangeLimit> {
        None
    }

    /// Rewrites the marker of `workspace` as `edit` says, nothing else.
    ///
    /// - **Guarantees**: on `Ok`, the marker names the new address (or the
    ///   released lineage), with the same id; the workspace's content is untouched.
    /// - **Assumptions**: the workspace carries the marker of `project` with
    ///   the workspace's id; anything else is refused (nothing is written).
    /// - **Caveats**: the marker is replaced by rename: a kill leaves the old
    ///   marker or the new one, and a temporary file the next create sweeps.
    ///
    /// The default: drivers without workspaces (images) have no marker to edit.
    async fn relabel(&self, project: &str, workspace: &WorkspaceRef, edit: &MarkerEdit) -> Result<(), DriverError> {
        let _ = (project, workspace, edit);
        Ok(())
    }

    /// Called once at the end of a command: close connections, remove
    /// temporary files. Never fails.
    async fn close(&self) {}
}

/// The workspace folder name for an id.
pub fn workspace_dir_name(id: &str) -> String {
    format!("sbx-{id}")
}

/// The name of a staging (`.sbx-<id>.creating`) or half-deleted
/// (`.sbx-<id>.deleting`) folder: what an interrupted apply leaves.
pub fn is_leftover_name(name: &str) -> bool {
    name.starts_with(".sbx-") && (name.ends_with(".creating") || name.ends_with(".deleting"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxers_own_names_carry_the_reserved_prefix_that_every_sync_leaves_out() {
        for name in [MARKER_FILE, crate::repo::copy::TEMP_DIR] {
            assert!(name.starts_with(crate::repo::RESERVED_PREFIX), "{name}");
        }
        assert!(crate::fsutil::temp_name(MARKER_FILE).starts_with(crate::repo::RESERVED_PREFIX));
    }
}
