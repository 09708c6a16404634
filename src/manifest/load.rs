//! Reading a manifest: the document reader, then the JSON Schema, then typed
//! values. Every structural problem is reported with its file, line and key path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::Manifest;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::document::{self, Schema, Typed};
use crate::source_map::SourceMap;

/// A manifest read from disk, with what is needed to point back into it.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// The file, as given.
    pub path: PathBuf,
    /// The folder relative paths are resolved against.
    pub dir: PathBuf,
    /// The typed manifest.
    pub manifest: Manifest,
    /// Key positions, for semantic diagnostics.
    pub source_map: SourceMap,
    /// sha256 of the file's bytes, so a saved plan can tell that the manifest moved.
    pub digest: String,
}

impl LoadedManifest {
    /// A diagnostic at `key_path` (or its closest ancestor in the file).
    pub fn diagnostic(&self, key_path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.path, self.source_map.locate(key_path), key_path, message)
    }
}

/// Reads and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<LoadedManifest, Diagnostics> {
    let bytes = crate::fsutil::read_input_bytes(path).map_err(|e| {
        let d = Diagnostic::new(path, None, "", format!("cannot read manifest: {e}"));
        let d = if e.kind() == std::io::ErrorKind::NotFound {
            d.with_hint("pass the manifest with -f FILE (default: sandboxes.yaml in the current folder)")
        } else {
            d.with_hint("give a regular file of at most 16 MiB that you can read")
        };
        Diagnostics(vec![d])
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    load_bytes(path, &dir, &bytes)
}

/// Checks manifest `text`, reported as file `path`, relative paths against `dir`.
pub fn load_str(path: &Path, dir: &Path, text: &str) -> Result<LoadedManifest, Diagnostics> {
    load_bytes(path, dir, text.as_bytes())
}

/// Checks the manifest `bytes`, reported as file `path`, relative paths against `dir`.
pub fn load_bytes(path: &Path, dir: &Path, bytes: &[u8]) -> Result<LoadedManifest, Diagnostics> {
    let typed: Typed<Manifest> = document::read_typed(path, bytes, schema(), || {
        Diagnostic::new(path, Some(Location { line: 1, column: 1 }), "", "the manifest is empty")
            .with_hint("start with `version: 1` and `project: <name>`; see examples/quickstart.yaml")
    })
    .map_err(|problems| Diagnostics(problems).sorted())?;
    Ok(LoadedManifest {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        manifest: typed.value,
        source_map: typed.source_map,
        digest: format!("sha256:{:x}", Sha256::digest(bytes)),
    })
}

/// The manifest schema, compiled once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(super::json_schema(), "schemas/manifest.schema.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<LoadedManifest, Diagnostics> {
        load_str(Path::new("m.yaml"), Path::new("/w"), text)
    }

    #[test]
    fn reports_every_unknown_key_with_its_line_and_a_hint() {
        let err = check("version: 1\nproject: p\nsandboxs: {}\nsandboxes:\n  a:\n    profile: x\n    hots: h\n")
            .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("m.yaml:3:1: error: sandboxs: unknown key `sandboxs`\n  hint: did you mean `sandboxes`?"),
            "{text}"
        );
        assert!(
            text.contains("m.yaml:7:5: error: sandboxes.a.hots: unknown key `hots`\n  hint: did you mean `host`?"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = check("version: 1\nproject: [p\n").expect_err("invalid");
        let d = &err.0[0];
        assert!(d.location.is_some(), "{d}");
        assert!(d.message.starts_with("invalid YAML"), "{d}");
    }

    #[test]
    fn missing_keys_and_wrong_types() {
        let err = check("version: 2\nsandboxes: []\n").expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("missing required key `project`"), "{text}");
        assert!(text.contains("m.yaml:1:1: error: version:"), "{text}");
        assert!(text.contains("m.yaml:2:1: error: sandboxes:"), "{text}");
    }

    #[test]
    fn an_empty_file_says_so() {
        let err = check("").expect_err("invalid");
        assert!(err.to_string().contains("the manifest is empty"));
    }
}
