//! The state lock: an OS file lock plus a holder record in the same file.
//!
//! The kernel releases the OS lock when its holder dies, so a stale holder record
//! never blocks anyone; `force-unlock` removes a lock whose holder is stuck.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id, for `force-unlock`.
    pub id: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the holder.
    pub host: String,
    /// User of the holder.
    pub user: String,
    /// The command that holds it (`apply`, `destroy`, ...).
    pub command: String,
    /// RFC 3339.
    pub since: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}@{} (pid {}) since {}, lock id {}",
            self.command, self.user, self.host, self.pid, self.since, self.id
        )
    }
}

/// Lock errors.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("the state is locked: {holder}")]
    Held {
        /// The holder, as far as its record tells.
        holder: String,
    },
    /// The lock file could not be used.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// force-unlock with an id that does not match.
    #[error("the lock id is {actual}, not {given}")]
    WrongId {
        /// The id on the command line.
        given: String,
        /// The id of the current holder.
        actual: String,
    },
    /// force-unlock with nothing to unlock.
    #[error("the state is not locked")]
    NotLocked,
}

impl LockError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { .. } => Some(
                "wait for it with --lock-timeout 5m; if that process is gone for good, run `sandboxer force-unlock <lock id>`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A held lock; released on drop (the kernel releases it if the process dies).
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
    /// The holder record written into the lock file.
    pub info: LockInfo,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Empty the holder record first, so nobody reads a stale one, then unlock.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the lock at `path`, waiting up to `timeout` for a holder to finish.
pub fn acquire(path: &Path, info: LockInfo, timeout: Duration) -> Result<LockGuard, LockError> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error(path))?;
        match file.try_lock() {
            Ok(()) => {
                // force-unlock may have removed the file we opened: lock the one at the path.
                let still_there = std::fs::metadata(path).map(|m| m.ino()).ok();
                if still_there != Some(file.metadata().map_err(io_error(path))?.ino()) {
                    continue;
                }
                let record = serde_json::to_vec_pretty(&info).map_err(|e| io_error(path)(std::io::Error::other(e)))?;
                file.set_len(0).map_err(io_error(path))?;
                file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
                file.write_all(&record).map_err(io_error(path))?;
                file.sync_all().map_err(io_error(path))?;
                return Ok(LockGuard {
                    file,
                    path: path.to_path_buf(),
                    info,
                });
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    let holder = read_holder(&mut file)
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another sandboxer process".into());
                    return Err(LockError::Held { holder });
                }
                std::thread::sleep(
                    Duration::from_millis(100)
                        .min(deadline.saturating_duration_since(Instant::now()))
                        .max(Duration::from_millis(10)),
                );
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(path)(e)),
        }
    }
}

fn read_holder(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The current holder, if the lock is held.
pub fn holder(path: &Path) -> Option<LockInfo> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => read_holder(&mut file),
    }
}

/// Removes a held lock whose id is `id`. The stuck holder keeps an OS lock on a
/// file nobody else opens any more; the next command locks a new file.
pub fn force_unlock(path: &Path, id: &str) -> Result<LockInfo, LockError> {
    let Some(info) = holder(path) else {
        return Err(LockError::NotLocked);
    };
    if info.id != id {
        return Err(LockError::WrongId {
            given: id.to_string(),
            actual: info.id,
        });
    }
    std::fs::remove_file(path).map_err(io_error(path))?;
    Ok(info)
}

/// A lock holder record for this process.
pub fn this_process(command: &str) -> LockInfo {
    LockInfo {
        id: crate::id::random_id(12),
        pid: std::process::id(),
        host: hostname(),
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
        command: command.to_string(),
        since: super::now_rfc3339(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> LockInfo {
        LockInfo {
            id: id.into(),
            pid: 1,
            host: "h".into(),
            user: "u".into(),
            command: "apply".into(),
            since: "t".into(),
        }
    }

    #[test]
    fn second_acquire_fails_naming_the_holder_then_succeeds_after_release() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.lock");
        let guard = acquire(&path, info("one"), Duration::ZERO).expect("first");
        let err = acquire(&path, info("two"), Duration::from_millis(50)).expect_err("held");
        assert!(err.to_string().contains("lock id one"), "{err}");
        assert_eq!(holder(&path).map(|h| h.id), Some("one".into()));
        drop(guard);
        assert_eq!(holder(&path), None);
        acquire(&path, info("two"), Duration::ZERO).expect("free again");
    }

    #[test]
    fn force_unlock_needs_the_right_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.lock");
        let _stuck = acquire(&path, info("stuck"), Duration::ZERO).expect("first");
        assert!(matches!(force_unlock(&path, "other"), Err(LockError::WrongId { .. })));
        force_unlock(&path, "stuck").expect("unlock");
        acquire(&path, info("next"), Duration::ZERO).expect("free after force-unlock");
    }
}
