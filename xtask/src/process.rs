//! The processes the commands start and watch: spawning one with a log file, pid files,
//! stopping one with the right signal, finding who holds a port, turning a log into an error,
//! and waiting, bounded, for something to happen.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::untrusted;

/// Spawns `command` with stdin closed and stdout and stderr appended to `log`, in its own
/// process group: a Ctrl-C in the terminal reaches xtask only, which then stops the children
/// in order (the app before its database), and `--detach` needs nothing more.
pub(crate) fn spawn_logged(command: &mut Command, log: &Utf8Path) -> Result<Child> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {log}"))?;
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {program}"))
}

/// Whether `pid` is a live process (not a zombie) whose command line contains `marker` (a
/// path of this project's state), so a pid file left behind never makes us signal a process
/// that reused the pid, nor another project's server.
pub(crate) fn is_running(pid: u32, marker: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain spaces.
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    !zombie && command_line(pid).is_some_and(|cmd| cmd.contains(marker))
}

/// The command line of `pid`, arguments separated by spaces.
pub(crate) fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    Some(text.trim().to_owned())
}

/// The pid recorded in the first line of `file`, if the file exists and holds one.
pub(crate) fn read_pid(file: &Utf8Path) -> Option<u32> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Stops our own child: `signal`, then SIGKILL when it has not exited within `grace`.
pub(crate) fn stop_child(child: &mut Child, signal: libc::c_int, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // Our own child: a failure can only mean it has just exited, which the loop sees.
    let _ = send(child.id(), signal);
    let exited = poll(POLL, Instant::now() + grace, || {
        matches!(child.try_wait(), Ok(Some(_))).then_some(())
    });
    if exited.is_some() {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops our own child and everything in its process group (it must lead one: pip's build
/// helpers, npm's scripts): SIGTERM to the group, SIGKILL to what is left after `grace`.
pub(crate) fn stop_group(child: &mut Child, grace: Duration) {
    let group = child.id() as libc::pid_t;
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the group.
    unsafe { libc::kill(-group, libc::SIGTERM) };
    poll(POLL, Instant::now() + grace, || {
        matches!(child.try_wait(), Ok(Some(_))).then_some(())
    });
    // The leader may be gone while members of its group still run.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = child.wait();
}

/// Stops `name`, a process started by an earlier xtask (so not our child) and recognised by
/// `marker` (see [`is_running`]): `signal`, then SIGKILL after `grace`. Returns false when it
/// was not running.
pub(crate) fn stop_pid(
    pid: u32,
    name: &str,
    marker: &str,
    signal: libc::c_int,
    grace: Duration,
) -> Result<bool> {
    if !is_running(pid, marker) {
        return Ok(false);
    }
    send(pid, signal).with_context(|| {
        format!("cannot stop {name} (pid {pid}): run this as the user who started it")
    })?;
    let deadline = Instant::now() + grace;
    let gone = || (!is_running(pid, marker)).then_some(());
    if poll(POLL, deadline, gone).is_some() {
        return Ok(true);
    }
    send(pid, libc::SIGKILL)?;
    poll(POLL, deadline + grace, gone);
    Ok(true)
}

/// Whether a process with this pid exists (possibly another user's).
pub(crate) fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    let answer = unsafe { libc::kill(pid as libc::pid_t, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// kill(2); a process that is already gone counts as signalled.
fn send(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

const POLL: Duration = Duration::from_millis(50);

/// Calls `check` every `interval` until it answers `Some` (returned) or `deadline` has passed
/// (`None`). The wait itself ignores Ctrl-C (stopping children must go on after one): a
/// `check` that should end on it answers `Some(Err(..))` from [`crate::interrupt::check`].
pub(crate) fn poll<T>(
    interval: Duration,
    deadline: Instant,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
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

/// The process listening on TCP `port` (pid and command line), read from /proc; `None` when
/// it cannot be seen (another user's process when we are not root).
pub(crate) fn port_holder(port: u16) -> Option<(u32, String)> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1)?.rsplit(':').next()?;
                    let listening = fields.get(3)? == &"0A";
                    (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                        .then(|| fields.get(9).map(|inode| inode.to_string()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let wanted: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                return Some((pid, command_line(pid).unwrap_or_default()));
            }
        }
    }
    None
}

/// The last `lines` lines of `log`, escaped (it is the app's output, see [`untrusted`]) and
/// indented for an error message.
pub(crate) fn log_tail(log: &Utf8Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    untrusted::lines(&tail)
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect()
}

/// The cause of a Python crash in `log`, escaped: the exception line of its last traceback
/// (`ModuleNotFoundError: No module named 'x'`), else its last non-empty line.
pub(crate) fn crash_cause(log: &Utf8Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let traceback = lines
        .iter()
        .rposition(|l| l.starts_with("Traceback (most recent call last):"));
    let cause = match traceback {
        // Frames are indented; the exception line is the first one that is not.
        Some(start) => lines[start + 1..]
            .iter()
            .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace)),
        None => lines.iter().rev().find(|l| !l.trim().is_empty()),
    };
    cause.map(|l| untrusted::line(l.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::TempDir;

    fn log_with(text: &str) -> (TempDir, camino::Utf8PathBuf) {
        let dir = TempDir::new("xtask-local").unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, text).unwrap();
        (dir, log)
    }

    #[test]
    fn the_crash_cause_is_the_last_tracebacks_exception_line() {
        let (_dir, log) = log_with(
            "INFO: Started server process [1]\n\
             Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    import b\n\
             ImportError: first\n\n\
             During handling of the above exception, another exception occurred:\n\n\
             Traceback (most recent call last):\n  File \"/t/app/main.py\", line 3, in <module>\n    raise RuntimeError('boom')\n\
             RuntimeError: boom\n",
        );
        assert_eq!(crash_cause(&log).unwrap(), "RuntimeError: boom");
    }

    #[test]
    fn without_a_traceback_the_cause_is_the_last_line() {
        let (_dir, log) =
            log_with("configuration error: DATABASE_URL must start with postgresql://\n\n");
        assert_eq!(
            crash_cause(&log).unwrap(),
            "configuration error: DATABASE_URL must start with postgresql://"
        );
        assert_eq!(
            log_tail(&log, 5),
            "    configuration error: DATABASE_URL must start with postgresql://\n"
        );
    }

    #[test]
    fn a_logs_tail_and_crash_cause_are_shown_escaped() {
        // A crashed app's log is outside text: its escapes must not reach the terminal.
        let (_dir, log) = log_with(
            "starting\n\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\n\
             Traceback (most recent call last):\n  File \"a.py\", line 1\n\
             RuntimeError: \u{202e}gnp.exe\x1b[2J\n",
        );
        let tail = log_tail(&log, 5);
        assert!(!tail.contains(['\x1b', '\x07', '\u{202e}']), "{tail:?}");
        assert!(
            tail.starts_with("    starting\n    \\x1b]8;;https://evil.example\\x07click"),
            "{tail}"
        );
        assert!(
            tail.ends_with("    RuntimeError: \\u{202e}gnp.exe\\x1b[2J\n"),
            "{tail}"
        );
        assert_eq!(
            crash_cause(&log).unwrap(),
            "RuntimeError: \\u{202e}gnp.exe\\x1b[2J"
        );
    }

    #[test]
    fn a_listening_port_names_its_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (pid, _cmd) = port_holder(port).expect("our own listener is visible in /proc");
        assert_eq!(pid, std::process::id());
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_running() {
        assert!(is_running(std::process::id(), "xtask"));
        assert!(!is_running(std::process::id(), "no-such-program-name"));
        assert!(!is_running(u32::MAX - 1, "xtask"));
    }
}
