//! The processes the commands start and watch: running a tool or git with its output captured
//! (or on the terminal), spawning a server with a log file, pid files, stopping one with the
//! right signal, finding who holds a port, turning a log into an error, and waiting, bounded,
//! for something to happen.
//!
//! Every child process xtask runs goes through here (or through [`Progress::run`], which waits
//! with [`wait`]): one place where a Ctrl-C stops it and where a failure names the command.
//! The one exception is the HTTP client's `curl` (`crate::http`), whose answer is a stream
//! read as it arrives.
//!
//! [`Progress::run`]: crate::progress::Progress::run

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::{interrupt, untrusted};

/// What a finished command printed, and how it ended.
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn ok(&self) -> bool {
        self.status.success()
    }

    /// stdout as text (a byte that is not UTF-8 shown as U+FFFD).
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stdout then stderr, as text: what a user would have seen on the terminal.
    pub(crate) fn all_text(&self) -> String {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// `git` in `dir`: how every git command starts. The Hub token's variables are not in its
/// environment (`main` takes them out of xtask's own); the deploy adds its credential as
/// config, only where it talks to the Hub (see `deploy::git`).
pub(crate) fn git(dir: impl AsRef<std::path::Path>) -> Command {
    let mut git = Command::new("git");
    git.current_dir(dir);
    git
}

/// Runs `command` to its end with `input` on its stdin (`None`: nothing) and its stdout and
/// stderr captured. It stays in xtask's process group, so a Ctrl-C in the terminal reaches it
/// as well; xtask kills it and returns [`interrupt::Interrupted`]. Fails only when it cannot
/// start (or on Ctrl-C): look at [`Output::ok`], or use [`read`].
pub(crate) fn output(command: &mut Command, input: Option<Vec<u8>>) -> Result<Output> {
    let mut child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| cannot_start(command, err))?;
    // Written and read by threads of their own: a full pipe must never block the others.
    let writer = child.stdin.take().zip(input).map(|(mut stdin, input)| {
        std::thread::spawn(move || {
            // A child that exits without reading all of it is judged by its status.
            let _ = stdin.write_all(&input);
        })
    });
    let stdout = read_to_end(child.stdout.take());
    let stderr = read_to_end(child.stderr.take());
    // On Ctrl-C the threads are left to end with the pipes: a grandchild may hold them open.
    let status = wait(&mut child, QUICK, false, || {})?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// A thread that reads `stream` (a child's pipe) to its end.
fn read_to_end(stream: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut buf);
        }
        buf
    })
}

/// Runs `command` as [`output`] does and returns its stdout; when it fails, the error names
/// the command and quotes its stderr (escaped: a remote's words may be in it).
pub(crate) fn read(command: &mut Command) -> Result<String> {
    Ok(checked(command, None)?.stdout_text())
}

/// [`output`], and an error as [`read`]'s when the command fails.
pub(crate) fn checked(command: &mut Command, input: Option<Vec<u8>>) -> Result<Output> {
    let out = output(command, input)?;
    if !out.ok() {
        bail!("{}", failed(command, &out));
    }
    Ok(out)
}

/// "`git push` failed: what it said on stderr", or its status when it said nothing.
pub(crate) fn failed(command: &Command, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        format!("`{}` failed ({})", shown(command), out.status)
    } else {
        format!("`{}` failed: {}", shown(command), untrusted::lines(stderr))
    }
}

/// Runs `command` in the foreground with its output on the terminal, echoed first
/// (`$ cargo fmt --all --check`), as a suite of `ci` runs; an error names it when it fails.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    eprintln!("$ {}", shown(command));
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|err| cannot_start(command, err))?;
    let status = wait(&mut child, QUICK, false, || {})?;
    if !status.success() {
        bail!("`{}` failed ({status})", shown(command));
    }
    Ok(())
}

/// Whether `command` starts and succeeds, its output discarded: asks whether a tool is there.
pub(crate) fn succeeds(command: &mut Command) -> bool {
    output(command, None).is_ok_and(|out| out.ok())
}

/// The command line of `command` for a message: its program and arguments, an argument with
/// a space in quotes, escaped (a path may come from a Space repo) and capped.
pub(crate) fn shown(command: &Command) -> String {
    let quoted = |arg: &OsStr| {
        let arg = arg.to_string_lossy();
        if arg.contains(char::is_whitespace) || arg.is_empty() {
            format!("{arg:?}")
        } else {
            arg.into_owned()
        }
    };
    let words: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(quoted)
        .collect();
    untrusted::line(&words.join(" "))
}

/// Why `command` did not start: a missing program, said so, or the system's reason.
pub(crate) fn cannot_start(command: &Command, err: std::io::Error) -> anyhow::Error {
    let program = command.get_program().to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!("`{program}` is required: install it and re-run")
    } else {
        anyhow::anyhow!("cannot start `{program}`: {err}")
    }
}

/// Waits for `child`, looking at it `every` so often and calling `tick` between looks; on
/// Ctrl-C stops it (its whole process group when it leads one: `group`) and returns
/// [`interrupt::Interrupted`].
pub(crate) fn wait(
    child: &mut Child,
    every: Every,
    group: bool,
    mut tick: impl FnMut(),
) -> Result<ExitStatus> {
    let ended: Result<ExitStatus> = until(every, || {
        match child.try_wait() {
            Ok(Some(status)) => return Some(Ok(status)),
            Err(err) => return Some(Err(err.into())),
            Ok(None) => {}
        }
        if interrupt::requested() {
            return Some(Err(interrupt::Interrupted.into()));
        }
        tick();
        None
    });
    if ended
        .as_ref()
        .is_err_and(|err| err.is::<interrupt::Interrupted>())
    {
        if group {
            stop_group(child, INTERRUPT_GRACE);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    ended
}

/// How often a command run to its end is looked at: most git commands take milliseconds, and
/// a deploy runs a dozen of them in a row.
const QUICK: Every = Every::fixed(Duration::from_millis(2));

/// After Ctrl-C a child that leads its own group gets this long to exit on SIGTERM.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Spawns `command` with stdin closed and stdout and stderr appended to `log`, in its own
/// process group: a Ctrl-C in the terminal reaches xtask only, which then stops the children
/// in order (the app before its database), and `--detach` needs nothing more.
pub(crate) fn spawn_logged(command: &mut Command, log: &Utf8Path) -> Result<Child> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {log}"))?;
    let stdout = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(out)
        .process_group(0)
        .spawn()
        .map_err(|err| cannot_start(command, err))
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
    let exited = poll(Every::fixed(POLL), Some(Instant::now() + grace), || {
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
    poll(Every::fixed(POLL), Some(Instant::now() + grace), || {
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
    if poll(Every::fixed(POLL), Some(deadline), gone).is_some() {
        return Ok(true);
    }
    send(pid, libc::SIGKILL)?;
    poll(Every::fixed(POLL), Some(deadline + grace), gone);
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

/// How often [`poll`] asks: first after `first`, then after `by` times the last wait each
/// time, up to `max`.
#[derive(Clone, Copy)]
pub(crate) struct Every {
    first: Duration,
    by: f64,
    max: Duration,
}

impl Every {
    pub(crate) const fn fixed(interval: Duration) -> Every {
        Every {
            first: interval,
            by: 1.0,
            max: interval,
        }
    }

    pub(crate) const fn growing(first: Duration, by: f64, max: Duration) -> Every {
        Every { first, by, max }
    }
}

/// How often a server that is starting (PostgreSQL, the app) is asked whether it is ready.
pub(crate) const SERVER_STARTING: Every = Every::fixed(Duration::from_millis(25));

/// Calls `check` until it answers `Some` (returned) or `deadline` has passed (`None`; without
/// a deadline it asks until it answers). A Ctrl-C pressed meanwhile cuts the current wait
/// short, so a `check` that ends on it (answering `Some(Err(..))` from
/// [`crate::interrupt::check`]) ends at once; one pressed before does not hurry the waits, as
/// stopping children must go on after one.
pub(crate) fn poll<T>(
    every: Every,
    deadline: Option<Instant>,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let mut interval = every.first;
    loop {
        if let Some(answer) = check() {
            return Some(answer);
        }
        let left = match deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => interval,
        };
        if left.is_zero() {
            return None;
        }
        interrupt::nap(interval.min(left));
        interval = interval.mul_f64(every.by).min(every.max);
    }
}

/// [`poll`] without a deadline: calls `check` until it answers.
pub(crate) fn until<T>(every: Every, check: impl FnMut() -> Option<T>) -> T {
    poll(every, None, check).expect("a poll without a deadline ends only with an answer")
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
    fn a_failed_command_is_named_with_its_stderr_escaped() {
        let script = "echo out; printf 'fatal: \\033[2Jno' >&2; exit 3";
        let err = read(Command::new("sh").args(["-c", script]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`sh -c \"echo out;") && err.ends_with("` failed: fatal: \\x1b[2Jno"),
            "{err}"
        );
        let err = read(Command::new("sh").args(["-c", "exit 4"]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "`sh -c \"exit 4\"` failed (exit status: 4)");
        let err = run(Command::new("sh").args(["-c", "exit 5"]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "`sh -c \"exit 5\"` failed (exit status: 5)");
        let err = read(&mut Command::new("xtask-no-such-program"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`xtask-no-such-program` is required: install it and re-run"
        );
    }

    #[test]
    fn a_command_gets_its_input_and_both_outputs_whole() {
        // More than a pipe holds in each direction: nothing may wait on anything else.
        let input = vec![b'x'; 1 << 20];
        let out = output(
            Command::new("sh").args(["-c", "cat; cat /dev/zero | head -c 300000 >&2"]),
            Some(input.clone()),
        )
        .unwrap();
        assert!(out.ok());
        assert_eq!(out.stdout, input);
        assert_eq!(out.stderr.len(), 300_000);
        assert!(!succeeds(Command::new("sh").args(["-c", "exit 1"])));
        assert!(succeeds(Command::new("sh").args(["-c", "exit 0"])));
    }

    #[test]
    fn poll_returns_the_first_answer_or_none_at_its_deadline() {
        let mut calls = 0;
        let every = Every::growing(Duration::from_millis(1), 2.0, Duration::from_millis(4));
        let deadline = Instant::now() + Duration::from_secs(60);
        let answer = poll(every, Some(deadline), || {
            calls += 1;
            (calls == 4).then_some(calls)
        });
        assert_eq!(answer, Some(4));
        let mut calls = 0;
        let none = poll(
            Every::fixed(Duration::from_millis(1)),
            Some(Instant::now()),
            || {
                calls += 1;
                None::<()>
            },
        );
        assert_eq!(
            (none, calls),
            (None, 1),
            "asked once, then the deadline had passed"
        );
        let mut calls = 0;
        let answer = until(every, || {
            calls += 1;
            (calls == 3).then_some("ready")
        });
        assert_eq!(answer, "ready");
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
