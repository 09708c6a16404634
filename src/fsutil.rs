//! File-system helpers with the discipline every state write needs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old or
/// the new content, never a mix: temp file in the same folder, fsync, rename,
/// fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
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
    file.sync_data()?;
    if !existed && let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
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
