//! Watching the processes a test starts: whether a pid lives, the pid a file records, a
//! child's stderr, and a bounded wait.
//!
//! Include it with `#[path = "support/process.rs"] mod process;`.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::Read;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Whether `pid` is alive and not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// The pid on the first line of `file`.
pub fn pid_in(file: &Path) -> u32 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// All that `child` wrote to its (piped) stderr.
pub fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Calls `check` every `interval` until it answers `Some` (returned) or `bound` has passed
/// (`None`).
pub fn poll<T>(
    interval: Duration,
    bound: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(answer) = check() {
            return Some(answer);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(interval.min(deadline - now));
    }
}

/// The exit status of `child`, polled every `interval`; `None` when it runs on after `bound`.
pub fn exit_within(child: &mut Child, interval: Duration, bound: Duration) -> Option<ExitStatus> {
    poll(interval, bound, || child.try_wait().unwrap())
}
