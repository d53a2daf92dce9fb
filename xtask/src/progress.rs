//! What the user sees while xtask works, for every command (`ci`, `deploy`, `deploy --local`):
//! one line per finished step with the elapsed time, a spinner with the elapsed time while a
//! step runs on a terminal (a line every 10 s otherwise), and long child processes (pip, npm,
//! apt-get) run so that their own output is summarized and Ctrl-C stops them at once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::process::{self, Every};
use crate::{interrupt, untrusted};

/// Progress on stderr, so stdout carries only results (`--json` stays parseable).
pub(crate) struct Progress {
    started: Instant,
    tty: bool,
    spinner: Cell<usize>,
    last_wait: RefCell<String>,
}

const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
/// A step shorter than this shows nothing until it ends.
const QUIET_FOR: Duration = Duration::from_secs(2);
/// Away from a terminal (CI logs, pipes), a running step prints a line this often.
const LINE_EVERY: Duration = Duration::from_secs(10);
/// How often the spinner is redrawn at most, and a long child looked at.
const POLL: Duration = Duration::from_millis(100);
/// The lines of a child's output a failure quotes.
const TAIL_LINES: usize = 30;
/// The most characters of one output line a summary shows.
const LINE_CHARS: usize = 80;

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress {
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            spinner: Cell::new(0),
            last_wait: RefCell::default(),
        }
    }

    pub(crate) fn step(&self, message: impl std::fmt::Display) {
        self.clear_spinner();
        eprintln!("[{:>6.1}s] {message}", self.elapsed_secs());
    }

    /// A state while waiting: a spinner line on a terminal, else a line when it changes.
    pub(crate) fn waiting(&self, message: &str) {
        if self.tty {
            self.spin(message);
        } else if *self.last_wait.borrow() != message {
            *self.last_wait.borrow_mut() = message.to_owned();
            self.step(format_args!("  {message}"));
        }
    }

    pub(crate) fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Runs `command`, a long step such as `pip install`, described by `what`. Its output is
    /// summarized while it runs (how many packages pip has collected, and its last line) and
    /// quoted when it fails. It runs in its own process group, so a Ctrl-C in the terminal
    /// reaches xtask only; xtask then stops the whole group at once and unwinds with
    /// [`interrupt::Interrupted`].
    pub(crate) fn run(&self, what: &str, command: &mut Command) -> Result<()> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| process::cannot_start(command, err).context(what.to_owned()))?;
        let output = Arc::new(Mutex::new(Output::default()));
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|stream| {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                    output.lock().unwrap().add(&String::from_utf8_lossy(&line));
                }
            })
        })
        .collect();
        let summary = || output.lock().unwrap().summary();
        let status = self.wait(what, &mut child, summary)?;
        for reader in readers {
            let _ = reader.join();
        }
        let output = output.lock().unwrap();
        if !status.success() {
            bail!(
                "{what} failed ({status}); its last lines:\n{}",
                output.tail()
            );
        }
        self.step(format_args!(
            "{what}: done in {}s{}",
            self.seconds_since(output.started),
            match output.summary() {
                s if s.is_empty() => String::new(),
                s => format!(" ({s})"),
            }
        ));
        Ok(())
    }

    /// Waits for `child` (which leads its own process group), showing `what` and `summary()`
    /// after [`QUIET_FOR`]; on Ctrl-C stops its group and returns `Interrupted`.
    pub(crate) fn wait(
        &self,
        what: &str,
        child: &mut Child,
        summary: impl Fn() -> String,
    ) -> Result<ExitStatus> {
        let mut ticker = self.ticker(what);
        let _group = interrupt::ChildGroup::new(child.id());
        // Soon after it starts (a step that ends at once), then at the spinner's pace.
        let every = Every::growing(Duration::from_millis(1), 2.0, POLL);
        process::wait(child, every, true, || ticker.tick(&summary))
    }

    /// Runs `work` (a network call: git clone, git push) on a thread of its own and shows
    /// `what` while it runs; returns what `work` returns.
    pub(crate) fn during<T: Send>(&self, what: &str, work: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            let running = scope.spawn(work);
            self.until_finished(what, &running);
            running
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Shows `what` until the thread `running` has finished.
    pub(crate) fn until_finished<T>(
        &self,
        what: &str,
        running: &std::thread::ScopedJoinHandle<'_, T>,
    ) {
        let mut ticker = self.ticker(what);
        let every = Every::fixed(Duration::from_millis(10));
        process::until(every, || {
            if running.is_finished() {
                return Some(());
            }
            ticker.tick(&String::new);
            None
        });
    }

    /// For a wait loop of its own (a server starting): call [`Ticker::tick`] on each round.
    pub(crate) fn ticker<'a>(&'a self, what: &'a str) -> Ticker<'a> {
        Ticker {
            progress: self,
            what,
            started: Instant::now(),
            next_line: LINE_EVERY,
            last_spin: None,
        }
    }

    fn seconds_since(&self, since: Instant) -> String {
        format!("{:.1}", since.elapsed().as_secs_f64())
    }

    fn spin(&self, message: &str) {
        let n = self.spinner.get();
        self.spinner.set(n + 1);
        let line = format!(
            "{} [{:>6.1}s] {message}",
            SPINNER[n % SPINNER.len()],
            self.elapsed_secs()
        );
        // One screen line: a wrapped one could not be redrawn in place.
        let width = terminal_width().saturating_sub(1).max(20);
        eprint!("\r\x1b[K{}", clip(&line, width));
        let _ = std::io::stderr().flush();
        *self.last_wait.borrow_mut() = message.to_owned();
    }

    fn clear_spinner(&self) {
        if self.tty && !self.last_wait.borrow().is_empty() {
            eprint!("\r\x1b[K");
            self.last_wait.borrow_mut().clear();
        }
    }
}

/// The width of the terminal on stderr; 80 when it cannot be asked.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// A step in progress: silent for [`QUIET_FOR`], then a spinner with its elapsed time on a
/// terminal, or a line every [`LINE_EVERY`] elsewhere. Dropping it clears the spinner, so
/// whatever is printed next (the step's result, an error) starts on a clean line.
pub(crate) struct Ticker<'a> {
    progress: &'a Progress,
    what: &'a str,
    started: Instant,
    next_line: Duration,
    last_spin: Option<Instant>,
}

impl Ticker<'_> {
    /// Shows the step with `summary()` (what it is doing now; may be empty) when it is due.
    pub(crate) fn tick(&mut self, summary: &dyn Fn() -> String) {
        let elapsed = self.started.elapsed();
        let tty = self.progress.tty;
        if !self.due(elapsed) {
            return;
        }
        let (what, secs, summary) = (self.what, elapsed.as_secs(), summary());
        let line = if summary.is_empty() {
            format!("{what} ({secs}s)")
        } else {
            format!("{what} ({secs}s): {summary}")
        };
        if tty {
            self.progress.spin(&line);
            self.last_spin = Some(Instant::now());
        } else {
            self.progress.step(line);
            self.next_line += LINE_EVERY;
        }
    }
}

impl Ticker<'_> {
    /// Whether the step is shown now, `elapsed` after it started: on a terminal after
    /// [`QUIET_FOR`] (redrawn at most every [`POLL`]), elsewhere every [`LINE_EVERY`].
    fn due(&self, elapsed: Duration) -> bool {
        if self.progress.tty {
            elapsed >= QUIET_FOR && self.last_spin.is_none_or(|t| t.elapsed() >= POLL)
        } else {
            elapsed >= self.next_line
        }
    }
}

impl Drop for Ticker<'_> {
    fn drop(&mut self) {
        self.progress.clear_spinner();
    }
}

/// What a child printed: its last lines, and pip's counts.
struct Output {
    started: Instant,
    tail: VecDeque<String>,
    /// pip's `Collecting NAME` lines: one per requirement it resolves.
    collected: usize,
    /// pip's `Successfully installed a-1 b-2 …`: how many it installed.
    installed: Option<usize>,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            started: Instant::now(),
            tail: VecDeque::new(),
            collected: 0,
            installed: None,
        }
    }
}

impl Output {
    fn add(&mut self, line: &str) {
        // pip redraws some lines with CR; the last state is the one that counts.
        let line = line.rsplit('\r').next().unwrap_or_default().trim_end();
        if line.trim().is_empty() {
            return;
        }
        if line.starts_with("Collecting ") {
            self.collected += 1;
        }
        if let Some(list) = line.strip_prefix("Successfully installed ") {
            self.installed = Some(list.split_whitespace().count());
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    /// One line: pip's counts when it printed any, and its last line, shortened.
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.installed {
            parts.push(format!("{n} package(s) installed"));
        } else {
            if self.collected > 0 {
                parts.push(format!("{} requirement(s) collected", self.collected));
            }
            if let Some(last) = self.tail.back() {
                parts.push(untrusted::line(&clip(last, LINE_CHARS)));
            }
        }
        parts.join("; ")
    }

    fn tail(&self) -> String {
        self.tail
            .iter()
            .map(|l| format!("    {}\n", untrusted::line(l)))
            .collect()
    }
}

/// At most `max` characters of `text`, trimmed; `…` marks a cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pips_output_is_summarized_by_its_counts_and_last_line() {
        let mut output = Output::default();
        assert_eq!(output.summary(), "");
        for line in [
            "Collecting fastapi==0.115.6 (from -r requirements.txt (line 1))",
            "  Downloading fastapi-0.115.6-py3-none-any.whl.metadata (27 kB)",
            "Collecting starlette<0.42.0,>=0.40.0 (from fastapi==0.115.6)",
            "",
        ] {
            output.add(line);
        }
        assert_eq!(
            output.summary(),
            "2 requirement(s) collected; Collecting starlette<0.42.0,>=0.40.0 (from fastapi==0.115.6)"
        );
        output.add("Installing collected packages: starlette, fastapi");
        output.add("Successfully installed fastapi-0.115.6 starlette-0.41.3");
        assert_eq!(output.summary(), "2 package(s) installed");
    }

    #[test]
    fn a_long_line_is_shortened_and_control_characters_escaped() {
        let mut output = Output::default();
        output.add(&format!("\x1b[31m{}", "x".repeat(200)));
        let summary = output.summary();
        assert!(
            summary.starts_with("\\x1b[31mxxx") && summary.ends_with('…'),
            "{summary}"
        );
    }

    #[test]
    fn a_step_shows_after_two_seconds_on_a_terminal_and_every_ten_elsewhere() {
        let secs = Duration::from_secs;
        let mut progress = Progress::new();
        progress.tty = false;
        let mut ticker = progress.ticker("installing");
        assert!(!ticker.due(secs(9)));
        assert!(ticker.due(secs(10)));
        ticker.next_line += LINE_EVERY;
        assert!(!ticker.due(secs(19)) && ticker.due(secs(20)));
        drop(ticker);

        progress.tty = true;
        let ticker = progress.ticker("installing");
        assert!(!ticker.due(Duration::from_millis(1999)));
        assert!(ticker.due(secs(2)));
    }

    #[test]
    fn a_failing_child_is_an_error_that_quotes_its_last_lines() {
        let progress = Progress::new();
        let err = progress
            .run(
                "installing the test requirements",
                Command::new("sh").args([
                    "-c",
                    "echo Collecting nothing; echo 'ERROR: no such package' >&2; exit 3",
                ]),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "installing the test requirements failed (exit status: 3); its last lines:\n"
            ) && err.contains("    ERROR: no such package\n"),
            "{err}"
        );
    }
}
