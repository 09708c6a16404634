//! The shapes of what commands print with `--json`, as types: their JSON
//! Schemas are published in `schemas/` with the others, and the test suite
//! checks what the commands really print against them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::capability::VmCapabilities;
use crate::driver::Marker;
use crate::plan::Action;
use crate::state::{Note, Record};

/// `sandboxer validate --json`: one document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sandboxer validate --json")]
pub struct ValidateOutput {
    /// Whether the manifest is valid (exit 0) or not (exit 1).
    pub valid: bool,
    /// The manifest's project, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// How many images and sandboxes it declares, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<usize>,
    /// Every problem found (empty when valid).
    pub diagnostics: Vec<DiagnosticOutput>,
}

/// One problem of an input file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticOutput {
    /// The file.
    pub file: String,
    /// Its line (1-based), when known.
    pub line: Option<usize>,
    /// Its column (1-based), when known.
    pub column: Option<usize>,
    /// The key path (`sandboxes.app.inputs.vm`); empty for the whole file.
    pub key_path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// `sandboxer doctor --json`: one document, an array of these.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "one check of sandboxer doctor --json")]
pub struct DoctorFinding {
    /// A VM's name, `packer`, `image.<name>` or `hub`.
    pub scope: String,
    /// The check (`tcp`, `banner`, `host-key`, `auth`, `rsync`, `workspace-root`, `disk`, `capabilities`, ...).
    pub check: String,
    /// true: passed; false: failed; null: not run (an earlier check of its scope failed).
    pub ok: Option<bool>,
    /// What was found.
    pub detail: String,
    /// Advice, for a failed check.
    pub hint: Option<String>,
}

/// `sandboxer list --json`: one document, an array of these.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "one record of sandboxer list --json")]
pub struct ListedRecord {
    /// The project it belongs to.
    pub project: String,
    /// The record.
    pub record: Record,
}

/// `sandboxer apply --json` (and `destroy`, `watch`, `create` with `--json`):
/// one JSON object per line, each saying when it happened.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(title = "one line of sandboxer apply --json")]
pub enum ApplyEvent {
    /// A change started.
    Started {
        /// When (RFC 3339, milliseconds).
        at: String,
        /// The resource.
        address: Address,
        /// What is done to it.
        action: Action,
    },
    /// A change says how it goes (a build step, a sync).
    Progress {
        /// When.
        at: String,
        /// The resource.
        address: Address,
        /// The words.
        message: String,
    },
    /// A change finished.
    Finished {
        /// When.
        at: String,
        /// The resource.
        address: Address,
        /// What was done.
        action: Action,
        /// Its id, when it has one.
        id: Option<String>,
        /// Its workspace, when it has one.
        workspace: Option<String>,
        /// How long it took.
        elapsed_ms: u64,
    },
    /// A change failed.
    Failed {
        /// When.
        at: String,
        /// The resource.
        address: Address,
        /// What was tried.
        action: Action,
        /// Why it failed.
        error: String,
        /// How long it ran.
        elapsed_ms: u64,
    },
    /// A change was not started (a dependency failed, an interrupt).
    Skipped {
        /// When.
        at: String,
        /// The resource.
        address: Address,
        /// What would have been done.
        action: Action,
        /// Why not.
        because: String,
    },
    /// Something the operator should know (a held-back build, an interrupt).
    Notice {
        /// When.
        at: String,
        /// The words.
        message: String,
    },
    /// Nothing to do: the only line of an apply with no changes.
    NoChanges {
        /// When.
        at: String,
        /// The project.
        project: String,
    },
}

/// `sandboxer inspect <id|address> --json`: one document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sandboxer inspect --json")]
pub struct InspectOutput {
    /// The project the record belongs to.
    pub project: String,
    /// The record.
    pub record: Record,
    /// What is there now (looked at only for a workspace on this machine).
    pub observed: ObservedMarker,
    /// The record's latest progress notes, oldest first; null when they could not be read.
    pub notes: Option<Vec<Note>>,
    /// Why the notes could not be read.
    pub notes_error: Option<String>,
}

/// The marker found in a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservedMarker {
    /// The workspace's marker; null when the workspace is not on this machine, is gone, or has none.
    pub marker: Option<Marker>,
}

/// `sandboxer inspect vm/NAME --json`: one document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sandboxer inspect vm/NAME --json")]
pub struct VmInspectOutput {
    /// The VM's name (its ssh alias).
    pub vm: String,
    /// The tunnel port used to reach it, when a record or the port registry names one.
    pub tunnel_port: Option<u16>,
    /// Whether the VM answered over SSH.
    pub reachable: bool,
    /// Why it did not.
    pub error: Option<String>,
    /// The records of every project that are on this VM.
    pub resources: Vec<VmResource>,
    /// `sbx-*` folders under the records' workspace roots that no record names.
    pub unrecorded_workspaces: Vec<String>,
    /// The VM's entry in the capability catalog; null when there is none or it could not be read.
    pub capabilities: Option<VmCapabilities>,
    /// Why the catalog could not be read.
    pub capabilities_error: Option<String>,
}

/// A record on a VM, with what was found of its workspace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VmResource {
    /// The project it belongs to.
    pub project: String,
    /// The record.
    pub record: Record,
    /// Its workspace on the VM.
    pub observed: WorkspaceSeen,
    /// Its latest progress notes; null when they could not be read.
    pub notes: Option<Vec<Note>>,
    /// Why the notes could not be read.
    pub notes_error: Option<String>,
}

/// What `inspect vm/NAME` found of a record's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkspaceSeen {
    /// The folder is there.
    #[serde(rename = "present")]
    Present,
    /// The VM answered and the folder is not there.
    #[serde(rename = "missing")]
    Missing,
    /// The VM did not answer.
    #[serde(rename = "not looked at")]
    NotLookedAt,
    /// The record names no workspace (an image).
    #[serde(rename = "no workspace")]
    NoWorkspace,
}

impl WorkspaceSeen {
    /// The words `inspect` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceSeen::Present => "present",
            WorkspaceSeen::Missing => "missing",
            WorkspaceSeen::NotLookedAt => "not looked at",
            WorkspaceSeen::NoWorkspace => "no workspace",
        }
    }
}
