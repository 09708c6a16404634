//! Driver names, as profiles write them (`driver: ssh-workspace`).

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The name of a driver: lowercase words joined by `-`. The built-in drivers
/// have constants; any other name is looked up in the driver registry
/// (`crate::driver::Registry`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DriverName(Cow<'static, str>);

/// A driver name that is not lowercase words joined by `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a driver name (lowercase letters, digits and `-`, e.g. `ssh-workspace`)")]
pub struct DriverNameError(pub String);

impl DriverName {
    /// A workspace directory on this machine.
    pub const LOCAL_WORKSPACE: DriverName = DriverName(Cow::Borrowed("local-workspace"));
    /// A workspace directory on a VM reached over SSH.
    pub const SSH_WORKSPACE: DriverName = DriverName(Cow::Borrowed("ssh-workspace"));
    /// A VM image built by Packer.
    pub const PACKER: DriverName = DriverName(Cow::Borrowed("packer"));

    /// A name, checked.
    pub fn new(name: impl Into<String>) -> Result<Self, DriverNameError> {
        let name = name.into();
        // A built-in name is the constant: thousands of records and resources
        // name one, and then hold no copy of it.
        if let Some(builtin) = DriverName::builtin().into_iter().find(|b| b.as_str() == name) {
            return Ok(builtin);
        }
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(DriverName(Cow::Owned(name)))
        } else {
            Err(DriverNameError(crate::safety::printable(&name)))
        }
    }

    /// The drivers this sandboxer is built with.
    pub fn builtin() -> [DriverName; 3] {
        [
            DriverName::LOCAL_WORKSPACE,
            DriverName::SSH_WORKSPACE,
            DriverName::PACKER,
        ]
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DriverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DriverName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DriverName::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DriverName {
    fn schema_name() -> Cow<'static, str> {
        "DriverName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A driver: `local-workspace` (a folder on this machine), `ssh-workspace` (a folder on a VM over SSH), `packer` (a VM image built by Packer), or one added to this sandboxer's driver registry.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9-]{0,63}$",
            "examples": ["local-workspace", "ssh-workspace", "packer"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_equal_to_the_constants() {
        assert_eq!(DriverName::new("packer"), Ok(DriverName::PACKER));
        assert!(DriverName::new("Packer").is_err());
        assert!(DriverName::new("-x").is_err());
        assert!(DriverName::new("").is_err());
        let parsed: DriverName = serde_json::from_str("\"ssh-workspace\"").expect("name");
        assert_eq!(parsed, DriverName::SSH_WORKSPACE);
        assert!(serde_json::from_str::<DriverName>("\"a b\"").is_err());
    }
}
