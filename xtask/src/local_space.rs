//! The runtime of `deploy --local`: runs a pushed Space tree on this machine as its Docker
//! container would — the Space's own venv from its `requirements.txt`, a real PostgreSQL, and
//! `uvicorn app.main:app` on the Space's port — with the backend's embedded defaults and no
//! secrets. What it runs, where its state lives and how it differs from the container:
//! docs/local.md.

mod postgres;
#[cfg(test)]
mod tests;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use xshell::Shell;

use crate::progress::{Progress, clip};
use crate::{Project, interrupt, process, settings, tools};

/// The Vite dev server's origins: the chat page in development talks to the local Space.
const DEV_ORIGINS: [&str; 2] = ["http://localhost:5173", "http://127.0.0.1:5173"];
/// The app opens its port at once, then imports, opens its stores and ingests the docs while
/// its health check answers `"status": "starting"`: a few seconds, far more on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// uvicorn's graceful shutdown waits for requests in flight and runs the app's lifespan exit.
const STOP_GRACE: Duration = Duration::from_secs(10);
const LOG_LINES: usize = 20;
/// A chat answer embeds the question and searches the index: seconds, more on a loaded machine.
const CHAT_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of an unexpected answer body an error quotes.
const BODY_SHOWN: usize = 300;

/// The directory `deploy --local` keeps its state in: `target/xtask/local/`.
pub(crate) fn state_dir(root: &Utf8Path) -> Utf8PathBuf {
    root.join(settings::STATE_DIR).join("local")
}

/// Where `deploy --local` keeps its state, all under [`state_dir`].
struct Paths {
    dir: Utf8PathBuf,
    logs: Utf8PathBuf,
    run: Utf8PathBuf,
    /// The backend's DATA_DIR: its local Qdrant index, rebuilt at each start.
    data: Utf8PathBuf,
    /// HOME of the app, empty at each start like the container's.
    home: Utf8PathBuf,
    /// PostgreSQL's data: `dir/pgdata`, or as root a directory PostgreSQL's own user can
    /// reach (see [`postgres::server_home`]), which `dir/pgdata` then links to.
    pgdata: Utf8PathBuf,
    tools: Utf8PathBuf,
}

impl Paths {
    fn new(root: &Utf8Path) -> Paths {
        let dir = state_dir(root);
        Paths {
            logs: dir.join("logs"),
            run: dir.join("run"),
            data: dir.join("data"),
            home: dir.join("home"),
            pgdata: match postgres::server_home(&dir) {
                Some(home) => home.join("pgdata"),
                None => dir.join("pgdata"),
            },
            tools: dir.join("tools"),
            dir,
        }
    }

    fn uvicorn_log(&self) -> Utf8PathBuf {
        self.logs.join("uvicorn.log")
    }

    fn postgres_log(&self) -> Utf8PathBuf {
        self.logs.join("postgres.log")
    }

    fn uvicorn_pid(&self) -> Utf8PathBuf {
        self.run.join("uvicorn.pid")
    }

    /// The Space venv for these requirements. Named after their content so that a changed
    /// `requirements.txt` gets a fresh venv, as the Docker build's `pip install` layer does,
    /// and a package dropped from it cannot linger and hide the drop.
    fn space_venv(&self, requirements: &str) -> Utf8PathBuf {
        let hash = crate::fingerprint::of(requirements.as_bytes());
        self.dir.join(format!("venv-{hash:016x}"))
    }
}

/// A Space running on this machine. Dropping it stops what is still running, unless detached.
pub(crate) struct LocalSpace {
    pub(crate) url: String,
    /// uvicorn's and PostgreSQL's logs.
    pub(crate) logs: Utf8PathBuf,
    port: u16,
    uvicorn: Option<Child>,
    postgres: Option<postgres::Postgres>,
    paths: Paths,
}

/// `POST /api/chat`'s answer: what the deploy report shows, and in test builds what the tests
/// check besides.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatAnswer {
    pub(crate) answer: String,
    pub(crate) sources: Vec<ChatSource>,
    #[cfg(test)]
    pub(crate) session_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatSource {
    pub(crate) title: String,
    #[cfg(test)]
    pub(crate) url_or_path: String,
    #[cfg(test)]
    pub(crate) score: f64,
}

/// Runs the Space tree `tree` (a clean export of the pushed commit): builds its venv (warm when
/// its requirements are unchanged), starts PostgreSQL, starts uvicorn, and returns once the
/// Space's port accepts connections — which uvicorn opens only after the app's startup.
pub(crate) fn start(
    sh: &Shell,
    project: &Project,
    tree: &Utf8Path,
    progress: &Progress,
) -> Result<LocalSpace> {
    let paths = Paths::new(&project.root);
    let port = project.settings.generator.port;
    for required in ["requirements.txt", "app/main.py"] {
        if !tree.join(required).is_file() {
            bail!(
                "{tree} is not a Space tree: {required} is missing (`cargo xtask generate` writes it into {})",
                settings::SPACE_DIR
            );
        }
    }
    ensure_not_running(project)?;
    for dir in [&paths.logs, &paths.run] {
        sh.create_dir(dir)?;
    }
    // A Space's filesystem starts empty at every start; only its database persists. So does
    // this one's: an index left by another backend version can never be served.
    for dir in [&paths.data, &paths.home] {
        sh.remove_path(dir)?;
        sh.create_dir(dir)?;
    }
    // Each start's logs begin empty, so an error quotes this run only.
    for log in [paths.uvicorn_log(), paths.postgres_log()] {
        sh.write_file(&log, "")?;
    }

    let requirements = tree.join("requirements.txt");
    let venv = paths.space_venv(&sh.read_file(&requirements)?);
    tools::ensure_venv(sh, &venv, &requirements, progress)
        .with_context(|| format!("cannot build the Space's venv from {requirements}"))?;
    remove_other_venvs(&paths, &venv)?;

    let mut space = LocalSpace {
        url: format!("http://127.0.0.1:{port}"),
        logs: paths.logs.clone(),
        port,
        uvicorn: None,
        postgres: None,
        paths,
    };
    let postgres =
        space
            .postgres
            .insert(postgres::start(sh, &project.root, &space.paths, progress)?);
    let database_url = postgres.database_url();

    let program = tools::venv_bin(&venv, "uvicorn");
    if !program.is_file() {
        bail!(
            "{requirements} does not install uvicorn, which the Dockerfile's CMD runs: add `uvicorn` to backend/requirements.txt"
        );
    }
    let mut uvicorn = Command::new(program);
    uvicorn
        .args([
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(tree)
        // The container's environment, not the user's shell: no secret can leak in.
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", venv.join("bin")),
        )
        .env("HOME", &space.paths.home)
        .env("LANG", "C.UTF-8")
        .env("PYTHONUNBUFFERED", "1")
        .env("DATABASE_URL", database_url)
        .env("ALLOWED_ORIGINS", allowed_origins(project))
        .env(
            "KNOWLEDGE_PATHS",
            knowledge_paths(&project.root, &project.settings.knowledge)?,
        )
        .env("DATA_DIR", &space.paths.data);
    let log = space.paths.uvicorn_log();
    let child = space
        .uvicorn
        .insert(process::spawn_logged(&mut uvicorn, &log)?);
    sh.write_file(space.paths.uvicorn_pid(), format!("{}\n", child.id()))?;
    space.wait_until_started(&project.settings.generator.health_path, progress)?;
    Ok(space)
}

impl LocalSpace {
    /// uvicorn's log, relative to `root` when it is under it.
    pub(crate) fn log_shown(&self, root: &Utf8Path) -> Utf8PathBuf {
        let log = self.paths.uvicorn_log();
        log.strip_prefix(root)
            .map_or(log.clone(), Utf8Path::to_owned)
    }

    /// Asks the Space one question through its real `POST /api/chat`.
    pub(crate) fn ask(&self, question: &str) -> Result<ChatAnswer> {
        let url = format!("{}/api/chat", self.url);
        let body = serde_json::json!({ "message": question }).to_string();
        let (status, text) = post_json(&url, &body).with_context(|| {
            format!(
                "POST {url} failed; the Space's log is {}",
                self.paths.uvicorn_log()
            )
        })?;
        if !(200..300).contains(&status) {
            bail!(
                "POST {url} answered {status}: {}\n  the Space's log is {}",
                error_detail(&text),
                self.paths.uvicorn_log()
            );
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "POST {url} answered {status} with a body that is not a chat answer: {}",
                clip(&text, BODY_SHOWN)
            )
        })
    }

    /// Leaves uvicorn and PostgreSQL running; their pid files are what `stop` reads.
    pub(crate) fn detach(mut self) -> Result<()> {
        self.uvicorn.take();
        if let Some(postgres) = self.postgres.take() {
            postgres.detach();
        }
        Ok(())
    }

    /// Blocks until Ctrl-C, then stops everything. The Space crashing meanwhile is an error
    /// that quotes its log.
    pub(crate) fn wait_until_interrupted(mut self) -> Result<()> {
        interrupt::install()?;
        let every = process::Every::fixed(Duration::from_millis(100));
        let crashed = process::until(every, || {
            if interrupt::requested() {
                return Some(Ok(()));
            }
            if let Some(status) = self
                .uvicorn
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Some(Err(self.crashed(
                    "the Space stopped",
                    &format!("uvicorn exited ({status})"),
                )));
            }
            if let Some(status) = self.postgres.as_mut().and_then(|p| p.exited()) {
                let log = self.paths.postgres_log();
                return Some(Err(anyhow::anyhow!(
                    "PostgreSQL exited ({status}); the last lines of {log}:\n{}",
                    process::log_tail(&log, LOG_LINES)
                )));
            }
            None
        });
        crashed?;
        self.shutdown();
        eprintln!("stopped the local Space (uvicorn and PostgreSQL)");
        Ok(())
    }

    /// Waits until uvicorn listens and the app's health check no longer says `"starting"`
    /// (any other answer, healthy or not, is for the verification to judge).
    fn wait_until_started(&mut self, health_path: &str, progress: &Progress) -> Result<()> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let health = format!("{}{health_path}", self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        let what = format!("starting the app (until {health} no longer says \"starting\")");
        let mut ticker = progress.ticker(&what);
        let log = self.paths.uvicorn_log();
        // What the app is doing: the last line of its log.
        let last_line = || {
            // Already escaped.
            clip(process::log_tail(&log, 1).trim(), 80)
        };
        let answer = process::poll(process::SERVER_STARTING, Some(deadline), || {
            if let Err(err) = interrupt::check() {
                return Some(Err(err));
            }
            if let Some(status) = self
                .uvicorn
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Some(Err(self.crashed(
                    "the Space did not start",
                    &format!("uvicorn exited ({status}) before its startup finished"),
                )));
            }
            if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
                && !still_starting(&health)
            {
                return Some(Ok(()));
            }
            ticker.tick(&last_line);
            None
        });
        answer.unwrap_or_else(|| {
            let what = format!(
                "the app did not finish starting on {address} within {}s",
                START_TIMEOUT.as_secs()
            );
            Err(self.crashed("the Space did not start", &what))
        })
    }

    /// The error for an app that stopped or never started: the Python exception as the cause,
    /// then the log's last lines and its path.
    fn crashed(&self, headline: &str, what: &str) -> anyhow::Error {
        let log = self.paths.uvicorn_log();
        let cause = process::crash_cause(&log).unwrap_or_else(|| "its log is empty".to_owned());
        anyhow::anyhow!(
            "{headline}: {cause}\n  {what}; the last lines of {log}:\n{}",
            process::log_tail(&log, LOG_LINES)
        )
    }

    /// Stops uvicorn first (it closes its database pool on the way out), then PostgreSQL.
    fn shutdown(&mut self) {
        if let Some(mut uvicorn) = self.uvicorn.take() {
            process::stop_child(&mut uvicorn, libc::SIGTERM, STOP_GRACE);
            let _ = std::fs::remove_file(self.paths.uvicorn_pid());
        }
        self.postgres.take();
    }
}

impl Drop for LocalSpace {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `deploy --local --stop`: stops what `--detach` (or a killed xtask) left running.
pub(crate) fn stop(project: &Project) -> Result<()> {
    let paths = Paths::new(&project.root);
    let stopped = stop_recorded(&paths)?;
    if stopped.is_empty() {
        println!(
            "nothing running: no local Space process is recorded under {}",
            paths.dir
        );
    } else {
        println!("stopped {}", stopped.join(" and "));
    }
    Ok(())
}

/// Stops the processes the pid files name (uvicorn first); returns what was running.
fn stop_recorded(paths: &Paths) -> Result<Vec<String>> {
    let mut stopped = Vec::new();
    if let Some(pid) = process::read_pid(&paths.uvicorn_pid()) {
        if process::stop_pid(
            pid,
            "uvicorn",
            paths.dir.as_str(),
            libc::SIGTERM,
            STOP_GRACE,
        )? {
            stopped.push(format!("uvicorn (pid {pid})"));
        }
        std::fs::remove_file(paths.uvicorn_pid())
            .with_context(|| format!("cannot remove {}", paths.uvicorn_pid()))?;
    }
    if let Some(pid) = postgres::stop_detached(paths)? {
        stopped.push(format!("PostgreSQL (pid {pid})"));
    }
    Ok(stopped)
}

/// A clear error when the Space's port is taken: by our own earlier run (then `--stop`), or
/// by another process (named when /proc shows it). `start` checks this first; the pipeline
/// may call it before replacing the tree a detached Space may still be running from.
pub(crate) fn ensure_not_running(project: &Project) -> Result<()> {
    let paths = Paths::new(&project.root);
    let port = project.settings.generator.port;
    let ours = process::read_pid(&paths.uvicorn_pid())
        .filter(|&pid| process::is_running(pid, paths.dir.as_str()));
    let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let stop = "stop it with `cargo xtask deploy --local --stop`, then re-run";
    match (ours, free) {
        (Some(pid), false) => bail!(
            "port {port} is in use by the local Space started earlier (uvicorn pid {pid}): {stop}"
        ),
        (Some(pid), true) => {
            bail!("a local Space started earlier is still running (uvicorn pid {pid}): {stop}")
        }
        (None, true) if postgres::running_pid(&paths).is_some() => {
            bail!("the PostgreSQL of an earlier local Space is still running: {stop}")
        }
        (None, true) => Ok(()),
        (None, false) => {
            let other = "stop it, or run the Space on another port with `cargo xtask deploy --local --port PORT`";
            match process::port_holder(port) {
                Some((pid, command)) => bail!(
                    "port {port} is in use by another process, pid {pid} (`{command}`): {other}"
                ),
                None => bail!(
                    "port {port} is in use by another process (`ss -ltnp 'sport = :{port}'` shows which): {other}"
                ),
            }
        }
    }
}

/// Venvs of earlier requirements are dead weight (hundreds of MB each).
fn remove_other_venvs(paths: &Paths, keep: &Utf8Path) -> Result<()> {
    for entry in std::fs::read_dir(&paths.dir)
        .with_context(|| format!("cannot list {}", paths.dir))?
        .flatten()
    {
        let path = paths.dir.join(entry.file_name().to_string_lossy().as_ref());
        if path.file_name().is_some_and(|n| n.starts_with("venv-")) && path != keep {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove the outdated venv {path}"))?;
        }
    }
    Ok(())
}

fn allowed_origins(project: &Project) -> String {
    let mut origins: Vec<String> = DEV_ORIGINS.map(String::from).to_vec();
    origins.extend(
        project
            .settings
            .frontend_url
            .iter()
            .map(|url| url.trim_end_matches('/').to_owned()),
    );
    origins.join(",")
}

/// The backend's KNOWLEDGE_PATHS: the `knowledge` setting's files and folders, absolute.
fn knowledge_paths(root: &Utf8Path, knowledge: &[Utf8PathBuf]) -> Result<String> {
    let paths: Vec<Utf8PathBuf> = knowledge
        .iter()
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect();
    if let Some(path) = paths.iter().find(|p| p.as_str().contains(',')) {
        bail!(
            "{path} contains a comma, which KNOWLEDGE_PATHS uses as its separator: move the project to a path without one"
        );
    }
    Ok(paths
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

/// Whether the health check answers `"status": "starting"` (or does not answer yet).
fn still_starting(health: &str) -> bool {
    let Ok(mut response) = crate::http::agent(Duration::from_secs(5))
        .get(health)
        .call()
    else {
        return true;
    };
    let body = response.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|json| json["status"] == "starting")
}

/// POSTs a JSON body; returns the status and body of any answer, 4xx and 5xx included.
fn post_json(url: &str, body: &str) -> Result<(u16, String)> {
    let mut response = crate::http::agent(CHAT_TIMEOUT)
        .post(url)
        .header("content-type", "application/json")
        .send(body)?;
    let status = response.status().as_u16();
    Ok((status, response.body_mut().read_to_string()?))
}

/// FastAPI's `detail`: a message, or a list of validation errors.
fn error_detail(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return clip(body, BODY_SHOWN);
    };
    match &json["detail"] {
        serde_json::Value::String(message) => message.clone(),
        serde_json::Value::Array(errors) => errors
            .iter()
            .map(|e| {
                e["msg"]
                    .as_str()
                    .map_or_else(|| e.to_string(), String::from)
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => clip(body, BODY_SHOWN),
    }
}
