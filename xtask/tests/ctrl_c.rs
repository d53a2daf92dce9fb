//! Ctrl-C during a long child (pip here; npm and apt-get run the same way): xtask stops the
//! child and everything it started at once, and exits 130 with one line. The child is a fake
//! pip, the venv's own `python`, that says what pip says first and then sleeps: xtask finds it
//! where it finds every venv's Python, so no test switch is needed.

#[path = "support/repo.rs"]
mod repo;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use repo::Repo;

/// Far beyond the bound below, so waiting for the child could not pass.
const FAKE_PIP: &str = r#"#!/bin/sh
# Like pip: a line, then work; SIGINT makes it print its cancel message and fail.
trap 'echo "ERROR: Operation cancelled by user" >&2; exit 1' INT
echo "Collecting pytest (from -r requirements-dev.txt (line 1))"
dir=$(dirname "$0")
echo $$ > "$dir/pip.pid"
sleep 300 &
echo $! > "$dir/sleep.pid"
wait
"#;
/// How long xtask may take to exit after Ctrl-C; generous for a loaded machine, far below
/// the fake pip's 300 s.
const EXIT_BOUND: Duration = Duration::from_secs(10);

fn repo_with_fake_pip(name: &str) -> Repo {
    let repo = Repo::with_fixture_backend(name);
    repo.write("backend/requirements-dev.txt", "pytest\n");
    let python = repo.path("target/xtask/venv/bin/python");
    repo.write("target/xtask/venv/bin/python", FAKE_PIP);
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo
}

/// Starts `cargo xtask ci --only backend` in its own process group (as a shell runs a
/// foreground job) and waits until the fake pip and its own child run.
fn start_ci(repo: &Repo) -> Child {
    let mut ci = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--only", "backend"])
        .current_dir(&repo.dir)
        .envs(repo::git_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let sleep_pid = repo.path("target/xtask/venv/bin/sleep.pid");
    let started = Instant::now();
    while std::fs::read_to_string(&sleep_pid).map_or(true, |s| s.trim().is_empty()) {
        if let Some(status) = ci.try_wait().unwrap() {
            panic!("ci exited ({status}) before pip ran:\n{}", stderr(&mut ci));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the fake pip never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ci
}

fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn pid_in(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Sends SIGINT to `target` (a pid, or a negative process group), then checks the exit: 130,
/// one line, and neither the fake pip nor its child left.
fn interrupt_and_check(repo: &Repo, mut ci: Child, target: i32) {
    let bin = repo.path("target/xtask/venv/bin");
    let (pip, sleep) = (pid_in(&bin.join("pip.pid")), pid_in(&bin.join("sleep.pid")));
    // SAFETY: kill(2) on our own child (or its group).
    unsafe { libc::kill(target, libc::SIGINT) };
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = ci.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > EXIT_BOUND {
            let _ = ci.kill();
            for pid in [pip, sleep] {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            panic!(
                "xtask did not exit within {EXIT_BOUND:?} of Ctrl-C:\n{}",
                stderr(&mut ci)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exited_after = sent.elapsed();
    // Reaped by now, or about to be: give the kernel a moment, bounded. Survivors are killed
    // before reading xtask's stderr, which they would otherwise hold open.
    let end = Instant::now() + Duration::from_secs(5);
    while (alive(pip) || alive(sleep)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<u32> = [pip, sleep].into_iter().filter(|&p| alive(p)).collect();
    for &pid in &survivors {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let out = stderr(&mut ci);
    assert!(
        survivors.is_empty(),
        "the fake pip or its child survived ({survivors:?}, pip {pip}, its child {sleep}):\n{out}"
    );
    assert_eq!(status.code(), Some(130), "{status}\n{out}");
    assert_eq!(
        out.lines().last(),
        Some("interrupted (Ctrl-C); temporary files were removed"),
        "{out}"
    );
    assert!(
        !out.contains("Operation cancelled"),
        "pip got the Ctrl-C itself:\n{out}"
    );
    eprintln!("xtask exited 130 {exited_after:?} after SIGINT");
}

#[test]
fn ctrl_c_in_the_terminal_stops_pip_and_exits_130_with_one_line() {
    let repo = repo_with_fake_pip("ctrl-c-terminal");
    let ci = start_ci(&repo);
    // The terminal sends SIGINT to the whole foreground process group.
    let group = -(ci.id() as i32);
    interrupt_and_check(&repo, ci, group);
}

#[test]
fn sigint_to_xtask_alone_does_not_wait_for_pip() {
    let repo = repo_with_fake_pip("ctrl-c-xtask");
    let ci = start_ci(&repo);
    let pid = ci.id() as i32;
    interrupt_and_check(&repo, ci, pid);
}
