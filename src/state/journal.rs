//! The journal of the embedded store: one JSON line per change since the last
//! snapshot (`state.journal` next to `state.json`), so a change costs one
//! appended line instead of a rewrite of the whole state.
//!
//! A line names the lineage and the serial the change made. Replay applies, on
//! top of a snapshot, the lines of its lineage whose serials follow its own one
//! by one: a line at or below the snapshot's serial is already in it (a kill
//! between writing a snapshot and removing the journal leaves such lines), a
//! line that does not parse is one a crash cut short.

use serde::{Deserialize, Serialize};

use super::Record;
use super::embedded::StateFile;
use crate::address::Address;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The lineage of the state the change was made to.
    pub lineage: String,
    /// The serial the change made.
    pub serial: u64,
    /// The project of the record.
    pub project: String,
    /// The record's address.
    pub address: Address,
    /// The record written, or `null` for a removal.
    pub record: Option<Record>,
}

/// Serials missing between the snapshot (or the last line applied) and a line:
/// the snapshot was read before a compaction and the journal after it, or the
/// journal lost lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The serial the next line should have made.
    pub expected: u64,
    /// The serial it made.
    pub found: u64,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Lines in the journal, applied or not (the measure of its length).
    pub lines: usize,
    /// Lines applied.
    pub applied: usize,
}

/// Applies one change to `state` (the serial is the caller's business).
pub fn apply(state: &mut StateFile, entry: Entry) {
    match entry.record {
        Some(record) => {
            state
                .projects
                .entry(entry.project)
                .or_default()
                .insert(entry.address, record);
        }
        None => {
            if let Some(records) = state.projects.get_mut(&entry.project) {
                records.remove(&entry.address);
                if records.is_empty() {
                    state.projects.remove(&entry.project);
                }
            }
        }
    }
}

/// Replays the journal `text` on top of `state`.
pub fn replay(state: &mut StateFile, text: &str) -> Result<Replayed, Gap> {
    let mut done = Replayed::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        done.lines += 1;
        // A line cut short by a crash is skipped: its change was never acknowledged.
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            continue;
        };
        if entry.lineage != state.lineage || entry.serial <= state.serial {
            continue;
        }
        let expected = state.serial.saturating_add(1);
        if entry.serial != expected {
            return Err(Gap {
                expected,
                found: entry.serial,
            });
        }
        apply(state, entry);
        state.serial = expected;
        done.applied += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(name: &str, id: &str) -> Record {
        crate::state::test_record(name, id)
    }

    fn line(lineage: &str, serial: u64, name: &str, record: Option<Record>) -> String {
        let entry = Entry {
            lineage: lineage.into(),
            serial,
            project: "p".into(),
            address: Address::sandbox(name),
            record,
        };
        serde_json::to_string(&entry).expect("json")
    }

    fn snapshot(serial: u64) -> StateFile {
        StateFile {
            version: super::super::embedded::STATE_VERSION,
            lineage: "L".into(),
            serial,
            projects: BTreeMap::new(),
        }
    }

    fn names(state: &StateFile) -> Vec<String> {
        state
            .projects
            .values()
            .flat_map(|r| r.keys().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn lines_after_the_snapshot_apply_in_order_and_a_removal_removes() {
        let mut state = snapshot(0);
        let text = [
            line("L", 1, "a", Some(record("a", "1"))),
            line("L", 2, "b", Some(record("b", "2"))),
            line("L", 3, "a", None),
        ]
        .join("\n");
        let done = replay(&mut state, &text).expect("replay");
        assert_eq!(done, Replayed { lines: 3, applied: 3 });
        assert_eq!((state.serial, names(&state)), (3, vec!["sandbox.b".to_string()]));
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let mut state = snapshot(0);
        let whole = line("L", 2, "b", Some(record("b", "2")));
        let text = format!(
            "{}\n{}",
            line("L", 1, "a", Some(record("a", "1"))),
            &whole[..whole.len() / 2]
        );
        let done = replay(&mut state, &text).expect("replay");
        assert_eq!(done, Replayed { lines: 2, applied: 1 });
        assert_eq!((state.serial, names(&state)), (1, vec!["sandbox.a".to_string()]));
    }

    #[test]
    fn a_torn_line_closed_by_the_next_append_is_skipped_and_its_serial_made_again() {
        let mut state = snapshot(0);
        let torn = line("L", 2, "b", Some(record("b", "2")));
        let text = [
            line("L", 1, "a", Some(record("a", "1"))),
            torn[..10].to_string(),
            line("L", 2, "c", Some(record("c", "3"))),
        ]
        .join("\n");
        replay(&mut state, &text).expect("replay");
        assert_eq!(state.serial, 2);
        assert_eq!(names(&state), ["sandbox.a", "sandbox.c"]);
    }

    #[test]
    fn lines_at_or_below_the_snapshot_serial_are_already_in_it() {
        // What a kill between the snapshot's write and the journal's removal leaves.
        let mut state = snapshot(2);
        state
            .projects
            .entry("p".into())
            .or_default()
            .insert(Address::sandbox("kept"), record("kept", "9"));
        let text = [
            line("L", 1, "a", Some(record("a", "1"))),
            line("L", 2, "kept", None),
            line("L", 3, "c", Some(record("c", "3"))),
        ]
        .join("\n");
        let done = replay(&mut state, &text).expect("replay");
        assert_eq!(done, Replayed { lines: 3, applied: 1 });
        assert_eq!(state.serial, 3);
        assert_eq!(names(&state), ["sandbox.c", "sandbox.kept"]);
        // Replaying the same journal again changes nothing.
        let before = state.clone();
        replay(&mut state, &text).expect("replay");
        assert_eq!((state.serial, &state.projects), (before.serial, &before.projects));
    }

    #[test]
    fn lines_of_another_lineage_are_ignored() {
        let mut state = snapshot(0);
        let text = line("other", 1, "a", Some(record("a", "1")));
        assert_eq!(replay(&mut state, &text), Ok(Replayed { lines: 1, applied: 0 }));
        assert!(state.projects.is_empty());
    }

    #[test]
    fn a_missing_serial_is_a_gap_not_a_silent_skip() {
        let mut state = snapshot(1);
        let text = line("L", 5, "a", Some(record("a", "1")));
        assert_eq!(replay(&mut state, &text), Err(Gap { expected: 2, found: 5 }));
    }
}
