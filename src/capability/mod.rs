//! The capability catalog: what each build VM offers (its facts, the versions
//! its profiles' probes print, what its build agent wrote in a capabilities
//! file), and the requirements a sandbox or image states against it.
//!
//! The catalog is kept per VM, by name, in the state store (the State Hub's
//! `/v1/vms`, or `vms/` in an embedded state folder). It is an observation, not
//! state: any command that probes may write it, and it is probed again once it
//! is older than `--capabilities-ttl`.

pub mod probe;
pub mod requirement;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use probe::{ProbeGroup, ProbeReport, ProbeSpec};
pub use requirement::{Offer, Requirement, RequirementError, Unmet};

/// Facts every VM is probed for, whatever its profiles declare.
pub const FACTS: [&str; 6] = ["os", "os_version", "arch", "cores", "memory", "free_disk"];

/// How long probed values are trusted unless told otherwise (`--capabilities-ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// A capability's name: a probe's key, a requirement's key.
pub const CAPABILITY_NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{0,62}$";

/// Whether `name` is a well-formed capability name.
pub fn is_capability_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// What a profile probes on the VMs of its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    /// The profile's `shell_prelude`, run before each probe.
    pub prelude: Option<String>,
    /// Name -> command.
    pub commands: BTreeMap<String, String>,
    /// The profile's `capabilities_file`.
    pub file: Option<String>,
    /// How long each probe may run.
    pub timeout: Duration,
}

impl Probes {
    /// A profile's probes; none when it declares none (the facts are probed anyway).
    pub fn of(profile: &crate::profile::Profile) -> Option<Probes> {
        if profile.capabilities.is_empty() && profile.capabilities_file.is_none() {
            return None;
        }
        Some(Probes {
            prelude: profile.shell_prelude.clone(),
            commands: profile.capabilities.clone(),
            file: profile.capabilities_file.clone(),
            timeout: profile
                .probe_timeout
                .as_deref()
                .and_then(|t| crate::duration::parse(t).ok())
                .unwrap_or(probe::DEFAULT_PROBE_TIMEOUT),
        })
    }
}

/// What the catalog knows of one VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VmCapabilities {
    /// The VM: its ssh alias, as sandboxes name it in `vm`.
    pub name: String,
    /// When it was last probed (RFC 3339).
    pub observed_at: String,
    /// Facts, probed values and values from capabilities files, by name.
    #[serde(default)]
    pub capabilities: BTreeMap<String, Capability>,
    /// Free space under each workspace root looked at, in bytes, by root.
    #[serde(default)]
    pub free_disk: BTreeMap<String, Capability>,
    /// Capabilities files read (path on the VM -> `read`, `missing` or why it was not used).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

/// One value of the catalog, with where and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capability {
    /// What it printed or said: a version, a count, a size in bytes. Absent
    /// unless `status` is `present`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether it is there.
    pub status: Status,
    /// Where the value comes from: `fact`, `probe`, `file:<path on the VM>`, or
    /// `provides:image.<name>` (what an image's template installs).
    pub source: String,
    /// When it was seen (RFC 3339).
    pub observed_at: String,
    /// Why it is not present (`exit 2`, `no output`, `timed out after 10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whether a capability is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It printed a value.
    Present,
    /// The probe's program is not there (exit 127, or a file's `null`).
    Absent,
    /// The probe ran and failed, or printed nothing.
    Failed,
    /// The probe did not end within its time.
    TimedOut,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Present => "present",
            Status::Absent => "absent",
            Status::Failed => "failed",
            Status::TimedOut => "timed out",
        })
    }
}

impl Capability {
    /// A present value.
    pub fn present(value: impl Into<String>, source: &str, observed_at: &str) -> Self {
        Capability {
            value: Some(value.into()),
            status: Status::Present,
            source: source.to_string(),
            observed_at: observed_at.to_string(),
            detail: None,
        }
    }

    /// A value that is not there, and why.
    pub fn missing(status: Status, detail: impl Into<String>, source: &str, observed_at: &str) -> Self {
        Capability {
            value: None,
            status,
            source: source.to_string(),
            observed_at: observed_at.to_string(),
            detail: Some(detail.into()),
        }
    }

    /// The value as people read it: sizes in binary units.
    pub fn shown(&self, name: &str) -> String {
        match (&self.value, self.status) {
            (Some(v), Status::Present) if requirement::is_size(name) => v
                .parse::<u64>()
                .map(|b| bytesize::ByteSize(b).display().iec().to_string())
                .unwrap_or_else(|_| v.clone()),
            (Some(v), Status::Present) => v.clone(),
            (_, status) => match &self.detail {
                Some(detail) => format!("{status} ({detail})"),
                None => status.to_string(),
            },
        }
    }
}

impl VmCapabilities {
    /// Whether this entry answers `spec` without probing again: young enough,
    /// and it has looked at every probe, file and root asked for.
    pub fn answers(&self, spec: &ProbeSpec, ttl: Duration, now: SystemTime) -> bool {
        let Ok(at) = humantime::parse_rfc3339_weak(&self.observed_at) else {
            return false;
        };
        let young = now.duration_since(at).map_or(true, |age| age <= ttl);
        young
            && spec
                .groups
                .iter()
                .flat_map(|g| g.commands.keys())
                .all(|name| self.capabilities.contains_key(name))
            && spec.files.iter().all(|f| self.files.contains_key(f))
            && spec.roots.iter().all(|r| self.free_disk.contains_key(r))
    }

    /// Every value, sorted by name, with `free_disk` once per root
    /// (`free_disk /build`): for listings.
    pub fn rows(&self) -> Vec<(String, &Capability)> {
        let mut rows: Vec<(String, &Capability)> = self.capabilities.iter().map(|(n, c)| (n.clone(), c)).collect();
        rows.extend(self.free_disk.iter().map(|(root, c)| (format!("free_disk {root}"), c)));
        rows
    }
}

/// The JSON Schema of a catalog entry, as the hub serves it.
pub fn json_schema() -> serde_json::Value {
    crate::document::schema_of::<VmCapabilities>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_are_lowercase_words() {
        for ok in ["ghc", "cabal", "os_version", "free_disk", "nix-2", "a"] {
            assert!(is_capability_name(ok), "{ok}");
        }
        for bad in ["", "GHC", "1ghc", "g hc", "ghc;rm", "ghc$x", &"a".repeat(64)] {
            assert!(!is_capability_name(bad), "{bad}");
        }
    }

    #[test]
    fn an_entry_answers_only_while_young_and_complete() {
        let now = SystemTime::now();
        let at = humantime::format_rfc3339_seconds(now).to_string();
        let mut entry = VmCapabilities {
            name: "vm1".into(),
            observed_at: at.clone(),
            capabilities: BTreeMap::new(),
            free_disk: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        entry
            .capabilities
            .insert("ghc".into(), Capability::present("9.6.4", "probe", &at));
        let mut spec = ProbeSpec::default();
        spec.groups.push(ProbeGroup {
            prelude: None,
            commands: [("ghc".to_string(), "ghc --numeric-version".to_string())].into(),
        });
        assert!(entry.answers(&spec, DEFAULT_TTL, now));
        assert!(!entry.answers(&spec, DEFAULT_TTL, now + Duration::from_secs(3601)));
        spec.roots.insert("/build".into());
        assert!(!entry.answers(&spec, DEFAULT_TTL, now), "a root not looked at yet");
    }
}
