//! What the binary prints as JSON about its records: the rows of `list --json`
//! (`[{"project": ..., "record": {...}}, ...]`) and the notes of `inspect --json`
//! or of the State Hub (`{"notes": [{"level": ..., "text": ...}, ...]}`).

#![allow(dead_code)] // each test file uses its own part of this module

use serde_json::Value;

use super::Output;

/// The rows of a `list --json` run as (project, record); panics, showing the
/// run, when stdout is not a JSON array.
pub fn rows(out: &Output) -> Vec<(String, Value)> {
    let rows: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("list --json: {e}\n{out}"));
    rows.as_array()
        .unwrap_or_else(|| panic!("list --json prints an array\n{out}"))
        .iter()
        .map(|row| {
            (
                row["project"].as_str().unwrap_or_default().to_string(),
                row["record"].clone(),
            )
        })
        .collect()
}

/// A record as `list --json` shows it (empty strings for missing fields).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// The project it belongs to.
    pub project: String,
    /// `record.address`.
    pub address: String,
    /// `record.id`.
    pub id: String,
    /// `record.facts.workspace`: where its workspace is.
    pub workspace: String,
}

/// The rows of a `list --json` run, sorted (by project, then address).
pub fn listed(out: &Output) -> Vec<Listed> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut listed: Vec<Listed> = rows(out)
        .into_iter()
        .map(|(project, record)| Listed {
            project,
            address: text(&record["address"]),
            id: text(&record["id"]),
            workspace: text(&record["facts"]["workspace"]),
        })
        .collect();
    listed.sort();
    listed
}

/// (level, text) of each note in `notes`, a JSON array of notes.
pub fn notes(notes: &Value) -> Vec<(String, String)> {
    notes
        .as_array()
        .unwrap_or_else(|| panic!("notes are an array: {notes}"))
        .iter()
        .map(|n| {
            (
                n["level"].as_str().unwrap_or_default().to_string(),
                n["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
