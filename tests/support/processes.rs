//! Processes as `/proc` shows them, for tests that check what is still running
//! after a kill, a Ctrl-C or a teardown, and a `kill` that must succeed.
//!
//! A zombie counts as gone everywhere here: it runs nothing any more, and a
//! process whose parent died is reaped by PID 1 whenever PID 1 gets to it.

#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Sends `kill -<sig> <pid>` (`KILL`, `INT`, `TERM`, ...) and asserts that it worked.
pub fn kill(sig: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// State and parent pid from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z')
}

/// Every pid in `/proc`.
fn pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .expect("list /proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .collect()
}

/// The command line of `pid`, its words joined by spaces (None when unreadable).
fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " ").trim().to_string())
}

/// Every live process below `root`, found through the ppid chains in `/proc/*/stat`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in pids() {
        if let Some((state, ppid)) = stat(pid)
            && state != 'Z'
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for &kid in children.get(&parent).map(Vec::as_slice).unwrap_or_default() {
            found.push(kid);
            queue.push(kid);
        }
    }
    found
}

/// Processes whose command line mentions `needle`, with that command line.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    pids()
        .into_iter()
        .filter_map(|pid| cmdline(pid).map(|c| (pid, c)))
        .filter(|(_, c)| c.contains(needle))
        .collect()
}

/// Processes (other than this one) whose environment holds exactly `entry`
/// (e.g. `TMPDIR=W/tmp`), with their command line. Zombies have no environment
/// left and are not listed: they run nothing.
pub fn processes_with_env(entry: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
        })
        .map(|pid| (pid, cmdline(pid).unwrap_or_default()))
        .collect()
}

/// Whether process `pid` has `path` open (one of `/proc/PID/fd/*` links to it).
pub fn has_open(pid: u32, path: &Path) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(Result::ok)
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == path))
        })
        .unwrap_or(false)
}
