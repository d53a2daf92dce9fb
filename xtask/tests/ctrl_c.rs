//! Ctrl-C during a long child (pip here; npm and apt-get run the same way): xtask stops the
//! child and everything it started at once, and exits 130 with one line. The child is a fake
//! pip, the venv's own `python`, that says what pip says first and then sleeps: xtask finds it
//! where it finds every venv's Python, so no test switch is needed.

#[path = "support/process.rs"]
mod process;
#[path = "support/repo.rs"]
mod repo;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process::{alive, pid_in, stderr};
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
    let ran = process::poll(Duration::from_millis(20), Duration::from_secs(60), || {
        if std::fs::read_to_string(&sleep_pid).is_ok_and(|s| !s.trim().is_empty()) {
            return Some(());
        }
        if let Some(status) = ci.try_wait().unwrap() {
            panic!("ci exited ({status}) before pip ran:\n{}", stderr(&mut ci));
        }
        None
    });
    assert!(ran.is_some(), "the fake pip never ran");
    ci
}

/// Sends SIGINT to `target` (a pid, or a negative process group), then checks the exit: 130,
/// one line, and neither the fake pip nor its child left.
fn interrupt_and_check(repo: &Repo, mut ci: Child, target: i32) {
    let bin = repo.path("target/xtask/venv/bin");
    let (pip, sleep) = (pid_in(&bin.join("pip.pid")), pid_in(&bin.join("sleep.pid")));
    // SAFETY: kill(2) on our own child (or its group).
    unsafe { libc::kill(target, libc::SIGINT) };
    let sent = Instant::now();
    let Some(status) = process::exit_within(&mut ci, Duration::from_millis(20), EXIT_BOUND) else {
        let _ = ci.kill();
        for pid in [pip, sleep] {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        panic!(
            "xtask did not exit within {EXIT_BOUND:?} of Ctrl-C:\n{}",
            stderr(&mut ci)
        );
    };
    let exited_after = sent.elapsed();
    // Reaped by now, or about to be: give the kernel a moment, bounded. Survivors are killed
    // before reading xtask's stderr, which they would otherwise hold open.
    process::poll(Duration::from_millis(20), Duration::from_secs(5), || {
        (!alive(pip) && !alive(sleep)).then_some(())
    });
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
        Some("interrupted (Ctrl-C); no tool it started was left running"),
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
