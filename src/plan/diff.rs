//! Choosing the action for every resource: a pure function of the desired state
//! and what was observed (records and facts), unit-tested case by case.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, AttributeChange, Change, Reason};
use crate::address::{Address, ResourceKind};
use crate::capability::requirement::parse_size;
use crate::capability::{Capability, Offer};
use crate::desired::{Desired, DesiredResource};
use crate::driver::FoundWorkspace;
use crate::observe::{DigestError, Observed, Site, record_location, recorded_workspace};
use crate::profile::Value;
use crate::shared_str::SharedStr;
use crate::sorted_map::SortedMap;
use crate::state::Record;

/// The pseudo-attribute for a workspace's synced repo content.
pub const REPO_DIGEST: &str = "repo_digest";

/// Every change needed to go from `observed` to `desired`, in address order.
pub fn diff(desired: &Desired, observed: &Observed) -> Vec<Change> {
    diff_with(desired, observed, &BTreeSet::new())
}

/// [`diff`], with the recorded resources of `replace` made anew (`--replace`).
pub fn diff_with(desired: &Desired, observed: &Observed, replace: &BTreeSet<&Address>) -> Vec<Change> {
    let index = FoundIndex::new(observed);
    // The `moved:` renames still to carry out: the state has `from` and not
    // `to`. The record of `from` is then `to`'s, and `from` is not gone.
    let moves: BTreeMap<&Address, &Address> = desired
        .moves
        .iter()
        .filter(|(from, to)| observed.records.contains_key(from) && !observed.records.contains_key(to))
        .map(|(from, to)| (to, from))
        .collect();
    let moved_away: BTreeSet<&Address> = moves.values().copied().collect();
    // A rename the state cannot take: both addresses have records.
    let blocked_moves: BTreeMap<&Address, &Address> = desired
        .moves
        .iter()
        .filter(|(from, to)| observed.records.contains_key(from) && observed.records.contains_key(to))
        .map(|(from, to)| (from, to))
        .collect();
    let mut changes: Vec<Change> = Vec::with_capacity(desired.resources.len());
    let mut claimed: BTreeSet<&str> = BTreeSet::new(); // workspace paths accounted for

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
    // VMs whose image is built by this plan: their catalog entry is of the VM
    // that will be gone.
    let mut building: BTreeSet<&str> = BTreeSet::new();
    let images: BTreeMap<&str, &DesiredResource> = desired
        .resources
        .values()
        .filter(|r| r.immutable)
        .filter_map(|r| Some((r.vm()?, r)))
        .collect();
    for resource in ordered {
        let moved_from = moves.get(&resource.address).copied();
        let mut change = diff_resource(resource, moved_from, observed, &index, &rebuilt, &mut claimed);
        if replace.contains(&resource.address) {
            request_replace(&mut change);
        }
        // Refused first: a refused image is not rebuilt, nor its VM built.
        refuse_unmet(resource, &mut change, &images, observed, &building);
        if resource.address.kind == ResourceKind::Image
            && matches!(change.action, Action::Create | Action::Replace)
            && observed.records.contains_key(moved_from.unwrap_or(&resource.address))
        {
            rebuilt.insert(resource.address.clone());
        }
        if resource.immutable
            && matches!(change.action, Action::Create | Action::Replace)
            && let Some(vm) = resource.vm()
        {
            building.insert(vm);
        }
        changes.push(change);
    }

    // Records gone from the manifest.
    for (address, record) in &observed.records {
        if desired.resources.contains_key(address) || moved_away.contains(address) {
            continue;
        }
        let found = index.by_id(&record.id);
        let site = Site {
            driver: record.driver.clone(),
            location: record_location(record),
        };
        let mut reasons = vec![Reason::GoneFromManifest];
        let mut action = Action::Delete;
        if found.is_none() && !observed.location_errors.contains_key(&site) && has_workspace(record) {
            reasons.push(Reason::WorkspaceAlreadyGone);
        }
        // Its workspace is kept, and only the record goes, when another change
        // accounts for it (a rename half done: its marker names a declared
        // address) or its marker is not this state's (released by `state rm`,
        // another checkout's).
        let kept = found.filter(|w| claimed.contains(w.path.as_str()) || !is_ours(w, observed));
        if let Some(w) = kept {
            reasons.push(Reason::WorkspaceKept {
                path: w.location.show_path(&w.path),
                marker: if is_ours(w, observed) {
                    w.marker.address.to_string()
                } else {
                    w.marker.lineage.clone()
                },
            });
        } else if let Some(w) = found {
            claimed.insert(&w.path);
        }
        if let Some(to) = blocked_moves.get(address) {
            action = Action::Refused;
            reasons = vec![Reason::MoveBlocked { to: (*to).clone() }];
        }
        changes.push(Change {
            address: address.clone(),
            action,
            id: Some(record.id.clone()),
            driver: record.driver.clone(),
            reasons,
            attributes: record
                .attributes
                .iter()
                .map(|(k, v)| AttributeChange {
                    name: k.to_string(),
                    before: Some(v.clone()),
                    after: None,
                    forces_replace: false,
                })
                .collect(),
            depends_on: record.depends_on.clone(),
            workspace: match kept {
                Some(_) => None,
                None => found
                    .map(FoundWorkspace::reference)
                    .or_else(|| recorded_workspace(record)),
            },
            moved_from: None,
        });
    }

    // Workspaces of this project that nothing accounts for, made for this state:
    // another checkout's (another lineage) are never adopted or deleted here.
    for w in &observed.workspaces {
        if claimed.contains(w.path.as_str()) || !is_ours(w, observed) {
            continue;
        }
        let reason = if w.leftover {
            Reason::Leftover { path: w.path.clone() }
        } else if desired.resources.contains_key(&w.marker.address) {
            Reason::DuplicateWorkspace {
                path: w.path.clone(),
                id: w.marker.id.clone(),
            }
        } else {
            Reason::OrphanWorkspace { path: w.path.clone() }
        };
        changes.push(Change {
            address: w.marker.address.clone(),
            action: Action::Delete,
            id: Some(w.marker.id.clone()),
            driver: w.driver.clone(),
            reasons: vec![reason],
            attributes: Vec::new(),
            depends_on: Vec::new(),
            workspace: Some(w.reference()),
            moved_from: None,
        });
    }

    // Mostly in order already (no images, nothing gone): then the sort and
    // its buffer of half the changes are spared.
    if !changes.is_sorted_by_key(change_order) {
        changes.sort_by(|a, b| change_order(a).cmp(&change_order(b)));
    }
    changes
}

/// `--replace`: a resource that exists is destroyed and made anew, whatever
/// else its change was; one that is still to be made is only made.
fn request_replace(change: &mut Change) {
    match change.action {
        Action::NoOp | Action::Update => {
            change.action = Action::Replace;
            change.reasons.insert(0, Reason::ReplaceRequested);
        }
        Action::Replace => change.reasons.insert(0, Reason::ReplaceRequested),
        Action::Create | Action::Delete | Action::Refused => {}
    }
}

/// Refuses a create, update or replace whose VM does not meet the resource's
/// `requires:`: judged by the catalog, or by the `provides:` of the image that
/// builds the VM when this plan builds it (or the catalog does not say).
fn refuse_unmet(
    resource: &DesiredResource,
    change: &mut Change,
    images: &BTreeMap<&str, &DesiredResource>,
    observed: &Observed,
    building: &BTreeSet<&str>,
) {
    if resource.requires.is_empty() || !matches!(change.action, Action::Create | Action::Update | Action::Replace) {
        return;
    }
    let Some(vm) = resource.vm() else { return };
    // A VM that could not be looked at fails the plan already, unless this
    // plan builds it: then its image's word is all there is to go by.
    if observed.site_error(resource).is_some() && !building.contains(vm) {
        return;
    }
    let image = images.get(vm).filter(|image| image.address != resource.address);
    let provided: BTreeMap<&str, Capability> = image
        .map(|image| {
            let source = format!("provides:{}", image.address);
            image
                .provides
                .iter()
                .map(|(name, value)| {
                    let value = match crate::capability::requirement::is_size(name) {
                        true => parse_size(value).map_or_else(|| value.clone(), |b| b.to_string()),
                        false => value.clone(),
                    };
                    (name.as_str(), Capability::present(value, &source, ""))
                })
                .collect()
        })
        .unwrap_or_default();
    let built_now = building.contains(vm);
    let entry = (!built_now).then(|| observed.catalog.get(vm)).flatten();
    let root = crate::observe::workspace_root(resource);
    let unmet: Vec<Reason> = resource
        .requires
        .iter()
        // What the image does not say of a VM it builds is known once it is
        // built: the next plan judges it by the catalog.
        .filter(|requirement| !built_now || provided.contains_key(requirement.name.as_str()))
        // Free space is what a new workspace needs; an existing one's own
        // build output is not held against its resync.
        .filter(|requirement| requirement.name != "free_disk" || change.action != Action::Update)
        .filter_map(|requirement| {
            let found = entry
                .and_then(|e| match requirement.name.as_str() {
                    "free_disk" => root.as_ref().and_then(|r| e.free_disk.get(r)),
                    name => e.capabilities.get(name),
                })
                .or_else(|| provided.get(requirement.name.as_str()));
            requirement
                .unmet_by(Offer {
                    vm,
                    capability: found,
                    root: root.as_deref().filter(|_| requirement.name == "free_disk"),
                })
                .map(Reason::from)
        })
        .collect();
    if !unmet.is_empty() {
        change.action = Action::Refused;
        change.reasons = unmet;
        // Refused is refused: not renamed either.
        change.moved_from = None;
    }
}

/// Changes in address order, a delete after the change that makes its address anew.
fn change_order(change: &Change) -> (&Address, bool) {
    (&change.address, change.action == Action::Delete)
}

/// Whether the record is of a resource with a workspace (images have none).
fn has_workspace(record: &Record) -> bool {
    record.facts.contains_key("workspace")
}

fn diff_resource<'a>(
    resource: &DesiredResource,
    moved_from: Option<&Address>,
    observed: &'a Observed,
    index: &FoundIndex<'a>,
    rebuilt: &BTreeSet<Address>,
    claimed: &mut BTreeSet<&'a str>,
) -> Change {
    let after = resource.attributes();
    let mut change = Change {
        address: resource.address.clone(),
        action: Action::NoOp,
        id: None,
        driver: resource.driver.clone(),
        reasons: Vec::new(),
        attributes: Vec::new(),
        depends_on: resource.depends_on.iter().cloned().collect(),
        workspace: None,
        moved_from: None,
    };
    let current_digest = observed.repo_digests.get(&resource.address);
    let location = observed.locations.get(&resource.address);
    let site_error = observed.site_error(resource);

    let Some(record) = observed.records.get(moved_from.unwrap_or(&resource.address)) else {
        let candidates: Vec<&FoundWorkspace> = index
            .for_address(&resource.address)
            .iter()
            .copied()
            .filter(|w| Some(&w.location) == location && w.driver == resource.driver)
            .collect();
        // Adopt the most recently completed one; the others are duplicates.
        if let Some(w) = candidates
            .iter()
            .max_by_key(|w| (w.marker.complete, w.marker.updated_at.clone()))
        {
            claimed.insert(&w.path);
            change.action = Action::Update;
            change.id = Some(w.marker.id.clone());
            change.workspace = Some(w.reference());
            change.reasons.push(Reason::Adopt { path: w.path.clone() });
            change.attributes = attribute_changes(&SortedMap::new(), &after, &BTreeSet::new());
            if let Some(Err(e)) = current_digest {
                change.reasons.push(Reason::RepoUnreadable { error: e.to_string() });
            }
            return change;
        }
        change.action = Action::Create;
        change.reasons.push(Reason::NewInManifest);
        change.attributes = attribute_changes(&SortedMap::new(), &after, &BTreeSet::new());
        push_digest(&mut change, None, current_digest);
        return change;
    };

    change.id = Some(record.id.clone());
    change.moved_from = moved_from.cloned();
    let mut forces = resource.replace_attributes();
    if resource.immutable {
        // Any input of an image is part of the build, also one that was removed.
        forces.extend(record.attributes.keys().map(|k| k.to_string()));
    }
    let attributes = attribute_changes(&record.attributes, &after, &forces);
    let found = index.by_id(&record.id);
    if let Some(w) = found {
        claimed.insert(&w.path);
        change.workspace = Some(w.reference());
    } else {
        change.workspace = recorded_workspace(record);
    }
    let forcing: Vec<&AttributeChange> = attributes.iter().filter(|a| a.forces_replace).collect();
    let rebuilt_deps: Vec<&Address> = resource.depends_on.iter().filter(|d| rebuilt.contains(*d)).collect();
    let driver_reasons = observed
        .replace_reasons
        .get(&resource.address)
        .cloned()
        .unwrap_or_default();

    if !forcing.is_empty() || !driver_reasons.is_empty() {
        change.action = Action::Replace;
        for a in &forcing {
            change.reasons.push(forcing_reason(a));
        }
        change.reasons.extend(driver_reasons);
    } else if resource.replace_on_image_change && !rebuilt_deps.is_empty() {
        change.action = Action::Replace;
        for d in rebuilt_deps {
            change.reasons.push(Reason::ImageRebuilt { image: d.clone() });
        }
    } else if let Some((location, e)) = site_error {
        change.action = Action::Update;
        change.reasons.push(Reason::LocationUnobserved {
            location: location.to_string(),
            error: e.to_string(),
        });
    } else if found.is_none() && has_workspace(record) {
        change.action = Action::Create;
        // A new workspace gets a new id (ids are never reused): the recorded one is not its id.
        change.id = None;
        change.workspace = None;
        change.reasons.push(Reason::DriftMissing {
            path: record.facts.get("workspace").cloned(),
        });
        change.attributes = attributes;
        push_digest(&mut change, None, current_digest);
        return change;
    } else {
        for a in attributes.iter().filter(|a| a.name != "profile" && a.name != "host") {
            change.reasons.push(Reason::AttributeChanged {
                attribute: display_name(&a.name).to_string(),
            });
        }
        if found.is_some_and(|w| !w.marker.complete) {
            change.reasons.push(Reason::WorkspaceIncomplete);
        }
        let recorded = record.digests.get("repo");
        match current_digest {
            Some(Ok(now)) if recorded != Some(now) => change.reasons.push(Reason::RepoChanged),
            Some(Err(e)) => change.reasons.push(Reason::RepoUnreadable { error: e.to_string() }),
            None if recorded.is_some() => change.reasons.push(Reason::RepoNoLongerSynced),
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

fn push_digest(change: &mut Change, before: Option<&SharedStr>, now: Option<&Result<SharedStr, DigestError>>) {
    let after = match now {
        Some(Ok(d)) => Some(Value::String(d.to_string())),
        _ => None,
    };
    let before = before.map(|b| Value::String(b.to_string()));
    if before != after && (before.is_some() || after.is_some()) {
        change.attributes.push(AttributeChange {
            name: REPO_DIGEST.into(),
            before,
            after,
            forces_replace: false,
        });
    }
}

/// Why an attribute change replaces: a Packer variable's values, or the attribute's name.
fn forcing_reason(a: &AttributeChange) -> Reason {
    match a.name.strip_prefix("inputs.packer_var_") {
        Some(var) => Reason::VarChanged {
            var: var.to_string(),
            before: a.before.as_ref().map(ToString::to_string),
            after: a.after.as_ref().map(ToString::to_string),
        },
        None => Reason::AttributeForcesReplace {
            attribute: display_name(&a.name).to_string(),
        },
    }
}

/// `inputs.vm` → `vm`.
fn display_name(name: &str) -> &str {
    name.strip_prefix("inputs.").unwrap_or(name)
}

/// Attribute-level diff; `forces` names the attributes whose change forces a replacement.
pub fn attribute_changes(
    before: &SortedMap<SharedStr, Value>,
    after: &SortedMap<SharedStr, Value>,
    forces: &BTreeSet<String>,
) -> Vec<AttributeChange> {
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).map(SharedStr::as_str).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (before.get(name), after.get(name));
            (b != a).then(|| AttributeChange {
                name: name.to_string(),
                before: b.cloned(),
                after: a.cloned(),
                forces_replace: !before.is_empty() && forces.contains(name),
            })
        })
        .collect()
}

/// Whether a workspace was made for this state (its marker names our lineage).
fn is_ours(w: &FoundWorkspace, observed: &Observed) -> bool {
    !observed.lineage.is_empty() && w.marker.lineage == observed.lineage
}

/// Found workspaces (leftovers aside) by id and by address, so that the diff
/// stays near linear in the number of workspaces. Sorted vectors rather than
/// hash maps: a plan of 10,000 holds 160 KB for them instead of 1.2 MiB.
struct FoundIndex<'a> {
    /// Sorted by id; of equal ids, the first found comes first.
    by_id: Vec<&'a FoundWorkspace>,
    /// This state's workspaces, sorted by address.
    by_address: Vec<&'a FoundWorkspace>,
}

impl<'a> FoundIndex<'a> {
    fn new(observed: &'a Observed) -> Self {
        let found = observed.workspaces.iter().filter(|w| !w.leftover);
        // A record finds its workspace by id, whoever made it (records move with state push/pull) ...
        let mut by_id: Vec<&FoundWorkspace> = found.clone().collect();
        by_id.sort_by(|a, b| a.marker.id.cmp(&b.marker.id));
        // ... but only this state's workspaces are adopted.
        let mut by_address: Vec<&FoundWorkspace> = found.filter(|w| is_ours(w, observed)).collect();
        by_address.sort_by(|a, b| a.marker.address.cmp(&b.marker.address));
        FoundIndex { by_id, by_address }
    }

    fn by_id(&self, id: &str) -> Option<&'a FoundWorkspace> {
        let first = self.by_id.partition_point(|w| w.marker.id.as_str() < id);
        self.by_id.get(first).copied().filter(|w| w.marker.id == id)
    }

    fn for_address(&self, address: &Address) -> &[&'a FoundWorkspace] {
        let first = self.by_address.partition_point(|w| &w.marker.address < address);
        let end = first + self.by_address[first..].partition_point(|w| &w.marker.address == address);
        &self.by_address[first..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{DriverError, DriverName, Location, Marker};
    use crate::profile::ResolvedInputs;
    use crate::remote::Target;

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
            driver: DriverName::LOCAL_WORKSPACE,
            host: "localhost".into(),
            inputs,
            depends_on: BTreeSet::new(),
            replace_on_image_change: true,
            sync: Default::default(),
            setup: Vec::new(),
            forces_replace: vec!["workspace_root".to_string()],
            immutable: false,
            sensitive_key: None,
            probes: None,
            requires: Vec::new(),
            provides: BTreeMap::new(),
        }
    }

    fn desired(resources: Vec<DesiredResource>) -> Desired {
        Desired {
            project: "p".into(),
            manifest_path: "m.yaml".into(),
            manifest_digest: "d".into(),
            hub: None,
            resources: resources.into_iter().map(|r| (r.address.clone(), r)).collect(),
            moves: Vec::new(),
        }
    }

    fn record_of(r: &DesiredResource, id: &str, digest: Option<&str>) -> Record {
        Record {
            address: r.address.clone(),
            id: id.into(),
            profile: r.profile.as_str().into(),
            driver: r.driver.clone(),
            attributes: r.attributes(),
            spec_hash: r.spec_hash().into(),
            digests: digest.map(|d| [("repo".into(), d.into())].into()).unwrap_or_default(),
            facts: [
                ("workspace".into(), format!("/ws/sbx-{id}")),
                ("root".into(), "/ws".to_string()),
            ]
            .into(),
            depends_on: Vec::new(),
            created_at: "t".into(),
            updated_at: "t".into(),
            provenance: None,
        }
    }

    fn found(address: &Address, id: &str, complete: bool) -> FoundWorkspace {
        FoundWorkspace {
            driver: DriverName::LOCAL_WORKSPACE,
            location: Location::Local,
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

    /// The diff, with every desired resource where its built-in driver puts it.
    fn run(d: &Desired, mut o: Observed) -> Vec<Change> {
        for r in d.resources.values() {
            o.locations.insert(r.address.clone(), Location::Local);
        }
        diff(d, &o)
    }

    fn only(changes: &[Change]) -> &Change {
        assert_eq!(changes.len(), 1, "{changes:#?}");
        &changes[0]
    }

    #[test]
    fn new_resource_is_created() {
        let r = resource("a", None);
        let c = run(&desired(vec![r]), observed());
        assert_eq!(only(&c).action, Action::Create);
        assert_eq!(only(&c).reasons, [Reason::NewInManifest]);
    }

    #[test]
    fn unchanged_resource_is_a_no_op() {
        let r = resource("a", Some("/repo"));
        let mut o = observed();
        o.records
            .insert(r.address.clone(), record_of(&r, "x1", Some("sha256:1")));
        o.workspaces.push(found(&r.address, "x1", true));
        o.repo_digests.insert(r.address.clone(), Ok("sha256:1".into()));
        let c = run(&desired(vec![r]), o);
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
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Update);
        assert_eq!(only(&c).reasons, [Reason::RepoChanged]);
        assert_eq!(only(&c).attributes[0].name, REPO_DIGEST);
    }

    #[test]
    fn missing_workspace_is_drift_and_re_created() {
        let r = resource("a", None);
        let mut o = observed();
        o.records.insert(r.address.clone(), record_of(&r, "x1", None));
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Create);
        assert_eq!(only(&c).id, None, "the re-created workspace gets a new id");
        assert_eq!(
            only(&c).reasons,
            [Reason::DriftMissing {
                path: Some("/ws/sbx-x1".into())
            }]
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
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Replace);
        assert_eq!(
            only(&c).reasons,
            [Reason::AttributeForcesReplace {
                attribute: "workspace_root".into()
            }]
        );
        assert!(only(&c).attributes.iter().any(|a| a.forces_replace));
    }

    #[test]
    fn marked_workspace_without_record_is_adopted() {
        let r = resource("a", None);
        let mut o = observed();
        o.workspaces.push(found(&r.address, "x9", false));
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Update);
        assert_eq!(only(&c).id.as_deref(), Some("x9"));
        assert_eq!(
            only(&c).reasons,
            [Reason::Adopt {
                path: "/ws/sbx-x9".into()
            }]
        );
    }

    #[test]
    fn removed_from_manifest_is_deleted_and_orphans_too() {
        let gone = resource("gone", None);
        let mut o = observed();
        o.records.insert(gone.address.clone(), record_of(&gone, "x1", None));
        o.workspaces.push(found(&gone.address, "x1", true));
        o.workspaces.push(found(&Address::sandbox("stray"), "x2", true));
        let c = run(&desired(vec![]), o);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.action == Action::Delete));
        assert_eq!(c[0].reasons, [Reason::GoneFromManifest]);
        assert_eq!(
            c[1].reasons,
            [Reason::OrphanWorkspace {
                path: "/ws/sbx-x2".into()
            }]
        );
    }

    /// An image `img` for VM `vm1` with these `packer_var_`s, its record, and what
    /// is observed when nothing changed.
    fn image(vars: &[(&str, &str)]) -> (DesiredResource, Observed) {
        let mut r = resource("img", None);
        r.address = Address::image("img");
        r.profile = "profile.vm-packer-build".into();
        r.driver = DriverName::PACKER;
        r.immutable = true;
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
        rec.digests = [("template:build.pkr.hcl".into(), "sha256:1".into())].into();
        let mut o = observed();
        o.records.insert(r.address.clone(), rec);
        (r, o)
    }

    #[test]
    fn an_unchanged_image_is_a_no_op() {
        let (r, o) = image(&[("x", "a")]);
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::NoOp, "{:?}", only(&c).reasons);
    }

    #[test]
    fn a_removed_packer_var_rebuilds_the_image() {
        let (r, o) = image(&[]);
        let mut o = o;
        let rec = o.records.get_mut(&r.address).expect("recorded");
        rec.attributes
            .insert("inputs.packer_var_x".into(), Value::String("a".into()));
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Replace, "{:?}", only(&c).reasons);
        assert_eq!(
            only(&c).reasons,
            [Reason::VarChanged {
                var: "x".into(),
                before: Some("a".into()),
                after: None
            }]
        );
        assert_eq!(only(&c).reasons[0].to_string(), r#"var x: "a" -> (unset)"#);
    }

    #[test]
    fn a_vm_that_cannot_be_observed_does_not_rebuild_its_image() {
        let (r, mut o) = image(&[]);
        let vm = Location::Vm(Target {
            vm: "vm1".into(),
            port: None,
            jump: None,
        });
        o.location_errors.insert(
            Site {
                driver: DriverName::SSH_WORKSPACE,
                location: vm,
            },
            DriverError::other("connection refused"),
        );
        let c = run(&desired(vec![r]), o);
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
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Create, "not adopted: {:?}", only(&c).reasons);
    }

    #[test]
    fn interrupted_workspace_is_updated() {
        let r = resource("a", None);
        let mut o = observed();
        o.records.insert(r.address.clone(), record_of(&r, "x1", None));
        o.workspaces.push(found(&r.address, "x1", false));
        let c = run(&desired(vec![r]), o);
        assert_eq!(only(&c).action, Action::Update);
    }

    /// A sandbox on `vm1` (driver ssh-workspace) that requires `requires`.
    fn on_vm(name: &str, requires: &[(&str, &str)]) -> DesiredResource {
        let mut r = resource(name, None);
        r.driver = DriverName::SSH_WORKSPACE;
        r.inputs.values.insert("vm".into(), Value::String("vm1".into()));
        r.requires = requires
            .iter()
            .map(|(n, t)| crate::capability::Requirement::parse(n, t).expect("requirement"))
            .collect();
        r
    }

    fn catalog_with(ghc: &str) -> crate::capability::VmCapabilities {
        let mut entry = crate::capability::VmCapabilities {
            name: "vm1".into(),
            observed_at: "t".into(),
            capabilities: BTreeMap::new(),
            free_disk: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        entry
            .capabilities
            .insert("ghc".into(), Capability::present(ghc, "probe", "t"));
        entry
    }

    #[test]
    fn a_create_whose_vm_does_not_meet_its_requirements_is_refused_with_each_reason() {
        let r = on_vm("a", &[("ghc", ">=9.6"), ("cores", ">=4")]);
        let mut o = observed();
        o.catalog.insert("vm1".into(), catalog_with("9.4.8"));
        let changes = diff(&desired(vec![r]), &o);
        assert_eq!(changes[0].action, Action::Refused);
        let words: Vec<String> = changes[0].reasons.iter().map(ToString::to_string).collect();
        assert_eq!(
            words,
            [
                "requirement unmet: ghc 9.4.8 on vm1 does not satisfy >=9.6",
                "requirement unmet: cores is not known on vm1 (requires >=4)",
            ]
        );
        assert!(changes[0].reasons.iter().all(|r| r.code() == "requirement_unmet"));

        let mut o = observed();
        o.catalog.insert("vm1".into(), catalog_with("9.6.4"));
        let r = on_vm("a", &[("ghc", ">=9.6")]);
        assert_eq!(diff(&desired(vec![r]), &o)[0].action, Action::Create);
    }

    #[test]
    fn a_vm_this_plan_builds_is_judged_by_what_its_image_provides() {
        let mut image = resource("hb", None);
        image.address = Address::image("hb");
        image.immutable = true;
        image
            .inputs
            .values
            .insert("vm_name".into(), Value::String("vm1".into()));
        image.provides = [("ghc".to_string(), "9.6.4".to_string())].into();
        let mut o = observed();
        // The catalog knows the old VM, which the build replaces.
        o.catalog.insert("vm1".into(), catalog_with("9.4.8"));
        let sandbox = on_vm("a", &[("ghc", ">=9.6")]);
        let changes = diff(&desired(vec![image.clone(), sandbox]), &o);
        let a = changes.iter().find(|c| c.address == Address::sandbox("a")).expect("a");
        assert_eq!(a.action, Action::Create, "{:?}", a.reasons);

        let sandbox = on_vm("a", &[("ghc", ">=9.8")]);
        // Even while the VM cannot be looked at (it is still to be built).
        let location = Location::Vm(Target {
            vm: "vm1".into(),
            port: None,
            jump: None,
        });
        o.locations.insert(Address::sandbox("a"), location.clone());
        o.location_errors.insert(
            Site {
                driver: DriverName::SSH_WORKSPACE,
                location,
            },
            DriverError::other("connection refused"),
        );
        let changes = diff(&desired(vec![image, sandbox]), &o);
        let a = changes.iter().find(|c| c.address == Address::sandbox("a")).expect("a");
        assert_eq!(a.action, Action::Refused);
        assert_eq!(
            a.reasons[0].to_string(),
            "requirement unmet: ghc 9.6.4 on vm1 does not satisfy >=9.8 (the provides: of image.hb)"
        );
    }

    #[test]
    fn a_moved_image_that_is_rebuilt_replaces_what_stands_on_it() {
        let mut image = resource("img", None);
        image.address = Address::image("img");
        image.immutable = true;
        let mut before = image.clone();
        before.address = Address::image("old");
        let mut sandbox = resource("a", None);
        sandbox.depends_on.insert(Address::image("img"));
        let mut o = observed();
        o.records.insert(Address::image("old"), record_of(&before, "i1", None));
        o.records.insert(Address::sandbox("a"), record_of(&sandbox, "s1", None));
        o.workspaces.push(found(&Address::sandbox("a"), "s1", true));
        // The image's input changed in the same pull request as its rename.
        image
            .inputs
            .values
            .insert("packer_var_x".into(), Value::String("2".into()));
        let mut d = desired(vec![image, sandbox]);
        d.moves = vec![(Address::image("old"), Address::image("img"))];
        let changes = diff(&d, &o);
        let img = changes
            .iter()
            .find(|c| c.address == Address::image("img"))
            .expect("img");
        assert_eq!(img.action, Action::Replace);
        assert_eq!(img.moved_from, Some(Address::image("old")));
        assert!(
            !changes.iter().any(|c| c.address == Address::image("old")),
            "{changes:?}"
        );
        let a = changes.iter().find(|c| c.address == Address::sandbox("a")).expect("a");
        assert_eq!(a.action, Action::Replace, "{:?}", a.reasons);
    }
}
