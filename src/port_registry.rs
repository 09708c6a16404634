//! The port registry: which local tunnel port reaches which VM slot. When a
//! manifest names one (`port_registry:`, or `SANDBOXER_PORT_REGISTRY`), a tunnel
//! port outside it is refused, and a VM listed there needs no `tunnel_port`.
//!
//! ```yaml
//! # yaml-language-server: $schema=../schemas/port-registry.schema.json
//! version: 1
//! ports:
//!   12221: haskell-build      # port: SSH alias of the VM whose reverse tunnel ends there
//!   12222: haskell-build-2
//! hostname: localhost         # optional: where the tunnels end (ssh `HostName`), default localhost
//! user: builder               # optional: the login on every VM (ssh `User`)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::OnceLock;

use crate::diagnostic::{Diagnostic, Location};
use crate::document::{self, Schema, Typed};
use crate::safety;

/// A port registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sandboxer port registry")]
pub struct PortRegistry {
    /// Format version; always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Tunnel port → SSH alias of the VM slot it reaches.
    #[schemars(schema_with = "ports_schema")]
    pub ports: BTreeMap<u16, String>,
    /// Host name the tunnel ports listen on, as ssh's `HostName` (default `localhost`;
    /// `127.0.0.1` pins IPv4 where `localhost` resolves to `::1` first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern("^[A-Za-z0-9._][A-Za-z0-9._-]*$"))]
    pub hostname: Option<String>,
    /// The login on every VM, as ssh's `User`; without it ssh's own default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern("^[A-Za-z0-9._][A-Za-z0-9._-]*$"))]
    pub user: Option<String>,
}

/// The `HostName` of tunnel ports when the registry names none.
pub const DEFAULT_HOSTNAME: &str = "localhost";

/// Ports 1-65535 written in decimal without a leading zero, each naming an
/// SSH alias (what the loader reads as a `u16` and checks as an alias).
fn ports_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Tunnel port (1-65535) → SSH alias of the VM slot it reaches.",
        "type": "object",
        "propertyNames": {
            "description": "A TCP port, 1-65535, in decimal.",
            "pattern": "^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
        },
        "additionalProperties": {
            "description": "An SSH alias: letters, digits, `.`, `_` and `-`, not starting with `-`.",
            "type": "string",
            "pattern": "^[A-Za-z0-9._][A-Za-z0-9._-]*$"
        }
    })
}

/// A registry read from a file.
#[derive(Debug, Clone)]
pub struct LoadedRegistry {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub registry: PortRegistry,
}

impl LoadedRegistry {
    /// The VM registered at `port`.
    pub fn vm_at(&self, port: u16) -> Option<&str> {
        self.registry.ports.get(&port).map(String::as_str)
    }

    /// The port registered for `vm`.
    pub fn port_of(&self, vm: &str) -> Option<u16> {
        self.registry
            .ports
            .iter()
            .find(|(_, v)| v.as_str() == vm)
            .map(|(p, _)| *p)
    }

    /// Where the tunnel ports listen: the registry's `hostname`, else `localhost`.
    pub fn hostname(&self) -> &str {
        self.registry.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME)
    }

    /// `12221, 12222, ...` for messages.
    pub fn ports_text(&self) -> String {
        self.registry
            .ports
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads and checks a registry file.
pub fn load(path: &Path) -> Result<LoadedRegistry, Vec<Diagnostic>> {
    let bytes = crate::fsutil::read_input_bytes(path).map_err(|e| {
        vec![
            Diagnostic::new(path, None, "", format!("cannot read port registry: {e}"))
                .with_hint("give a regular file of at most 16 MiB that you can read"),
        ]
    })?;
    let Typed {
        value: registry,
        source_map: map,
    } = parse_structure(path, &bytes)?;
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, u16> = BTreeMap::new();
    for (port, vm) in &registry.ports {
        let key = format!("ports.{port}");
        if let Err(e) = safety::check_ssh_alias(vm) {
            problems.push(
                Diagnostic::new(
                    path,
                    map.locate(&key),
                    key.clone(),
                    format!("`{}`: {e}", safety::printable(vm)),
                )
                .with_hint("an SSH alias: letters, digits, `.`, `_` and `-`, not starting with `-`"),
            );
        }
        if let Some(first) = seen.insert(vm, *port) {
            problems.push(
                Diagnostic::new(
                    path,
                    map.locate(&key),
                    key,
                    format!("VM `{vm}` is registered at port {first} already"),
                )
                .with_hint("a VM has one tunnel port; remove one of the two lines"),
            );
        }
    }
    // Both end up in ssh config lines and on `ssh -G` command lines.
    for (key, value) in [("hostname", &registry.hostname), ("user", &registry.user)] {
        let Some(value) = value else { continue };
        if let Err(e) = safety::check_ssh_alias(value) {
            problems.push(
                Diagnostic::new(
                    path,
                    map.locate(key),
                    key,
                    format!("`{}`: {e}", safety::printable(value)),
                )
                .with_hint("letters, digits, `.`, `_` and `-`, not starting with `-`"),
            );
        }
    }
    if problems.is_empty() {
        Ok(LoadedRegistry {
            path: path.to_path_buf(),
            registry,
        })
    } else {
        Err(problems)
    }
}

/// The registry schema, compiled once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(json_schema(), "schemas/port-registry.schema.json"))
}

/// Reads a registry file's structure: the document, the schema, the type.
pub fn parse_structure(path: &Path, bytes: &[u8]) -> Result<Typed<PortRegistry>, Vec<Diagnostic>> {
    document::read_typed(path, bytes, schema(), || {
        Diagnostic::new(
            path,
            Some(Location { line: 1, column: 1 }),
            "",
            "the port registry is empty",
        )
        .with_hint("write `version: 1` and `ports:` mapping each tunnel port to a VM's SSH alias")
    })
}

/// The JSON Schema of registry files.
pub fn json_schema() -> serde_json::Value {
    crate::document::schema_of::<PortRegistry>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_answers_both_ways() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ports.yaml");
        std::fs::write(&path, "version: 1\nports:\n  12221: haskell-build\n  12222: vm2\n").expect("write");
        let r = load(&path).expect("valid");
        assert_eq!(r.vm_at(12222), Some("vm2"));
        assert_eq!(r.port_of("haskell-build"), Some(12221));
        assert_eq!(r.ports_text(), "12221, 12222");
        assert_eq!(r.hostname(), "localhost");
        assert_eq!(r.registry.user, None);
    }

    #[test]
    fn refuses_a_hostname_or_user_that_ssh_would_read_as_an_option() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ports.yaml");
        std::fs::write(
            &path,
            "version: 1\nports:\n  12221: vm1\nhostname: 127.0.0.1\nuser: builder\n",
        )
        .expect("write");
        let r = load(&path).expect("valid");
        assert_eq!(
            (r.hostname(), r.registry.user.as_deref()),
            ("127.0.0.1", Some("builder"))
        );

        std::fs::write(
            &path,
            "version: 1\nports:\n  12221: vm1\nhostname: -oProxyCommand=x\nuser: a.b\n",
        )
        .expect("write");
        let problems = load(&path).expect_err("invalid");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].location.map(|l| l.line), Some(4), "{problems:?}");
    }

    #[test]
    fn refuses_unsafe_aliases_and_duplicates_with_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ports.yaml");
        std::fs::write(&path, "version: 1\nports:\n  12221: vm1\n  12222: vm1\n").expect("write");
        let problems = load(&path).expect_err("invalid");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].location.map(|l| l.line), Some(4), "{problems:?}");
        assert!(problems[0].message.contains("port 12221 already"), "{problems:?}");

        std::fs::write(
            &path,
            "version: 1\nports:\n  12221: vm1\n  12223: -oProxyCommand=x\n  0: vm2\n",
        )
        .expect("write");
        let problems = load(&path).expect_err("invalid");
        let lines: Vec<_> = problems.iter().map(|p| p.location.map(|l| l.line)).collect();
        assert_eq!(lines, [Some(4), Some(5)], "{problems:?}");
        assert!(problems.iter().all(|p| p.hint.is_some()), "{problems:?}");
    }
}
