//! Everything below a folder, to check that a command changed nothing: every
//! path with its type, permission bits and content (a file's bytes, a link's
//! target), hidden entries and `.sandboxer/` included.

#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One entry below the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A folder, with its permission bits.
    Dir { mode: u32 },
    /// A regular file, with its permission bits and bytes.
    File { mode: u32, bytes: Vec<u8> },
    /// A symbolic link (never followed), with its target.
    Link(PathBuf),
    /// Anything else (a FIFO, a socket), by its type.
    Other(String),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Dir { mode } => write!(f, "folder {mode:o}"),
            Entry::File { mode, bytes } => write!(f, "file {mode:o}, {} bytes", bytes.len()),
            Entry::Link(target) => write!(f, "link to {}", target.display()),
            Entry::Other(kind) => f.write_str(kind),
        }
    }
}

/// Every path below a folder (relative to it), with its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<PathBuf, Entry>);

/// What is below `root` now.
pub fn take(root: &Path) -> Tree {
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    Tree(entries)
}

fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
    let listing = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    for item in listing {
        let item = item.unwrap_or_else(|e| panic!("read an entry of {}: {e}", dir.display()));
        let path = item.path();
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        let mode = meta.permissions().mode() & 0o7777;
        let relative = path.strip_prefix(root).expect("below the root").to_path_buf();
        let entry = if meta.file_type().is_symlink() {
            Entry::Link(std::fs::read_link(&path).unwrap_or_else(|e| panic!("readlink {}: {e}", path.display())))
        } else if meta.is_dir() {
            walk(root, &path, into);
            Entry::Dir { mode }
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            Entry::File { mode, bytes }
        } else {
            Entry::Other(format!("{:?}", meta.file_type()))
        };
        into.insert(relative, entry);
    }
}

impl Tree {
    /// The paths that differ from `before` to `self`, one line each
    /// (`added`, `removed`, `changed`), in path order.
    pub fn changes_since(&self, before: &Tree) -> Vec<String> {
        let mut lines = Vec::new();
        for (path, was) in &before.0 {
            match self.0.get(path) {
                None => lines.push(format!("removed {} ({was})", path.display())),
                Some(now) if now != was => lines.push(format!("changed {} ({was} -> {now})", path.display())),
                Some(_) => {}
            }
        }
        for (path, now) in &self.0 {
            if !before.0.contains_key(path) {
                lines.push(format!("added {} ({now})", path.display()));
            }
        }
        lines.sort();
        lines
    }
}

/// Asserts that `root` holds exactly what `before` recorded; the message lists
/// every difference, then `context` (the run's output, say).
pub fn assert_unchanged(root: &Path, before: &Tree, context: &dyn fmt::Display) {
    let changes = take(root).changes_since(before);
    assert!(
        changes.is_empty(),
        "{} changed:\n  {}\n{context}",
        root.display(),
        changes.join("\n  ")
    );
}
