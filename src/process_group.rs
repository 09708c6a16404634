//! Child processes that sandboxer runs in process groups of their own (Packer
//! builds, setup commands, rsync): a terminal's Ctrl-C then reaches sandboxer
//! alone, which drains (running changes finish). This registry lets the second
//! Ctrl-C end every such group before sandboxer exits, so none outlives it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

static GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn groups() -> MutexGuard<'static, BTreeSet<u32>> {
    GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered process group; unregistered on drop.
#[derive(Debug)]
pub struct Registered(u32);

/// Registers the group `pgid` (the pid of a child spawned with `process_group(0)`).
pub fn register(pgid: u32) -> Registered {
    groups().insert(pgid);
    Registered(pgid)
}

impl Drop for Registered {
    fn drop(&mut self) {
        groups().remove(&self.0);
    }
}

/// Sends `signal` (`-INT`, `-KILL`) to the whole group `pgid`.
pub fn signal(pgid: u32, signal: &str) {
    let mut kill = std::process::Command::new("kill");
    crate::secret_env::scrub(&mut kill);
    let _ = kill
        .arg(signal)
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Kills every registered group (the second Ctrl-C).
pub fn kill_all() {
    let all = groups().clone();
    for pgid in all {
        signal(pgid, "-KILL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_lasts_as_long_as_the_guard() {
        let guard = register(4_000_001);
        assert!(groups().contains(&4_000_001));
        drop(guard);
        assert!(!groups().contains(&4_000_001));
    }
}
