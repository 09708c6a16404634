//! Positions of the keys of a YAML document, so that problems found after
//! deserialisation can still point at a file, line and column.
//!
//! serde gives locations for syntax and type errors only; the semantic checks run
//! on typed values and look the key path up here.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diagnostic::Location;

/// Key path → position of the key (for mapping entries) or of the item (for sequence items).
///
/// Paths are written `a.b.c` for mapping keys and `a.b[2]` for sequence items; the
/// document root is the empty path.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    positions: HashMap<String, Location>,
    duplicates: Vec<Duplicate>,
}

/// A mapping key written twice: YAML keeps `1` and `"1"` (or `true` and
/// `"true"`) apart as keys of different types, sandboxer reads both as one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key path.
    pub path: String,
    /// Where the key is first.
    pub first: Location,
    /// Where it comes again.
    pub again: Location,
}

impl SourceMap {
    /// Indexes a YAML document. A document that does not parse gives an empty map:
    /// the syntax error is reported by the deserialiser with its own location.
    pub fn index(source: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut builder, false).is_err() {
            return SourceMap::default();
        }
        SourceMap {
            positions: builder.positions,
            duplicates: builder.duplicates,
        }
    }

    /// Keys written twice in one mapping, whatever their YAML type or quoting.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// The position of `path`, or of its closest ancestor that has one.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut current = path;
        loop {
            if let Some(location) = self.positions.get(current) {
                return Some(*location);
            }
            if current.is_empty() {
                return None;
            }
            current = parent_path(current);
        }
    }

    /// The position of `path` only if that exact path is in the document.
    pub fn exact(&self, path: &str) -> Option<Location> {
        self.positions.get(path).copied()
    }
}

/// `a.b[1].c` → `a.b[1]` → `a.b` → `a` → ``.
fn parent_path(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Joins a child key onto a path.
pub fn child_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a sequence index onto a path.
pub fn child_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

enum Frame {
    Mapping { path: String, pending_key: Option<String> },
    Sequence { path: String, next_index: usize },
}

/// yaml-rust2 counts lines from 1 and columns from 0.
fn location_of(mark: Marker) -> Location {
    Location {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, Location>,
    duplicates: Vec<Duplicate>,
}

impl Builder {
    fn record(&mut self, path: String, mark: Marker) {
        self.positions.entry(path).or_insert(location_of(mark));
    }

    /// Called for a value node (scalar or collection start); returns its path, or
    /// None when the node is a mapping key.
    fn value_path(&mut self, scalar_key: Option<&str>, mark: Marker) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(child_key(path, &key)),
                None => {
                    // This node is a key. Complex (non-scalar) keys get a placeholder.
                    let key = scalar_key.unwrap_or("?").to_string();
                    let key_path = child_key(path, &key);
                    *pending_key = Some(key);
                    if let Some(first) = self.positions.get(&key_path).copied() {
                        self.duplicates.push(Duplicate {
                            path: key_path.clone(),
                            first,
                            again: location_of(mark),
                        });
                    }
                    self.record(key_path, mark);
                    None
                }
            },
            Some(Frame::Sequence { path, next_index }) => {
                let item = child_index(path, *next_index);
                *next_index += 1;
                self.record(item.clone(), mark);
                Some(item)
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.value_path(Some(&value), mark) {
                    self.record(path, mark);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.value_path(Some("*alias"), mark) {
                    self.record(path, mark);
                }
            }
            Event::MappingStart(..) => {
                let path = self.value_path(None, mark).unwrap_or_default();
                self.record(path.clone(), mark);
                self.stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(None, mark).unwrap_or_default();
                self.record(path.clone(), mark);
                self.stack.push(Frame::Sequence { path, next_index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nproject: p\nsandboxes:\n  app:\n    profile: x\n    depends_on: [image.a, image.b]\n    inputs:\n      vm: haskell-build\n";

    #[test]
    fn finds_keys_and_items() {
        let map = SourceMap::index(DOC);
        assert_eq!(map.exact("project"), Some(Location { line: 2, column: 1 }));
        assert_eq!(
            map.exact("sandboxes.app.profile"),
            Some(Location { line: 5, column: 5 })
        );
        assert_eq!(
            map.exact("sandboxes.app.depends_on[1]"),
            Some(Location { line: 6, column: 27 })
        );
        assert_eq!(
            map.exact("sandboxes.app.inputs.vm"),
            Some(Location { line: 8, column: 7 })
        );
    }

    #[test]
    fn keys_that_differ_only_in_type_or_quoting_are_duplicates() {
        let map = SourceMap::index("a:\n  1: x\n  \"1\": y\n  true: a\n  'true': b\n  other: c\n");
        let found: Vec<(&str, usize, usize)> = map
            .duplicates()
            .iter()
            .map(|d| (d.path.as_str(), d.first.line, d.again.line))
            .collect();
        assert_eq!(found, [("a.1", 2, 3), ("a.true", 4, 5)]);
    }

    #[test]
    fn falls_back_to_the_closest_ancestor() {
        let map = SourceMap::index(DOC);
        assert_eq!(
            map.locate("sandboxes.app.inputs.repo"),
            map.exact("sandboxes.app.inputs")
        );
        assert_eq!(map.exact("sandboxes.app.inputs.repo"), None);
    }
}
