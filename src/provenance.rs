//! [`Provenance`]: who applied a change, with which sandboxer, and from which
//! commit of the manifest's git work tree. The command layer reads it (git,
//! the user, the host) once per command; the engine gets it as data and puts
//! it on every record a change writes.
//!
//! One apply shares one value among its records (`Arc`), and records read
//! back share equal values read one after another ([`deserialize_shared`]),
//! so a state of 10,000 records holds a few copies, not 10,000.

use std::cell::RefCell;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::shared_str::SharedStr;

/// Where a record came from: who applied it (when is the record's
/// `updated_at`), with which sandboxer, and the manifest's git commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// `user@host` of the operator who applied it (`user` alone when the host
    /// name could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<SharedStr>,
    /// The version of the sandboxer that applied it.
    pub sandboxer_version: SharedStr,
    /// The git work tree the manifest was in; absent when it was in none
    /// (or git could not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

/// The commit a manifest's git work tree was at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitSource {
    /// The full hash of `HEAD`.
    pub commit: SharedStr,
    /// The branch checked out; absent when `HEAD` is detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<SharedStr>,
    /// Tracked files differed from the commit (staged or not), or the manifest
    /// itself was not tracked. Untracked files do not count.
    pub dirty: bool,
}

/// How many characters of a commit hash short forms show.
pub const SHORT_COMMIT: usize = 12;

impl GitSource {
    /// The first [`SHORT_COMMIT`] characters of the commit.
    pub fn short_commit(&self) -> &str {
        let end = self
            .commit
            .char_indices()
            .nth(SHORT_COMMIT)
            .map_or(self.commit.len(), |(i, _)| i);
        &self.commit[..end]
    }

    /// The short commit, with `+dirty` when the tree had uncommitted changes.
    pub fn short(&self) -> String {
        if self.dirty {
            format!("{}+dirty", self.short_commit())
        } else {
            self.short_commit().to_string()
        }
    }
}

impl Provenance {
    /// Provenance of this sandboxer build, applied by `applied_by`, from `git`.
    pub fn new(applied_by: Option<String>, git: Option<GitSource>) -> Self {
        Provenance {
            applied_by: applied_by.map(SharedStr::from),
            sandboxer_version: env!("CARGO_PKG_VERSION").into(),
            git,
        }
    }
}

/// How many distinct values read last are kept to be shared by the next reads.
const RECENT: usize = 8;

thread_local! {
    /// The last distinct provenance values read on this thread, newest last.
    static READ_LAST: RefCell<Vec<Arc<Provenance>>> = const { RefCell::new(Vec::new()) };
}

/// Reads an optional provenance, sharing the value with an equal one read
/// shortly before on this thread: the records of one apply carry equal values,
/// and a state read holds each of them once. At most [`RECENT`] small values
/// stay cached per thread.
pub fn deserialize_shared<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Arc<Provenance>>, D::Error> {
    let Some(read) = Option::<Provenance>::deserialize(deserializer)? else {
        return Ok(None);
    };
    Ok(Some(READ_LAST.with(|cell| {
        let mut recent = cell.borrow_mut();
        if let Some(i) = recent.iter().position(|p| **p == read) {
            let shared = recent.remove(i);
            recent.push(Arc::clone(&shared));
            return shared;
        }
        let shared = Arc::new(read);
        if recent.len() == RECENT {
            recent.remove(0);
        }
        recent.push(Arc::clone(&shared));
        shared
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "deserialize_shared")]
        provenance: Option<Arc<Provenance>>,
    }

    fn git(commit: &str, dirty: bool) -> GitSource {
        GitSource {
            commit: commit.into(),
            branch: Some("main".into()),
            dirty,
        }
    }

    #[test]
    fn equal_values_read_in_a_row_share_one_allocation() {
        let text = r#"[{"provenance": {"applied_by": "a@h", "sandboxer_version": "0.1.0", "git": {"commit": "c1", "dirty": false}}},
                       {"provenance": {"applied_by": "b@h", "sandboxer_version": "0.1.0"}},
                       {"provenance": {"applied_by": "a@h", "sandboxer_version": "0.1.0", "git": {"commit": "c1", "dirty": false}}},
                       {}]"#;
        let read: Vec<Holder> = serde_json::from_str(text).expect("json");
        let (a, b, c) = (
            read[0].provenance.as_ref().expect("a"),
            read[1].provenance.as_ref().expect("b"),
            read[2].provenance.as_ref().expect("c"),
        );
        assert!(Arc::ptr_eq(a, c));
        assert!(!Arc::ptr_eq(a, b));
        assert_eq!(a.git.as_ref().map(|g| g.branch.is_none()), Some(true));
        assert!(read[3].provenance.is_none());
    }

    #[test]
    fn the_short_form_cuts_the_commit_and_marks_a_dirty_tree() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(git(hash, false).short(), "0123456789ab");
        assert_eq!(git(hash, true).short(), "0123456789ab+dirty");
        assert_eq!(git("abc", true).short(), "abc+dirty");
    }

    #[test]
    fn absent_parts_are_left_out_of_the_json() {
        let p = Provenance::new(None, None);
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"sandboxer_version": env!("CARGO_PKG_VERSION")})
        );
        let with_git = Provenance::new(
            Some("u@h".into()),
            Some(GitSource {
                branch: None,
                ..git("c", true)
            }),
        );
        let json = serde_json::to_value(&with_git).expect("json");
        assert_eq!(json["git"], serde_json::json!({"commit": "c", "dirty": true}));
        let back: Provenance = serde_json::from_value(json).expect("back");
        assert_eq!(back, with_git);
    }
}
