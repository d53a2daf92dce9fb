//! The local runtime against real processes: the repository's generated Space tree, its venv,
//! a real PostgreSQL and uvicorn on a free port.
//!
//! Each test gets its own project root (a temporary directory with the repository's README.md,
//! docs/ and backend pin), so its PostgreSQL data, logs and pid files are its own; the venvs
//! are shared with the repository's own `target/xtask/local/` (symlinked) so they stay warm.
//! The tests run one at a time: each starts a database and an app on two shared cores.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use super::*;
use crate::files::{TempDir, copy_tree};
use crate::settings::HfSpace;

fn repo_root() -> &'static Utf8Path {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A project root of its own plus a copy of the repository's generated Space tree.
struct Fixture {
    /// Removed on drop, after `Drop for Fixture` ran.
    _dir: TempDir,
    project: Project,
    tree: Utf8PathBuf,
    sh: Shell,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = TempDir::new("xtask-local").unwrap();
        // Private, like a checkout under /root or from `mktemp -d`: as root, PostgreSQL's own
        // user cannot enter it, and must not need to.
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        std::fs::set_permissions(dir.path(), private).unwrap();
        let root = dir.path().join("repo");
        let space = repo_root().join(settings::SPACE_DIR);
        assert!(
            space.join("app/main.py").exists(),
            "{space} is missing: run `cargo xtask generate`"
        );
        let tree = dir.path().join("tree");
        copy_tree(&space, &tree, &["__pycache__"]).unwrap();
        std::fs::create_dir_all(root.join(settings::BACKEND_DIR)).unwrap();
        std::fs::copy(repo_root().join("README.md"), root.join("README.md")).unwrap();
        if repo_root().join("docs").is_dir() {
            copy_tree(
                &repo_root().join("docs"),
                &root.join("docs"),
                &["__pycache__"],
            )
            .unwrap();
        }
        let pin = "backend/requirements-dev.txt";
        std::fs::copy(repo_root().join(pin), root.join(pin)).unwrap();

        let sh = Shell::new().unwrap();
        sh.change_dir(&root);
        let shared = Paths::new(repo_root());
        let own = Paths::new(&root);
        std::fs::create_dir_all(&own.dir).unwrap();
        let requirements = std::fs::read_to_string(tree.join("requirements.txt")).unwrap();
        let shared_venv = shared.space_venv(&requirements);
        let progress = Progress::new();
        tools::ensure_venv(&sh, &shared_venv, &tree.join("requirements.txt"), &progress).unwrap();
        postgres::install(&sh, repo_root(), &shared, &progress).unwrap();
        for (shared, own) in [
            (shared_venv, own.space_venv(&requirements)),
            (shared.tools, own.tools),
        ] {
            std::os::unix::fs::symlink(&shared, &own).unwrap();
        }

        let mut settings = HfSpace::load(repo_root()).unwrap();
        settings.generator.port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Fixture {
            project: Project { root, settings },
            tree,
            sh,
            _dir: dir,
        }
    }

    fn start(&self) -> Result<LocalSpace> {
        start(&self.sh, &self.project, &self.tree, &Progress::new())
    }

    fn paths(&self) -> Paths {
        Paths::new(&self.project.root)
    }
}

impl Drop for Fixture {
    /// As root the data lives outside the temporary directory (`postgres::server_home`).
    fn drop(&mut self) {
        if let Some(home) = postgres::server_home(&self.paths().dir) {
            let _ = std::fs::remove_dir_all(home);
        }
    }
}

/// GET `url`: status and parsed JSON body.
fn get_json(url: &str) -> (u16, serde_json::Value) {
    let mut response = crate::http::agent(Duration::from_secs(30))
        .get(url)
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}")),
    )
}

fn message(err: anyhow::Error) -> String {
    format!("{err:#}")
}

#[test]
fn a_space_is_healthy_answers_from_the_docs_and_keeps_history_across_restarts() {
    let _serial = serial();
    let fixture = Fixture::new();

    let space = fixture.start().unwrap();
    let (status, health) = get_json(&format!("{}/api/health", space.url));
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        health["services"]["postgres"]["status"], "connected",
        "{health}"
    );
    let answer = space
        .ask("How do I deploy to Hugging Face Spaces?")
        .unwrap();
    assert!(!answer.answer.trim().is_empty(), "{answer:?}");
    let source = answer
        .sources
        .first()
        .unwrap_or_else(|| panic!("no source in {answer:?}"));
    assert!(
        source.url_or_path.contains(".md") && !source.title.is_empty() && source.score > 0.0,
        "{answer:?}"
    );
    let bad = message(space.ask("   ").unwrap_err());
    assert!(
        bad.contains("answered 422") && bad.contains("empty"),
        "{bad}"
    );
    drop(space);
    assert!(
        postgres::running_pid(&fixture.paths()).is_none(),
        "PostgreSQL outlived the Space"
    );

    // Left by an earlier run (say, an index of another backend version): a Space's files do
    // not survive a restart, only its database does.
    let leftover = fixture.paths().data.join("left-by-an-earlier-run");
    std::fs::write(&leftover, "stale").unwrap();
    let space = fixture.start().unwrap();
    assert!(!leftover.exists());
    assert_eq!(get_json(&format!("{}/api/health", space.url)).0, 200);
    let (status, history) = get_json(&format!(
        "{}/api/chat/history/{}",
        space.url, answer.session_id
    ));
    assert_eq!(status, 200, "{history}");
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(
        messages[0]["content"], "How do I deploy to Hugging Face Spaces?",
        "{history}"
    );
}

#[test]
fn a_crash_at_import_is_reported_with_the_exception_and_the_log() {
    let _serial = serial();
    let fixture = Fixture::new();
    let main = fixture.tree.join("app/main.py");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        format!("raise RuntimeError('broken at import')\n{code}"),
    )
    .unwrap();

    let err = message(
        fixture
            .start()
            .err()
            .expect("a Space that crashes at import cannot start"),
    );
    assert!(
        err.contains("the Space did not start: RuntimeError: broken at import"),
        "{err}"
    );
    assert!(
        err.contains(fixture.paths().uvicorn_log().as_str()),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}\", line 1, in <module>", main)),
        "the log's last lines are quoted: {err}"
    );
    assert!(
        postgres::running_pid(&fixture.paths()).is_none(),
        "PostgreSQL outlived the failed start"
    );
}

#[test]
fn a_busy_port_names_the_process_holding_it() {
    let _serial = serial();
    let fixture = Fixture::new();
    let port = fixture.project.settings.generator.port;
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();

    let err = message(fixture.start().err().expect("the port is taken"));
    let expected = format!(
        "port {port} is in use by another process, pid {}",
        std::process::id()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(
        !fixture.paths().pgdata.exists(),
        "nothing is started for a Space that cannot listen"
    );
}

#[test]
fn a_detached_space_keeps_running_until_stop() {
    let _serial = serial();
    let fixture = Fixture::new();
    let port = fixture.project.settings.generator.port;

    let space = fixture.start().unwrap();
    let url = space.url.clone();
    space.detach().unwrap();
    assert_eq!(get_json(&format!("{url}/api/health")).0, 200);

    let err = message(
        fixture
            .start()
            .err()
            .expect("the first Space still holds the port"),
    );
    assert!(
        err.contains(&format!(
            "port {port} is in use by the local Space started earlier"
        )),
        "{err}"
    );
    assert!(err.contains("cargo xtask deploy --local --stop"), "{err}");

    let stopped = stop_recorded(&fixture.paths()).unwrap();
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free after --stop"
    );
    assert!(postgres::running_pid(&fixture.paths()).is_none());
    assert!(
        stop_recorded(&fixture.paths()).unwrap().is_empty(),
        "a second --stop finds nothing running"
    );
    drop(fixture);
}

#[test]
fn a_space_that_dies_while_serving_is_an_error_and_its_database_is_stopped() {
    let _serial = serial();
    let fixture = Fixture::new();
    let space = fixture.start().unwrap();
    let uvicorn = process::read_pid(&fixture.paths().uvicorn_pid()).unwrap();
    // SAFETY: kill(2) on the uvicorn this test started.
    unsafe { libc::kill(uvicorn as libc::pid_t, libc::SIGKILL) };

    let err = message(space.wait_until_interrupted().unwrap_err());
    assert!(
        err.contains("the Space stopped") && err.contains("signal: 9"),
        "{err}"
    );
    assert!(
        err.contains(fixture.paths().uvicorn_log().as_str()),
        "{err}"
    );
    assert!(
        postgres::running_pid(&fixture.paths()).is_none(),
        "PostgreSQL outlived the Space"
    );
}
