//! Checking a document against its JSON Schema, every problem located in the
//! file and hinted with what is accepted there, then reading it as its type.
//!
//! The schema is the first gate of every loader, so that what an editor
//! accepts with the published schema is what sandboxer accepts, and the other
//! way round (the typed read after it cannot refuse what the schema let by).

use std::path::Path;

use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
use serde_json::Value;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::source_map::{SourceMap, child_index, child_key};

/// At most this many problems are listed; the last line says how many more.
pub const MAX_PROBLEMS: usize = 50;

/// A published schema, compiled once.
pub struct Schema {
    /// The schema document (for the keys and descriptions in hints).
    pub document: Value,
    validator: Option<jsonschema::Validator>,
    /// Where it is published, for hints: `schemas/manifest.schema.json`.
    pub file: &'static str,
}

impl Schema {
    /// Compiles `document`.
    pub fn new(document: Value, file: &'static str) -> Self {
        let validator = jsonschema::validator_for(&document).ok();
        Schema {
            document,
            validator,
            file,
        }
    }

    /// Every way `value` departs from the schema, located with `map`.
    pub fn problems(&self, path: &Path, value: &Value, map: &SourceMap) -> Vec<Diagnostic> {
        let Some(validator) = &self.validator else {
            return vec![Diagnostic::new(
                path,
                None,
                "",
                format!("internal error: the schema {} does not compile", self.file),
            )];
        };
        let mut problems = Vec::new();
        let mut more = 0usize;
        for error in validator.iter_errors(value) {
            if problems.len() >= MAX_PROBLEMS {
                more += 1;
                continue;
            }
            let key_path = key_path(value, error.instance_path().as_str());
            let subschema = self.subschema(error.schema_path().as_str());
            problems.extend(self.describe(path, map, &key_path, error.kind(), error.instance(), subschema));
        }
        if more > 0 {
            problems.truncate(MAX_PROBLEMS);
            if let Some(last) = problems.last().cloned() {
                problems.push(
                    Diagnostic::new(path, last.location, "", format!("and {more} more problems"))
                        .with_hint("fix the ones above and check again"),
                );
            }
        }
        problems
    }

    /// Reads `value` as `T` once the schema has accepted it.
    pub fn read<T: serde::de::DeserializeOwned>(&self, path: &Path, value: Value) -> Result<T, Diagnostic> {
        serde_json::from_value(value).map_err(|e| {
            Diagnostic::new(
                path,
                None,
                "",
                format!("internal error: the schema accepted what sandboxer cannot read: {e}"),
            )
            .with_hint(format!(
                "report this with the file; meanwhile check it against {}",
                self.file
            ))
        })
    }

    fn describe(
        &self,
        path: &Path,
        map: &SourceMap,
        key_path: &str,
        kind: &Kind,
        instance: &Value,
        subschema: Option<&Value>,
    ) -> Vec<Diagnostic> {
        let here = |message: String| Diagnostic::new(path, map.locate(key_path), key_path, message);
        let described = || {
            subschema
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!("accepted here: {}", first_sentence(d)))
        };
        let diagnostic = match kind {
            Kind::AdditionalProperties { unexpected } => {
                let known = self.known_keys(subschema);
                return unexpected
                    .iter()
                    .map(|key| {
                        let at = child_key(key_path, key);
                        let hint = did_you_mean(key, known.iter().map(String::as_str))
                            .map(|s| format!("did you mean `{s}`?"))
                            .unwrap_or_else(|| {
                                if known.is_empty() {
                                    "no keys are allowed here".to_string()
                                } else {
                                    format!("allowed here: {}", known.join(", "))
                                }
                            });
                        Diagnostic::new(
                            path,
                            map.locate(&at),
                            at.clone(),
                            format!("unknown key `{}`", shown(key)),
                        )
                        .with_hint(hint)
                    })
                    .collect();
            }
            Kind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                here(format!("missing required key `{name}`")).with_hint(format!("add `{name}:` here"))
            }
            Kind::Type { kind } => {
                let expected = type_words(kind);
                let message = format!("expected {expected}, found {}", found(instance));
                let hint = if expected.contains("text")
                    && matches!(instance, Value::Number(_) | Value::Bool(_) | Value::Null)
                {
                    format!("quote the value to make it text: `\"{}\"`", shown(&plain(instance)))
                } else {
                    described().unwrap_or_else(|| format!("accepted here: {expected}"))
                };
                here(message).with_hint(hint)
            }
            Kind::Minimum { limit } | Kind::Maximum { limit } => {
                let side = if matches!(kind, Kind::Minimum { .. }) {
                    "less"
                } else {
                    "more"
                };
                here(format!("{} is {side} than the limit {limit}", shown(&plain(instance))))
                    .with_hint(format!("accepted here: {}", range_words(subschema)))
            }
            Kind::Enum { options } => {
                let options: Vec<String> = options
                    .as_array()
                    .map(|o| o.iter().map(|v| format!("`{}`", plain(v))).collect())
                    .unwrap_or_default();
                here(format!(
                    "`{}` is not one of the accepted values",
                    shown(&plain(instance))
                ))
                .with_hint(format!("accepted here: {}", options.join(", ")))
            }
            Kind::Constant { expected_value } => here(format!("`{}` is not accepted here", shown(&plain(instance))))
                .with_hint(format!("write `{}`", plain(expected_value))),
            Kind::Pattern { pattern } => here(format!("`{}` is not accepted here", shown(&plain(instance)))).with_hint(
                pattern_words(pattern)
                    .map(|w| format!("accepted here: {w}"))
                    .or_else(described)
                    .unwrap_or_else(|| format!("accepted here: text matching `{pattern}`")),
            ),
            Kind::MaxLength { limit } => here(format!("longer than {limit} characters"))
                .with_hint(described().unwrap_or_else(|| format!("write at most {limit} characters"))),
            Kind::MinLength { limit } => here(format!("shorter than {limit} characters"))
                .with_hint(described().unwrap_or_else(|| format!("write at least {limit} characters"))),
            Kind::PropertyNames { error } => {
                let key = plain(error.instance());
                let at = child_key(key_path, &key);
                // The schema path ends in `propertyNames/<keyword>`: `subschema` is the
                // `propertyNames` schema itself.
                let hint = match error.kind() {
                    Kind::Pattern { pattern } => pattern_words(pattern).map(|w| format!("accepted here: {w}")),
                    _ => None,
                };
                let hint = hint.or_else(described).unwrap_or_else(|| "rename the key".to_string());
                Diagnostic::new(
                    path,
                    map.locate(&at),
                    at.clone(),
                    format!("`{}` is not accepted as a name here", shown(&key)),
                )
                .with_hint(hint)
            }
            Kind::AnyOf { .. } | Kind::OneOfNotValid { .. } => {
                let words = alternatives(subschema);
                let message = format!("{} is none of what is accepted here", found(instance));
                let hint = if words.contains("text") && matches!(instance, Value::Number(_)) {
                    format!(
                        "accepted here: {words}; quote the value to pass it as text: `\"{}\"`",
                        shown(&plain(instance))
                    )
                } else {
                    format!("accepted here: {words}")
                };
                here(message).with_hint(hint)
            }
            Kind::MinItems { limit } => {
                here(format!("fewer than {limit} items")).with_hint(format!("give at least {limit}"))
            }
            Kind::MaxItems { limit } => {
                here(format!("more than {limit} items")).with_hint(format!("give at most {limit}"))
            }
            other => here(format!("not accepted here ({})", short_kind(other)))
                .with_hint(described().unwrap_or_else(|| format!("see {}", self.file))),
        };
        vec![diagnostic]
    }

    /// The subschema a schema path ends in, following `$ref`s; for a path that
    /// ends in a keyword, the schema holding that keyword.
    fn subschema(&self, schema_path: &str) -> Option<&Value> {
        let mut node = &self.document;
        let segments: Vec<String> = schema_path
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let keyword_end = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            if segment == "$ref" {
                let target = node.get("$ref")?.as_str()?;
                node = self.resolve_ref(target)?;
                continue;
            }
            if i == keyword_end {
                break;
            }
            node = match node {
                Value::Object(map) => map.get(segment.as_str())?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        // A `$ref` beside the keyword: its target holds the rest.
        while let Some(target) = node.get("$ref").and_then(Value::as_str) {
            if node.get("properties").is_some() {
                break;
            }
            node = self.resolve_ref(target)?;
        }
        Some(node)
    }

    fn resolve_ref(&self, target: &str) -> Option<&Value> {
        let pointer = target.strip_prefix('#')?;
        self.document.pointer(pointer)
    }

    fn known_keys(&self, subschema: Option<&Value>) -> Vec<String> {
        subschema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// JSON pointer `/sandboxes/app/depends_on/0` → `sandboxes.app.depends_on[0]`.
pub fn key_path(instance: &Value, pointer: &str) -> String {
    let mut path = String::new();
    let mut node = Some(instance);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                let index: usize = segment.parse().unwrap_or_default();
                path = child_index(&path, index);
                node = items.get(index);
            }
            Some(Value::Object(map)) => {
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

/// A value as it would be written, strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most 60 characters of what the file says, for a message.
fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(60).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

fn found(instance: &Value) -> String {
    match instance {
        Value::Null => "null (nothing)".to_string(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("the number `{n}`"),
        Value::Number(n) => format!("the whole number `{n}`"),
        Value::String(s) => format!("the text `{}`", shown(s)),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

fn type_word(name: &str) -> &'static str {
    match name {
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "`true` or `false`",
        "array" => "a list",
        "object" => "a mapping",
        "null" => "nothing (null)",
        _ => "a value",
    }
}

fn type_words(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(t) => vec![t.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    join_or(names.iter().map(|n| type_word(n)).collect())
}

fn join_or(words: Vec<&str>) -> String {
    match words.as_slice() {
        [] => "a value".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `a whole number from 1 to 65535`, from a subschema's bounds.
fn range_words(subschema: Option<&Value>) -> String {
    let get = |k: &str| subschema.and_then(|s| s.get(k)).map(plain);
    let what = match subschema.and_then(|s| s.get("type")).and_then(Value::as_str) {
        Some("integer") => "a whole number",
        _ => "a number",
    };
    match (get("minimum"), get("maximum")) {
        (Some(lo), Some(hi)) if lo == hi => lo,
        (Some(lo), Some(hi)) => format!("{what} from {lo} to {hi}"),
        (Some(lo), None) => format!("{what} of at least {lo}"),
        (None, Some(hi)) => format!("{what} of at most {hi}"),
        (None, None) => what.to_string(),
    }
}

/// `text, a whole number or true or false`, from an `anyOf`.
fn alternatives(subschema: Option<&Value>) -> String {
    let options = subschema
        .and_then(|s| s.get("anyOf").or_else(|| s.get("oneOf")))
        .and_then(Value::as_array);
    let Some(options) = options else {
        return "see the schema".to_string();
    };
    let words: Vec<&str> = options
        .iter()
        .map(|o| o.get("type").and_then(Value::as_str).map_or("a value", type_word))
        .collect();
    join_or(words)
}

/// The patterns sandboxer's schemas use, in words.
fn pattern_words(pattern: &str) -> Option<&'static str> {
    use crate::safety::{ADDRESS_PATTERN, NAME_PATTERN};
    if pattern == NAME_PATTERN {
        Some("a name of up to 63 letters, digits, `_` or `-`, starting with a letter or digit")
    } else if pattern == ADDRESS_PATTERN {
        Some("an address, `image.<name>` or `sandbox.<name>`")
    } else if pattern == "^https?://" {
        Some("an http:// or https:// URL, e.g. http://statehub.internal:8080")
    } else if pattern == "^[A-Za-z_][A-Za-z0-9_]*$" {
        Some("an environment variable name, e.g. SANDBOXER_HUB_TOKEN")
    } else {
        None
    }
}

fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(i) => &text[..i + 1],
        None => text,
    }
}

fn short_kind(kind: &Kind) -> &'static str {
    match kind {
        Kind::FalseSchema => "nothing is allowed here",
        Kind::Not { .. } => "a value the schema excludes",
        Kind::UniqueItems => "an item is given twice",
        Kind::Format { .. } => "wrong format",
        Kind::MultipleOf { .. } => "not a multiple of the step",
        _ => "the schema refuses it",
    }
}
