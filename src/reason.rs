//! Why a change is planned: reasons as data, each with a stable machine code
//! (`code` in plan JSON) and its details; [`Reason`]'s `Display` is the one
//! place they are put into words. Nothing branches on the words.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Why a change is planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reason {
    /// The manifest declares a resource that has no record.
    NewInManifest,
    /// A recorded resource is no longer in the manifest.
    GoneFromManifest,
    /// The operator asked to destroy it.
    DestroyRequested,
    /// Deleting a record whose workspace is already gone.
    WorkspaceAlreadyGone,
    /// A staging or half-deleted folder of an interrupted apply.
    Leftover {
        /// The folder.
        path: String,
    },
    /// A second workspace carrying the marker of a resource that has one.
    DuplicateWorkspace {
        /// The folder.
        path: String,
        /// The id in its marker.
        id: String,
    },
    /// A workspace of this project and state that neither the manifest nor the state knows.
    OrphanWorkspace {
        /// The folder.
        path: String,
    },
    /// A workspace carries this resource's marker but there is no record: it is taken over.
    Adopt {
        /// The folder.
        path: String,
    },
    /// An attribute changed whose change replaces the resource.
    AttributeForcesReplace {
        /// The attribute (`vm`, `workspace_root`, `profile`, ...).
        attribute: String,
    },
    /// A Packer variable of an image changed.
    VarChanged {
        /// The variable (`packer_var_<name>` without the prefix).
        var: String,
        /// The value before, absent when it was unset.
        before: Option<String>,
        /// The value now, absent when it is unset.
        after: Option<String>,
    },
    /// Files of an image's template folder changed.
    TemplateChanged {
        /// The files, relative to the template folder.
        files: Vec<String>,
    },
    /// An image's template folder cannot be read.
    TemplateUnreadable {
        /// Why.
        error: String,
    },
    /// Recorded artifact files of an image are gone or changed.
    ArtifactMissing {
        /// The files.
        files: Vec<String>,
    },
    /// An image this resource depends on is rebuilt (and `replace_on_image_change` holds).
    ImageRebuilt {
        /// The image.
        image: Address,
    },
    /// The location of the resource could not be observed.
    LocationUnobserved {
        /// The location.
        location: String,
        /// Why.
        error: String,
    },
    /// The recorded workspace is not there.
    DriftMissing {
        /// The recorded folder, when known.
        path: Option<String>,
    },
    /// An attribute changed that is updated in place.
    AttributeChanged {
        /// The attribute.
        attribute: String,
    },
    /// The workspace's marker says an earlier apply did not finish.
    WorkspaceIncomplete,
    /// The synced repo's content changed.
    RepoChanged,
    /// The repo cannot be read.
    RepoUnreadable {
        /// Why.
        error: String,
    },
    /// The resource no longer syncs a repo.
    RepoNoLongerSynced,
    /// The operator asked for it to be made anew (`--replace`).
    ReplaceRequested,
    /// A record goes, but not its workspace: the workspace's marker names
    /// another declared address (a rename half done) or is not this state's.
    WorkspaceKept {
        /// The workspace.
        path: String,
        /// What its marker says instead: the address it names now, or its
        /// lineage (`released` after `state rm`).
        marker: String,
    },
    /// A `moved:` block names this record's address, but its `to` has a
    /// record of its own: the plan refuses to guess which one is meant.
    MoveBlocked {
        /// The address it is to move to.
        to: Address,
    },
    /// Its VM does not offer what it `requires:` (the plan refuses it).
    RequirementUnmet {
        /// The capability (`ghc`, `cores`, `free_disk under /build`).
        requirement: String,
        /// The requirement as written (`>=9.6, <9.10`).
        range: String,
        /// The VM.
        vm: String,
        /// The value found, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found: Option<String>,
        /// Why there is no value (`absent (command not found)`, `not known`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
        /// Where the value came from (`probe`, `fact`, `file:<path>`, `provides:image.<name>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
}

impl From<crate::capability::Unmet> for Reason {
    fn from(u: crate::capability::Unmet) -> Self {
        Reason::RequirementUnmet {
            requirement: u.name,
            range: u.range,
            vm: u.vm,
            found: u.found,
            why: u.why,
            source: u.source,
        }
    }
}

impl Reason {
    /// The stable machine code, as in plan JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NewInManifest => "new_in_manifest",
            Reason::GoneFromManifest => "gone_from_manifest",
            Reason::DestroyRequested => "destroy_requested",
            Reason::WorkspaceAlreadyGone => "workspace_already_gone",
            Reason::Leftover { .. } => "leftover",
            Reason::DuplicateWorkspace { .. } => "duplicate_workspace",
            Reason::OrphanWorkspace { .. } => "orphan_workspace",
            Reason::Adopt { .. } => "adopt",
            Reason::AttributeForcesReplace { .. } => "attribute_forces_replace",
            Reason::VarChanged { .. } => "var_changed",
            Reason::TemplateChanged { .. } => "template_changed",
            Reason::TemplateUnreadable { .. } => "template_unreadable",
            Reason::ArtifactMissing { .. } => "artifact_missing",
            Reason::ImageRebuilt { .. } => "image_rebuilt",
            Reason::LocationUnobserved { .. } => "location_unobserved",
            Reason::DriftMissing { .. } => "drift_missing",
            Reason::AttributeChanged { .. } => "attribute_changed",
            Reason::WorkspaceIncomplete => "workspace_incomplete",
            Reason::RepoChanged => "repo_changed",
            Reason::RepoUnreadable { .. } => "repo_unreadable",
            Reason::RepoNoLongerSynced => "repo_no_longer_synced",
            Reason::RequirementUnmet { .. } => "requirement_unmet",
            Reason::ReplaceRequested => "replace_requested",
            Reason::WorkspaceKept { .. } => "workspace_kept",
            Reason::MoveBlocked { .. } => "move_blocked",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |v: &Option<String>| v.as_ref().map_or("(unset)".to_string(), |v| format!("{v:?}"));
        match self {
            Reason::NewInManifest => f.write_str("new in manifest"),
            Reason::GoneFromManifest => f.write_str("gone from manifest"),
            Reason::DestroyRequested => f.write_str("destroy requested"),
            Reason::WorkspaceAlreadyGone => f.write_str("its workspace is already gone; only the record is removed"),
            Reason::Leftover { path } => write!(f, "leftover of an interrupted apply: {path}"),
            Reason::DuplicateWorkspace { path, id } => {
                write!(f, "duplicate workspace {path} (id {id}) of this resource")
            }
            Reason::OrphanWorkspace { path } => {
                write!(f, "orphan workspace {path} (not in the manifest nor the state)")
            }
            Reason::Adopt { path } => write!(f, "adopt: {path} carries this resource's marker but has no record"),
            Reason::AttributeForcesReplace { attribute } => write!(f, "{attribute} changed (forces replacement)"),
            Reason::VarChanged { var, before, after } => {
                write!(f, "var {var}: {} -> {}", quoted(before), quoted(after))
            }
            Reason::TemplateChanged { files } => write!(f, "template changed: {}", files.join(", ")),
            Reason::TemplateUnreadable { error } => write!(f, "template unreadable: {error}"),
            Reason::ArtifactMissing { files } => write!(f, "artifact missing: {}", files.join(", ")),
            Reason::ImageRebuilt { image } => write!(f, "{image} is rebuilt (replace_on_image_change)"),
            Reason::LocationUnobserved { location, error } => write!(f, "could not observe {location}: {error}"),
            Reason::DriftMissing { path } => write!(
                f,
                "drift: {} is missing though recorded",
                path.as_deref().unwrap_or("the workspace")
            ),
            Reason::AttributeChanged { attribute } => write!(f, "{attribute} changed"),
            Reason::WorkspaceIncomplete => f.write_str("workspace incomplete (an earlier apply was interrupted)"),
            Reason::RepoChanged => f.write_str("repo content changed"),
            Reason::RepoUnreadable { error } => write!(f, "repo unreadable: {error}"),
            Reason::RepoNoLongerSynced => f.write_str("repo no longer synced"),
            Reason::ReplaceRequested => f.write_str("replace requested (--replace)"),
            Reason::WorkspaceKept { path, marker } if marker.contains('.') => write!(
                f,
                "its workspace {path} is kept, now {marker}'s (its marker says so); only the record is removed"
            ),
            Reason::WorkspaceKept { path, marker } => write!(
                f,
                "its workspace {path} is kept (its marker's lineage is {marker}, not this state's); only the record is removed"
            ),
            Reason::MoveBlocked { to } => write!(
                f,
                "moved: to {to}, which has a record of its own; `sandboxer state rm` the one that should go"
            ),
            Reason::RequirementUnmet {
                requirement,
                range,
                vm,
                found,
                why,
                source,
            } => {
                let unmet = crate::capability::Unmet {
                    name: requirement.clone(),
                    range: range.clone(),
                    vm: vm.clone(),
                    found: found.clone(),
                    why: why.clone(),
                    source: None,
                };
                write!(f, "requirement unmet: {unmet}")?;
                // A VM still to be built is judged by its image's word.
                match source.as_deref().and_then(|s| s.strip_prefix("provides:")) {
                    Some(image) => write!(f, " (the provides: of {image})"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_in_json_are_the_codes_of_the_variants() {
        let reasons = [
            Reason::NewInManifest,
            Reason::VarChanged {
                var: "disk_size".into(),
                before: Some("20480".into()),
                after: None,
            },
            Reason::ImageRebuilt {
                image: Address::image("img"),
            },
            Reason::DriftMissing { path: None },
            Reason::RequirementUnmet {
                requirement: "ghc".into(),
                range: ">=9.6".into(),
                vm: "hb".into(),
                found: Some("9.4.8".into()),
                why: None,
                source: Some("probe".into()),
            },
        ];
        for reason in reasons {
            let json = serde_json::to_value(&reason).expect("json");
            assert_eq!(json["code"], reason.code(), "{json}");
            let back: Reason = serde_json::from_value(json).expect("back");
            assert_eq!(back, reason);
        }
    }

    #[test]
    fn words_are_the_plan_text_operators_know() {
        let var = Reason::VarChanged {
            var: "x".into(),
            before: Some("a".into()),
            after: None,
        };
        assert_eq!(var.to_string(), r#"var x: "a" -> (unset)"#);
        assert_eq!(
            Reason::TemplateChanged {
                files: vec!["a.pkr.hcl".into(), "b.sh".into()]
            }
            .to_string(),
            "template changed: a.pkr.hcl, b.sh"
        );
    }
}
