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

/// The facts kept as one value of the VM (`free_disk` is kept per workspace root).
pub const VM_FACTS: [&str; 5] = ["os", "os_version", "arch", "cores", "memory"];

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
    /// Whether this entry answers `spec` without probing again: every value
    /// asked for is there, young enough (`ttl`), not from the future (a clock
    /// ahead by more than a few minutes), and seen since `since` (the VM's
    /// image was last built then). The facts are taken by every probe, so
    /// theirs is the age of the VM's last probe.
    pub fn answers(&self, spec: &ProbeSpec, ttl: Duration, now: SystemTime, since: Option<SystemTime>) -> bool {
        let young = |c: &Capability| {
            humantime::parse_rfc3339_weak(&c.observed_at)
                .is_ok_and(|at| is_young(at, ttl, now) && since.is_none_or(|since| at >= since))
        };
        VM_FACTS
            .iter()
            .all(|name| self.capabilities.get(*name).is_some_and(young))
            && spec.groups.iter().flat_map(|g| g.commands.keys()).all(|name| {
                self.capabilities
                    .get(name)
                    .is_some_and(|c| c.source == "probe" && young(c))
            })
            && spec.files.iter().all(|f| self.files.contains_key(f))
            && spec.roots.iter().all(|r| self.free_disk.get(r).is_some_and(young))
    }

    /// This entry with what a newer probe found: its values replace these (a
    /// file read again replaces all the values it gave before), and the
    /// values it did not look at (another profile's probes, other roots)
    /// stay with their own times.
    pub fn merged_with(mut self, newer: VmCapabilities) -> VmCapabilities {
        for path in newer.files.keys() {
            let source = format!("file:{path}");
            self.capabilities.retain(|_, c| c.source != source);
        }
        self.capabilities.extend(newer.capabilities);
        self.free_disk.extend(newer.free_disk);
        self.files.extend(newer.files);
        self.observed_at = newer.observed_at;
        self.name = newer.name;
        self
    }

    /// Every value, sorted by name, with `free_disk` once per root
    /// (`free_disk /build`): for listings.
    pub fn rows(&self) -> Vec<(String, &Capability)> {
        let mut rows: Vec<(String, &Capability)> = self.capabilities.iter().map(|(n, c)| (n.clone(), c)).collect();
        rows.extend(self.free_disk.iter().map(|(root, c)| (format!("free_disk {root}"), c)));
        rows
    }
}

/// How far ahead of this machine's clock a time may be and still count:
/// clocks of machines differ a little, never by this much.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Whether a value seen at `at` is still to be trusted at `now`.
fn is_young(at: SystemTime, ttl: Duration, now: SystemTime) -> bool {
    match now.duration_since(at) {
        Ok(age) => age <= ttl,
        Err(ahead) => ahead.duration() <= CLOCK_SKEW,
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
        for fact in VM_FACTS {
            entry
                .capabilities
                .insert(fact.into(), Capability::present("1", "fact", &at));
        }
        assert!(entry.answers(&spec, DEFAULT_TTL, now, None));
        assert!(!entry.answers(&spec, DEFAULT_TTL, now + Duration::from_secs(3601), None));
        assert!(
            !entry.answers(&spec, DEFAULT_TTL, now, Some(now + Duration::from_secs(1))),
            "the image was built after the probe"
        );
        let mut ahead = entry.clone();
        let future = humantime::format_rfc3339_seconds(now + Duration::from_secs(86_400)).to_string();
        for c in ahead.capabilities.values_mut() {
            c.observed_at = future.clone();
        }
        assert!(
            !ahead.answers(&spec, DEFAULT_TTL, now, None),
            "a time from the future is not trusted"
        );
        spec.roots.insert("/build".into());
        assert!(
            !entry.answers(&spec, DEFAULT_TTL, now, None),
            "a root not looked at yet"
        );
    }

    #[test]
    fn a_newer_probe_replaces_what_it_looked_at_and_keeps_the_rest_with_its_own_time() {
        let entry = |at: &str, values: &[(&str, &str, &str)]| VmCapabilities {
            name: "vm1".into(),
            observed_at: at.into(),
            capabilities: values
                .iter()
                .map(|(n, v, source)| (n.to_string(), Capability::present(*v, source, at)))
                .collect(),
            free_disk: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        let old = entry(
            "2026-01-01T00:00:00Z",
            &[
                ("cores", "2", "fact"),
                ("docker", "24", "probe"),
                ("nix", "2.18", "file:/etc/c.json"),
            ],
        );
        let mut newer = entry(
            "2026-01-02T00:00:00Z",
            &[("cores", "4", "fact"), ("ghc", "9.6.4", "probe")],
        );
        newer.files.insert("/etc/c.json".into(), "missing".into());
        let merged = old.merged_with(newer);
        assert_eq!(merged.observed_at, "2026-01-02T00:00:00Z");
        assert_eq!(merged.capabilities["cores"].value.as_deref(), Some("4"));
        assert_eq!(merged.capabilities["ghc"].value.as_deref(), Some("9.6.4"));
        assert_eq!(
            merged.capabilities["docker"].observed_at, "2026-01-01T00:00:00Z",
            "another project's probe stays"
        );
        assert!(
            !merged.capabilities.contains_key("nix"),
            "the file was read again and no longer says it"
        );
    }
}
