//! Profiles: named recipes (`profile.<name>`) that say which driver provisions a
//! resource, which inputs it takes and how a workspace is synced and set up.

pub mod catalog;
mod driver_name;
pub mod resolve;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use catalog::Catalog;
pub use driver_name::{DriverName, DriverNameError};
pub use resolve::{ResolveContext, ResolvedInputs, Value, resolve};

/// A profile as written in `profiles/*.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Full name, `profile.<name>`.
    pub name: String,
    /// What the profile makes, for `sandboxer inspect` and the docs.
    #[serde(default)]
    pub description: String,
    /// The driver that observes, creates, updates and destroys resources of this profile.
    pub driver: DriverName,
    /// The inputs, by canonical name.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputSpec>,
    /// Families of inputs by name pattern: `packer_var_*` takes any input that starts with `packer_var_`.
    #[serde(default)]
    pub input_patterns: BTreeMap<String, InputSpec>,
    // One copy, shared by every resource of the profile.
    /// How a repo is synced into the workspace.
    #[serde(default)]
    pub sync: Arc<SyncSpec>,
    /// Shell commands run in a new workspace after the first sync, in order.
    #[serde(default)]
    pub setup: Vec<String>,
    /// A shell snippet run by `sh` in the workspace before the command of
    /// `sandboxer exec` and the shell of `sandboxer ssh`, in the same shell:
    /// what it exports reaches them. Written by the operator and trusted like
    /// `setup`; when it fails, the command does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_prelude: Option<String>,
    /// Probes of the VM's capabilities: name -> shell command whose first line
    /// of output is the value (`ghc: ghc --numeric-version`). Run on the VM
    /// after `shell_prelude`, side by side, each within `probe_timeout`; a
    /// command that is not there makes the capability `absent`. Written by the
    /// operator and trusted like `setup`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = capability_names_schema()))]
    pub capabilities: BTreeMap<String, String>,
    /// A JSON file on the VM (an absolute path)
    /// whose object of names to values (strings, numbers, null for absent) a
    /// build agent keeps; merged into the VM's capabilities with its source
    /// named. A probe of the same name wins; the facts are never overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities_file: Option<String>,
    /// How long each capability probe may run (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_timeout: Option<String>,
    /// The three above, read once for every resource of the profile.
    #[serde(skip)]
    pub probes: Option<Arc<crate::capability::Probes>>,
}

fn capability_names_schema() -> serde_json::Value {
    serde_json::json!({
        "description": "A capability: lowercase letters, digits, `_` or `-`, starting with a letter; not one of the facts every VM reports (os, os_version, arch, cores, memory, free_disk).",
        "pattern": crate::capability::CAPABILITY_NAME_PATTERN,
        "not": { "enum": crate::capability::FACTS },
    })
}

/// One input of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// What the input is for.
    #[serde(default)]
    pub description: String,
    /// The type its value must have.
    #[serde(rename = "type")]
    pub kind: InputType,
    /// The input must be given (explicitly, by alias or env fallback).
    #[serde(default)]
    pub required: bool,
    /// Value used when nothing else gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<InputValue>,
    /// Environment variable read when the manifest gives no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Other names the input may be given under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Secret: never shown, logged or stored (only a hash is kept).
    #[serde(default)]
    pub sensitive: bool,
    /// The allowed values of an `enum` input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// A change of this input replaces the resource instead of updating it in place.
    #[serde(default)]
    pub forces_replace: bool,
}

/// The types an input can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// Any text without NUL or newline.
    String,
    /// A whole number.
    Int,
    /// `true` or `false`.
    Bool,
    /// A TCP port, 1-65535.
    Port,
    /// One of `values`.
    Enum,
    /// A path on this machine; relative to the manifest's folder, `~` expanded.
    LocalPath,
    /// An absolute path on a VM, without `..`.
    RemotePath,
    /// An SSH config alias or host name: `[A-Za-z0-9._-]+`, not starting with `-`.
    SshAlias,
    /// A duration such as `500ms`, `30s`, `5m`.
    Duration,
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputType::String => "string",
            InputType::Int => "int",
            InputType::Bool => "bool",
            InputType::Port => "port",
            InputType::Enum => "enum",
            InputType::LocalPath => "local_path",
            InputType::RemotePath => "remote_path",
            InputType::SshAlias => "ssh_alias",
            InputType::Duration => "duration",
        })
    }
}

/// A value as written in YAML: a string, a whole number or a boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InputValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text.
    String(String),
}

impl fmt::Display for InputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputValue::Bool(b) => write!(f, "{b}"),
            InputValue::Int(i) => write!(f, "{i}"),
            InputValue::String(s) => f.write_str(s),
        }
    }
}

/// How a repo is synced into a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// Patterns left out of the sync (rsync-style: `dir/` for a directory, `*.o`
    /// for a name anywhere, `/top` anchored at the repo root). Excluded paths in the
    /// workspace are kept, never deleted.
    #[serde(default)]
    pub excludes: Vec<String>,
    /// Delete files from the workspace that are gone from the repo.
    #[serde(default = "default_true")]
    pub delete: bool,
}

impl Default for SyncSpec {
    fn default() -> Self {
        SyncSpec {
            excludes: Vec::new(),
            delete: true,
        }
    }
}

fn default_true() -> bool {
    true
}

impl Profile {
    /// The spec of input `name` (canonical name, or a name matching a pattern).
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.get(name).or_else(|| {
            self.input_patterns
                .iter()
                .find(|(pattern, _)| pattern_matches(pattern, name))
                .map(|(_, spec)| spec)
        })
    }

    /// The canonical input that `name` is an alias of.
    pub fn canonical_of_alias(&self, name: &str) -> Option<&str> {
        self.inputs
            .iter()
            .find(|(_, spec)| spec.aliases.iter().any(|a| a == name))
            .map(|(canonical, _)| canonical.as_str())
    }

    /// Every name an input may be given under, for "did you mean" hints.
    pub fn known_input_names(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .flat_map(|(name, spec)| std::iter::once(name.as_str()).chain(spec.aliases.iter().map(String::as_str)))
    }
}

/// The JSON Schema of profile files, as committed in `schemas/profile.schema.json`.
pub fn json_schema() -> serde_json::Value {
    crate::document::schema_of::<Profile>()
}

/// `packer_var_*` matches `packer_var_disk_size` (but not `packer_var_` alone).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.len() > prefix.len() && name.starts_with(prefix),
        None => pattern == name,
    }
}
