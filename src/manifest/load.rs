//! Reading a manifest: YAML syntax, then the JSON Schema, then typed values.
//! Every structural problem is reported with its file, line and key path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::Manifest;
use crate::diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::source_map::{SourceMap, child_index, child_key};

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
    let text = crate::fsutil::read_input(path).map_err(|e| {
        let d = Diagnostic::new(path, None, "", format!("cannot read manifest: {e}"));
        let d = if e.kind() == std::io::ErrorKind::NotFound {
            d.with_hint("pass the manifest with -f FILE (default: sandboxes.yaml in the current folder)")
        } else {
            d
        };
        Diagnostics(vec![d])
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(path, &dir, &text)
}

/// A key written twice (`1` and `"1"` are two keys to YAML, one name to sandboxer).
pub fn duplicate_diagnostic(path: &Path, d: &crate::source_map::Duplicate) -> Diagnostic {
    Diagnostic::new(
        path,
        Some(d.again),
        d.path.clone(),
        format!(
            "this key is given twice (first at line {}, column {})",
            d.first.line, d.first.column
        ),
    )
    .with_hint("keep one of them; YAML tells `1` from `\"1\"` and `true` from `\"true\"`, sandboxer does not")
}

/// Checks manifest `text`, reported as file `path`, relative paths against `dir`.
pub fn load_str(path: &Path, dir: &Path, text: &str) -> Result<LoadedManifest, Diagnostics> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let location = e.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        Diagnostics(vec![
            Diagnostic::new(
                path,
                location,
                "",
                format!("invalid YAML: {}", strip_location(&e.to_string())),
            )
            .with_hint("check the indentation and quoting around this line"),
        ])
    })?;
    let source_map = SourceMap::index(text);
    if !source_map.duplicates().is_empty() {
        return Err(Diagnostics(
            source_map
                .duplicates()
                .iter()
                .map(|d| duplicate_diagnostic(path, d))
                .collect(),
        ));
    }
    if yaml.is_null() {
        return Err(Diagnostics(vec![
            Diagnostic::new(path, None, "", "the manifest is empty")
                .with_hint("start with `version: 1` and `project: <name>`; see examples/quickstart.yaml"),
        ]));
    }
    let instance = serde_json::to_value(&yaml).map_err(|e| {
        Diagnostics(vec![Diagnostic::new(
            path,
            None,
            "",
            format!("unsupported YAML value: {e}"),
        )])
    })?;

    let problems = schema_problems(path, &instance, &source_map);
    if !problems.is_empty() {
        return Err(Diagnostics(problems).sorted());
    }
    let manifest: Manifest = serde_json::from_value(instance)
        .map_err(|e| Diagnostics(vec![Diagnostic::new(path, None, "", format!("invalid manifest: {e}"))]))?;
    Ok(LoadedManifest {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        manifest,
        source_map,
        digest: format!("sha256:{:x}", Sha256::digest(text.as_bytes())),
    })
}

/// serde_yaml's messages end with " at line L column C", which the diagnostic already says.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(super::json_schema)
}

/// Every way the document departs from the manifest schema.
fn schema_problems(path: &Path, instance: &serde_json::Value, map: &SourceMap) -> Vec<Diagnostic> {
    use jsonschema::error::ValidationErrorKind as Kind;

    let validator = match jsonschema::validator_for(schema()) {
        Ok(v) => v,
        Err(e) => {
            return vec![Diagnostic::new(
                path,
                None,
                "",
                format!("internal error: manifest schema: {e}"),
            )];
        }
    };
    let mut problems = Vec::new();
    for error in validator.iter_errors(instance) {
        let key_path = key_path(instance, error.instance_path().as_str());
        let diagnostic = match error.kind() {
            Kind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let at = child_key(&key_path, key);
                    let known = known_keys(&key_path);
                    let hint = did_you_mean(key, known.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| (!known.is_empty()).then(|| format!("allowed here: {}", known.join(", "))));
                    problems.push(
                        Diagnostic::new(path, map.locate(&at), at.clone(), format!("unknown key `{key}`"))
                            .with_optional_hint(hint),
                    );
                }
                continue;
            }
            Kind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                Diagnostic::new(
                    path,
                    map.locate(&key_path),
                    key_path.clone(),
                    format!("missing required key `{name}`"),
                )
                .with_hint(format!("add `{name}:` here"))
            }
            Kind::AnyOf { .. } if key_path.contains(".inputs.") => Diagnostic::new(
                path,
                map.locate(&key_path),
                key_path.clone(),
                "an input value must be a string, a whole number or a boolean",
            ),
            _ => Diagnostic::new(path, map.locate(&key_path), key_path.clone(), error.to_string()),
        };
        problems.push(diagnostic);
    }
    problems
}

/// JSON pointer `/sandboxes/app/depends_on/0` → `sandboxes.app.depends_on[0]`.
fn key_path(instance: &serde_json::Value, pointer: &str) -> String {
    let mut path = String::new();
    let mut node = Some(instance);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(serde_json::Value::Array(items)) => {
                let index: usize = segment.parse().unwrap_or_default();
                path = child_index(&path, index);
                node = items.get(index);
            }
            Some(serde_json::Value::Object(map)) => {
                path = child_key(&path, &segment);
                node = map.get(&segment);
            }
            _ => {
                path = child_key(&path, &segment);
                node = None;
            }
        }
    }
    path
}

/// The keys the schema allows at `key_path`, for "did you mean" hints.
fn known_keys(key_path: &str) -> Vec<String> {
    let segments: Vec<&str> = if key_path.is_empty() {
        Vec::new()
    } else {
        key_path.split('.').collect()
    };
    let properties = match segments.as_slice() {
        [] => schema().get("properties"),
        ["hub"] => definition("HubSpec"),
        ["images", _] => definition("ImageSpec"),
        ["sandboxes", _] => definition("SandboxSpec"),
        _ => None,
    };
    properties
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn definition(name: &str) -> Option<&'static serde_json::Value> {
    schema()
        .get("$defs")
        .and_then(|d| d.get(name))
        .and_then(|d| d.get("properties"))
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
