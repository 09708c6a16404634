//! Walking a repo tree in a stable order, leaving out excluded entries.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Excludes;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A folder.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link with its target.
    Symlink(PathBuf),
}

/// One entry of a walked tree.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `/`-separated path from the root.
    pub relative: String,
    /// Folder, file or link.
    pub kind: EntryKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// Unix mode bits.
    pub mode: u32,
    /// Inode, for the digest cache.
    pub inode: u64,
}

/// Says once per run that a special file is left out (digest and copy both walk it).
fn say_special_once(path: &Path) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SAID: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if said.insert(path.to_path_buf()) {
        tracing::warn!(
            "{} is a FIFO, socket or device: left out of every sync",
            crate::safety::printable(&path.display().to_string())
        );
    }
}

/// Every entry under `root` except excluded ones (and what is below an excluded
/// folder), folders before their content, names sorted. Entries at the top level
/// whose name starts with one of `skip_top` are never part of the tree
/// (sandboxer's own files, [`super::RESERVED_PREFIX`]). Links are reported as
/// links, never followed.
pub fn walk(root: &Path, excludes: &Excludes, skip_top: &[&str]) -> io::Result<Vec<Entry>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut children: Vec<(String, fs::Metadata, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && skip_top.iter().any(|skip| name.starts_with(skip)) {
                continue;
            }
            let meta = fs::symlink_metadata(entry.path())?;
            children.push((name, meta, entry.path()));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, meta, path) in children {
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let file_type = meta.file_type();
            let kind = if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_symlink() {
                EntryKind::Symlink(fs::read_link(&path)?)
            } else if file_type.is_file() {
                EntryKind::File
            } else {
                // Sockets, FIFOs and devices are not part of a repo: every sync leaves them out.
                say_special_once(&path);
                continue;
            };
            if excludes.is_excluded(&relative, kind == EntryKind::Dir) {
                continue;
            }
            if kind == EntryKind::Dir {
                subdirs.push((path, relative.clone()));
            }
            out.push(Entry {
                relative,
                size: meta.len(),
                modified: meta.modified()?,
                mode: meta.mode() & 0o7777,
                inode: meta.ino(),
                kind,
            });
        }
        // Reverse so the stack pops them in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Opens a repo file the walk reported for reading, never through a link: a
/// name that became a link (or anything but a regular file) since the walk is
/// refused, so a copy or a digest reads only what the repo itself holds there.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(named)?;
    if !file.metadata().map_err(named)?.is_file() {
        return Err(named(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file any more",
        )));
    }
    Ok(file)
}
