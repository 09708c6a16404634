//! The repo trees one apply reads: each (repo, excludes) is walked once and
//! digested once, however many workspaces sync it, and every one of them is
//! copied from that one walk and recorded with that one digest.
//!
//! A set of trees lives as long as one apply (`watch` makes a new one for each
//! cycle), so an edit of the repo is seen by the next apply, never hidden by an
//! old walk.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::Excludes;
use super::digest::cached_walk_and_digest;
use super::walk::Entry;

/// One repo as read for an apply.
#[derive(Debug)]
pub struct RepoTree {
    /// Its entries, excludes applied, folders before their content.
    pub entries: Vec<Entry>,
    /// The excludes it was walked with, compiled.
    pub excludes: Excludes,
    /// The content digest of `entries`.
    pub digest: String,
}

/// Why a repo could not be read; kept so that every workspace syncing it gets
/// the same error without reading it again.
#[derive(Debug, Clone)]
struct ReadError {
    kind: io::ErrorKind,
    message: String,
}

type Slot = Arc<OnceLock<Result<Arc<RepoTree>, ReadError>>>;

/// The trees read so far in one apply, by repo folder and exclude patterns.
#[derive(Debug, Default)]
pub struct RepoTrees {
    trees: Mutex<HashMap<(PathBuf, Vec<String>), Slot>>,
    walks: AtomicUsize,
}

impl RepoTrees {
    /// No tree read yet.
    pub fn new() -> Self {
        RepoTrees::default()
    }

    /// The tree of `repo` with `excludes`: read now, through the digest cache
    /// in `cache_dir`, if this apply has not read it yet. Callers asking for
    /// one tree at the same time wait for the one read; a read that failed
    /// fails every caller with its error.
    pub fn get(&self, cache_dir: &Path, repo: &Path, excludes: &[String]) -> io::Result<Arc<RepoTree>> {
        let slot: Slot = {
            let mut trees = self.trees.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            trees
                .entry((repo.to_path_buf(), excludes.to_vec()))
                .or_default()
                .clone()
        };
        let read = slot.get_or_init(|| {
            self.walks.fetch_add(1, Ordering::Relaxed);
            let excludes = Excludes::new(excludes);
            match cached_walk_and_digest(cache_dir, repo, &excludes) {
                Ok((entries, digest)) => {
                    tracing::debug!(
                        "read repo {} for this apply: {} entries, {digest}",
                        crate::safety::printable(&repo.display().to_string()),
                        entries.len()
                    );
                    Ok(Arc::new(RepoTree {
                        entries,
                        excludes,
                        digest,
                    }))
                }
                Err(e) => Err(ReadError {
                    kind: e.kind(),
                    message: e.to_string(),
                }),
            }
        });
        match read {
            Ok(tree) => Ok(tree.clone()),
            Err(e) => Err(io::Error::new(e.kind, e.message.clone())),
        }
    }

    /// How many times a repo was walked (a read that failed counts too).
    pub fn walks(&self) -> usize {
        self.walks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        fs::write(dir.path().join("src/Main.hs"), "main = pure ()").expect("write");
        fs::write(dir.path().join("build.log"), "noise").expect("write");
        dir
    }

    #[test]
    fn one_walk_per_repo_and_excludes_however_many_ask_at_once() {
        let (a, b, cache) = (repo(), repo(), tempfile::tempdir().expect("tempdir"));
        let trees = RepoTrees::new();
        let logs = vec!["*.log".to_string()];
        let asked: Vec<Arc<RepoTree>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (trees, cache, logs) = (&trees, cache.path(), &logs);
                    let repo = if i % 2 == 0 { a.path() } else { b.path() };
                    let excludes: &[String] = if i % 4 < 2 { logs } else { &[] };
                    s.spawn(move || trees.get(cache, repo, excludes).expect("tree"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(trees.walks(), 4, "two repos, each with two exclude lists");
        // Every caller of one (repo, excludes) has the very same tree.
        for (i, tree) in asked.iter().enumerate() {
            assert!(Arc::ptr_eq(tree, &asked[i % 4]), "caller {i}");
        }
        let names = |t: &RepoTree| t.entries.iter().map(|e| e.relative.clone()).collect::<Vec<_>>();
        assert_eq!(names(&asked[0]), ["src", "src/Main.hs"], "excludes applied");
        assert_eq!(names(&asked[2]), ["build.log", "src", "src/Main.hs"]);
        assert_ne!(asked[0].digest, asked[2].digest);
        assert_eq!(asked[0].digest, asked[1].digest, "same content, same digest");
    }

    #[test]
    fn a_repo_that_cannot_be_read_fails_every_caller_and_is_read_once() {
        let cache = tempfile::tempdir().expect("tempdir");
        let trees = RepoTrees::new();
        let missing = cache.path().join("no-such-repo");
        for _ in 0..3 {
            let error = trees.get(cache.path(), &missing, &[]).expect_err("missing");
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            assert!(error.to_string().contains("no-such-repo"), "{error}");
        }
        assert_eq!(trees.walks(), 1);
    }
}
