//! Copying a repo into a local workspace without an rsync binary: only changed
//! files are written (size and mtime, as rsync's quick check), files gone from the
//! repo are removed, excluded paths in the workspace are kept.
//!
//! The repo is untrusted: nothing it holds makes a write land outside the
//! workspace. Links are copied as links and never followed; a file is written
//! into sandboxer's own temporary folder (a name no repo can supply, see
//! [`super::RESERVED_PREFIX`]), created new without following links, then
//! renamed into place (a rename replaces a link, it does not write through it).
//! Into a folder this process has just made, which holds nothing a repo or a
//! build could have planted, files are created in place instead
//! ([`copy_into_new`]): `O_EXCL | O_NOFOLLOW`, folders with `mkdir`, each of
//! which fails rather than reuse a name that exists.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use super::Excludes;
use super::walk::{Entry, EntryKind, walk};

/// What a sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Files and links written.
    pub copied: usize,
    /// Entries removed from the workspace.
    pub deleted: usize,
    /// Files already up to date.
    pub unchanged: usize,
}

/// sandboxer's temporary folder at the top of a workspace.
pub const TEMP_DIR: &str = ".sandboxer-tmp";

/// Makes `dest` hold the tree of `src`. Top-level entries of `dest` whose names
/// start with one of `keep` are never touched, and the same names in `src` are
/// never copied (sandboxer's own files: [`super::RESERVED_PREFIX`]).
pub fn sync_tree(src: &Path, dest: &Path, excludes: &Excludes, delete: bool, keep: &[&str]) -> io::Result<CopyStats> {
    let entries = walk(src, excludes, keep)?;
    sync_entries(src, &entries, dest, excludes, delete, keep)
}

/// [`sync_tree`] with `src` walked already (`entries`, with the same `excludes`
/// and `keep`): a walk shared by every workspace that syncs one repo.
pub fn sync_entries(
    src: &Path,
    entries: &[Entry],
    dest: &Path,
    excludes: &Excludes,
    delete: bool,
    keep: &[&str],
) -> io::Result<CopyStats> {
    use std::os::unix::fs::PermissionsExt;
    let mut stats = CopyStats::default();
    let temp_dir = private_dir(&dest.join(TEMP_DIR))?;
    let mut temp_names = 0u64;
    let mut wanted: HashSet<&str> = HashSet::with_capacity(entries.len());
    for entry in entries {
        wanted.insert(&entry.relative);
        let target = dest.join(&entry.relative);
        let existing = fs::symlink_metadata(&target).ok();
        match &entry.kind {
            EntryKind::Dir => {
                if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                    fs::remove_file(&target)?;
                }
                if !existing.as_ref().is_some_and(fs::Metadata::is_dir) {
                    fs::create_dir(&target)?;
                }
                fs::set_permissions(&target, fs::Permissions::from_mode(entry.mode | 0o700))?;
            }
            EntryKind::File => {
                let same = existing
                    .as_ref()
                    .is_some_and(|m| m.is_file() && m.len() == entry.size && m.modified().ok() == Some(entry.modified));
                if same {
                    stats.unchanged += 1;
                    continue;
                }
                remove_any(&target, existing.as_ref())?;
                // Write in the private folder, then rename: a killed copy never
                // leaves a half file in place, and no planted name is written through.
                temp_names += 1;
                let tmp = temp_dir.join(format!("{temp_names}.part"));
                copy_file(
                    &src.join(&entry.relative),
                    entry,
                    crate::fsutil::create_new_nofollow(&tmp, 0o600)?,
                )?;
                fs::rename(&tmp, &target)?;
                stats.copied += 1;
            }
            EntryKind::Symlink(link) => {
                if existing.is_some() && fs::read_link(&target).ok().as_deref() == Some(link.as_path()) {
                    stats.unchanged += 1;
                    continue;
                }
                remove_any(&target, existing.as_ref())?;
                std::os::unix::fs::symlink(link, &target)?;
                stats.copied += 1;
            }
        }
    }
    fs::remove_dir_all(&temp_dir)?;
    if delete {
        // Walk the workspace without excludes applied to find what is extra; an
        // excluded path is kept (rsync --delete without --delete-excluded).
        for extra in walk(dest, &Excludes::default(), keep)?.into_iter().rev() {
            if wanted.contains(extra.relative.as_str())
                || excludes.is_left_out(&extra.relative, extra.kind == EntryKind::Dir)
            {
                continue;
            }
            let path = dest.join(&extra.relative);
            if extra.kind == EntryKind::Dir {
                fs::remove_dir_all(&path)?;
            } else if fs::symlink_metadata(&path).is_ok() {
                fs::remove_file(&path)?;
            }
            stats.deleted += 1;
        }
    }
    Ok(stats)
}

/// Copies `entries` of `src` into `dest`, a folder this process has just made
/// and that holds only names starting with one of `keep` (the marker): nothing
/// to compare, delete or step around, so each entry is made in place, and a
/// name that exists all the same is an error, never reused or written through.
pub fn copy_into_new(src: &Path, entries: &[Entry], dest: &Path) -> io::Result<CopyStats> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut stats = CopyStats::default();
    for entry in entries {
        let target = dest.join(&entry.relative);
        match &entry.kind {
            EntryKind::Dir => {
                fs::create_dir(&target)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(entry.mode | 0o700))?;
                continue;
            }
            EntryKind::File => {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)?;
                copy_file(&src.join(&entry.relative), entry, file)?;
            }
            EntryKind::Symlink(link) => std::os::unix::fs::symlink(link, &target)?,
        }
        stats.copied += 1;
    }
    Ok(stats)
}

/// Copies the repo file at `from` (a regular file, not followed if a link) into
/// `to`, a file sandboxer made, with the walked entry's mtime and mode.
fn copy_file(from: &Path, entry: &Entry, mut to: fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut from = super::walk::open_regular(from)?;
    io::copy(&mut from, &mut to)?;
    to.set_modified(entry.modified)?;
    to.set_permissions(fs::Permissions::from_mode(entry.mode))
}

/// A folder of sandboxer's own at `path`: a real folder, empty, mode 0700.
/// Whatever is at that name (a link, a file, a folder left by a kill) goes first.
fn private_dir(path: &Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path)?,
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::DirBuilder::new().mode(0o700).create(path)?;
    Ok(path.to_path_buf())
}

fn remove_any(path: &Path, existing: Option<&fs::Metadata>) -> io::Result<()> {
    match existing {
        Some(m) if m.is_dir() => fs::remove_dir_all(path),
        Some(_) => fs::remove_file(path),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_changes_removes_extras_and_keeps_excluded() {
        let src = tempfile::tempdir().expect("tempdir");
        let dest = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(src.path().join("src")).expect("mkdir");
        fs::write(src.path().join("src/A.hs"), "a").expect("write");
        fs::write(src.path().join("B.hs"), "b").expect("write");
        let excludes = Excludes::new(&["dist-newstyle/"]);
        let keep = [".marker"];
        fs::write(dest.path().join(".marker"), "m").expect("write");

        let first = sync_tree(src.path(), dest.path(), &excludes, true, &keep).expect("sync");
        assert_eq!(first.copied, 2);
        assert_eq!(fs::read_to_string(dest.path().join("src/A.hs")).expect("read"), "a");

        let again = sync_tree(src.path(), dest.path(), &excludes, true, &keep).expect("sync");
        assert_eq!((again.copied, again.deleted, again.unchanged), (0, 0, 2));

        fs::create_dir_all(dest.path().join("dist-newstyle")).expect("mkdir");
        fs::write(dest.path().join("dist-newstyle/cache"), "build output").expect("write");
        fs::remove_file(src.path().join("B.hs")).expect("rm");
        fs::write(src.path().join("src/A.hs"), "a2").expect("write");
        let third = sync_tree(src.path(), dest.path(), &excludes, true, &keep).expect("sync");
        assert_eq!((third.copied, third.deleted), (1, 1));
        assert!(!dest.path().join("B.hs").exists());
        assert_eq!(fs::read_to_string(dest.path().join("src/A.hs")).expect("read"), "a2");
        assert!(
            dest.path().join("dist-newstyle/cache").exists(),
            "excluded paths are kept"
        );
        assert!(dest.path().join(".marker").exists(), "the marker is never touched");
    }
}
