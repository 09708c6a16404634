//! Drivers: the code that observes, creates, updates and destroys one kind of
//! thing. Each operation states its contract:
//!
//! - **Guarantees**: what holds when it returns `Ok`.
//! - **Assumptions**: what it relies on.
//! - **Caveats**: what a kill at any point leaves behind, and how the next plan
//!   sees it (it always can: a workspace carries its marker from its first moment).

pub mod local;
pub mod packer;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;

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
    pub fn new(owner: &Owner, resource: &crate::desired::DesiredResource, id: &str) -> Self {
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

/// A workspace found by observing a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundWorkspace {
    /// `local`, or the VM's SSH alias.
    pub location: String,
    /// The folder.
    pub path: String,
    /// Its marker.
    pub marker: Marker,
    /// A staging or half-deleted folder left by an interrupted apply.
    pub leftover: bool,
}

/// What a create or update made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Made {
    /// The workspace folder.
    pub path: String,
    /// Digest of the repo content synced, if a repo is synced.
    pub repo_digest: Option<String>,
    /// Lines worth keeping as notes (setup output, sync figures).
    pub notes: Vec<String>,
    /// Further digests to record (`template:<file>` for images).
    pub digests: std::collections::BTreeMap<String, String>,
    /// Further facts to record (artifacts, log).
    pub facts: std::collections::BTreeMap<String, String>,
}

/// A driver operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(pub String);

impl DriverError {
    /// An error with context: `what: cause`.
    pub fn context(what: impl std::fmt::Display, cause: impl std::fmt::Display) -> Self {
        DriverError(format!("{what}: {cause}"))
    }
}

/// The workspace folder name for an id.
pub fn workspace_dir_name(id: &str) -> String {
    format!("sbx-{id}")
}
pub mod ssh;
