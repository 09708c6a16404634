//! Saved plans: the document `plan --out` writes and `plan --json` prints, sealed
//! with a digest of its own content; the checks a saved plan must pass on its
//! own; and where it first differs from the plan made again at apply time.
//!
//! The digest tells an edited file from the one sandboxer wrote; it is no
//! signature (anyone can compute it). What binds a plan to the manifest, the
//! state and what is there is that apply makes the plan again and refuses
//! unless it is equal ([`first_difference`]).

use std::collections::HashMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::graph::{ChangeGraph, CycleError};
use super::{Action, Change, Plan, Summary};
use crate::address::Address;

/// A plan as `plan --json` prints it and `plan --out` saves it: the changes,
/// what they were computed against, and a digest of its own content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "sandboxer plan", transform = digest_required)]
pub struct PlanDocument {
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// `sha256:<hex>` of this document's content: its JSON without `digest`,
    /// object keys sorted, no whitespace. Apply refuses a plan whose content
    /// does not give this digest.
    // Absent reads as empty, which no content gives: a plan whose digest was
    // removed is refused as edited, not as unreadable.
    #[serde(default)]
    pub digest: String,
}

/// The schema says what sandboxer writes: `digest` is always there (the serde
/// default above is for reading edited plans only).
fn digest_required(schema: &mut schemars::Schema) {
    if let Some(required) = schema.get_mut("required").and_then(serde_json::Value::as_array_mut) {
        required.push("digest".into());
    }
    if let Some(digest) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("digest"))
        .and_then(serde_json::Value::as_object_mut)
    {
        digest.remove("default");
    }
}

impl PlanDocument {
    /// `plan` with the digest of its content.
    pub fn seal(plan: Plan) -> Result<Self, serde_json::Error> {
        let digest = digest(&plan)?;
        Ok(PlanDocument { plan, digest })
    }

    /// The plan, if its content still gives its digest.
    pub fn unseal(self) -> Result<Plan, SavedPlanError> {
        match digest(&self.plan) {
            Ok(d) if d == self.digest => Ok(self.plan),
            _ => Err(SavedPlanError::Edited),
        }
    }
}

/// The digest of a plan's content (see [`PlanDocument::digest`]).
///
/// Computed from the typed plan, not the file's text: layout and key order are
/// not content, and a reader of another JSON parser gives the same digest.
pub fn digest(plan: &Plan) -> Result<String, serde_json::Error> {
    Ok(content_digest(&serde_json::to_value(plan)?))
}

/// The digest of a plan document's JSON content: everything but its `digest`
/// member, object keys sorted, no whitespace.
pub fn content_digest(document: &serde_json::Value) -> String {
    let mut content = document.clone();
    if let Some(members) = content.as_object_mut() {
        members.remove("digest");
    }
    let mut text = String::new();
    canonical(&content, &mut text);
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

/// JSON with object keys sorted and no whitespace (serde_json's forms of strings
/// and numbers), so the digest does not depend on the order fields are written in.
fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&members[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A saved plan that cannot be applied, whatever the manifest and state say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedPlanError {
    /// Its content does not give its digest.
    #[error("the plan was edited since it was made: its digest does not match its content")]
    Edited,
    /// The summary does not count the changes.
    #[error("the summary says {says} {what}, its changes {count}")]
    Summary {
        /// `to create`, `to update`, ...
        what: &'static str,
        /// The summary's count.
        says: usize,
        /// The changes'.
        count: usize,
    },
    /// Two changes act on one resource (or delete one workspace twice).
    #[error("changes[{again}] repeats changes[{first}] ({address})")]
    Repeated {
        /// The first.
        first: usize,
        /// The one that repeats it.
        again: usize,
        /// Their resource.
        address: Address,
    },
    /// Its changes wait for each other in a circle.
    #[error(transparent)]
    Cycle(#[from] CycleError),
}

impl SavedPlanError {
    /// What the operator can do.
    pub fn hint(&self) -> String {
        "make the plan again: `sandboxer plan --out PLAN`".into()
    }
}

/// What a plan from `plan` always holds, checked on the plan alone: the summary
/// counts the changes, no resource has two changes (nor a workspace two
/// deletes), and the order has no cycle. Apply runs it before it touches anything.
pub fn check(plan: &Plan) -> Result<(), SavedPlanError> {
    let counted = Summary::of(&plan.changes);
    let counts = [
        ("to create", plan.summary.create, counted.create),
        ("to update", plan.summary.update, counted.update),
        ("to replace", plan.summary.replace, counted.replace),
        ("to delete", plan.summary.delete, counted.delete),
        ("unchanged", plan.summary.no_op, counted.no_op),
        ("refused", plan.summary.refused, counted.refused),
        ("moved", plan.summary.moved, counted.moved),
    ];
    if let Some((what, says, count)) = counts.into_iter().find(|(_, says, count)| says != count) {
        return Err(SavedPlanError::Summary { what, says, count });
    }
    // One change per resource, besides deletes of its other workspaces (by id).
    let mut seen: HashMap<(&Address, Option<&str>), usize> = HashMap::new();
    for (again, change) in plan.changes.iter().enumerate() {
        let id = (change.action == Action::Delete).then(|| change.id.as_deref().unwrap_or(""));
        if let Some(&first) = seen.get(&(&change.address, id)) {
            return Err(SavedPlanError::Repeated {
                first,
                again,
                address: change.address.clone(),
            });
        }
        seen.insert((&change.address, id), again);
    }
    ChangeGraph::build(&plan.changes)?;
    Ok(())
}

/// Where a saved plan and the plan made again first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The field: `project`, `changes[1] (sandbox.b)`, `changes[1] (sandbox.b) workspace`.
    pub at: String,
    /// Its value in the saved plan.
    pub saved: String,
    /// Its value in the plan made again.
    pub now: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the plan says {}, the manifest and state now give {}",
            self.at, self.saved, self.now
        )
    }
}

/// The first field in which `saved` and `now` differ, in the order of the
/// document; `None` when they are equal.
pub fn first_difference(saved: &Plan, now: &Plan) -> Option<Difference> {
    field("format_version", &saved.format_version, &now.format_version)
        .or_else(|| field("project", &saved.project, &now.project))
        .or_else(|| field("manifest", &saved.manifest, &now.manifest))
        .or_else(|| field("manifest_digest", &saved.manifest_digest, &now.manifest_digest))
        .or_else(|| field("state_lineage", &saved.state_lineage, &now.state_lineage))
        .or_else(|| field("state_serial", &saved.state_serial, &now.state_serial))
        .or_else(|| field("targets", &saved.targets, &now.targets))
        .or_else(|| field("replace", &saved.replace, &now.replace))
        .or_else(|| changes(&saved.changes, &now.changes))
        .or_else(|| field("summary", &saved.summary, &now.summary))
}

fn changes(saved: &[Change], now: &[Change]) -> Option<Difference> {
    let n = saved.len().max(now.len());
    (0..n).find_map(|i| match (saved.get(i), now.get(i)) {
        (Some(a), Some(b)) if a.address == b.address => change(i, a, b),
        (a, b) => Some(Difference {
            at: format!("changes[{i}]"),
            saved: headline(a),
            now: headline(b),
        }),
    })
}

fn change(i: usize, a: &Change, b: &Change) -> Option<Difference> {
    let at = |name: &str| {
        let mut at = format!("changes[{i}] ({})", a.address);
        if !name.is_empty() {
            at.push(' ');
            at.push_str(name);
        }
        at
    };
    field(&at(""), &a.action, &b.action)
        .or_else(|| field(&at("id"), &a.id, &b.id))
        .or_else(|| field(&at("driver"), &a.driver, &b.driver))
        .or_else(|| field(&at("reasons"), &a.reasons, &b.reasons))
        .or_else(|| field(&at("attributes"), &a.attributes, &b.attributes))
        .or_else(|| field(&at("depends_on"), &a.depends_on, &b.depends_on))
        .or_else(|| field(&at("workspace"), &a.workspace, &b.workspace))
        .or_else(|| field(&at("moved_from"), &a.moved_from, &b.moved_from))
}

/// `create sandbox.b`, or `nothing`.
fn headline(change: Option<&Change>) -> String {
    change.map_or_else(|| "nothing".into(), |c| format!("{} {}", c.action, c.address))
}

fn field<T: PartialEq + Serialize>(at: &str, saved: &T, now: &T) -> Option<Difference> {
    (saved != now).then(|| Difference {
        at: at.to_string(),
        saved: shown(saved),
        now: shown(now),
    })
}

/// The longest value a refusal shows.
const SHOWN_CHARS: usize = 200;

/// A value as a refusal shows it: text as it is, `none` for an absent value,
/// anything else as compact JSON; cut at [`SHOWN_CHARS`].
fn shown<T: Serialize>(value: &T) -> String {
    let text = match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "none".into(),
        Ok(other) => other.to_string(),
        Err(e) => format!("(not shown: {e})"),
    };
    if text.chars().count() <= SHOWN_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DriverName;
    use crate::plan::PLAN_FORMAT_VERSION;

    fn change(address: &str, action: Action) -> Change {
        Change {
            address: address.parse().expect("address"),
            action,
            id: None,
            driver: DriverName::LOCAL_WORKSPACE,
            reasons: Vec::new(),
            attributes: Vec::new(),
            depends_on: Vec::new(),
            workspace: None,
            moved_from: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            project: "p".into(),
            manifest: "/m.yaml".into(),
            manifest_digest: "sha256:m".into(),
            state_lineage: "L".into(),
            state_serial: 3,
            targets: Vec::new(),
            replace: Vec::new(),
            summary: Summary::of(&changes),
            changes,
        }
    }

    #[test]
    fn a_sealed_plan_unseals_and_any_edit_of_its_content_is_found() {
        let sealed = PlanDocument::seal(plan(vec![change("sandbox.a", Action::Create)])).expect("seal");
        assert!(sealed.digest.starts_with("sha256:"));
        assert_eq!(sealed.clone().unseal().map(|p| p.project), Ok("p".into()));

        let text = serde_json::to_string(&sealed).expect("json");
        let read: PlanDocument = serde_json::from_str(&text).expect("read back");
        assert_eq!(read, sealed, "what is written reads back as it was");

        let mut edited = sealed.clone();
        edited.plan.changes[0].action = Action::NoOp;
        assert_eq!(edited.unseal(), Err(SavedPlanError::Edited));
        let mut unsealed = sealed;
        unsealed.digest.clear();
        assert_eq!(unsealed.unseal(), Err(SavedPlanError::Edited));
    }

    #[test]
    fn the_digest_ignores_key_order() {
        let mut one = String::new();
        canonical(&serde_json::json!({"b": [1, {"d": 2, "c": 3}], "a": "x"}), &mut one);
        assert_eq!(one, r#"{"a":"x","b":[1,{"c":3,"d":2}]}"#);
    }

    #[test]
    fn a_repeated_change_a_wrong_summary_and_a_cycle_are_found_on_the_plan_alone() {
        let twice = plan(vec![
            change("sandbox.a", Action::Create),
            change("sandbox.b", Action::Create),
            change("sandbox.b", Action::Create),
        ]);
        assert_eq!(
            check(&twice).map_err(|e| e.to_string()),
            Err("changes[2] repeats changes[1] (sandbox.b)".into())
        );

        let mut miscounted = twice.clone();
        miscounted.summary.create = 2;
        assert_eq!(
            check(&miscounted).map_err(|e| e.to_string()),
            Err("the summary says 2 to create, its changes 3".into())
        );

        let mut a = change("sandbox.a", Action::Create);
        a.depends_on = vec!["sandbox.b".parse().expect("address")];
        let mut b = change("sandbox.b", Action::Create);
        b.depends_on = vec!["sandbox.a".parse().expect("address")];
        assert!(matches!(check(&plan(vec![a, b])), Err(SavedPlanError::Cycle(_))));
    }

    #[test]
    fn deletes_of_two_workspaces_of_one_resource_are_not_repeats() {
        let mut first = change("sandbox.a", Action::Delete);
        first.id = Some("one".into());
        let mut second = change("sandbox.a", Action::Delete);
        second.id = Some("two".into());
        let keep = change("sandbox.a", Action::NoOp);
        assert_eq!(check(&plan(vec![keep, first.clone(), second])), Ok(()));
        assert!(matches!(
            check(&plan(vec![first.clone(), first])),
            Err(SavedPlanError::Repeated { first: 0, again: 1, .. })
        ));
    }

    #[test]
    fn the_first_difference_names_the_change_and_the_field() {
        let saved = plan(vec![
            change("sandbox.a", Action::NoOp),
            change("sandbox.b", Action::Update),
        ]);
        assert_eq!(first_difference(&saved, &saved.clone()), None);

        let mut now = saved.clone();
        now.changes[1].action = Action::Create;
        assert_eq!(
            first_difference(&saved, &now).map(|d| d.to_string()),
            Some("changes[1] (sandbox.b): the plan says update, the manifest and state now give create".into())
        );

        let mut now = saved.clone();
        now.changes[1].id = Some("k3x9".into());
        assert_eq!(
            first_difference(&saved, &now).map(|d| d.to_string()),
            Some("changes[1] (sandbox.b) id: the plan says none, the manifest and state now give k3x9".into())
        );

        let mut now = saved.clone();
        now.changes.pop();
        assert_eq!(
            first_difference(&saved, &now).map(|d| d.to_string()),
            Some("changes[1]: the plan says update sandbox.b, the manifest and state now give nothing".into())
        );

        let mut now = saved.clone();
        now.project = "other".into();
        now.changes.clear();
        assert_eq!(
            first_difference(&saved, &now).map(|d| d.at),
            Some("project".into()),
            "the first field in document order"
        );
    }
}
