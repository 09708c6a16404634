//! Positions of the keys of a YAML document, so that problems found after
//! deserialisation can still point at a file, line and column.
//!
//! serde gives locations for syntax and type errors only; the semantic checks run
//! on typed values and look the key path up here.

use std::collections::HashMap;

use crate::diagnostic::Location;

/// Where each node of a document is, by key path.
///
/// Paths are written `a.b.c` for mapping keys and `a.b[2]` for sequence items; the
/// document root is the empty path. A mapping entry is found at its key, a
/// sequence item at the item. Built by [`crate::document::read`] while it reads,
/// as a tree, so its size and the time to build it stay linear in the document.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    /// Node 0 is the root, when there is one.
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    location: Location,
    children: Children,
}

#[derive(Debug, Clone)]
enum Children {
    None,
    Keys(HashMap<String, usize>),
    Items(Vec<usize>),
}

impl SourceMap {
    /// The position of `path`, or of its closest ancestor that has one.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let (node, _) = self.walk(path)?;
        Some(self.nodes[node].location)
    }

    /// The position of `path` only if that exact path is in the document.
    pub fn exact(&self, path: &str) -> Option<Location> {
        match self.walk(path)? {
            (node, true) => Some(self.nodes[node].location),
            (_, false) => None,
        }
    }

    /// The deepest node on `path`, and whether it is `path` itself.
    fn walk(&self, path: &str) -> Option<(usize, bool)> {
        self.nodes.first()?;
        let mut node = 0;
        let mut rest = path;
        while !rest.is_empty() {
            let next = match &self.nodes[node].children {
                Children::Keys(keys) => {
                    let rest_key = rest.strip_prefix('.').unwrap_or(rest);
                    // A key may hold `.` or `[` itself: try each place the path
                    // could end it, shortest first.
                    let ends = rest_key
                        .char_indices()
                        .filter(|(_, c)| matches!(c, '.' | '['))
                        .map(|(i, _)| i)
                        .chain(std::iter::once(rest_key.len()));
                    ends.filter_map(|end| keys.get(&rest_key[..end]).map(|child| (*child, &rest_key[end..])))
                        .next()
                }
                Children::Items(items) => rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']'))
                    .and_then(|(index, after)| Some((*items.get(index.parse::<usize>().ok()?)?, after))),
                Children::None => None,
            };
            match next {
                Some((child, after)) => {
                    node = child;
                    rest = after;
                }
                None => return Some((node, false)),
            }
        }
        Some((node, true))
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

/// Builds a [`SourceMap`] from a reader's events, in document order.
#[derive(Debug, Default)]
pub struct SourceMapBuilder {
    nodes: Vec<Node>,
    stack: Vec<Frame>,
}

#[derive(Debug)]
struct Frame {
    node: usize,
    /// This collection's place in its parent.
    label: Label,
    /// The entry whose key was read and whose value comes next.
    pending: Option<(usize, String)>,
}

#[derive(Debug)]
enum Label {
    Root,
    Key(String),
    Index(usize),
}

impl SourceMapBuilder {
    /// The node the next value fills, and its place in its parent.
    fn slot(&mut self, location: Location) -> (usize, Label) {
        let Some(frame) = self.stack.last_mut() else {
            if self.nodes.is_empty() {
                self.nodes.push(Node {
                    location,
                    children: Children::None,
                });
            }
            return (0, Label::Root);
        };
        if let Some((entry, key)) = frame.pending.take() {
            return (entry, Label::Key(key));
        }
        let parent = frame.node;
        let index = self.nodes.len();
        self.nodes.push(Node {
            location,
            children: Children::None,
        });
        match &mut self.nodes[parent].children {
            Children::Items(items) => {
                items.push(index);
                (index, Label::Index(items.len() - 1))
            }
            // A value where a key was due: the reader refuses that before.
            _ => (index, Label::Root),
        }
    }

    /// A collection starts at `location`.
    pub fn open(&mut self, location: Location, mapping: bool) {
        let (node, label) = self.slot(location);
        self.nodes[node].children = if mapping {
            Children::Keys(HashMap::new())
        } else {
            Children::Items(Vec::new())
        };
        self.stack.push(Frame {
            node,
            label,
            pending: None,
        });
    }

    /// The innermost collection ends.
    pub fn close(&mut self) {
        self.stack.pop();
    }

    /// A scalar (or an alias) value at `location`.
    pub fn leaf(&mut self, location: Location) {
        self.slot(location);
    }

    /// A key of the innermost mapping at `location`; when the mapping has it
    /// already, the first one's position (and the value that follows is kept
    /// out of the map).
    pub fn key(&mut self, key: &str, location: Location) -> Option<Location> {
        let index = self.nodes.len();
        self.nodes.push(Node {
            location,
            children: Children::None,
        });
        let frame = self.stack.last_mut()?;
        // yaml-rust2 marks a block mapping where its first `:` is; the mapping
        // starts at its first key.
        let mapping = &mut self.nodes[frame.node];
        if location < mapping.location {
            mapping.location = location;
        }
        let first = match &mut self.nodes[frame.node].children {
            Children::Keys(keys) => match keys.get(key) {
                Some(first) => Some(*first),
                None => {
                    keys.insert(key.to_string(), index);
                    None
                }
            },
            _ => None,
        };
        frame.pending = Some((index, key.to_string()));
        first.map(|first| self.nodes[first].location)
    }

    /// The key path of the innermost open place (with the key whose value is
    /// being read, if any).
    pub fn current_path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match &frame.label {
                Label::Root => {}
                Label::Key(key) => path = child_key(&path, key),
                Label::Index(i) => path = child_index(&path, *i),
            }
        }
        if let Some((_, key)) = self.stack.last().and_then(|f| f.pending.as_ref()) {
            path = child_key(&path, key);
        }
        path
    }

    /// The map.
    pub fn finish(self) -> SourceMap {
        SourceMap { nodes: self.nodes }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const DOC: &str = "version: 1\nproject: p\nsandboxes:\n  app:\n    profile: x\n    depends_on: [image.a, image.b]\n    inputs:\n      vm: haskell-build\n      a.b: dotted\n";

    fn index(text: &str) -> SourceMap {
        crate::document::read(Path::new("f.yaml"), text.as_bytes())
            .expect("reads")
            .source_map
    }

    #[test]
    fn finds_keys_and_items() {
        let map = index(DOC);
        assert_eq!(map.exact(""), Some(Location { line: 1, column: 1 }));
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
        assert_eq!(
            map.exact("sandboxes.app.inputs.a.b"),
            Some(Location { line: 9, column: 7 })
        );
    }

    #[test]
    fn falls_back_to_the_closest_ancestor() {
        let map = index(DOC);
        assert_eq!(
            map.locate("sandboxes.app.inputs.repo"),
            map.exact("sandboxes.app.inputs")
        );
        assert_eq!(map.exact("sandboxes.app.inputs.repo"), None);
        assert_eq!(
            map.locate("sandboxes.app.depends_on[7]"),
            map.exact("sandboxes.app.depends_on")
        );
    }
}
