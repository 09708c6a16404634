//! Running a loader or the binary with a deadline: a loader on a worker
//! thread, under `catch_unwind`, that is given up on (and left to finish on
//! its own) after the deadline; the binary as a child that is killed then.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{self, Output};

/// How a run ended.
#[derive(Debug)]
pub enum Ran<T> {
    /// It returned, after this long.
    Done(T, Duration),
    /// It panicked, with this message.
    Panicked(String),
    /// It was still running at the deadline.
    TimedOut(Duration),
}

/// The time a case of `size` bytes may take before it counts as a hang: 2 s
/// for an input up to 1 MiB, 2 s more per MiB beyond; twice that in a debug
/// build. A hang detector, not a benchmark.
pub fn deadline(size: usize) -> Duration {
    let mib = size.div_ceil(1 << 20).max(1) as u32;
    let factor = if cfg!(debug_assertions) { 2 } else { 1 };
    Duration::from_secs(2) * mib * factor
}

/// How much longer than its deadline a loader is waited for: the deadline is
/// on the CPU time it uses, and a thread that waits for a core (the threads
/// of cases given up on keep running) may take longer on the clock.
pub const LOADER_WAIT: u32 = 4;

/// Runs `work` on a thread of its own (with a large stack). It is over time
/// when it used more than `deadline` of CPU, or was still running after
/// `wait` times that on the clock; `Done` carries the CPU time.
pub fn in_thread<T: Send + 'static>(
    deadline: Duration,
    wait: u32,
    work: impl FnOnce() -> T + Send + 'static,
) -> Ran<T> {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("fuzz-case".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let before = thread_cpu();
            let result = catch_unwind(AssertUnwindSafe(work));
            let used = match (before, thread_cpu()) {
                (Some(before), Some(after)) => after.saturating_sub(before),
                _ => start.elapsed(),
            };
            let _ = tx.send((result, used));
        });
    if let Err(e) = spawned {
        return Ran::Panicked(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(deadline * wait.max(1)) {
        Ok((Ok(value), used)) if used <= deadline => Ran::Done(value, used),
        Ok((Ok(_), used)) => Ran::TimedOut(used),
        Ok((Err(panic), _)) => Ran::Panicked(panic_message(&*panic)),
        Err(_) => Ran::TimedOut(start.elapsed()),
    }
}

/// The CPU time (user and system) the calling thread has used, from
/// `/proc/thread-self/stat` (in clock ticks, 100 a second on Linux).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    // proc(5) numbers the fields from the pid: utime is the 14th, stime the
    // 15th, so the 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs the binary in `dir` with `args` (its home folder is `dir` too) and
/// waits until `deadline`; a run still going then is killed.
pub fn binary(dir: &Path, args: &[String], deadline: Duration) -> Ran<Output> {
    let running = support::sandboxer()
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_STATE_HOME", dir.join(".local/state"))
        .args(args)
        .spawn();
    let pid = running.pid();
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(running.wait());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => Ran::Done(out, start.elapsed()),
        Err(_) => {
            // Not reaped yet (its waiter has not returned), so the pid is still ours.
            let _ = std::process::Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let _ = rx.recv();
            Ran::TimedOut(start.elapsed())
        }
    }
}
