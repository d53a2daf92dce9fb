//! `cargo xtask deploy --local` end to end: the real binary in a temporary copy of the
//! repository, on a free port (`--port`), so a real Space on 7860 is never disturbed.
//! Ctrl-C (SIGINT to the process) stops the Space and its database; `--detach` leaves them
//! running; `--stop` stops them and then honestly finds nothing. The copy can be private
//! (mode 0700, as under `/root` or from `mktemp -d`) even when xtask runs as root.

#[path = "support/process.rs"]
mod process;
#[path = "support/repo.rs"]
mod repo;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use process::{alive, pid_in, stderr};
use repo::Repo;

/// A cold Space venv is built on first use; later runs find it warm.
const START_DEADLINE: Duration = Duration::from_secs(600);

/// A copy of this repository and a free port for its Space, sharing this repository's warm
/// venvs (linked), and stopping whatever a failed test left running.
struct Local {
    repo: Repo,
    port: u16,
}

impl Local {
    fn new(name: &str) -> Local {
        let repo = Repo::copy_of_this_repo(name);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let warm = repo::source_root().join("target/xtask/local");
        let state = repo.path("target/xtask/local");
        std::fs::create_dir_all(&state).unwrap();
        for entry in std::fs::read_dir(&warm).into_iter().flatten().flatten() {
            let name = entry.file_name().into_string().unwrap();
            if name.starts_with("venv-") || name == "tools" {
                std::os::unix::fs::symlink(entry.path(), state.join(&name)).unwrap();
            }
        }
        Local { repo, port }
    }

    /// `deploy --local --port PORT` and `extra`.
    fn args<'a>(&'a self, port: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["deploy", "--local", "--port", port];
        args.extend_from_slice(extra);
        args
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.repo.xtask(&["deploy", "--local", "--stop"]);
        // As root, PostgreSQL's data lives outside the copy; the copy links to it.
        if let Ok(data) = std::fs::read_link(self.repo.path("target/xtask/local/pgdata")) {
            let _ = std::fs::remove_dir_all(data.parent().unwrap());
        }
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn health_status(port: u16) -> u16 {
    let output = std::process::Command::new("curl")
        .args(["--silent", "--output", "/dev/null", "--max-time", "30"])
        .args(["--write-out", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/api/health"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).parse().unwrap()
}

#[test]
fn ctrl_c_stops_the_local_space_and_its_database() {
    let local = Local::new("local-ctrl-c");
    let port = local.port.to_string();
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(local.args(&port, &[]))
        .current_dir(&local.repo.dir)
        .envs(repo::git_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let healthy = process::poll(Duration::from_millis(200), START_DEADLINE, || {
        if listening(local.port) && health_status(local.port) == 200 {
            return Some(());
        }
        if let Some(status) = deploy.try_wait().unwrap() {
            panic!(
                "deploy --local exited ({status}) instead of serving:\n{}",
                stderr(&mut deploy)
            );
        }
        None
    });
    assert!(healthy.is_some(), "the local Space did not become healthy");
    let state = local.repo.path("target/xtask/local");
    let uvicorn = pid_in(&state.join("run/uvicorn.pid"));
    let postgres = pid_in(&state.join("pgdata/postmaster.pid"));
    assert!(alive(uvicorn) && alive(postgres));

    // SAFETY: kill(2) on our own child; SIGINT is what the terminal sends on Ctrl-C.
    unsafe { libc::kill(deploy.id() as libc::pid_t, libc::SIGINT) };
    let bound = Duration::from_secs(60);
    let status = process::exit_within(&mut deploy, Duration::from_millis(50), bound)
        .unwrap_or_else(|| panic!("xtask did not exit within {bound:?}"));
    let out = stderr(&mut deploy);
    assert!(
        !alive(uvicorn),
        "uvicorn survived Ctrl-C (xtask: {status}):\n{out}"
    );
    assert!(
        !alive(postgres),
        "PostgreSQL survived Ctrl-C (xtask: {status}):\n{out}"
    );
    assert!(
        !listening(local.port),
        "the Space's port is still open after Ctrl-C"
    );
    assert!(
        !state.join("run/uvicorn.pid").exists(),
        "the pid file of a stopped Space is removed"
    );
    assert!(
        !state.join("pgdata/postmaster.pid").exists(),
        "PostgreSQL shut down cleanly (it removes its pid file)"
    );
}

#[test]
fn a_detached_space_refuses_a_second_one_until_stop() {
    let local = Local::new("local-detach");
    let port = local.port.to_string();
    let first = local.repo.xtask_ok(&local.args(&port, &["--detach"]));
    assert_eq!(
        health_status(local.port),
        200,
        "the detached Space answers after xtask exited"
    );
    assert!(
        first.stderr.contains("target/xtask/local/logs/uvicorn.log"),
        "the log is named:\n{first}"
    );
    assert!(
        !first.stderr.contains("GEMINI_API_KEY"),
        "a local deploy needs no secrets and shows none:\n{first}"
    );

    let again = local.repo.xtask_fails(&local.args(&port, &["--detach"]));
    let expected = format!(
        "port {} is in use by the local Space started earlier",
        local.port
    );
    assert!(
        again.stderr.contains(&expected)
            && again.stderr.contains("cargo xtask deploy --local --stop"),
        "{again}"
    );
    assert_eq!(
        health_status(local.port),
        200,
        "the refused deploy left the running Space alone"
    );

    let stopped = local.repo.xtask_ok(&["deploy", "--local", "--stop"]);
    assert!(
        stopped.stdout.contains("stopped uvicorn") && stopped.stdout.contains("PostgreSQL"),
        "{stopped}"
    );
    assert!(!listening(local.port), "the port is free after --stop");
    let nothing = local.repo.xtask_ok(&["deploy", "--local", "--stop"]);
    assert!(nothing.stdout.contains("nothing running"), "{nothing}");
}

#[test]
fn a_port_taken_by_another_program_names_it_and_the_port_flag() {
    let local = Local::new("local-port-taken");
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    let run = local.repo.xtask_fails(&local.args(&taken, &[]));
    assert!(
        run.stderr.contains(&format!(
            "port {taken} is in use by another process, pid {}",
            std::process::id()
        )) && run
            .stderr
            .contains("`cargo xtask deploy --local --port PORT`"),
        "{run}"
    );
    let run = local.repo.xtask_fails(&["deploy", "--port", &taken]);
    assert!(
        run.stderr
            .contains("--port only applies to a local deploy: add --local"),
        "{run}"
    );
}

/// As root, PostgreSQL runs as `pgserver`, which cannot enter a 0700 directory: the copy is
/// made private, deployed, and must still be private afterwards (nothing widened).
#[test]
fn a_private_checkout_deploys_and_stays_private() {
    use std::os::unix::fs::PermissionsExt;
    let local = Local::new("local-private");
    let private = std::fs::Permissions::from_mode(0o700);
    std::fs::set_permissions(&local.repo.dir, private).unwrap();
    let port = local.port.to_string();
    local.repo.xtask_ok(&local.args(&port, &["--detach"]));
    assert_eq!(health_status(local.port), 200);
    let mode = std::fs::metadata(&local.repo.dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the checkout's permissions were widened");
    local.repo.xtask_ok(&["deploy", "--local", "--stop"]);
}
