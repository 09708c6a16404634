//! Reading an input document (a manifest, a profile, a port registry, a saved
//! plan) into the JSON value the schemas judge, with the position of every node.
//!
//! One reader for every input, so that each has the same limits and the same
//! located refusals. It pulls yaml-rust2's event stream and builds the value as
//! it goes, so a limit stops it at the first node past it, before any tree of
//! the rest exists: time and memory stay linear in the size of the input.
//! JSON is YAML, so saved plans are read here too.
//!
//! What is read is the part of YAML that JSON can hold, resolved with the YAML
//! 1.2 core schema: one document; keys that are text or whole numbers
//! (`12221:` becomes the key `"12221"`, as JSON writes number keys); no keys
//! given twice; finite numbers that fit in 64 bits; aliases expanded; the core
//! tags (`!!str`, `!!int`, ...) only. A whole number written as a float
//! (`1.0`, `1e3`) is that whole number, as JSON Schema counts it.

pub mod check;
mod generate;

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Location};
use crate::source_map::{SourceMap, SourceMapBuilder};

pub use check::Schema;
pub use generate::schema_of;

/// How deep collections may nest. The deepest input sandboxer defines needs 7.
pub const MAX_DEPTH: usize = 64;

/// How many values (scalars and collections, keys included, an alias counting
/// every value it stands for) a document may hold.
pub const MAX_NODES: usize = 1_000_000;

/// A document read: its value and where each of its nodes is.
#[derive(Debug, Clone)]
pub struct Document {
    /// The value; `Null` for a document with nothing in it.
    pub value: Value,
    /// Positions, by key path.
    pub source_map: SourceMap,
}

/// Reads `bytes` as one YAML (or JSON) document. `path` names the file in the
/// diagnostics. Keys given twice are all reported; any other problem stops the
/// reading at the first.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Document, Vec<Diagnostic>> {
    read_as(path, bytes, Syntax::Yaml)
}

/// Reads `bytes` that a JSON parser has accepted already (a saved plan): JSON
/// allows in its strings what YAML files may not hold raw (U+2028, say).
pub fn read_json(path: &Path, bytes: &[u8]) -> Result<Document, Vec<Diagnostic>> {
    read_as(path, bytes, Syntax::Json)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Yaml,
    Json,
}

fn read_as(path: &Path, bytes: &[u8], syntax: Syntax) -> Result<Document, Vec<Diagnostic>> {
    let text = std::str::from_utf8(bytes).map_err(|e| vec![not_utf8(path, bytes, &e)])?;
    // yaml-rust2 does not skip a byte order mark; it is no content, but it
    // moves the columns of line 1 by one.
    let (text, bom) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    if syntax == Syntax::Yaml {
        check_characters(path, text, bom).map_err(|d| vec![d])?;
    }
    let mut reader = Reader {
        path,
        bom,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        map: SourceMapBuilder::default(),
        duplicates: Vec::new(),
        documents: 0,
        root: None,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            let at = reader.location(*e.marker());
            let message = if e.info().contains("recursion limit") {
                format!("values nest deeper than {MAX_DEPTH} levels by here")
            } else {
                format!("invalid YAML: {}", e.info())
            };
            vec![Diagnostic::new(path, Some(at), reader.map.current_path(), message).with_hint(syntax_hint(e.info()))]
        })?;
        match event {
            Event::StreamEnd => break,
            event => reader.on_event(event, mark).map_err(|d| vec![*d])?,
        }
    }
    if !reader.duplicates.is_empty() {
        return Err(reader.duplicates);
    }
    Ok(Document {
        value: reader.root.unwrap_or(Value::Null),
        source_map: reader.map.finish(),
    })
}

/// A refusal that stops the reading.
type Stop = Box<Diagnostic>;

/// A collection being read.
enum Open {
    Sequence {
        items: Vec<Value>,
        /// Values in this collection so far (itself included), for aliases of it.
        nodes: usize,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        /// The key read, waiting for its value.
        key: Option<String>,
        nodes: usize,
        anchor: usize,
    },
}

struct Reader<'a> {
    path: &'a Path,
    bom: bool,
    stack: Vec<Open>,
    /// Anchored values with how many values each holds.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    map: SourceMapBuilder,
    duplicates: Vec<Diagnostic>,
    documents: usize,
    root: Option<Value>,
}

impl Reader<'_> {
    /// yaml-rust2 counts lines from 1 and columns from 0.
    fn location(&self, mark: Marker) -> Location {
        let shift = usize::from(self.bom && mark.line() == 1);
        Location {
            line: mark.line(),
            column: mark.col() + 1 + shift,
        }
    }

    fn stop(&self, mark: Marker, message: impl Into<String>, hint: impl Into<String>) -> Stop {
        Box::new(
            Diagnostic::new(self.path, Some(self.location(mark)), self.map.current_path(), message).with_hint(hint),
        )
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Mapping { key: None, .. }))
    }

    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), Stop> {
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.stop(
                        mark,
                        "a second YAML document starts here; the file must hold one",
                        "remove this `---` line and what follows it, or move that part into a file of its own",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(mark, 1)?;
                if self.expecting_key() {
                    // A key that YAML would read as anything but text or a whole
                    // number is refused as a key, whatever else is wrong with it.
                    if let Some(tag) = &tag {
                        return Err(self.unsupported_tag(tag, mark));
                    }
                    let value = self.scalar(&text, style, None, mark).ok();
                    let key = value.as_ref().and_then(key_text);
                    return match (key, value) {
                        (Some(key), Some(value)) => {
                            // An anchored key may be used as a value elsewhere.
                            if anchor > 0 {
                                self.anchors.insert(anchor, (value, 1));
                            }
                            self.key(key, mark)
                        }
                        (_, value) => Err(self.bad_key(value.as_ref(), &text, mark)),
                    };
                }
                let value = self.scalar(&text, style, tag.as_ref(), mark)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.value(value, 1, mark);
            }
            Event::Alias(id) => {
                let Some((value, nodes)) = self.anchors.get(&id).cloned() else {
                    return Err(self.stop(
                        mark,
                        "this alias names an anchor that is not defined before it",
                        "define the anchor (`&name`) before its first use (`*name`)",
                    ));
                };
                self.count(mark, nodes)?;
                if self.expecting_key() {
                    return match key_text(&value) {
                        Some(key) => self.key(key, mark),
                        None => Err(self.bad_key(Some(&value), "*alias", mark)),
                    };
                }
                self.value(value, nodes, mark);
            }
            Event::SequenceStart(anchor, tag) => self.start(anchor, tag, mark, false)?,
            Event::MappingStart(anchor, tag) => self.start(anchor, tag, mark, true)?,
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, nodes, anchor) = match self.stack.pop() {
                    Some(Open::Sequence { items, nodes, anchor }) => (Value::Array(items), nodes, anchor),
                    Some(Open::Mapping {
                        entries, nodes, anchor, ..
                    }) => (Value::Object(entries), nodes, anchor),
                    None => return Ok(()),
                };
                self.map.close();
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), nodes));
                }
                self.place(value, nodes);
            }
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// A list or a mapping starts.
    fn start(&mut self, anchor: usize, tag: Option<Tag>, mark: Marker, is_mapping: bool) -> Result<(), Stop> {
        if self.expecting_key() {
            return Err(self.stop(
                mark,
                "a key must be text, not a list or a mapping",
                "write the key as plain text before the `:`",
            ));
        }
        self.count(mark, 1)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.stop(
                mark,
                format!("values nest deeper than {MAX_DEPTH} levels here"),
                "no sandboxer file needs more than a few levels; look for unclosed `[` or `{`",
            ));
        }
        if let Some(tag) = &tag {
            return Err(self.unsupported_tag(tag, mark));
        }
        self.map.open(self.location(mark), is_mapping);
        self.stack.push(if is_mapping {
            Open::Mapping {
                entries: Map::new(),
                key: None,
                nodes: 1,
                anchor,
            }
        } else {
            Open::Sequence {
                items: Vec::new(),
                nodes: 1,
                anchor,
            }
        });
        Ok(())
    }

    fn count(&mut self, mark: Marker, nodes: usize) -> Result<(), Stop> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(self.stop(
                mark,
                format!("the document holds more than {MAX_NODES} values by here (an alias counts every value it stands for)"),
                "split the file, or use fewer aliases of large anchors",
            ));
        }
        Ok(())
    }

    /// A mapping key read: remembered for its value, refused when given twice.
    fn key(&mut self, key: String, mark: Marker) -> Result<(), Stop> {
        let at = self.location(mark);
        if let Some(first) = self.map.key(&key, at) {
            // The path now ends in the key.
            let path = self.map.current_path();
            self.duplicates.push(
                Diagnostic::new(
                    self.path,
                    Some(at),
                    path,
                    format!(
                        "this key is given twice (first at line {}, column {})",
                        first.line, first.column
                    ),
                )
                .with_hint("keep one of them; YAML tells `1` from `\"1\"`, sandboxer does not"),
            );
        }
        if let Some(Open::Mapping { key: pending, .. }) = self.stack.last_mut() {
            *pending = Some(key);
        }
        Ok(())
    }

    /// A scalar or an alias's value that is a value, not a key.
    fn value(&mut self, value: Value, nodes: usize, mark: Marker) {
        self.map.leaf(self.location(mark));
        self.place(value, nodes);
    }

    /// Puts a finished value into the collection it belongs to (or makes it the root).
    fn place(&mut self, value: Value, nodes: usize) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Open::Sequence { items, nodes: n, .. }) => {
                items.push(value);
                *n += nodes;
            }
            Some(Open::Mapping {
                entries, key, nodes: n, ..
            }) => {
                if let Some(key) = key.take() {
                    // A key given twice is reported; the first value stays.
                    entries.entry(key).or_insert(value);
                }
                *n += nodes + 1;
            }
        }
    }

    fn scalar(&self, text: &str, style: TScalarStyle, tag: Option<&Tag>, mark: Marker) -> Result<Value, Stop> {
        if let Some(tag) = tag {
            return Err(self.unsupported_tag(tag, mark));
        }
        let resolved = if style == TScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Ok(Value::String(text.to_string()))
        };
        resolved.map_err(|problem| match problem {
            NotScalar::TooLarge => self.stop(
                mark,
                format!("number too large: `{text}` does not fit in 64 bits"),
                "write a whole number between -9223372036854775808 and 18446744073709551615, or quote it to pass it as text",
            ),
            NotScalar::NotFinite => self.stop(
                mark,
                format!("`{text}` is not a finite number"),
                "write a number, or quote it (`\".nan\"`) to pass it as text",
            ),
        })
    }

    /// JSON has no tags, so no file sandboxer reads has one (`!!str` included:
    /// quoting says the same).
    fn unsupported_tag(&self, tag: &Tag, mark: Marker) -> Stop {
        let shown = if tag.handle == "tag:yaml.org,2002:" {
            format!("!!{}", tag.suffix)
        } else if tag.handle.is_empty() && tag.suffix == "!" {
            "!".to_string()
        } else {
            format!("{}{}", tag.handle, tag.suffix)
        };
        self.stop(
            mark,
            format!("the YAML tag `{shown}` is not supported"),
            "remove the tag; quote a value to make it text",
        )
    }

    fn bad_key(&self, value: Option<&Value>, text: &str, mark: Marker) -> Stop {
        let reads_as = match value {
            None => "a number that is not finite or does not fit in 64 bits",
            Some(Value::Null) => "null",
            Some(Value::Bool(_)) => "a boolean",
            Some(Value::Number(_)) => "a fractional number",
            Some(Value::Array(_)) => "a list",
            Some(Value::Object(_)) => "a mapping",
            Some(Value::String(_)) => "text",
        };
        self.stop(
            mark,
            format!("a key must be text or a whole number; `{text}` reads as {reads_as}"),
            format!("quote the key: `\"{text}\":`"),
        )
    }
}

/// The key an accepted scalar makes: text as it is, a whole number in decimal.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Why a scalar is not a value sandboxer reads.
enum NotScalar {
    TooLarge,
    NotFinite,
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Digits after a leading zero (`0123`) are text in YAML 1.2, not an octal number.
fn digits_after_a_leading_zero(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]digits`, `0x..`, `0o..`, `0b..`: the integer forms of the core schema.
fn looks_like_int(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (digits, radix) = match unsigned.get(..2) {
        Some("0x") => (&unsigned[2..], 16),
        Some("0o") => (&unsigned[2..], 8),
        Some("0b") => (&unsigned[2..], 2),
        _ => (unsigned, 10),
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) && !digits_after_a_leading_zero(text)
}

/// A plain scalar resolved by the YAML 1.2 core schema (as serde_yaml_ng does).
fn resolve_plain(text: &str) -> Result<Value, NotScalar> {
    if is_null(text) {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(text) {
        return Ok(Value::Bool(b));
    }
    if looks_like_int(text) {
        return parse_int(text).map(Value::Number).ok_or(NotScalar::TooLarge);
    }
    if digits_after_a_leading_zero(text) {
        return Ok(Value::String(text.to_string()));
    }
    if let Some(f) = parse_float(text) {
        if f.is_finite() {
            return Ok(Value::Number(whole_or_float(f)));
        }
        // `.inf` and `.nan` are numbers JSON cannot hold; a decimal that
        // overflows (`1e400`) is no float of the core schema: text.
        if text.contains(['i', 'I', 'n', 'N']) {
            return Err(NotScalar::NotFinite);
        }
    }
    Ok(Value::String(text.to_string()))
}

fn parse_int(text: &str) -> Option<Number> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (digits, radix) = match unsigned.get(..2) {
        Some("0x") => (&unsigned[2..], 16),
        Some("0o") => (&unsigned[2..], 8),
        Some("0b") => (&unsigned[2..], 2),
        _ => (unsigned, 10),
    };
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude).ok().map(|m| -m).or_else(|| {
            // i64::MIN has no positive counterpart.
            (magnitude == 1u128 << 63).then_some(i64::MIN)
        })?;
        Some(Number::from(value))
    } else {
        u64::try_from(magnitude).ok().map(Number::from)
    }
}

/// `.inf`, `-.inf`, `.nan` and the decimal forms (what serde_yaml_ng reads as floats).
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust also reads `inf`, `nan` and `infinity`, which YAML calls text.
    if !unsigned.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    unsigned.parse::<f64>().ok()
}

/// A float that is a whole number in the 64-bit range is that integer.
fn whole_or_float(f: f64) -> Number {
    // 2^63 and 2^64 are exact in f64; the bounds keep the cast exact.
    if f.fract() == 0.0 {
        if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
            return Number::from(f as i64);
        }
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return Number::from(f as u64);
        }
    }
    Number::from_f64(f).unwrap_or_else(|| Number::from(0))
}

/// Refuses what YAML does not allow in a file or reads differently across
/// versions: control characters (but tab, line feed and carriage return),
/// the Unicode line and paragraph separators and NEL (line breaks to YAML 1.1
/// readers, text to YAML 1.2 ones: a file would mean two things), the
/// non-characters U+FFFE and U+FFFF, and a tab at the start of a line (YAML
/// indents with spaces; readers disagree on a tab there).
fn check_characters(path: &Path, text: &str, bom: bool) -> Result<(), Diagnostic> {
    let mut line = 1;
    let mut column = 1 + usize::from(bom);
    // Only the first `...` needs a look at the rest (which keeps this linear).
    let mut ended = false;
    for (offset, c) in text.char_indices() {
        let problem = match c {
            '\n' => {
                line += 1;
                column = 1;
                continue;
            }
            '\t' if column == 1 => Some((
                "a tab at the start of a line".to_string(),
                "YAML indents with spaces: replace the tab with spaces",
            )),
            '\t' | '\r' => None,
            // A byte order mark is allowed first (stripped before), nowhere else.
            '\u{feff}' => Some((
                "a byte order mark inside the file".to_string(),
                "remove it: it is invisible, and YAML readers disagree on what it means there",
            )),
            '.' if column == 1 && !ended && is_document_end(text, offset) => {
                ended = true;
                content_after(text, offset).then(|| {
                    (
                        "content after the document end marker `...`: the file must hold one document".to_string(),
                        "remove this line and what follows it, or move that part into a file of its own",
                    )
                })
            }
            '\u{2028}' | '\u{2029}' | '\u{85}' => Some((
                format!(
                    "the character U+{:04X} (a Unicode line break) is not allowed",
                    u32::from(c)
                ),
                "remove it, or write a plain newline: YAML readers disagree on what it means",
            )),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => Some((
                format!("the character U+{:04X} is not allowed in a YAML file", u32::from(c)),
                "remove it; a value that needs it cannot be given in a file",
            )),
            _ => None,
        };
        if let Some((message, hint)) = problem {
            return Err(Diagnostic::new(path, Some(Location { line, column }), "", message).with_hint(hint));
        }
        column += 1;
    }
    Ok(())
}

/// `...` at `offset` (the start of a line), followed by the end of the line,
/// a space or a tab: a document end marker.
fn is_document_end(text: &str, offset: usize) -> bool {
    let rest = &text[offset..];
    rest.starts_with("...") && matches!(rest.as_bytes().get(3), None | Some(b'\n' | b'\r' | b' ' | b'\t'))
}

/// Whether a line after the one at `offset` holds more than blanks, comments
/// and further `...` markers.
fn content_after(text: &str, offset: usize) -> bool {
    text[offset..].lines().skip(1).any(|line| {
        let line = line.trim();
        !(line.is_empty()
            || line.starts_with('#')
            || line == "..."
            || line.starts_with("... ")
            || line.starts_with("...#"))
    })
}

/// The location of the first byte that is not UTF-8.
fn not_utf8(path: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> Diagnostic {
    let valid = &bytes[..e.valid_up_to()];
    let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
    let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
    Diagnostic::new(
        path,
        Some(Location { line, column }),
        "",
        format!("the file is not UTF-8 text: byte 0x{byte:02x} here is not part of a UTF-8 character"),
    )
    .with_hint("save the file as UTF-8")
}

/// A hint for a YAML syntax error, by what yaml-rust2 says.
fn syntax_hint(info: &str) -> &'static str {
    if info.contains("tab") {
        "indent with spaces; YAML does not allow tabs there"
    } else if info.contains("recursion limit") {
        "no sandboxer file needs more than a few levels; look for unclosed `[` or `{`"
    } else if info.contains("anchor") {
        "define the anchor (`&name`) before its first use (`*name`)"
    } else if info.contains("did not find expected") || info.contains("mapping values are not allowed") {
        "check the indentation, and quote a value that holds `: ` or starts with `[`, `{`, `*`, `&` or `!`"
    } else {
        "check the quoting and indentation around this line"
    }
}

/// A document read and checked as a `T`.
#[derive(Debug, Clone)]
pub struct Typed<T> {
    /// The value as its type.
    pub value: T,
    /// Positions, for the semantic checks that come after.
    pub source_map: SourceMap,
}

/// Reads `bytes`, checks them against `schema` and reads the value as `T`;
/// `empty` is the refusal of a document with nothing in it.
pub fn read_typed<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    schema: &Schema,
    empty: impl FnOnce() -> Diagnostic,
) -> Result<Typed<T>, Vec<Diagnostic>> {
    let document = read(path, bytes)?;
    if document.value.is_null() {
        return Err(vec![empty()]);
    }
    let mut problems = schema.problems(path, &document.value, &document.source_map);
    if !problems.is_empty() {
        problems.sort_by_key(|d| d.location);
        return Err(problems);
    }
    let value = schema.read(path, document.value).map_err(|d| vec![d])?;
    Ok(Typed {
        value,
        source_map: document.source_map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_str(text: &str) -> Result<Value, Vec<Diagnostic>> {
        read(Path::new("f.yaml"), text.as_bytes()).map(|d| d.value)
    }

    fn refusal(text: &str) -> Diagnostic {
        let mut problems = read_str(text).expect_err("must be refused");
        assert!(!problems.is_empty());
        problems.remove(0)
    }

    fn at(d: &Diagnostic) -> (usize, usize) {
        d.location.map(|l| (l.line, l.column)).unwrap_or_default()
    }

    #[test]
    fn reads_the_core_schema_as_json() {
        let value = read_str(
            "a: 1\nb: -0x10\nc: 1.5\nd: 1.0\ne: 1e3\nf: ~\ng: true\nh: '1'\ni: 0123\nj: 1e400\nk: yes\n12221: p\nl: [x, {y: z}]\n",
        )
        .expect("reads");
        assert_eq!(
            value,
            json!({"a": 1, "b": -16, "c": 1.5, "d": 1, "e": 1000, "f": null, "g": true, "h": "1",
                   "i": "0123", "j": "1e400", "k": "yes", "12221": "p", "l": ["x", {"y": "z"}]})
        );
    }

    #[test]
    fn reads_json() {
        let value = read_str("{\"a\": [1, 2.5, \"\\u00e9\"], \"b\": {\"c\": null}}").expect("reads");
        assert_eq!(value, json!({"a": [1, 2.5, "é"], "b": {"c": null}}));
    }

    #[test]
    fn a_deep_document_is_refused_at_the_first_level_past_the_limit() {
        // Brackets are counted by the scanner, which looks ahead for keys and
        // stops at 255 open ones; block nesting by the reader.
        for deep in ["[".repeat(100_000), "{a: ".repeat(100_000)] {
            let d = refusal(&deep);
            assert!(at(&d).0 == 1 && at(&d).1 <= 4 * 256, "{d}");
            assert!(d.message.contains("nest deeper than 64"), "{d}");
        }
        let block = "- ".repeat(100_000) + "x\n";
        let d = refusal(&block);
        assert_eq!(at(&d), (1, 2 * MAX_DEPTH + 1), "{d}");
    }

    #[test]
    fn an_alias_bomb_is_refused_by_the_node_count() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            text.push_str(&format!("l{i}: &l{i} [{}]\n", vec![format!("*{prev}"); 10].join(", ")));
        }
        let d = refusal(&text);
        assert!(d.message.contains("more than 1000000 values"), "{d}");
        assert!(d.location.is_some(), "{d}");
    }

    #[test]
    fn refusals_are_located_and_hinted() {
        for (text, line, what) in [
            ("a: 1\n---\nb: 2\n", 2, "second YAML document"),
            ("a:\n  [x]: 3\n", 2, "a key must be text"),
            ("a:\n  .nan: 3\n", 2, "a key must be text"),
            ("a:\n  null: 3\n", 2, "a key must be text"),
            ("a: 99999999999999999999\n", 1, "number too large"),
            ("a: .inf\n", 1, "not a finite number"),
            ("a: !custom x\n", 1, "tag `!custom`"),
            ("a: *nothing\n", 1, "anchor"),
            ("a: !!str x\n", 1, "tag `!!str`"),
            ("a:\n\tb: 1\n", 2, "a tab at the start of a line"),
            ("a: x\u{2028}y\n", 1, "U+2028"),
            ("a: \"x\u{7}y\"\n", 1, "U+0007"),
            ("a: 1\n\u{feff}b: 2\n", 2, "byte order mark"),
            ("\n...\na: 1\n", 2, "after the document end marker"),
            ("a: 1\nb: 2\na: 3\n", 3, "given twice"),
        ] {
            let d = refusal(text);
            assert_eq!(d.location.map(|l| l.line), Some(line), "{text:?}: {d}");
            assert!(d.message.contains(what), "{text:?}: {d}");
            assert!(d.hint.is_some(), "{text:?}: {d}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_says_where() {
        let d = read(Path::new("f.yaml"), b"a: 1\nb: x\xffy\n")
            .expect_err("refused")
            .remove(0);
        assert_eq!(at(&d), (2, 5), "{d}");
        assert!(d.message.contains("0xff"), "{d}");
    }

    #[test]
    fn a_byte_order_mark_is_no_content() {
        let doc = read(Path::new("f.yaml"), "\u{feff}a: 1\nb: 2\n".as_bytes()).expect("reads");
        assert_eq!(doc.value, json!({"a": 1, "b": 2}));
        assert_eq!(doc.source_map.exact("a"), Some(Location { line: 1, column: 2 }));
    }

    #[test]
    fn keys_and_items_have_positions() {
        let doc = read(
            Path::new("f.yaml"),
            b"version: 1\nsandboxes:\n  app:\n    depends_on: [image.a, image.b]\n",
        )
        .expect("reads");
        assert_eq!(
            doc.source_map.exact("sandboxes.app"),
            Some(Location { line: 3, column: 3 })
        );
        assert_eq!(
            doc.source_map.exact("sandboxes.app.depends_on[1]"),
            Some(Location { line: 4, column: 27 })
        );
    }
}
