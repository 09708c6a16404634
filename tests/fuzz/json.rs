//! JSON documents as trees that keep what serde's value drops (a key given
//! twice, numbers as written), and the mutations of saved plans.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::rng::Rng;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number as written: `4`, `4.0`, `1e30`, `18446744073709551616`.
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, entries in order; a key may come twice.
    Obj(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Num(n.to_string()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Num(n.to_string()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Num(format!("{n:?}")))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            entries.push((key, value));
        }
        Ok(Json::Obj(entries))
    }
}

/// Parses JSON text, keeping every entry of every object.
pub fn parse(bytes: &[u8]) -> Result<Json, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

impl Json {
    /// Pretty text, two spaces per level, as `plan --out` writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(0, &mut out);
        out.push('\n');
        out
    }

    fn write(&self, indent: usize, out: &mut String) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(&b.to_string()),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&string(s)),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(entries) if entries.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    item.write(indent + 1, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            Json::Obj(entries) => {
                out.push_str("{\n");
                for (i, (key, value)) in entries.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    out.push_str(&string(key));
                    out.push_str(": ");
                    value.write(indent + 1, out);
                    out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
        }
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of `key` in an object, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Obj(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` of an object (the first entry of that name, or a new one).
    pub fn set(&mut self, key: &str, value: Json) {
        if let Some(slot) = self.get_mut(key) {
            *slot = value;
        } else if let Json::Obj(entries) = self {
            entries.push((key.to_string(), value));
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Every string in the tree, with the key it is the value of (or the key of the
    /// array it is an item of), keys included as strings of their own.
    pub fn strings<'a>(&'a self, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
        match self {
            Json::Str(s) => out.push((key, s)),
            Json::Arr(items) => items.iter().for_each(|item| item.strings(key, out)),
            Json::Obj(entries) => {
                for (k, v) in entries {
                    out.push(("", k));
                    v.strings(k, out);
                }
            }
            _ => {}
        }
    }

    /// Keys given twice in one object, anywhere in the tree.
    pub fn duplicate_key(&self) -> Option<String> {
        match self {
            Json::Arr(items) => items.iter().find_map(Json::duplicate_key),
            Json::Obj(entries) => {
                let mut seen = std::collections::HashSet::new();
                for (k, v) in entries {
                    if !seen.insert(k) {
                        return Some(k.clone());
                    }
                    if let Some(d) = v.duplicate_key() {
                        return Some(d);
                    }
                }
                None
            }
            _ => None,
        }
    }
}

/// `s` as a JSON string.
pub fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// One step from a node to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Item(usize),
    Entry(usize),
}

fn paths(root: &Json) -> Vec<Vec<Step>> {
    fn walk(node: &Json, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match node {
            Json::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    here.push(Step::Item(i));
                    walk(item, here, out);
                    here.pop();
                }
            }
            Json::Obj(entries) => {
                for (i, (_, value)) in entries.iter().enumerate() {
                    here.push(Step::Entry(i));
                    walk(value, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(root: &'a mut Json, path: &[Step]) -> &'a mut Json {
    let mut node = root;
    for step in path {
        node = match (node, *step) {
            (Json::Arr(items), Step::Item(i)) => &mut items[i],
            (Json::Obj(entries), Step::Entry(i)) => &mut entries[i].1,
            (other, _) => other,
        };
    }
    node
}

fn describe(root: &Json, path: &[Step]) -> String {
    let mut out = String::new();
    let mut node = root;
    for step in path {
        match (node, *step) {
            (Json::Arr(items), Step::Item(i)) => {
                out.push_str(&format!("[{i}]"));
                node = &items[i];
            }
            (Json::Obj(entries), Step::Entry(i)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&entries[i].0);
                node = &entries[i].1;
            }
            _ => {}
        }
    }
    if out.is_empty() { "the root".into() } else { out }
}

/// JSON values where a plan has others.
const VALUES: &[&str] = &[
    "1.0",
    "2.0",
    "4.0",
    "1e3",
    "1e30",
    "-1",
    "0",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "null",
    "true",
    "false",
    "\"\"",
    "\"1\"",
    "[]",
    "{}",
    "\"local\"",
    "\"vm\"",
    "\"create\"",
    "\"delete\"",
    "\"no-op\"",
    "\"sandbox.\"",
    "\"image.x\"",
    "\"sandbox.a b\"",
    "\"sandbox.-x\"",
    "\"local-workspace\"",
    "\"Local-Workspace\"",
    "\"packer\"",
    "{\"code\": \"leftover\"}",
    "{\"code\": \"nope\"}",
    "\"a\\u0000b\"",
    "\"\\u001b[31m\"",
];

/// One generic mutation of a plan's tree, described for the recipe.
pub fn mutate(rng: &mut Rng, root: &mut Json) -> String {
    let all = paths(root);
    let path = rng.pick(&all).clone();
    let place = describe(root, &path);
    match rng.below(7) {
        0..=2 => {
            let text = rng.pick(VALUES);
            let value = parse(text.as_bytes()).unwrap_or(Json::Null);
            let value = match value {
                // keep numbers as written: 4.0 stays 4.0
                Json::Num(_) => Json::Num(text.to_string()),
                other => other,
            };
            *at_mut(root, &path) = value;
            format!("{place} := {text}")
        }
        3 => {
            if let Json::Obj(entries) = at_mut(root, &path)
                && !entries.is_empty()
            {
                let i = rng.below(entries.len());
                let (key, _) = entries.remove(i);
                return format!("{place}: deleted {key}");
            }
            if let Json::Arr(items) = at_mut(root, &path)
                && !items.is_empty()
            {
                let i = rng.below(items.len());
                items.remove(i);
                return format!("{place}: deleted item {i}");
            }
            format!("{place}: nothing deleted")
        }
        4 => {
            if let Json::Obj(entries) = at_mut(root, &path)
                && !entries.is_empty()
            {
                let i = rng.below(entries.len());
                let entry = entries[i].clone();
                let key = entry.0.clone();
                entries.push(entry);
                return format!("{place}: key {key} given twice");
            }
            format!("{place}: nothing duplicated")
        }
        5 => {
            if let Json::Obj(entries) = at_mut(root, &path) {
                let key = rng
                    .pick(&["unknown", "x", "", "Project", "format_version", "changes", "\u{0}"])
                    .to_string();
                entries.push((key.clone(), Json::Num("1".into())));
                return format!("{place}: added key {key:?}");
            }
            format!("{place}: no key added")
        }
        _ => {
            let depth = rng.between(2, 300);
            let node = at_mut(root, &path);
            *node = (0..depth).fold(Json::Null, |inner, _| Json::Arr(vec![inner]));
            format!("{place} := an array {depth} deep")
        }
    }
}

/// The edits of a saved plan that `apply` must refuse: each makes the plan
/// say something else than what `plan` computed for this manifest and state.
pub const EDITS: &[&str] = &[
    "the project changed",
    "a change given twice",
    "a delete's workspace is null",
    "a delete's workspace path is empty",
    "the manifest is another manifest",
    "the manifest is a file that does not exist",
    "a dependency cycle",
    "state_serial beyond 64 bits",
    "format_version as 2.0",
    "summary count as 1e30",
    "state_serial one more",
    "the lineage changed",
    "the manifest digest changed",
    "a change for an address the manifest does not declare",
    "an update turned into a delete",
    "an address longer than 63 characters",
];

/// Applies edit `name` of [`EDITS`] to `plan`; false when the plan has nothing to edit that way.
pub fn edit(name: &str, plan: &mut Json) -> bool {
    let with_action = |plan: &Json, action: &str| -> Option<usize> {
        match plan.get("changes") {
            Some(Json::Arr(items)) => items
                .iter()
                .position(|c| c.get("action").and_then(Json::as_str) == Some(action)),
            _ => None,
        }
    };
    match name {
        "the project changed" => plan.set("project", Json::Str("other".into())),
        "a change given twice" => {
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            let Some(first) = items.first().cloned() else {
                return false;
            };
            items.push(first);
        }
        "a delete's workspace is null" | "a delete's workspace path is empty" => {
            let Some(i) = with_action(plan, "delete") else {
                return false;
            };
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            if name.ends_with("null") {
                items[i].set("workspace", Json::Null);
            } else if let Some(workspace) = items[i].get_mut("workspace") {
                workspace.set("path", Json::Str(String::new()));
            }
        }
        "the manifest is another manifest" => plan.set("manifest", Json::Str("@DIR@/other.yaml".into())),
        "the manifest is a file that does not exist" => plan.set("manifest", Json::Str("@DIR@/missing.yaml".into())),
        "a dependency cycle" => {
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            if items.len() < 2 {
                return false;
            }
            let address = |c: &Json| c.get("address").cloned().unwrap_or(Json::Null);
            let (a, b) = (address(&items[0]), address(&items[1]));
            for (i, other) in [(0, b), (1, a)] {
                if let Some(Json::Arr(deps)) = items[i].get_mut("depends_on") {
                    deps.push(other);
                }
            }
        }
        "state_serial beyond 64 bits" => plan.set("state_serial", Json::Num("18446744073709551620".into())),
        "format_version as 2.0" => plan.set("format_version", Json::Num("2.0".into())),
        "summary count as 1e30" => {
            let Some(summary) = plan.get_mut("summary") else {
                return false;
            };
            summary.set("create", Json::Num("1e30".into()));
        }
        "state_serial one more" => {
            let serial = plan.get("state_serial").cloned();
            let Some(Json::Num(n)) = serial else { return false };
            let Ok(n) = n.parse::<u64>() else { return false };
            plan.set("state_serial", Json::Num((n + 1).to_string()));
        }
        "the lineage changed" => plan.set("state_lineage", Json::Str("aaaaaaaaaaaaaaaa".into())),
        "the manifest digest changed" => plan.set("manifest_digest", Json::Str(format!("sha256:{}", "0".repeat(64)))),
        "a change for an address the manifest does not declare" => {
            let Some(i) = with_action(plan, "create") else {
                return false;
            };
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            items[i].set("address", Json::Str("sandbox.undeclared".into()));
        }
        "an update turned into a delete" => {
            let Some(i) = with_action(plan, "update") else {
                return false;
            };
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            items[i].set("action", Json::Str("delete".into()));
        }
        "an address longer than 63 characters" => {
            let Some(Json::Arr(items)) = plan.get_mut("changes") else {
                return false;
            };
            let Some(first) = items.first_mut() else { return false };
            first.set("address", Json::Str(format!("sandbox.{}", "a".repeat(64))));
        }
        _ => return false,
    }
    true
}
