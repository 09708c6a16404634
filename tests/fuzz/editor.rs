//! The editor's view of a file: what an editor that checks the file against
//! the published JSON Schema sees, worked out without sandboxer's loaders.
//!
//! YAML: one document read by `serde_yaml_ng` into its value, then converted
//! to JSON strictly: what JSON cannot hold is refused (a tag, core tags
//! included, found by a scan of the parser's events; a float that is
//! not finite, a key that is neither a string nor an integer; integer keys
//! become their decimal text, as JSON writes integer keys; two keys with the
//! same text). JSON: the document with no key given twice in one object.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::json::{self, Json};
use super::targets::{self, Target};

/// The editor's view of `bytes` as `target`, or why there is none.
pub fn view(target: Target, bytes: &[u8]) -> Result<serde_json::Value, String> {
    match target {
        Target::Plan => json_view(bytes),
        _ => yaml_view(bytes),
    }
}

fn yaml_view(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    // A byte order mark is no content (YAML 1.2, 5.2); serde_yaml_ng takes a
    // file that starts with one for two documents.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Characters YAML 1.1 readers (libyaml) take for line breaks or skip and
    // YAML 1.2 readers for text: a file with one means two things, and no
    // reader's view of it can be trusted.
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{feff}'))
    {
        return Err(format!(
            "a character YAML readers read differently: U+{:04X}",
            u32::from(c)
        ));
    }
    // An editor's reader that expands a billion laughs does not finish, and a
    // thread given up on would spin on for the rest of the suite, taking the
    // cores from the cases after it: such a file has no view.
    if expanded_values(text).is_none() {
        return Err(format!(
            "more than {EXPANDED_VALUES_LIMIT} values with its aliases expanded, or nesting deeper than {NESTING_LIMIT}"
        ));
    }
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| format!("no YAML value: {e}"))?;
    // serde_yaml_ng resolves the core tags (`!!str 1` is the text "1") and
    // keeps no trace of them; JSON has no tags at all, so any tag is refused.
    if let Some(tag) = first_tag(text) {
        return Err(format!("a tag: {tag}"));
    }
    to_json(&value)
}

/// More values than an editor's reader is waited for (sandboxer's own reader
/// refuses a file past its limit of the same size).
const EXPANDED_VALUES_LIMIT: u64 = 1_000_000;

/// Deeper than an editor's reader is waited for (libyaml takes minutes on a
/// 100,000-deep file; sandboxer's own reader refuses past 64 levels).
const NESTING_LIMIT: usize = 200;

/// How many values `text` stands for with every alias expanded, by its events;
/// `None` past [`EXPANDED_VALUES_LIMIT`] or [`NESTING_LIMIT`] (when the events
/// stop short, the view's own parse says why).
fn expanded_values(text: &str) -> Option<u64> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    let mut total: u64 = 0;
    // Per anchor id, the values its node stands for.
    let mut anchors: HashMap<usize, u64> = HashMap::new();
    // The open collections: their anchor id and the total when they began.
    let mut open: Vec<(usize, u64)> = Vec::new();
    while let Ok((event, _)) = parser.next_token() {
        match event {
            Event::StreamEnd => return Some(total),
            Event::Scalar(_, _, anchor, _) => {
                total += 1;
                if anchor > 0 {
                    anchors.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((anchor, total));
                total += 1;
                if open.len() > NESTING_LIMIT {
                    return None;
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, began) = open.pop()?;
                if anchor > 0 {
                    anchors.insert(anchor, total - began);
                }
            }
            Event::Alias(anchor) => total = total.saturating_add(anchors.get(&anchor).copied().unwrap_or(1)),
            _ => {}
        }
        if total > EXPANDED_VALUES_LIMIT {
            return None;
        }
    }
    Some(total)
}

/// The first tag in `text`, by its events (the parse itself is serde_yaml_ng's).
fn first_tag(text: &str) -> Option<String> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    while let Ok((event, _)) = parser.next_token() {
        let tag = match event {
            Event::StreamEnd => return None,
            Event::Scalar(_, _, _, tag) | Event::SequenceStart(_, tag) | Event::MappingStart(_, tag) => tag,
            _ => None,
        };
        if let Some(tag) = tag {
            return Some(format!("{}{}", tag.handle, tag.suffix));
        }
    }
    None
}

fn to_json(value: &serde_yaml_ng::Value) -> Result<serde_json::Value, String> {
    use serde_yaml_ng::Value;
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| format!("{n} is not a JSON number"))?
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(items) => serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (key, item) in map {
                let name = match key {
                    Value::String(s) => s.clone(),
                    Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    other => return Err(format!("a key that is not a string: {}", short(other))),
                };
                if object.insert(name.clone(), to_json(item)?).is_some() {
                    return Err(format!("the key {name:?} twice"));
                }
            }
            serde_json::Value::Object(object)
        }
        Value::Tagged(tagged) => return Err(format!("a tag: {}", tagged.tag)),
    })
}

fn short(value: &serde_yaml_ng::Value) -> String {
    let text = serde_yaml_ng::to_string(value).unwrap_or_default();
    super::yaml::short(text.trim_end())
}

fn json_view(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let tree = json::parse(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(key) = tree.duplicate_key() {
        return Err(format!("the key {key:?} twice in one object"));
    }
    if let Some(n) = wide_integer(bytes) {
        return Err(format!("the integer {n} does not fit in 64 bits"));
    }
    Ok(to_value(&tree))
}

/// An integer literal that neither i64 nor u64 holds (a JSON parser rounds it
/// to a float; the YAML view refuses it, and so does this one). Read from the
/// text: the parsed tree holds the rounded float.
fn wide_integer(bytes: &[u8]) -> Option<String> {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let fraction = matches!(bytes.get(i), Some(b'.' | b'e' | b'E'));
            let text = String::from_utf8_lossy(&bytes[start..i]).into_owned();
            if !fraction && text != "-" && text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                return Some(text);
            }
            continue;
        }
        i += 1;
    }
    None
}

fn to_value(tree: &Json) -> serde_json::Value {
    match tree {
        Json::Null => serde_json::Value::Null,
        Json::Bool(b) => serde_json::Value::Bool(*b),
        Json::Num(n) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
        Json::Str(s) => serde_json::Value::String(s.clone()),
        Json::Arr(items) => serde_json::Value::Array(items.iter().map(to_value).collect()),
        Json::Obj(entries) => {
            serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

fn validators() -> &'static HashMap<Target, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<Target, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        targets::structural_schemas()
            .into_iter()
            .map(|(target, schema)| {
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{} does not compile: {e}", target.schema_file()));
                (target, validator)
            })
            .collect()
    })
}

/// Whether the published manifest schema, with the inputs of the built-in
/// profiles, accepts `instance`; the first complaint when not.
pub fn published_manifest_schema_accepts(instance: &serde_json::Value) -> Result<(), String> {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema = targets::schemas()
            .into_iter()
            .find(|(target, _)| *target == Target::Manifest)
            .map(|(_, schema)| schema)
            .expect("sandboxer publishes a manifest schema");
        jsonschema::validator_for(&schema).expect("the published manifest schema compiles")
    });
    first_error(validator, instance)
}

/// Whether the structural schema of `target` accepts `instance`; the first complaint when not.
pub fn schema_accepts(target: Target, instance: &serde_json::Value) -> Result<(), String> {
    let validator = validators()
        .get(&target)
        .unwrap_or_else(|| panic!("sandboxer publishes no {}", target.schema_file()));
    first_error(validator, instance)
}

fn first_error(validator: &jsonschema::Validator, instance: &serde_json::Value) -> Result<(), String> {
    match validator.iter_errors(instance).next() {
        None => Ok(()),
        Some(error) => {
            let at = error.instance_path().to_string();
            Err(format!("at {}: {error}", if at.is_empty() { "/" } else { &at }))
        }
    }
}
