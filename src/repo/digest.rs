//! The content digest of a repo: what a workspace must hold after a sync.
//!
//! The digest covers each entry's path, kind, executable bit and content (or link
//! target), not timestamps, so touching a file changes nothing. Content hashes are
//! cached by (size, mtime, inode), as git's index does, so a no-change plan of a
//! 10,000-file repo stats files and reads none.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Excludes;
use super::walk::{Entry, EntryKind, walk};

/// Content hashes of files, keyed by path, valid while size, mtime and inode hold.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DigestCache {
    entries: HashMap<String, CachedHash>,
    #[serde(skip)]
    dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedHash {
    size: u64,
    mtime_ns: u128,
    inode: u64,
    sha256: String,
}

impl DigestCache {
    /// Loads a cache file; a missing or unreadable one is an empty cache.
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves the cache if it changed (atomically; a lost cache only costs time).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::fsutil::write_atomic(path, &bytes)
    }

    /// The cache file for a repo inside `cache_dir`.
    pub fn path_for(cache_dir: &Path, repo: &Path) -> PathBuf {
        let name = format!("{:x}", Sha256::digest(repo.to_string_lossy().as_bytes()));
        cache_dir.join(format!("{}.json", &name[..24]))
    }
}

/// The digest of the tree at `root`, excludes applied; `sha256:<hex>`.
pub fn repo_digest(root: &Path, excludes: &Excludes, cache: &mut DigestCache) -> io::Result<String> {
    let entries = walk_repo(root, excludes)?;
    digest_entries(root, &entries, cache)
}

/// The entries of the repo at `root` as every sync and digest sees them:
/// excludes applied, sandboxer's own top-level names left out. A `root` that is
/// not a folder is an error naming it.
pub fn walk_repo(root: &Path, excludes: &Excludes) -> io::Result<Vec<Entry>> {
    let meta = std::fs::metadata(root).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a folder", root.display()),
        ));
    }
    walk(root, excludes, &[super::RESERVED_PREFIX])
}

/// The digest of `entries`, walked from `root` ([`walk_repo`]); file contents
/// are hashed only where `cache` has no hash for their size, mtime and inode.
pub fn digest_entries(root: &Path, entries: &[Entry], cache: &mut DigestCache) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut seen = HashMap::with_capacity(entries.len());
    for entry in entries {
        let (kind, content) = match &entry.kind {
            EntryKind::Dir => ("d", String::new()),
            EntryKind::Symlink(target) => ("l", target.to_string_lossy().into_owned()),
            EntryKind::File => {
                let mtime_ns = entry
                    .modified
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let key = CachedHash {
                    size: entry.size,
                    mtime_ns,
                    inode: entry.inode,
                    sha256: String::new(),
                };
                let hash = match cache.entries.get(&entry.relative) {
                    Some(c) if c.size == key.size && c.mtime_ns == key.mtime_ns && c.inode == key.inode => {
                        c.sha256.clone()
                    }
                    _ => {
                        let hash = hash_file(&root.join(&entry.relative))?;
                        cache.dirty = true;
                        cache.entries.insert(
                            entry.relative.clone(),
                            CachedHash {
                                sha256: hash.clone(),
                                ..key
                            },
                        );
                        hash
                    }
                };
                seen.insert(entry.relative.clone(), ());
                ("f", hash)
            }
        };
        let executable = entry.kind == EntryKind::File && entry.mode & 0o111 != 0;
        hasher.update(entry.relative.as_bytes());
        hasher.update(format!("\0{kind}{}\0{content}\n", if executable { "x" } else { "" }).as_bytes());
    }
    let before = cache.entries.len();
    cache.entries.retain(|k, _| seen.contains_key(k));
    cache.dirty |= cache.entries.len() != before;
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = super::walk::open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The digest of `repo` with `excludes`, through the hash cache kept for that
/// repo under `cache_dir` (a cache that cannot be saved only costs time).
pub fn cached_repo_digest<S: AsRef<str>>(cache_dir: &Path, repo: &Path, excludes: &[S]) -> io::Result<String> {
    cached_walk_and_digest(cache_dir, repo, &Excludes::new(excludes)).map(|(_, digest)| digest)
}

/// The entries of `repo` ([`walk_repo`]) and their digest, through the hash
/// cache kept for that repo under `cache_dir`: one walk for both.
pub fn cached_walk_and_digest(cache_dir: &Path, repo: &Path, excludes: &Excludes) -> io::Result<(Vec<Entry>, String)> {
    let entries = walk_repo(repo, excludes)?;
    let cache_path = DigestCache::path_for(cache_dir, repo);
    let mut cache = DigestCache::load(&cache_path);
    let digest = digest_entries(repo, &entries, &mut cache)?;
    if let Err(e) = cache.save(&cache_path) {
        tracing::debug!("repo digest cache {} not saved: {e}", cache_path.display());
    }
    Ok((entries, digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn digest_follows_content_not_timestamps_and_respects_excludes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("src")).expect("mkdir");
        fs::write(root.join("src/Main.hs"), "main = pure ()").expect("write");
        fs::create_dir_all(root.join("dist-newstyle")).expect("mkdir");
        fs::write(root.join("dist-newstyle/out"), "1").expect("write");
        let excludes = Excludes::new(&["dist-newstyle/"]);
        let mut cache = DigestCache::default();
        let first = repo_digest(root, &excludes, &mut cache).expect("digest");

        fs::write(root.join("dist-newstyle/out"), "2").expect("write");
        assert_eq!(
            repo_digest(root, &excludes, &mut cache).expect("digest"),
            first,
            "excluded change"
        );

        fs::write(root.join("src/Main.hs"), "main = pure ()").expect("rewrite same content");
        assert_eq!(
            repo_digest(root, &excludes, &mut DigestCache::default()).expect("digest"),
            first,
            "same content"
        );

        fs::write(root.join("src/Main.hs"), "main = print 1").expect("write");
        assert_ne!(
            repo_digest(root, &excludes, &mut cache).expect("digest"),
            first,
            "content change"
        );
    }

    #[test]
    fn a_missing_repo_is_an_error_naming_it() {
        let err = repo_digest(
            Path::new("/nonexistent/repo"),
            &Excludes::default(),
            &mut DigestCache::default(),
        )
        .expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/repo"), "{err}");
    }
}
