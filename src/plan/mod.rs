//! The plan as data: changes with an action, the reasons for it and attribute
//! diffs; how it is computed ([`diff`]), ordered ([`graph`]), shown ([`render`])
//! and saved to be applied later ([`saved`]).

pub mod diff;
pub mod graph;
pub mod read;
pub mod render;
pub mod saved;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::profile::{DriverName, Value};

pub use crate::driver::WorkspaceRef;
pub use crate::reason::Reason;

/// The format version of saved and JSON plans (2: reasons as codes with
/// details, workspaces with their driver; 3: a digest of its own content;
/// the `refused` action and `summary.refused` were added to 3, a reader of
/// an earlier 3 refuses them through the schema).
pub const PLAN_FORMAT_VERSION: u32 = 3;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Already as declared.
    NoOp,
    /// Make it.
    Create,
    /// Change it in place (resync, record).
    Update,
    /// Destroy it, then make it anew.
    Replace,
    /// Destroy it.
    Delete,
    /// Nothing is done: it cannot be carried out as declared (its VM does not
    /// meet its `requires:`). Apply fails it, and skips what depends on it.
    Refused,
}

impl Action {
    /// The symbol in plan output.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Refused => "!",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Refused => "refused",
        })
    }
}

/// One attribute's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeChange {
    /// `profile`, `host`, `inputs.<name>` or `repo_digest`.
    pub name: String,
    /// Value before (absent when new).
    pub before: Option<Value>,
    /// Value after (absent when removed).
    pub after: Option<Value>,
    /// This change is why the resource is replaced.
    pub forces_replace: bool,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The resource.
    pub address: Address,
    /// What to do.
    pub action: Action,
    /// Its id, when it exists already.
    pub id: Option<String>,
    /// The driver that carries it out.
    pub driver: DriverName,
    /// Why (apply never branches on these).
    pub reasons: Vec<Reason>,
    /// Attribute-level diff.
    pub attributes: Vec<AttributeChange>,
    /// Resources this one depends on (declared, or recorded for deletes).
    pub depends_on: Vec<Address>,
    /// The existing workspace acted on (update, replace, delete).
    pub workspace: Option<WorkspaceRef>,
    /// The address the state recorded it under, when a `moved:` block renames
    /// it: apply gives the record and the workspace's marker this address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
}

/// Counts by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Creates.
    pub create: usize,
    /// In-place updates.
    pub update: usize,
    /// Replacements.
    pub replace: usize,
    /// Deletes.
    pub delete: usize,
    /// Resources already as declared.
    pub no_op: usize,
    /// Resources the plan refuses (an unmet requirement); absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: usize,
    /// Changes that give a record a new address (`moved:`), whatever their
    /// action; absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub moved: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// Counts the actions of `changes`.
    pub fn of(changes: &[Change]) -> Self {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::NoOp => s.no_op += 1,
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Refused => s.refused += 1,
            }
            if c.moved_from.is_some() {
                s.moved += 1;
            }
        }
        s
    }

    /// Anything to do.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.replace + self.delete + self.moved > 0
    }

    /// Anything to do or to refuse: what a plan shows.
    pub fn has_lines(&self) -> bool {
        self.has_changes() || self.refused > 0
    }
}

/// A plan: the changes, and what they were computed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Format version of this document.
    pub format_version: u32,
    /// The project planned.
    pub project: String,
    /// The manifest file.
    pub manifest: String,
    /// sha256 of the manifest's bytes when planned.
    pub manifest_digest: String,
    /// Lineage of the state planned against.
    pub state_lineage: String,
    /// Serial of the state planned against.
    pub state_serial: u64,
    /// `--target` addresses, if any.
    #[serde(default)]
    pub targets: Vec<Address>,
    /// `--replace` addresses, if any: made anew although nothing changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<Address>,
    /// The changes, in address order.
    pub changes: Vec<Change>,
    /// Counts by action.
    pub summary: Summary,
}

/// The JSON Schema of `plan --json` and saved plans: a [`saved::PlanDocument`].
pub fn json_schema() -> serde_json::Value {
    crate::document::schema_of::<saved::PlanDocument>()
}

/// Makes the plan of `desired` against `observed`, limited to `targets` when given.
pub fn make(desired: &crate::desired::Desired, observed: &crate::observe::Observed, targets: &[Address]) -> Plan {
    make_with(desired, observed, targets, &[])
}

/// [`make`], with the resources `replace` names made anew (`--replace`).
pub fn make_with(
    desired: &crate::desired::Desired,
    observed: &crate::observe::Observed,
    targets: &[Address],
    replace: &[Address],
) -> Plan {
    let requested: std::collections::BTreeSet<&Address> = replace.iter().collect();
    let changes = graph::filter_targets(diff::diff_with(desired, observed, &requested), targets);
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        project: desired.project.clone(),
        manifest: std::path::absolute(&desired.manifest_path)
            .unwrap_or_else(|_| desired.manifest_path.clone())
            .to_string_lossy()
            .into_owned(),
        manifest_digest: desired.manifest_digest.clone(),
        state_lineage: observed.lineage.clone(),
        state_serial: observed.serial,
        targets: targets.to_vec(),
        replace: replace.to_vec(),
        summary: Summary::of(&changes),
        changes,
    }
}
