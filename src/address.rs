//! Resource addresses: `image.<name>` and `sandbox.<name>`, stable across edits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The two kinds of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// A VM image (`images:`).
    Image,
    /// A workspace (`sandboxes:`).
    Sandbox,
}

/// A resource address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// Image or sandbox.
    pub kind: ResourceKind,
    /// The key under `images:` / `sandboxes:`.
    pub name: String,
}

impl Address {
    /// `sandbox.<name>`.
    pub fn sandbox(name: &str) -> Self {
        Address {
            kind: ResourceKind::Sandbox,
            name: name.to_string(),
        }
    }

    /// `image.<name>`.
    pub fn image(name: &str) -> Self {
        Address {
            kind: ResourceKind::Image,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            ResourceKind::Image => "image",
            ResourceKind::Sandbox => "sandbox",
        };
        write!(f, "{prefix}.{}", self.name)
    }
}

impl FromStr for Address {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match s.split_once('.') {
            Some(("image", name)) => (ResourceKind::Image, name),
            Some(("sandbox", name)) => (ResourceKind::Sandbox, name),
            _ => {
                return Err(format!(
                    "`{s}` is not an address (write `image.<name>` or `sandbox.<name>`)"
                ));
            }
        };
        crate::safety::check_name(name).map_err(|e| format!("`{s}`: {e}"))?;
        Ok(Address {
            kind,
            name: name.to_string(),
        })
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": crate::safety::ADDRESS_PATTERN,
            "description": "A resource address: image.<name> or sandbox.<name>"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let a: Address = "sandbox.my-app".parse().expect("valid");
        assert_eq!(a, Address::sandbox("my-app"));
        assert_eq!(a.to_string(), "sandbox.my-app");
        assert!("box.x".parse::<Address>().is_err());
        assert!("image.".parse::<Address>().is_err());
        assert!("image.a.b".parse::<Address>().is_err());
    }
}
