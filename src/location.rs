//! Where a resource lives: this machine, or a VM reached over ssh.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::remote::Target;

/// Where a resource lives. Written in plans and records as `local` or
/// `[jump/]vm[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// This machine.
    Local,
    /// A VM, by its ssh alias, tunnel port and jump host.
    Vm(Target),
}

/// The name of this machine in plans and records.
const LOCAL: &str = "local";

impl Location {
    /// The VM's ssh alias, if the location is a VM.
    pub fn vm(&self) -> Option<&str> {
        match self {
            Location::Local => None,
            Location::Vm(target) => Some(&target.vm),
        }
    }

    /// How to show a path at this location: `/ws/sbx-a` here, `vm1:/build/sbx-a` on a VM.
    pub fn show_path(&self, path: &str) -> String {
        match self {
            Location::Local => path.to_string(),
            Location::Vm(_) => format!("{self}:{path}"),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local => f.write_str(LOCAL),
            Location::Vm(target) => f.write_str(&target.location()),
        }
    }
}

/// A location name that is neither `local` nor `[jump/]vm[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a location (`local` or `[jump/]vm[:port]`)")]
pub struct LocationParseError(pub String);

impl FromStr for Location {
    type Err = LocationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == LOCAL {
            return Ok(Location::Local);
        }
        Target::from_location(s)
            .map(Location::Vm)
            .ok_or_else(|| LocationParseError(crate::safety::printable(s)))
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Location {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Location".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`local` (this machine), or a VM as `[jump/]vm[:port]`.",
            "type": "string",
            "pattern": "^(local|([A-Za-z0-9._-]+/)?[A-Za-z0-9._][A-Za-z0-9._-]*(:[0-9]+)?)$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip_through_their_names() {
        let vm = Location::Vm(Target {
            vm: "haskell-build".into(),
            port: Some(12222),
            jump: Some("bastion".into()),
        });
        for location in [Location::Local, vm] {
            let text = location.to_string();
            assert_eq!(text.parse::<Location>(), Ok(location.clone()), "{text}");
            let json = serde_json::to_string(&location).expect("json");
            assert_eq!(serde_json::from_str::<Location>(&json).expect("back"), location);
        }
        assert!("-oProxyCommand=x".parse::<Location>().is_err());
        assert!("vm:notaport".parse::<Location>().is_err());
    }
}
