//! The shapes of what commands print with `--json`, as types: their JSON
//! Schemas are published in `schemas/` with the others, and the test suite
//! checks what the commands really print against them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::plan::Action;
use crate::state::Record;

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
