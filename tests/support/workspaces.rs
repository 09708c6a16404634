//! Workspaces as the tests find them on disk, without asking the binary.
//!
//! A workspace is a folder `sbx-<id>` directly under a workspace root, holding a
//! marker file [`MARKER`] (JSON with at least `id`, `project`, `address` and
//! `complete`). Staging and half-deleted folders are named `.sbx-*`.
//!
//! [`scan`] returns every `sbx-*` entry with what its marker says (or why it has
//! none); [`all`] and [`with_marker`] are the two ways the tests read that: every
//! entry must be a marked workspace, or entries without a marker are someone
//! else's and skipped. The plainer listings ([`names_starting`], [`folders`],
//! [`entry_count`]) look at names only.

#![allow(dead_code)] // each test file uses its own part of this module

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The marker file in every workspace the binary makes.
pub const MARKER: &str = ".sandboxer-workspace.json";

/// The workspace root of a manifest in `dir` that names none: `dir/.sandboxer/workspaces`.
pub fn default_root(dir: &Path) -> PathBuf {
    dir.join(".sandboxer").join("workspaces")
}

/// A workspace found on disk: its folder and what its marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The `sbx-*` folder.
    pub path: PathBuf,
    /// The marker's `id` (empty when missing).
    pub id: String,
    /// The marker's `project` (empty when missing).
    pub project: String,
    /// The marker's `address` (empty when missing).
    pub address: String,
    /// The marker's `complete` (false when missing or not a boolean).
    pub complete: bool,
}

/// One `sbx-*` entry directly under a workspace root.
#[derive(Debug)]
pub struct Found {
    /// The entry (a folder, unless something else took the name).
    pub path: PathBuf,
    /// What its marker says, or why the marker could not be read.
    pub marker: Result<Workspace, String>,
}

/// Every entry directly under `root` whose name starts with `sbx-`, with its
/// marker, sorted by address and then path; empty when `root` does not exist.
/// A marker that can be read but is not JSON panics.
pub fn scan(root: &Path) -> Vec<Found> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<Found> = entries
        .map(|e| e.expect("read a folder entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sbx-")))
        .map(|path| {
            let marker = fs::read_to_string(path.join(MARKER))
                .map(|text| {
                    let marker: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("the marker of {} is not JSON: {e}", path.display()));
                    let field = |k: &str| marker[k].as_str().unwrap_or_default().to_string();
                    Workspace {
                        path: path.clone(),
                        id: field("id"),
                        project: field("project"),
                        address: field("address"),
                        complete: marker["complete"].as_bool().unwrap_or(false),
                    }
                })
                .map_err(|e| e.to_string());
            Found { path, marker }
        })
        .collect();
    found.sort_by(|a, b| {
        let key = |f: &Found| {
            (
                f.marker.as_ref().map(|w| w.address.clone()).unwrap_or_default(),
                f.path.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    found
}

/// Every `sbx-*` entry under `root` as a workspace (see [`scan`] for the order);
/// panics naming the first one without a readable marker.
pub fn all(root: &Path) -> Vec<Workspace> {
    scan(root)
        .into_iter()
        .map(|f| {
            f.marker
                .unwrap_or_else(|e| panic!("{} has no readable marker: {e}", f.path.display()))
        })
        .collect()
}

/// The `sbx-*` entries under `root` that carry a readable marker (see [`scan`]
/// for the order); the others are skipped.
pub fn with_marker(root: &Path) -> Vec<Workspace> {
    scan(root).into_iter().filter_map(|f| f.marker.ok()).collect()
}

/// The names of the entries directly under `root` that start with `prefix`,
/// sorted; empty when `root` does not exist.
pub fn names_starting(root: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .map(|entries| {
            entries
                .map(|e| {
                    e.expect("read a folder entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every folder directly under `root`, whatever its name, sorted; empty when
/// `root` does not exist.
pub fn folders(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// How many entries `dir` holds (0 when it does not exist).
pub fn entry_count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0)
}
