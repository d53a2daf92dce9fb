//! Ctrl-C: one handler for the whole process and a flag that long waits poll.
//!
//! The handler only sets an atomic flag (the one thing a signal handler may safely do).
//! Loops that wait on a child, the network or the user call [`check`] or [`sleep`] and
//! unwind with [`Interrupted`], so every guard's `Drop` (temporary clone, lock, local
//! Space) runs before the process exits. A second Ctrl-C exits at once, killing the process
//! group of the long child being waited for (pip, npm: see [`ChildGroup`]) on the way out.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
/// The process group of the long child being waited for; 0 when there is none.
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);

/// Names the process group a second Ctrl-C kills while this guard lives: the first Ctrl-C
/// lets the waiting loop stop it gracefully, a second one must not leave it behind.
pub(crate) struct ChildGroup;

impl ChildGroup {
    pub(crate) fn new(group: u32) -> ChildGroup {
        CHILD_GROUP.store(i32::try_from(group).unwrap_or(0), Ordering::SeqCst);
        ChildGroup
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        CHILD_GROUP.store(0, Ordering::SeqCst);
    }
}

/// What the running command's guards have undone by the time [`Interrupted`] is printed;
/// unset for a command that leaves nothing behind.
static CLEANED_UP: OnceLock<&'static str> = OnceLock::new();

/// Says what the command about to run cleans up when Ctrl-C stops it (its temporary clone,
/// the processes it started), for the line printed at the end. Set once, before the command.
pub(crate) fn cleans_up(what: &'static str) {
    let _ = CLEANED_UP.set(what);
}

/// The error a command unwinds with after Ctrl-C; its guards have cleaned up by the time
/// `main` prints it.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted (Ctrl-C)")?;
        match CLEANED_UP.get() {
            Some(what) => write!(f, "; {what}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Interrupted {}

/// Routes SIGINT and SIGTERM to the flag. Idempotent; call it before the first long wait.
pub(crate) fn install() -> Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| result = platform::install());
    result
}

/// Whether Ctrl-C was pressed since [`install`].
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once Ctrl-C was pressed.
pub(crate) fn check() -> Result<()> {
    if requested() {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// Sleeps for `duration`, returning `Err(Interrupted)` as soon as Ctrl-C is pressed.
pub(crate) fn sleep(duration: Duration) -> Result<()> {
    check()?;
    nap(duration);
    check()
}

/// Sleeps for `duration`, or less when Ctrl-C is pressed meanwhile; one pressed before does
/// not shorten it (stopping the children goes on after one).
pub(crate) fn nap(duration: Duration) {
    let calm = !requested();
    let deadline = Instant::now() + duration;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || (calm && requested()) {
            return;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// How often waits look at the flag: short enough that Ctrl-C feels immediate.
const POLL: Duration = Duration::from_millis(50);

#[cfg(unix)]
mod platform {
    use super::{CHILD_GROUP, Ordering, REQUESTED};

    extern "C" fn on_signal(_signal: libc::c_int) {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user does not want to wait for the cleanup.
            let group = CHILD_GROUP.load(Ordering::SeqCst);
            unsafe {
                if group > 0 {
                    libc::kill(-group, libc::SIGKILL);
                }
                libc::_exit(130)
            };
        }
    }

    pub(super) fn install() -> anyhow::Result<()> {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed `sigaction` is valid; the handler only touches an atomic and
            // calls `_exit`, both async-signal-safe.
            let ok = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut()) == 0
            };
            anyhow::ensure!(
                ok,
                "cannot install the Ctrl-C handler: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod platform {
    /// Elsewhere Ctrl-C keeps its default (the process ends; temporary files may remain).
    pub(super) fn install() -> anyhow::Result<()> {
        Ok(())
    }
}
