//! File-system helpers with the discipline every state write needs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// The temporary name [`write_atomic`] uses for `name`: `.<name>.tmp-<pid>`,
/// or `<name>.tmp-<pid>` for a name that starts with a dot already.
pub fn temp_name(name: &str) -> String {
    let dot = if name.starts_with('.') { "" } else { "." };
    format!("{dot}{name}.tmp-{}", std::process::id())
}

/// Creates a new file at `path` for writing, never through a link: a file or
/// link already at that name (left by a kill, or planted) is removed first,
/// and the open refuses to follow a link that appears meanwhile.
pub fn create_new_nofollow(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // unlink removes a link itself, never what it points to.
            fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// Opens `path` for writing, truncated, never through a link: a link at that
/// name is removed first (what an earlier file there held is overwritten).
fn open_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    };
    match open() {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old or
/// the new content, never a mix: temp file in the same folder, fsync, rename,
/// fsync of the folder. Neither the temp file nor `path` is written through a
/// link: the temp file is opened without following links, and the rename
/// replaces a link at `path` rather than what it points to.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = open_nofollow(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends one line (`line` without its newline) to a JSON-lines file, durably.
/// A last line cut short by a crash is closed first, so the new line is never
/// glued to it (readers skip the torn one); a new file's folder is synced too.
pub fn append_line(path: &Path, line: &[u8]) -> io::Result<()> {
    append(path, line, true)
}

/// [`append_line`] without waiting for the disk: the line is in the file for
/// every reader, and survives the process being killed, but not a crash of the
/// machine until [`sync_data`] or the kernel's writeback puts it on disk.
pub fn append_line_unsynced(path: &Path, line: &[u8]) -> io::Result<()> {
    append(path, line, false)
}

fn append(path: &Path, line: &[u8], durable: bool) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let existed = path.exists();
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
    let mut bytes = Vec::with_capacity(line.len() + 2);
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    // One write with O_APPEND: concurrent appenders never interleave within a line.
    file.write_all(&bytes)?;
    if durable {
        file.sync_data()?;
        if !existed && let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// fdatasync of the file at `path` and, so that its name survives a crash too,
/// of its folder: what [`append_line_unsynced`] left to the kernel is on disk.
pub fn sync_data(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_data()?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// The largest input file (manifest, profile, port registry) sandboxer reads.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Reads an input file as text, refusing before reading it whole what is not a
/// regular file (a FIFO would block, a device never ends) or is larger than
/// [`MAX_INPUT_BYTES`].
pub fn read_input(path: &Path) -> io::Result<String> {
    String::from_utf8(read_input_bytes(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// [`read_input`] without the UTF-8 check, which the document reader makes
/// itself to say where the first bad byte is.
pub fn read_input_bytes(path: &Path) -> io::Result<Vec<u8>> {
    read_bounded(path, true)
}

/// [`read_input_bytes`] of a file that must not be a symbolic link: a file in
/// a folder others may write (a store's), where a planted link would make us
/// read what it points at.
pub fn read_input_bytes_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    read_bounded(path, false)
}

fn read_bounded(path: &Path, follow: bool) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !follow && fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a symbolic link (not followed)",
        ));
    }
    // Opening a FIFO for reading blocks until a writer comes: look first, and
    // open without blocking in case the name changes in between.
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let flags = if follow {
        libc::O_NONBLOCK
    } else {
        libc::O_NONBLOCK | libc::O_NOFOLLOW
    };
    let file = OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes, more than the limit of {MAX_INPUT_BYTES}", meta.len()),
        ));
    }
    let mut text = Vec::new();
    // The size can grow after the check: read at most one byte past the limit.
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "grew past the size limit while read",
        ));
    }
    Ok(text)
}

/// fsync of a folder, so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_line_closes_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notes.jsonl");
        append_line(&path, b"{\"a\":1}").expect("append");
        fs::write(&path, b"{\"a\":1}\n{\"torn\":").expect("simulate a crash mid-line");
        append_line(&path, b"{\"b\":2}").expect("append");
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"torn\":\n{\"b\":2}\n");
    }

    #[test]
    fn a_link_planted_at_the_temp_name_is_replaced_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        fs::write(&outside, "precious").expect("write");
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).expect("chmod");
        let ws = dir.path().join("ws");
        fs::create_dir(&ws).expect("mkdir");
        let path = ws.join(".marker.json");
        std::os::unix::fs::symlink(&outside, ws.join(temp_name(".marker.json"))).expect("plant at the temp name");
        write_atomic(&path, b"mine").expect("write");
        // And a link planted at the final name is replaced, too.
        fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(&outside, &path).expect("plant at the name");
        write_atomic(&path, b"mine again").expect("write");
        assert_eq!(fs::read(&outside).expect("read"), b"precious");
        let mode = fs::metadata(&outside).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!fs::symlink_metadata(&path).expect("stat").file_type().is_symlink());
        assert_eq!(fs::read(&path).expect("read"), b"mine again");
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
