//! `cargo xtask logs [--build|--run] [--follow] [--tail N]`: the Space's log streams.
//!
//! The Hub serves each log as server-sent events (`GET /api/spaces/{id}/logs/{build|run}`,
//! `data: {"data": "...", "timestamp": "..."}`) that replay the log so far and then stay open.
//! Without `--follow` what arrives until the stream goes quiet (or ends) is printed; with it,
//! new lines follow until Ctrl-C, and a cut connection is reopened without repeating lines.
//! Every line is outside text and goes through `untrusted::line`.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::deploy::hub::{Hub, LogLine, log_event};
use crate::settings::Env;
use crate::untrusted::line as shown;
use crate::{Project, flags, interrupt};

/// The log so far has arrived when the stream is quiet this long.
const QUIET: Duration = Duration::from_millis(1500);
/// Without `--follow`, the stream is read this long at most (a busy app is never quiet).
const READ_AT_MOST: Duration = Duration::from_secs(10);
/// How often the wait looks at Ctrl-C.
const POLL: Duration = Duration::from_millis(50);
/// `--follow` gives up after this many failed reconnections in a row.
const RECONNECTS: u32 = 5;

impl flags::Logs {
    pub(crate) fn run(self, project: &Project, env: &Env) -> Result<()> {
        interrupt::install()?;
        if self.build && self.run {
            bail!("--build and --run name different logs: pick one");
        }
        let kind = if self.build { "build" } else { "run" };
        let (user, space) = crate::status::space_id(self.user, self.space, &project.settings)?;
        let repo = format!("{user}/{space}");
        let hub = Hub::from_env(env)?;
        let mut printer = Printer::new(self.tail);
        let mut failures = 0;
        loop {
            let read_for = (!self.follow).then_some(READ_AT_MOST);
            let stream = match hub.log_stream(&repo, kind, read_for) {
                Ok(stream) => stream,
                Err(err) if printer.connections > 0 && failures < RECONNECTS => {
                    failures += 1;
                    eprintln!("(cannot reopen the {kind} log: {err:#}; retrying)");
                    interrupt::sleep(Duration::from_secs(failures.into()))?;
                    continue;
                }
                Err(err) => return Err(err),
            };
            failures = 0;
            let ended = printer.read(spawn_reader(stream), self.follow)?;
            match ended {
                Ended::Quiet | Ended::Closed if !self.follow => return Ok(()),
                Ended::Cut(why) if !self.follow => {
                    bail!(
                        "the {kind} log stream was cut before it ended ({why}): the lines above are what arrived; \
                         run the command again, or use --follow, which reconnects"
                    )
                }
                Ended::Quiet => unreachable!("with --follow a quiet stream is read on"),
                Ended::Closed => eprintln!("(the {kind} log stream ended; reopening it)"),
                Ended::Cut(why) => {
                    eprintln!("(the {kind} log stream was cut: {why}; reopening it)")
                }
            }
            interrupt::sleep(Duration::from_secs(1))?;
        }
    }
}

/// What a reader thread passes on.
enum Event {
    Lines(Vec<LogLine>),
    Closed,
    Cut(String),
}

/// Why one connection's reading stopped.
enum Ended {
    /// Nothing new for [`QUIET`] (or [`READ_AT_MOST`] passed) without `--follow`.
    Quiet,
    Closed,
    Cut(String),
}

/// Reads the stream on its own thread, so the wait can notice Ctrl-C and quiet spells; the
/// thread ends with the stream (or with the process).
fn spawn_reader(stream: impl BufRead + Send + 'static) -> Receiver<Event> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stream.lines() {
            let event = match line {
                Ok(line) => match log_event(&line) {
                    Some(lines) => Event::Lines(lines),
                    None => continue,
                },
                Err(err) => Event::Cut(err.to_string()),
            };
            let cut = matches!(event, Event::Cut(_));
            if send.send(event).is_err() || cut {
                return;
            }
        }
        let _ = send.send(Event::Closed);
    });
    receive
}

/// Prints lines once each, across reconnections, and `--tail` of the log so far.
struct Printer {
    tail: Option<usize>,
    /// Lines of the log so far, held back until it has all arrived (with `--tail`).
    held: VecDeque<LogLine>,
    /// Whether the log so far has arrived (the first quiet spell or end).
    caught_up: bool,
    /// The newest timestamp printed, and the lines printed with it: a reopened stream replays
    /// the log, and these are skipped.
    newest: String,
    at_newest: Vec<String>,
    connections: u32,
}

impl Printer {
    fn new(tail: Option<usize>) -> Printer {
        Printer {
            tail,
            held: VecDeque::new(),
            caught_up: false,
            newest: String::new(),
            at_newest: Vec::new(),
            connections: 0,
        }
    }

    fn read(&mut self, events: Receiver<Event>, follow: bool) -> Result<Ended> {
        self.connections += 1;
        let started = Instant::now();
        let mut last = Instant::now();
        // Lines already printed with the newest timestamp, to skip once each on a replay.
        let mut replayed = self.at_newest.clone();
        loop {
            interrupt::check()?;
            let ended = match events.recv_timeout(POLL) {
                Ok(Event::Lines(lines)) => {
                    last = Instant::now();
                    for line in lines {
                        if self.seen(&line, &mut replayed) {
                            continue;
                        }
                        self.take(line);
                    }
                    continue;
                }
                Ok(Event::Closed) | Err(RecvTimeoutError::Disconnected) => Ended::Closed,
                Ok(Event::Cut(why)) => Ended::Cut(shown(&why)),
                Err(RecvTimeoutError::Timeout) => {
                    let quiet = last.elapsed() >= QUIET;
                    if !self.caught_up && quiet {
                        self.catch_up();
                    }
                    if !follow && (quiet || started.elapsed() >= READ_AT_MOST) {
                        Ended::Quiet
                    } else {
                        continue;
                    }
                }
            };
            if !self.caught_up {
                self.catch_up();
            }
            return Ok(ended);
        }
    }

    /// Whether a replayed line was printed before (older than the newest, or one of the
    /// lines printed with the newest timestamp).
    fn seen(&self, line: &LogLine, replayed: &mut Vec<String>) -> bool {
        if self.connections == 1 || line.timestamp.is_empty() {
            return false;
        }
        if line.timestamp < self.newest {
            return true;
        }
        if line.timestamp == self.newest
            && let Some(at) = replayed.iter().position(|text| *text == line.text)
        {
            replayed.remove(at);
            return true;
        }
        false
    }

    fn take(&mut self, line: LogLine) {
        match (self.caught_up, self.tail) {
            (false, Some(tail)) => {
                self.held.push_back(line);
                if self.held.len() > tail {
                    self.held.pop_front();
                }
            }
            _ => self.print(line),
        }
    }

    fn catch_up(&mut self) {
        self.caught_up = true;
        while let Some(line) = self.held.pop_front() {
            self.print(line);
        }
    }

    fn print(&mut self, line: LogLine) {
        if line.timestamp != self.newest {
            self.newest = line.timestamp.clone();
            self.at_newest.clear();
        }
        self.at_newest.push(line.text.clone());
        let mut out = std::io::stdout().lock();
        let _ = if line.timestamp.is_empty() {
            writeln!(out, "{}", shown(&line.text))
        } else {
            writeln!(out, "{} {}", shown(&line.timestamp), shown(&line.text))
        };
        let _ = out.flush();
    }
}
