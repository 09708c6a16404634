//! The manifest (`sandboxes.yaml`): its model, loading with source locations, and
//! the structural check against the JSON Schema generated from the model.

pub mod editor;
pub mod load;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::profile::InputValue;

pub use load::{LoadedManifest, load, load_str};

/// A `sandboxes.yaml` manifest: the workspaces and VM images a project wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "sandboxer manifest",
    description = "sandboxes.yaml: the workspaces and VM images a project declares"
)]
pub struct Manifest {
    /// Format version of this file; always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The namespace this manifest owns in the state; a plan only touches its own project's records.
    /// Up to 63 letters, digits, `_` or `-`, starting with a letter or digit.
    #[schemars(pattern(crate::safety::NAME_PATTERN))]
    pub project: String,
    /// The team's State Hub; without it the state is kept in the embedded store next to the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubSpec>,
    /// A YAML file that maps tunnel ports to VM slots; tunnel ports outside it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_registry: Option<String>,
    /// VM images, by name; address `image.<name>`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = names_schema()))]
    pub images: BTreeMap<String, ImageSpec>,
    /// Workspaces, by name; address `sandbox.<name>`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = names_schema()))]
    pub sandboxes: BTreeMap<String, SandboxSpec>,
    /// Renames: the record (and workspace) of `from` is kept as `to`'s,
    /// instead of `from` destroyed and `to` made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<MovedSpec>,
}

/// One rename: `{from: sandbox.old, to: sandbox.new}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MovedSpec {
    /// The address the state knows (no longer declared).
    #[schemars(pattern(crate::safety::ADDRESS_PATTERN))]
    pub from: String,
    /// The address declared now, of the same kind.
    #[schemars(pattern(crate::safety::ADDRESS_PATTERN))]
    pub to: String,
}

/// Where the State Hub is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpec {
    /// Base URL, e.g. `http://statehub.internal:8080`.
    #[schemars(pattern("^https?://"))]
    pub url: String,
    /// Name of the environment variable that holds the bearer token (never the token itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern("^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub token_env: Option<String>,
}

/// A VM image built from a Packer template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Profile name, `profile.<name>`; a profile with the `packer` driver.
    pub profile: String,
    /// Input values for the profile.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputValue>,
    /// Addresses (`image.<name>`, `sandbox.<name>`) that must be applied first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(crate::safety::ADDRESS_PATTERN)))]
    pub depends_on: Vec<String>,
    /// What the VM must offer, in mode attach: capability -> range
    /// (`ghc: ">=9.6, <9.10"`, `cores: ">=4"`, `free_disk: ">=20GiB"`).
    /// Checked by `plan` against the VM's capability catalog.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = capability_names_schema()))]
    pub requires: BTreeMap<String, Bound>,
    /// What the VM this image builds offers once built (what its template
    /// installs): capability -> value (`ghc: 9.6.4`, `cores: 8`). Sandboxes on
    /// that VM are checked against it while the VM is still to be built.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = capability_names_schema()))]
    pub provides: BTreeMap<String, Bound>,
}

/// A requirement or a provided value: text, or a whole number (`cores: 4`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Bound {
    /// A whole number.
    Int(u64),
    /// Text: a range, a version, a size.
    Text(String),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Int(i) => write!(f, "{i}"),
            Bound::Text(t) => f.write_str(t),
        }
    }
}

/// A workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// Profile name, `profile.<name>`.
    pub profile: String,
    /// Where sandboxer runs from to reach the VM: `localhost` (default) or an SSH jump host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Input values for the profile.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputValue>,
    /// Addresses that must be applied first; inferred for an image whose `vm_name` equals this sandbox's `vm`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(crate::safety::ADDRESS_PATTERN)))]
    pub depends_on: Vec<String>,
    /// Re-make this workspace when an image it depends on is rebuilt (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_on_image_change: Option<bool>,
    /// What the VM must offer: capability -> range (`ghc: ">=9.6, <9.10"`,
    /// `cores: ">=4"`, `free_disk: ">=20GiB"`). Checked by `plan` against the
    /// VM's capability catalog, or the `provides:` of the image that builds it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = capability_names_schema()))]
    pub requires: BTreeMap<String, Bound>,
}

/// Keys of `requires:` and `provides:`.
fn capability_names_schema() -> serde_json::Value {
    serde_json::json!({
        "description": "A capability: a fact (os, os_version, arch, cores, memory, free_disk) or a name a profile probes.",
        "pattern": crate::capability::CAPABILITY_NAME_PATTERN,
    })
}

/// Names under `images:` and `sandboxes:`.
fn names_schema() -> serde_json::Value {
    serde_json::json!({
        "description": "A name: up to 63 letters, digits, `_` or `-`, starting with a letter or digit.",
        "pattern": crate::safety::NAME_PATTERN,
    })
}

/// The JSON Schema of the manifest, as committed in `schemas/manifest.schema.json`.
pub fn json_schema() -> serde_json::Value {
    crate::document::schema_of::<Manifest>()
}
