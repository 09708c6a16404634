//! YAML documents as trees: read from a seed file, edited by the mutations,
//! and written back as text in block or flow style.
//!
//! The tree keeps what a mutation needs and serde's value does not: scalars as
//! written (`12222`, `"12222"`, `1.0`, `~`), node properties (`!custom`, `&a1`),
//! aliases (`*a1`), keys of any kind, and the same key twice.

use super::rng::Rng;

/// A node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar exactly as written: `12222`, `"40960"`, `~`, `.inf`.
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>, Style),
    /// A mapping, entries in order; a key may come twice.
    Map(Vec<(Node, Node)>, Style),
    /// Node properties before a node: a tag (`!custom`, `!!str`), an anchor (`&a1`) or both.
    Props(String, Box<Node>),
    /// `*name`.
    Alias(String),
}

/// How a collection is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Indented lines, `key: value` and `- item`.
    Block,
    /// `[a, b]` and `{k: v}` on one line.
    Flow,
}

/// The tree of a YAML value, as serde reads it.
pub fn from_value(value: &serde_yaml_ng::Value) -> Node {
    use serde_yaml_ng::Value;
    match value {
        Value::Null => Node::Scalar("null".into()),
        Value::Bool(b) => Node::Scalar(b.to_string()),
        Value::Number(n) => Node::Scalar(n.to_string()),
        Value::String(s) => Node::Scalar(scalar(s)),
        Value::Sequence(items) => Node::Seq(items.iter().map(from_value).collect(), Style::Block),
        Value::Mapping(map) => Node::Map(
            map.iter().map(|(k, v)| (from_value(k), from_value(v))).collect(),
            Style::Block,
        ),
        Value::Tagged(tagged) => Node::Props(tagged.tag.to_string(), Box::new(from_value(&tagged.value))),
    }
}

/// `s` as a scalar that reads back as the string `s`: plain when that is
/// safe, double-quoted otherwise.
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() < 200
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._/-+~@ ".contains(c))
        && !s.starts_with([' ', '-', '~', '@'])
        && !s.ends_with(' ')
        && matches!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s), Ok(serde_yaml_ng::Value::String(ref t)) if t == s);
    if plain { s.to_string() } else { quoted(s) }
}

/// `s` double-quoted, with YAML escapes for control and invisible characters.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The document's text.
pub fn render(root: &Node) -> String {
    let mut out = String::new();
    match root {
        _ if inline(root) => {
            out.push_str(&flow(root));
            out.push('\n');
        }
        Node::Props(props, inner) => {
            out.push_str(props);
            out.push('\n');
            block(inner, 0, &mut out);
        }
        _ => block(root, 0, &mut out),
    }
    out
}

/// A node written on the line where it starts.
fn inline(node: &Node) -> bool {
    match node {
        Node::Scalar(_) | Node::Alias(_) => true,
        Node::Seq(items, style) => *style == Style::Flow || items.is_empty(),
        Node::Map(entries, style) => *style == Style::Flow || entries.is_empty(),
        Node::Props(_, inner) => inline(inner),
    }
}

/// A block collection at `indent`; `node` is not inline.
fn block(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Seq(items, _) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                value(item, indent, out);
            }
        }
        Node::Map(entries, _) => {
            for (key, item) in entries {
                let text = flow(key);
                let simple = !matches!(key, Node::Seq(..) | Node::Map(..)) || inline(key);
                if simple && text.len() <= 1000 {
                    out.push_str(&pad);
                    out.push_str(&text);
                    // `*a:` would read as an alias named `a:`.
                    if matches!(key, Node::Alias(_)) {
                        out.push(' ');
                    }
                    out.push(':');
                } else {
                    out.push_str(&pad);
                    out.push('?');
                    value(key, indent, out);
                    out.push_str(&pad);
                    out.push(':');
                }
                value(item, indent, out);
            }
        }
        Node::Props(props, inner) => {
            out.push_str(&pad);
            out.push_str(props);
            out.push('\n');
            block(inner, indent, out);
        }
        Node::Scalar(_) | Node::Alias(_) => {
            out.push_str(&pad);
            out.push_str(&flow(node));
            out.push('\n');
        }
    }
}

/// What follows `key:`, `-` or `?` at `indent`: the rest of the line and any nested lines.
fn value(node: &Node, indent: usize, out: &mut String) {
    if inline(node) {
        out.push(' ');
        out.push_str(&flow(node));
        out.push('\n');
        return;
    }
    if let Node::Props(props, inner) = node {
        out.push(' ');
        out.push_str(props);
        out.push('\n');
        block(inner, indent + 2, out);
        return;
    }
    out.push('\n');
    block(node, indent + 2, out);
}

/// A node in flow style, on one line.
pub fn flow(node: &Node) -> String {
    match node {
        Node::Scalar(text) => text.clone(),
        Node::Alias(name) => format!("*{name}"),
        Node::Props(props, inner) => format!("{props} {}", flow(inner)),
        Node::Seq(items, _) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Node::Map(entries, _) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| {
                    let space = if matches!(k, Node::Alias(_)) { " " } else { "" };
                    format!("{}{space}: {}", flow(k), flow(v))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One step from a node to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Item `i` of a sequence.
    Item(usize),
    /// The key of entry `i` of a mapping.
    Key(usize),
    /// The value of entry `i` of a mapping.
    Value(usize),
    /// The node under its properties.
    Inner,
}

/// Every node of the tree, in document order, as the steps to reach it.
pub fn paths(root: &Node) -> Vec<Vec<Step>> {
    fn walk(node: &Node, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match node {
            Node::Seq(items, _) => {
                for (i, item) in items.iter().enumerate() {
                    here.push(Step::Item(i));
                    walk(item, here, out);
                    here.pop();
                }
            }
            Node::Map(entries, _) => {
                for (i, (key, value)) in entries.iter().enumerate() {
                    here.push(Step::Key(i));
                    walk(key, here, out);
                    here.pop();
                    here.push(Step::Value(i));
                    walk(value, here, out);
                    here.pop();
                }
            }
            Node::Props(_, inner) => {
                here.push(Step::Inner);
                walk(inner, here, out);
                here.pop();
            }
            Node::Scalar(_) | Node::Alias(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

/// The node at `path`.
pub fn at<'a>(root: &'a Node, path: &[Step]) -> &'a Node {
    path.iter().fold(root, |node, step| match (node, *step) {
        (Node::Seq(items, _), Step::Item(i)) => &items[i],
        (Node::Map(entries, _), Step::Key(i)) => &entries[i].0,
        (Node::Map(entries, _), Step::Value(i)) => &entries[i].1,
        (Node::Props(_, inner), Step::Inner) => inner,
        _ => node,
    })
}

/// The node at `path`, to change.
pub fn at_mut<'a>(root: &'a mut Node, path: &[Step]) -> &'a mut Node {
    let mut node = root;
    for step in path {
        node = match (node, *step) {
            (Node::Seq(items, _), Step::Item(i)) => &mut items[i],
            (Node::Map(entries, _), Step::Key(i)) => &mut entries[i].0,
            (Node::Map(entries, _), Step::Value(i)) => &mut entries[i].1,
            (Node::Props(_, inner), Step::Inner) => inner,
            (other, _) => other,
        };
    }
    node
}

/// `sandboxes.app.inputs` for a path, for recipes (keys shown as written).
pub fn describe(root: &Node, path: &[Step]) -> String {
    let mut out = String::new();
    let mut node = root;
    for step in path {
        match (node, *step) {
            (Node::Seq(items, _), Step::Item(i)) => {
                out.push_str(&format!("[{i}]"));
                node = &items[i];
            }
            (Node::Map(entries, _), Step::Key(i)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&format!("(key {})", short(&flow(&entries[i].0))));
                node = &entries[i].0;
            }
            (Node::Map(entries, _), Step::Value(i)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&short(&flow(&entries[i].0)));
                node = &entries[i].1;
            }
            (Node::Props(_, inner), Step::Inner) => node = inner,
            _ => {}
        }
    }
    match out.char_indices().nth(100) {
        _ if out.is_empty() => "the root".into(),
        Some((i, _)) => format!("{}...", &out[..i]),
        None => out,
    }
}

/// At most 40 characters of `text`, for recipes.
pub fn short(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}... ({} chars)", text.chars().count())
    } else {
        head
    }
}

/// Scalars that loaders and schemas tend to read differently.
pub const SCALARS: &[&str] = &[
    // whole numbers where strings are due, and numbers beyond 64 bits
    "0",
    "1",
    "-1",
    "2",
    "12222",
    "65535",
    "65536",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    // floats where integers are due
    "1.0",
    "1e3",
    "12222.0",
    "1.5",
    "-0.0",
    "1e400",
    "0x10",
    "0o17",
    "017",
    "+12",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    // nothing
    "null",
    "~",
    "Null",
    "NULL",
    "\"\"",
    "''",
    // booleans, and words YAML 1.1 read as booleans
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "True",
    "FALSE",
    // strings that look like other types
    "\"1\"",
    "\"true\"",
    "\"null\"",
    "'12222'",
    "2001-12-14",
    "2001-12-14T21:59:43.10-05:00",
    // names and values sandboxer checks
    "profile.local-workspace",
    "profile.vm-haskell-build",
    "profile.vm-packer-build",
    "profile.nope",
    "local-workspace",
    "image.haskell-build",
    "sandbox.my-haskell-app",
    "sandbox.hello",
    "haskell-build",
    "-oProxyCommand=x",
    "\"a b\"",
    "\"$(id)\"",
    "\"a;b\"",
    "../..",
    "/",
    "/etc",
    "/build/../etc",
    "./sample-repo",
    "~/x",
    "http://127.0.0.1:9/",
    "30s",
    "-5s",
    "build",
    "attach",
    "\"*.o\"",
    "\"[a\"",
    "\"+ keep/\"",
    // characters that are hard to show or to quote
    "\"a\\nb\"",
    "\"a\\u0000b\"",
    "\"\\t\"",
    "\"\\u001b[31mred\"",
    "\"\\u0085\"",
    "\"\\u2028\"",
    "\"\\ufeff\"",
    "\"é\"",
    "\"\\U0001F600\"",
    "'it''s'",
    // tags
    "!custom x",
    "!!str 3",
    "!!int \"3\"",
    "!!float 1",
    "!!bool yes",
    "!!null ''",
    "!!binary aGVsbG8=",
    "!!timestamp 2001-12-14",
    "! x",
    "!<tag:yaml.org,2002:str> x",
];

/// Keys that loaders and schemas tend to read differently.
pub const KEYS: &[&str] = &[
    "[a]",
    "{a: 1}",
    ".nan",
    ".inf",
    "null",
    "~",
    "1",
    "0",
    "-1",
    "1.5",
    "1.0",
    "true",
    "false",
    "yes",
    "0x10",
    "18446744073709551616",
    "\"\"",
    "!custom k",
    "!!str 1",
    "!!int \"1\"",
    "<<",
    "\"version\"",
    "version",
    "project",
    "profile",
    "inputs",
    "depends_on",
    "host",
    "sandboxes",
    "images",
    "hub",
    "port_registry",
    "replace_on_image_change",
    "name",
    "driver",
    "type",
    "default",
    "required",
    "values",
    "aliases",
    "setup",
    "sync",
    "excludes",
    "ports",
    "sandboxs",
    "profle",
    "input",
    "dependson",
    "unknown",
    "x-extra",
    "\"a\\u0001\"",
    "\"é\"",
    "\"a b\"",
    "\"a.b\"",
    "\"-x\"",
];

/// A scalar or key text that is long: a long name, a long address, a long string.
pub fn long_text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => "a".repeat(rng.between(64, 100)),
        1 => format!("sandbox.{}", "a".repeat(rng.between(56, 100))),
        2 => format!("image.{}", "b".repeat(rng.between(58, 100))),
        _ => "x".repeat(rng.between(1_000, 100_000)),
    }
}

/// Nested collections `depth` deep around `leaf`, in flow or block style.
pub fn nested(depth: usize, map: bool, style: Style, leaf: Node) -> Node {
    (0..depth).fold(leaf, |inner, _| {
        if map {
            Node::Map(vec![(Node::Scalar("a".into()), inner)], style)
        } else {
            Node::Seq(vec![inner], style)
        }
    })
}

/// One mutation of `root`, described for the recipe; `others` are the seed
/// documents, for subtrees taken from another document, and `keys` the keys
/// the target's schema knows.
pub fn mutate(rng: &mut Rng, root: &mut Node, others: &[Node], keys: &[String]) -> String {
    let all = paths(root);
    // Mostly values: a key is changed by its own mutations.
    let values: Vec<Vec<Step>> = all
        .iter()
        .filter(|p| !matches!(p.last(), Some(Step::Key(_))))
        .cloned()
        .collect();
    let path = if rng.percent(85) {
        rng.pick(&values)
    } else {
        rng.pick(&all)
    }
    .clone();
    let place = describe(root, &path);
    match rng.below(14) {
        0..=2 => {
            let text = rng.pick(SCALARS).to_string();
            *at_mut(root, &path) = Node::Scalar(text.clone());
            format!("{place} := {text}")
        }
        3 => {
            let replacement = match rng.below(6) {
                0 => Node::Map(Vec::new(), Style::Flow),
                1 => Node::Seq(Vec::new(), Style::Flow),
                2 => {
                    let depth = rng.between(2, 200);
                    nested(
                        depth,
                        rng.percent(50),
                        *rng.pick(&[Style::Flow, Style::Block]),
                        Node::Scalar("x".into()),
                    )
                }
                3 => Node::Scalar(quoted(&long_text(rng))),
                4 => Node::Seq(
                    (0..rng.between(2, 50)).map(|i| Node::Scalar(i.to_string())).collect(),
                    Style::Block,
                ),
                _ => {
                    let other = rng.pick(others);
                    let their = paths(other);
                    let path: &Vec<Step> = rng.pick(&their);
                    at(other, path).clone()
                }
            };
            let text = short(&flow(&replacement));
            *at_mut(root, &path) = replacement;
            format!("{place} := {text}")
        }
        4 => delete_entry(rng, root),
        5 => duplicate_entry(rng, root),
        6 => {
            let node = at_mut(root, &path);
            let inner = std::mem::replace(node, Node::Scalar(String::new()));
            *node = if rng.percent(50) {
                Node::Seq(vec![inner], Style::Block)
            } else {
                Node::Map(vec![(Node::Scalar("a".into()), inner)], Style::Block)
            };
            format!("{place} nested one level deeper")
        }
        7 => add_key(rng, root, keys),
        8 => rename_key(rng, root, keys),
        9 => {
            let tag = rng
                .pick(&[
                    "!custom", "!!str", "!!int", "!!float", "!!map", "!!seq", "!!binary", "!", "!!bool",
                ])
                .to_string();
            decorate(at_mut(root, &path), &tag);
            format!("{place} tagged {tag}")
        }
        10 => alias(rng, root),
        11 => {
            if let Node::Seq(_, style) | Node::Map(_, style) = at_mut(root, &path) {
                *style = if *style == Style::Block {
                    Style::Flow
                } else {
                    Style::Block
                };
                format!("{place} in the other style")
            } else {
                format!("{place} left as it is")
            }
        }
        12 => {
            let text = long_text(rng);
            let shown = short(&text);
            *at_mut(root, &path) = Node::Scalar(quoted(&text));
            format!("{place} := a long string {shown}")
        }
        _ => {
            let text =
                quoted(rng.pick::<&str>(&["a\u{1}b", "\u{7f}", "tab\there", "a\u{0}b", "\u{1b}]0;title\u{7}", "\r"]));
            *at_mut(root, &path) = Node::Scalar(text.clone());
            format!("{place} := {text}")
        }
    }
}

/// Paths of the mappings (or sequences, when `maps` is false) of the tree.
fn collections(root: &Node, maps: bool) -> Vec<Vec<Step>> {
    paths(root)
        .into_iter()
        .filter(|p| match at(root, p) {
            Node::Map(entries, _) => maps && !entries.is_empty(),
            Node::Seq(items, _) => !maps && !items.is_empty(),
            _ => false,
        })
        .collect()
}

fn delete_entry(rng: &mut Rng, root: &mut Node) -> String {
    let maps = rng.percent(80);
    let found = collections(root, maps);
    if found.is_empty() {
        return "nothing to delete".into();
    }
    let path = rng.pick(&found).clone();
    let place = describe(root, &path);
    match at_mut(root, &path) {
        Node::Map(entries, _) => {
            let i = rng.below(entries.len());
            let (key, _) = entries.remove(i);
            format!("{place}: deleted key {}", short(&flow(&key)))
        }
        Node::Seq(items, _) => {
            let i = rng.below(items.len());
            items.remove(i);
            format!("{place}: deleted item {i}")
        }
        _ => "nothing to delete".into(),
    }
}

fn duplicate_entry(rng: &mut Rng, root: &mut Node) -> String {
    let maps = rng.percent(80);
    let found = collections(root, maps);
    if found.is_empty() {
        return "nothing to duplicate".into();
    }
    let path = rng.pick(&found).clone();
    let place = describe(root, &path);
    match at_mut(root, &path) {
        Node::Map(entries, _) => {
            let i = rng.below(entries.len());
            let entry = entries[i].clone();
            let key = short(&flow(&entry.0));
            entries.insert(rng.below(entries.len() + 1), entry);
            format!("{place}: key {key} given twice")
        }
        Node::Seq(items, _) => {
            let i = rng.below(items.len());
            let item = items[i].clone();
            items.insert(rng.below(items.len() + 1), item);
            format!("{place}: item {i} given twice")
        }
        _ => "nothing to duplicate".into(),
    }
}

/// A key to add or rename to: one the schema knows (given a value it may not
/// take), an awkward one, or a long one.
fn some_key(rng: &mut Rng, keys: &[String]) -> String {
    match rng.below(100) {
        0..=39 if !keys.is_empty() => rng.pick(keys).clone(),
        40..=54 => quoted(&long_text(rng)),
        _ => rng.pick(KEYS).to_string(),
    }
}

fn add_key(rng: &mut Rng, root: &mut Node, keys: &[String]) -> String {
    let found = collections(root, true);
    let Some(path) = (!found.is_empty()).then(|| rng.pick(&found).clone()) else {
        return "no mapping to add a key to".into();
    };
    let place = describe(root, &path);
    let key = some_key(rng, keys);
    let item = Node::Scalar(rng.pick(SCALARS).to_string());
    let text = format!("{}: {}", short(&key), flow(&item));
    if let Node::Map(entries, _) = at_mut(root, &path) {
        let i = rng.below(entries.len() + 1);
        entries.insert(i, (key_node(&key), item));
    }
    format!("{place}: added {text}")
}

fn rename_key(rng: &mut Rng, root: &mut Node, keys: &[String]) -> String {
    let found = collections(root, true);
    let Some(path) = (!found.is_empty()).then(|| rng.pick(&found).clone()) else {
        return "no key to rename".into();
    };
    let place = describe(root, &path);
    let key = some_key(rng, keys);
    if let Node::Map(entries, _) = at_mut(root, &path) {
        let i = rng.below(entries.len());
        let old = short(&flow(&entries[i].0));
        entries[i].0 = key_node(&key);
        return format!("{place}: key {old} renamed {}", short(&key));
    }
    "no key to rename".into()
}

/// A key from its text: flow collections stay collections, so that they are
/// written as explicit keys when long.
fn key_node(text: &str) -> Node {
    match text {
        "[a]" => Node::Seq(vec![Node::Scalar("a".into())], Style::Flow),
        "{a: 1}" => Node::Map(vec![(Node::Scalar("a".into()), Node::Scalar("1".into()))], Style::Flow),
        _ => Node::Scalar(text.to_string()),
    }
}

fn alias(rng: &mut Rng, root: &mut Node) -> String {
    let all = paths(root);
    if all.len() < 2 {
        return "no node to alias".into();
    }
    let name = format!("a{}", rng.below(100));
    match rng.below(4) {
        // an alias to an anchor that nothing defines
        0 => {
            let path = rng.pick(&all).clone();
            let place = describe(root, &path);
            *at_mut(root, &path) = Node::Alias(name.clone());
            format!("{place} := *{name} (no such anchor)")
        }
        // a merge key
        1 => {
            let maps = collections(root, true);
            // an earlier mapping that does not hold the one it is merged into
            let pairs: Vec<(Vec<Step>, Vec<Step>)> = maps
                .iter()
                .enumerate()
                .flat_map(|(i, a)| maps[i + 1..].iter().map(move |b| (a.clone(), b.clone())))
                .filter(|(a, b)| !b.starts_with(a))
                .collect();
            if pairs.is_empty() {
                return "no mapping to merge".into();
            }
            let (first, second) = rng.pick(&pairs).clone();
            let place = describe(root, &second);
            anchor(root, &first, &name);
            let target = at_mut(root, &second);
            if let Node::Map(entries, _) = target {
                entries.push((Node::Scalar("<<".into()), Node::Alias(name.clone())));
            }
            format!("{place}: added <<: *{name}")
        }
        // an anchored node used again later
        _ => {
            let i = rng.below(all.len() - 1);
            let j = rng.between(i + 1, all.len() - 1);
            let (first, second) = (all[i].clone(), all[j].clone());
            let (from, to) = (describe(root, &first), describe(root, &second));
            // The later path is taken first: anchoring the earlier one adds a step above it.
            *at_mut(root, &second) = Node::Alias(name.clone());
            if second.starts_with(&first) {
                return format!("{to} := *{name} (no such anchor)");
            }
            anchor(root, &first, &name);
            format!("{from} anchored &{name}, {to} := *{name}")
        }
    }
}

fn anchor(root: &mut Node, path: &[Step], name: &str) {
    decorate(at_mut(root, path), &format!("&{name}"));
}

/// Gives `node` a property (an anchor `&a` or a tag); a node has at most one
/// of each, so one it has already is replaced.
fn decorate(node: &mut Node, property: &str) {
    let is_anchor = |p: &str| p.starts_with('&');
    let inner = std::mem::replace(node, Node::Scalar(String::new()));
    *node = match inner {
        Node::Props(old, inner) => {
            let kept: Vec<&str> = old.split(' ').filter(|p| is_anchor(p) != is_anchor(property)).collect();
            let mut all = vec![property];
            all.extend(kept);
            all.sort_by_key(|p| !is_anchor(p));
            Node::Props(all.join(" "), inner)
        }
        other => Node::Props(property.to_string(), Box::new(other)),
    };
}

/// What may come around a document: a second document, directives, markers.
pub fn frame(rng: &mut Rng, text: &str, others: &[Node]) -> (String, String) {
    match rng.below(6) {
        0 => {
            let other = render(rng.pick(others));
            (format!("{text}---\n{other}"), "a second document after ---".into())
        }
        1 => (format!("{text}---\n"), "an empty second document".into()),
        2 => (
            format!("{text}...\n---\nversion: 1\n"),
            "a second document after ...".into(),
        ),
        3 => (format!("%YAML 1.2\n---\n{text}"), "a %YAML directive".into()),
        4 => (format!("--- !custom\n{text}"), "a tagged document".into()),
        _ => (format!("---\n{text}..."), "explicit document markers".into()),
    }
}

/// `levels` levels of `width` aliases of the level below: a billion laughs.
pub fn alias_bomb(levels: usize, width: usize) -> String {
    let mut text = format!("a0: &a0 [{}]\n", vec!["lol"; width].join(", "));
    for level in 1..levels {
        let below = vec![format!("*a{}", level - 1); width].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{below}]\n"));
    }
    text
}
