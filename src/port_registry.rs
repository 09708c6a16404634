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
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Location};
use crate::safety;
use crate::source_map::SourceMap;

/// A port registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sandboxer port registry")]
pub struct PortRegistry {
    /// Format version; always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Tunnel port → SSH alias of the VM slot it reaches.
    pub ports: BTreeMap<u16, String>,
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
    let text = crate::fsutil::read_input(path).map_err(|e| {
        vec![Diagnostic::new(
            path,
            None,
            "",
            format!("cannot read port registry: {e}"),
        )]
    })?;
    let registry: PortRegistry = serde_yaml_ng::from_str(&text).map_err(|e| {
        let location = e.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        vec![
            Diagnostic::new(path, location, "", format!("invalid port registry: {e}"))
                .with_hint("write `version: 1` and `ports:` mapping each tunnel port to a VM's SSH alias"),
        ]
    })?;
    let map = SourceMap::index(&text);
    let mut problems = Vec::new();
    if registry.version != 1 {
        problems.push(Diagnostic::new(
            path,
            map.locate("version"),
            "version",
            "only version 1 is known",
        ));
    }
    let mut seen: BTreeMap<&str, u16> = BTreeMap::new();
    for (port, vm) in &registry.ports {
        let key = format!("ports.{port}");
        if *port == 0 {
            problems.push(Diagnostic::new(
                path,
                map.locate(&key),
                key.clone(),
                "port 0 is not a port",
            ));
        }
        if let Err(e) = safety::check_ssh_alias(vm) {
            problems.push(Diagnostic::new(
                path,
                map.locate(&key),
                key.clone(),
                format!("`{}`: {e}", safety::printable(vm)),
            ));
        }
        if let Some(first) = seen.insert(vm, *port) {
            problems.push(Diagnostic::new(
                path,
                map.locate(&key),
                key,
                format!("VM `{vm}` is registered at port {first} already"),
            ));
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

/// The JSON Schema of registry files.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PortRegistry)).unwrap_or_default()
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
    }

    #[test]
    fn refuses_unsafe_aliases_and_duplicates_with_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ports.yaml");
        std::fs::write(
            &path,
            "version: 1\nports:\n  12221: vm1\n  12222: vm1\n  12223: -oProxyCommand=x\n",
        )
        .expect("write");
        let problems = load(&path).expect_err("invalid");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.location.map(|l| l.line) == Some(4)),
            "{problems:?}"
        );
    }
}
