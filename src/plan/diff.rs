//! Choosing the action for every resource: a pure function of the desired state
//! and what was observed (records and facts), unit-tested case by case.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Action, AttributeChange, Change, WorkspaceRef};
use crate::address::{Address, ResourceKind};
use crate::desired::{Desired, DesiredResource};
use crate::driver::FoundWorkspace;
use crate::driver::local::LOCATION as LOCAL;
use crate::observe::{Observed, record_location};
use crate::profile::{DriverKind, Value};
use crate::state::Record;

/// The pseudo-attribute for a workspace's synced repo content.
pub const REPO_DIGEST: &str = "repo_digest";

/// Every change needed to go from `observed` to `desired`, in address order.
pub fn diff(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let index = FoundIndex::new(observed);
    let mut changes: Vec<Change> = Vec::new();
    let mut claimed: BTreeSet<String> = BTreeSet::new(); // workspace paths accounted for

    // Images first, so that sandboxes know which images are being rebuilt.
    let mut rebuilt: BTreeSet<Address> = BTreeSet::new();
    let ordered = desired
        .resources
        .values()
        .filter(|r| r.address.kind == ResourceKind::Image)
        .chain(
            desired
                .resources
                .values()
                .filter(|r| r.address.kind == ResourceKind::Sandbox),
        );
    for resource in ordered {
        let change = diff_resource(resource, observed, &index, &rebuilt, &mut claimed);
        if resource.address.kind == ResourceKind::Image
            && matches!(change.action, Action::Create | Action::Replace)
            && observed.records.contains_key(&resource.address)
        {
            rebuilt.insert(resource.address.clone());
        }
        changes.push(change);
    }

    // Records gone from the manifest.
    for (address, record) in &observed.records {
        if desired.resources.contains_key(address) {
            continue;
        }
        let found = index.by_id(&record.id);
        let location = record_location(record);
        let mut reasons = vec!["gone from manifest".to_string()];
        if found.is_none() && !observed.location_errors.contains_key(&location) && record.driver != DriverKind::Packer {
            reasons.push("its workspace is already gone; only the record is removed".into());
        }
        if let Some(w) = found {
            claimed.insert(w.path.clone());
        }
        changes.push(Change {
            address: address.clone(),
            action: Action::Delete,
            id: Some(record.id.clone()),
            driver: record.driver,
            reasons,
            attributes: record
                .attributes
                .iter()
                .map(|(k, v)| AttributeChange {
                    name: k.clone(),
                    before: Some(v.clone()),
                    after: None,
                    forces_replace: false,
                })
                .collect(),
            depends_on: record.depends_on.clone(),
            workspace: found.map(workspace_ref).or_else(|| recorded_workspace(record)),
        });
    }

    // Workspaces of this project that nothing accounts for.
    // Workspaces of this project that nothing accounts for, made for this state:
    // another checkout's (another lineage) are never adopted or deleted here.
    for w in &observed.workspaces {
        if claimed.contains(&w.path) || !is_ours(w, observed) {
            continue;
        }
        let reason = if w.leftover {
            format!("leftover of an interrupted apply: {}", w.path)
        } else if desired.resources.contains_key(&w.marker.address) {
            format!("duplicate workspace {} (id {}) of this resource", w.path, w.marker.id)
        } else {
            format!("orphan workspace {} (not in the manifest nor the state)", w.path)
        };
        changes.push(Change {
            address: w.marker.address.clone(),
            action: Action::Delete,
            id: Some(w.marker.id.clone()),
            driver: driver_of_location(&w.location),
            reasons: vec![reason],
            attributes: Vec::new(),
            depends_on: Vec::new(),
            workspace: Some(workspace_ref(w)),
        });
    }

    changes.sort_by(|a, b| (&a.address, a.action == Action::Delete).cmp(&(&b.address, b.action == Action::Delete)));
    changes
}

fn driver_of_location(location: &str) -> DriverKind {
    if location == LOCAL {
        DriverKind::LocalWorkspace
    } else {
        DriverKind::SshWorkspace
    }
}

fn diff_resource(
    resource: &DesiredResource,
    observed: &Observed,
    index: &FoundIndex<'_>,
    rebuilt: &BTreeSet<Address>,
    claimed: &mut BTreeSet<String>,
) -> Change {
    let after = resource.attributes();
    let mut change = Change {
        address: resource.address.clone(),
        action: Action::NoOp,
        id: None,
        driver: resource.driver,
        reasons: Vec::new(),
        attributes: Vec::new(),
        depends_on: resource.depends_on.iter().cloned().collect(),
        workspace: None,
    };
    let current_digest = observed.repo_digests.get(&resource.address);
    let location = location_of(resource);
    let location_error = observed.location_errors.get(&location);

    let Some(record) = observed.records.get(&resource.address) else {
        let candidates: Vec<&FoundWorkspace> = index
            .for_address(&resource.address)
            .iter()
            .copied()
            .filter(|w| w.location == location)
            .collect();
        // Adopt the most recently completed one; the others are duplicates.
        if let Some(w) = candidates
            .iter()
            .max_by_key(|w| (w.marker.complete, w.marker.updated_at.clone()))
        {
            claimed.insert(w.path.clone());
            change.action = Action::Update;
            change.id = Some(w.marker.id.clone());
            change.workspace = Some(workspace_ref(w));
            change.reasons.push(format!(
                "adopt: {} carries this resource's marker but has no record",
                w.path
            ));
            change.attributes = attribute_changes(&BTreeMap::new(), &after, &BTreeSet::new());
            if let Some(Err(e)) = current_digest {
                change.reasons.push(format!("repo unreadable: {e}"));
            }
            return change;
        }
        change.action = Action::Create;
        change.reasons.push("new in manifest".into());
        change.attributes = attribute_changes(&BTreeMap::new(), &after, &BTreeSet::new());
        push_digest(&mut change, None, current_digest);
        return change;
    };

    change.id = Some(record.id.clone());
    let mut forces = resource.replace_attributes();
    if resource.is_packer_build() {
        // Any input of an image is part of the build, also one that was removed.
        forces.extend(record.attributes.keys().cloned());
    }
    let attributes = attribute_changes(&record.attributes, &after, &forces);
    let found = index.by_id(&record.id);
    if let Some(w) = found {
        claimed.insert(w.path.clone());
        change.workspace = Some(workspace_ref(w));
    } else {
        change.workspace = recorded_workspace(record);
    }
    let forcing: Vec<&AttributeChange> = attributes.iter().filter(|a| a.forces_replace).collect();
    let rebuilt_deps: Vec<&Address> = resource.depends_on.iter().filter(|d| rebuilt.contains(*d)).collect();

    let image_reasons = if resource.is_packer_build() {
        image_rebuild_reasons(resource, record, observed)
    } else {
        Vec::new()
    };
    if !forcing.is_empty() || !image_reasons.is_empty() {
        change.action = Action::Replace;
        for a in &forcing {
            change.reasons.push(forcing_reason(a));
        }
        change.reasons.extend(image_reasons);
    } else if resource.replace_on_image_change && !rebuilt_deps.is_empty() {
        change.action = Action::Replace;
        for d in rebuilt_deps {
            change.reasons.push(format!("{d} is rebuilt (replace_on_image_change)"));
        }
    } else if let Some(e) = location_error.filter(|_| !resource.is_packer_build()) {
        // (An image is built by Packer here, not observed on its VM: a VM down changes nothing.)
        change.action = Action::Update;
        change.reasons.push(format!("could not observe {location}: {e}"));
    } else if found.is_none() && resource.driver != DriverKind::Packer {
        change.action = Action::Create;
        // A new workspace gets a new id (ids are never reused): the recorded one is not its id.
        change.id = None;
        change.workspace = None;
        let path = record
            .facts
            .get("workspace")
            .map(String::as_str)
            .unwrap_or("the workspace");
        change.reasons.push(format!("drift: {path} is missing though recorded"));
        change.attributes = attributes;
        push_digest(&mut change, None, current_digest);
        return change;
    } else {
        for a in attributes.iter().filter(|a| a.name != "profile" && a.name != "host") {
            change.reasons.push(format!("{} changed", display_name(&a.name)));
        }
        if found.is_some_and(|w| !w.marker.complete) {
            change
                .reasons
                .push("workspace incomplete (an earlier apply was interrupted)".into());
        }
        let recorded = record.digests.get("repo");
        match current_digest {
            Some(Ok(now)) if recorded != Some(now) => change.reasons.push("repo content changed".into()),
            Some(Err(e)) => change.reasons.push(format!("repo unreadable: {e}")),
            None if recorded.is_some() => change.reasons.push("repo no longer synced".into()),
            _ => {}
        }
        if !change.reasons.is_empty() {
            change.action = Action::Update;
        }
    }
    change.attributes = attributes;
    if change.action != Action::NoOp {
        push_digest(&mut change, record.digests.get("repo"), current_digest);
    }
    change
}

fn push_digest(change: &mut Change, before: Option<&String>, now: Option<&Result<String, String>>) {
    let after = match now {
        Some(Ok(d)) => Some(Value::String(d.clone())),
        _ => None,
    };
    let before = before.map(|b| Value::String(b.clone()));
    if before != after && (before.is_some() || after.is_some()) {
        change.attributes.push(AttributeChange {
            name: REPO_DIGEST.into(),
            before,
            after,
            forces_replace: false,
        });
    }
}

/// Why an attribute change replaces: `var disk_size: "20480" -> "40960"` for a
/// Packer variable, `vm changed (forces replacement)` otherwise.
fn forcing_reason(a: &AttributeChange) -> String {
    let show = |v: &Option<Value>| {
        v.as_ref()
            .map_or("(unset)".to_string(), |v| format!("{:?}", v.to_string()))
    };
    match a.name.strip_prefix("inputs.packer_var_") {
        Some(var) => format!("var {var}: {} -> {}", show(&a.before), show(&a.after)),
        None => format!("{} changed (forces replacement)", display_name(&a.name)),
    }
}

/// Why an image must be rebuilt although its inputs are the same: template files
/// changed, or recorded artifacts are gone.
fn image_rebuild_reasons(resource: &DesiredResource, record: &Record, observed: &Observed) -> Vec<String> {
    let mut reasons = Vec::new();
    let recorded: BTreeMap<&str, &String> = record
        .digests
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("template:").map(|f| (f, v)))
        .collect();
    match observed.template_digests.get(&resource.address) {
        Some(Ok(now)) => {
            let mut changed: Vec<&str> = now
                .iter()
                .filter(|(file, digest)| recorded.get(file.as_str()) != Some(digest))
                .map(|(file, _)| file.as_str())
                .collect();
            changed.extend(recorded.keys().filter(|f| !now.contains_key(**f)).copied());
            changed.sort_unstable();
            if !changed.is_empty() {
                reasons.push(format!("template changed: {}", changed.join(", ")));
            }
        }
        Some(Err(e)) => reasons.push(format!("template unreadable: {e}")),
        None => {}
    }
    if let Some(missing) = observed.missing_artifacts.get(&resource.address) {
        reasons.push(format!("artifact missing: {}", missing.join(", ")));
    }
    reasons
}

/// `inputs.vm` → `vm`.
fn display_name(name: &str) -> &str {
    name.strip_prefix("inputs.").unwrap_or(name)
}

/// Attribute-level diff; `forces` names the attributes whose change forces a replacement.
pub fn attribute_changes(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    forces: &BTreeSet<String>,
) -> Vec<AttributeChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (before.get(name), after.get(name));
            (b != a).then(|| AttributeChange {
                name: name.clone(),
                before: b.cloned(),
                after: a.cloned(),
                forces_replace: !before.is_empty() && forces.contains(name),
            })
        })
        .collect()
}

/// Where a desired resource's workspace lives.
pub fn location_of(resource: &DesiredResource) -> String {
    match resource.driver {
        DriverKind::LocalWorkspace => LOCAL.to_string(),
        _ => crate::driver::ssh::target_of(resource).location(),
    }
}

/// Whether a workspace was made for this state (its marker names our lineage).
fn is_ours(w: &FoundWorkspace, observed: &Observed) -> bool {
    !observed.lineage.is_empty() && w.marker.lineage == observed.lineage
}

/// Found workspaces (leftovers aside) by id and by address, so that the diff
/// stays linear in the number of workspaces.
struct FoundIndex<'a> {
    by_id: HashMap<&'a str, &'a FoundWorkspace>,
    by_address: HashMap<&'a Address, Vec<&'a FoundWorkspace>>,
}

impl<'a> FoundIndex<'a> {
    fn new(observed: &'a Observed) -> Self {
        let mut index = FoundIndex {
            by_id: HashMap::new(),
            by_address: HashMap::new(),
        };
        for w in observed.workspaces.iter().filter(|w| !w.leftover) {
            // A record finds its workspace by id, whoever made it (records move with state push/pull) ...
            index.by_id.entry(w.marker.id.as_str()).or_insert(w);
            // ... but only this state's workspaces are adopted.
            if is_ours(w, observed) {
                index.by_address.entry(&w.marker.address).or_default().push(w);
            }
        }
        index
    }

    fn by_id(&self, id: &str) -> Option<&'a FoundWorkspace> {
        self.by_id.get(id).copied()
    }

    fn for_address(&self, address: &Address) -> &[&'a FoundWorkspace] {
        self.by_address.get(address).map_or(&[], Vec::as_slice)
    }
}

fn workspace_ref(w: &FoundWorkspace) -> WorkspaceRef {
    WorkspaceRef {
        location: w.location.clone(),
        path: w.path.clone(),
        id: w.marker.id.clone(),
    }
}

fn recorded_workspace(record: &Record) -> Option<WorkspaceRef> {
    record.facts.get("workspace").map(|path| WorkspaceRef {
        location: record_location(record),
        path: path.clone(),
        id: record.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Marker;
    use crate::profile::{ResolvedInputs, SyncSpec};

    fn resource(name: &str, repo: Option<&str>) -> DesiredResource {
        let mut inputs = ResolvedInputs::default();
        inputs
            .values
            .insert("workspace_root".into(), Value::String("/ws".into()));
        if let Some(repo) = repo {
            inputs.values.insert("repo".into(), Value::String(repo.into()));
        }
        DesiredResource {
            address: Address::sandbox(name),
            profile: "profile.local-workspace".into(),
            driver: DriverKind::LocalWorkspace,
            host: "localhost".into(),
            inputs,
            depends_on: BTreeSet::new(),
            replace_on_image_change: true,
            sync: SyncSpec::default(),
            setup: Vec::new(),
            forces_replace: ["workspace_root".to_string()].into(),
        }
    }

    fn desired(resources: Vec<DesiredResource>) -> Desired {
        Desired {
            project: "p".into(),
            manifest_path: "m.yaml".into(),
            manifest_digest: "d".into(),
            hub: None,
            resources: resources.into_iter().map(|r| (r.address.clone(), r)).collect(),
        }
    }

    fn record_of(r: &DesiredResource, id: &str, digest: Option<&str>) -> Record {
        Record {
            address: r.address.clone(),
            id: id.into(),
            profile: r.profile.clone(),
            driver: r.driver,
            attributes: r.attributes(),
            spec_hash: r.spec_hash(),
            digests: digest
                .map(|d| [("repo".to_string(), d.to_string())].into())
                .unwrap_or_default(),
            facts: [
                ("workspace".to_string(), format!("/ws/sbx-{id}")),
                ("root".to_string(), "/ws".to_string()),
            ]
            .into(),
            depends_on: Vec::new(),
            created_at: "t".into(),
            updated_at: "t".into(),
        }
    }

    fn found(address: &Address, id: &str, complete: bool) -> FoundWorkspace {
        FoundWorkspace {
            location: LOCAL.into(),
            path: format!("/ws/sbx-{id}"),
            marker: Marker {
                id: id.into(),
                project: "p".into(),
                lineage: "L".into(),
                address: address.clone(),
                spec_hash: String::new(),
                repo_digest: None,
                complete,
                setup_pending: false,
                created_at: "t".into(),
                updated_at: "t".into(),
            },
            leftover: false,
        }
    }

    /// What was observed in a state of lineage `L` (the found workspaces' too).
    fn observed() -> Observed {
        Observed {
            lineage: "L".into(),
            ..Observed::default()
        }
    }

    fn only(changes: &[Change]) -> &Change {
        assert_eq!(changes.len(), 1, "{changes:#?}");
        &changes[0]
    }

    #[test]
    fn new_resource_is_created() {
        let r = resource("a", None);
        let c = diff(&desired(vec![r]), &observed());
        assert_eq!(only(&c).action, Action::Create);
        assert_eq!(only(&c).reasons, ["new in manifest"]);
    }

    #[test]
    fn unchanged_resource_is_a_no_op() {
        let r = resource("a", Some("/repo"));
        let mut o = observed();
        o.records
            .insert(r.address.clone(), record_of(&r, "x1", Some("sha256:1")));
        o.workspaces.push(found(&r.address, "x1", true));
        o.repo_digests.insert(r.address.clone(), Ok("sha256:1".into()));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::NoOp, "{:?}", only(&c).reasons);
    }

    #[test]
    fn repo_change_is_an_update() {
        let r = resource("a", Some("/repo"));
        let mut o = observed();
        o.records
            .insert(r.address.clone(), record_of(&r, "x1", Some("sha256:1")));
        o.workspaces.push(found(&r.address, "x1", true));
        o.repo_digests.insert(r.address.clone(), Ok("sha256:2".into()));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Update);
        assert_eq!(only(&c).reasons, ["repo content changed"]);
        assert_eq!(only(&c).attributes[0].name, REPO_DIGEST);
    }

    #[test]
    fn missing_workspace_is_drift_and_re_created() {
        let r = resource("a", None);
        let mut o = observed();
        o.records.insert(r.address.clone(), record_of(&r, "x1", None));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Create);
        assert_eq!(only(&c).id, None, "the re-created workspace gets a new id");
        assert!(
            only(&c).reasons[0].starts_with("drift: /ws/sbx-x1 is missing"),
            "{:?}",
            only(&c).reasons
        );
    }

    #[test]
    fn forcing_attribute_replaces() {
        let r = resource("a", None);
        let mut o = observed();
        let mut rec = record_of(&r, "x1", None);
        rec.attributes
            .insert("inputs.workspace_root".into(), Value::String("/old".into()));
        o.records.insert(r.address.clone(), rec);
        o.workspaces.push(found(&r.address, "x1", true));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Replace);
        assert_eq!(only(&c).reasons, ["workspace_root changed (forces replacement)"]);
        assert!(only(&c).attributes.iter().any(|a| a.forces_replace));
    }

    #[test]
    fn marked_workspace_without_record_is_adopted() {
        let r = resource("a", None);
        let mut o = observed();
        o.workspaces.push(found(&r.address, "x9", false));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Update);
        assert_eq!(only(&c).id.as_deref(), Some("x9"));
        assert!(only(&c).reasons[0].starts_with("adopt:"));
    }

    #[test]
    fn removed_from_manifest_is_deleted_and_orphans_too() {
        let gone = resource("gone", None);
        let mut o = observed();
        o.records.insert(gone.address.clone(), record_of(&gone, "x1", None));
        o.workspaces.push(found(&gone.address, "x1", true));
        o.workspaces.push(found(&Address::sandbox("stray"), "x2", true));
        let c = diff(&desired(vec![]), &o);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.action == Action::Delete));
        assert_eq!(c[0].reasons, ["gone from manifest"]);
        assert!(c[1].reasons[0].starts_with("orphan workspace /ws/sbx-x2"));
    }

    /// An image `img` for VM `vm1` with these `packer_var_`s, its record, and what
    /// is observed when nothing changed.
    fn image(vars: &[(&str, &str)]) -> (DesiredResource, Observed) {
        let mut r = resource("img", None);
        r.address = Address::image("img");
        r.profile = "profile.vm-packer-build".into();
        r.driver = DriverKind::Packer;
        r.inputs.values.clear();
        for (k, v) in [("mode", "build"), ("packer_template", "/t"), ("vm_name", "vm1")] {
            r.inputs.values.insert(k.into(), Value::String(v.into()));
        }
        for (k, v) in vars {
            r.inputs
                .values
                .insert(format!("packer_var_{k}"), Value::String((*v).into()));
        }
        let mut rec = record_of(&r, "i1", None);
        rec.facts.clear();
        rec.digests = [("template:build.pkr.hcl".to_string(), "sha256:1".to_string())].into();
        let mut o = observed();
        o.records.insert(r.address.clone(), rec);
        o.template_digests.insert(
            r.address.clone(),
            Ok([("build.pkr.hcl".to_string(), "sha256:1".to_string())].into()),
        );
        (r, o)
    }

    #[test]
    fn an_unchanged_image_is_a_no_op() {
        let (r, o) = image(&[("x", "a")]);
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::NoOp, "{:?}", only(&c).reasons);
    }

    #[test]
    fn a_removed_packer_var_rebuilds_the_image() {
        let (r, o) = image(&[]);
        let mut o = o;
        let rec = o.records.get_mut(&r.address).expect("recorded");
        rec.attributes
            .insert("inputs.packer_var_x".into(), Value::String("a".into()));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Replace, "{:?}", only(&c).reasons);
        assert_eq!(only(&c).reasons, [r#"var x: "a" -> (unset)"#]);
    }

    #[test]
    fn a_vm_that_cannot_be_observed_does_not_rebuild_its_image() {
        let (r, mut o) = image(&[]);
        o.location_errors.insert("vm1".into(), "connection refused".into());
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::NoOp, "{:?}", only(&c).reasons);
    }

    #[test]
    fn another_states_workspaces_are_neither_adopted_nor_deleted() {
        let r = resource("a", None);
        let mut o = observed();
        let mut theirs = found(&r.address, "x9", true);
        theirs.marker.lineage = "OTHER".into();
        o.workspaces.push(theirs);
        let mut stray = found(&Address::sandbox("gone"), "x8", true);
        stray.marker.lineage = "OTHER".into();
        o.workspaces.push(stray);
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Create, "not adopted: {:?}", only(&c).reasons);
    }

    #[test]
    fn interrupted_workspace_is_updated() {
        let r = resource("a", None);
        let mut o = observed();
        o.records.insert(r.address.clone(), record_of(&r, "x1", None));
        o.workspaces.push(found(&r.address, "x1", false));
        let c = diff(&desired(vec![r]), &o);
        assert_eq!(only(&c).action, Action::Update);
    }
}
