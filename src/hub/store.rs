//! How the hub keeps its projects on disk: per project a snapshot,
//! `projects/<project>.json`, and a journal of the resource writes made since
//! it, `projects/<project>.journal`, one appended and fsync'd line per write.
//! A write costs one line instead of a rewrite of every record of its project.
//!
//! A journal line names the serial its write made. Loading replays, on top of
//! the snapshot, the lines whose serials follow the snapshot's one by one:
//! lines at or below it are in it already (a kill between writing a snapshot
//! and removing the journal leaves such lines), and a line that does not parse
//! was cut short by a kill, so its write was never acknowledged. The journal is
//! folded into a new snapshot when the project is loaded and once it has as
//! many lines as the project has resources (at least [`MIN_COMPACT_LINES`]):
//! the rewrites stay a constant share of the writes, whatever the project's size.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::api::ResourceEntry;

/// A journal shorter than this is never folded while the hub runs.
pub const MIN_COMPACT_LINES: usize = 1024;

/// A project as the hub holds it.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct ProjectData {
    /// Counts the project's writes; every write makes the next one.
    pub serial: u64,
    /// The records by address, each with its version.
    pub resources: BTreeMap<String, ResourceEntry>,
    /// The key the project's sensitive values are hashed with (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_key: Option<String>,
}

impl std::fmt::Debug for ProjectData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("ProjectData")
            .field("serial", &self.serial)
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// One resource write: a journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// The serial the write made.
    pub serial: u64,
    /// The resource's address.
    pub address: String,
    /// The record written with its new version, or `null` for a delete.
    pub entry: Option<ResourceEntry>,
}

impl ProjectData {
    /// Applies `change` and takes its serial.
    pub fn apply(&mut self, change: Change) {
        match change.entry {
            Some(entry) => {
                self.resources.insert(change.address, entry);
            }
            None => {
                self.resources.remove(&change.address);
            }
        }
        self.serial = change.serial;
    }

    /// Whether a journal of `lines` lines is due to be folded into a snapshot.
    pub fn compaction_due(&self, lines: usize) -> bool {
        lines >= self.resources.len().max(MIN_COMPACT_LINES)
    }
}

/// A store file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct StoreError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

fn error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The snapshot of `project` in the projects folder `dir`.
pub fn snapshot_path(dir: &Path, project: &str) -> PathBuf {
    dir.join(format!("{project}.json"))
}

/// The journal of `project` in the projects folder `dir`.
pub fn journal_path(dir: &Path, project: &str) -> PathBuf {
    dir.join(format!("{project}.journal"))
}

/// Replays the journal `text` on top of `data`; the number of lines applied.
fn replay(data: &mut ProjectData, text: &str) -> Result<usize, String> {
    let mut applied = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // A line cut short by a kill is skipped: its write was never acknowledged.
        let Ok(change) = serde_json::from_str::<Change>(line) else {
            continue;
        };
        if change.serial <= data.serial {
            continue;
        }
        let expected = data.serial.saturating_add(1);
        if change.serial != expected {
            return Err(format!(
                "the journal goes on at serial {} where serial {expected} was due: writes are missing",
                change.serial
            ));
        }
        data.apply(change);
        applied += 1;
    }
    Ok(applied)
}

/// Reads `project`: its snapshot (none: an empty project) with its journal
/// replayed, and folds a journal it found into a new snapshot.
pub fn load(dir: &Path, project: &str) -> Result<ProjectData, StoreError> {
    let (data, journaled) = read(dir, project)?;
    if journaled {
        save(dir, project, &data)?;
    }
    Ok(data)
}

/// Reads `project` as [`load`] does, writing nothing; whether it had a journal.
pub fn read(dir: &Path, project: &str) -> Result<(ProjectData, bool), StoreError> {
    let snapshot = snapshot_path(dir, project);
    let mut data = match std::fs::read(&snapshot) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| error(&snapshot, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProjectData::default(),
        Err(e) => return Err(error(&snapshot, e)),
    };
    let journal = journal_path(dir, project);
    let journaled = match std::fs::read(&journal) {
        Ok(bytes) => {
            replay(&mut data, &String::from_utf8_lossy(&bytes)).map_err(|e| error(&journal, e))?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(error(&journal, e)),
    };
    Ok((data, journaled))
}

/// Every project in the projects folder `dir`, by name.
pub fn load_all(dir: &Path) -> Result<HashMap<String, ProjectData>, StoreError> {
    project_names(dir)?
        .into_iter()
        .map(|project| load(dir, &project).map(|data| (project, data)))
        .collect()
}

/// The names of the projects in the projects folder `dir`.
pub fn project_names(dir: &Path) -> Result<BTreeSet<String>, StoreError> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(|e| error(dir, e))? {
        let entry = entry.map_err(|e| error(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // Temporary files of a write cut short start with a dot.
        if name.starts_with('.') {
            continue;
        }
        if let Some(project) = name.strip_suffix(".json").or_else(|| name.strip_suffix(".journal")) {
            names.insert(project.to_string());
        }
    }
    Ok(names)
}

/// Appends `change` to the journal of `project`, durably: once this returns,
/// the write survives a kill of the hub and a crash of the machine.
pub fn append(dir: &Path, project: &str, change: &Change) -> Result<(), StoreError> {
    let journal = journal_path(dir, project);
    let line = serde_json::to_vec(change).map_err(|e| error(&journal, e))?;
    crate::fsutil::append_line(&journal, &line).map_err(|e| error(&journal, e))
}

/// Writes `data` as the snapshot of `project`, then removes its journal, whose
/// lines are all in `data`. A kill in between leaves lines at or below the
/// snapshot's serial, which the next load skips.
pub fn save(dir: &Path, project: &str, data: &ProjectData) -> Result<(), StoreError> {
    let snapshot = snapshot_path(dir, project);
    let bytes = serde_json::to_vec_pretty(data).map_err(|e| error(&snapshot, e))?;
    crate::fsutil::write_atomic(&snapshot, &bytes).map_err(|e| error(&snapshot, e))?;
    let journal = journal_path(dir, project);
    match std::fs::remove_file(&journal) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(error(&journal, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: u64) -> ResourceEntry {
        ResourceEntry {
            record: crate::state::test_record(name, &format!("id-{name}")),
            version,
        }
    }

    fn put(serial: u64, name: &str, version: u64) -> Change {
        Change {
            serial,
            address: format!("sandbox.{name}"),
            entry: Some(entry(name, version)),
        }
    }

    fn versions(data: &ProjectData) -> Vec<(String, u64)> {
        data.resources.iter().map(|(a, e)| (a.clone(), e.version)).collect()
    }

    #[test]
    fn writes_go_to_the_journal_and_a_load_folds_them_into_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        append(dir.path(), "p", &put(1, "a", 1)).expect("append");
        append(dir.path(), "p", &put(2, "b", 1)).expect("append");
        append(dir.path(), "p", &put(3, "a", 2)).expect("append");
        let delete = Change {
            serial: 4,
            address: "sandbox.b".into(),
            entry: None,
        };
        append(dir.path(), "p", &delete).expect("append");
        assert!(!snapshot_path(dir.path(), "p").exists(), "a write rewrites no snapshot");

        let loaded = load_all(dir.path()).expect("load");
        let data = &loaded["p"];
        assert_eq!(data.serial, 4);
        assert_eq!(versions(data), vec![("sandbox.a".to_string(), 2)]);
        assert!(snapshot_path(dir.path(), "p").exists());
        assert!(!journal_path(dir.path(), "p").exists(), "folded at load");
        assert_eq!(versions(&load(dir.path(), "p").expect("again")), versions(data));
    }

    #[test]
    fn a_torn_line_is_skipped_and_lines_already_in_the_snapshot_are_not_applied_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut data = ProjectData::default();
        data.apply(put(1, "a", 1));
        data.apply(put(2, "a", 2));
        save(dir.path(), "p", &data).expect("snapshot at serial 2");
        // A kill between the snapshot and the journal's removal, then a torn
        // line of a write that was never acknowledged, then a later write.
        let lines = [
            serde_json::to_string(&put(1, "a", 1)).expect("json"),
            serde_json::to_string(&put(2, "a", 2)).expect("json"),
            serde_json::to_string(&put(3, "b", 1)).expect("json")[..20].to_string(),
            serde_json::to_string(&put(3, "c", 1)).expect("json"),
        ];
        std::fs::write(journal_path(dir.path(), "p"), lines.join("\n")).expect("journal");
        let data = load(dir.path(), "p").expect("load");
        assert_eq!(data.serial, 3);
        assert_eq!(
            versions(&data),
            vec![("sandbox.a".to_string(), 2), ("sandbox.c".to_string(), 1)]
        );
    }

    #[test]
    fn a_gap_in_the_serials_is_an_error_naming_the_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        append(dir.path(), "p", &put(1, "a", 1)).expect("append");
        append(dir.path(), "p", &put(3, "a", 2)).expect("append");
        let err = load(dir.path(), "p").expect_err("a gap");
        assert_eq!(err.path, journal_path(dir.path(), "p"));
        assert!(err.message.contains("serial 3 where serial 2 was due"), "{err}");
        assert!(journal_path(dir.path(), "p").exists(), "nothing is folded or lost");
    }

    #[test]
    fn compaction_comes_after_as_many_lines_as_resources_and_never_before_the_minimum() {
        let mut data = ProjectData::default();
        assert!(!data.compaction_due(MIN_COMPACT_LINES - 1));
        assert!(data.compaction_due(MIN_COMPACT_LINES));
        for i in 0..5000u64 {
            data.apply(put(i + 1, &format!("s{i}"), 1));
        }
        assert!(!data.compaction_due(4999));
        assert!(data.compaction_due(5000));
    }
}
