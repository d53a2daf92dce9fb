//! The real PostgreSQL of `deploy --local`: the server binaries that PyPI's `pgserver` wheel
//! ships, installed in a small tools venv (so the Space venv holds exactly the Space's
//! requirements) and run directly, so xtask owns the process, its log and its shutdown.
//!
//! PostgreSQL refuses to run as root. As root it runs as the unprivileged `pgserver`, which
//! cannot traverse a project under `/root` or a `mktemp -d` (mode 0700): its binaries and its
//! data then live under [`SERVER_BASE`], where it can reach them, and no permission of the
//! project's directories is widened.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use super::Paths;
use crate::process;
use crate::progress::Progress;
use crate::space::requirements;
use crate::{interrupt, settings, tools};

/// The one place the pgserver version is pinned: the backend's own test requirements.
const PIN_FILE: &str = "requirements-dev.txt";
/// PostgreSQL refuses to run as root; pgserver's own convention for the user it runs as.
const SERVER_USER: &str = "pgserver";
/// As root: PostgreSQL's binaries (one copy per pinned version) and each project's data.
const SERVER_BASE: &str = "/var/lib/xtask-postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Fast shutdown (SIGINT) rolls back open transactions and checkpoints; give it time.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// A PostgreSQL server we started and own.
pub(super) struct Postgres {
    child: Option<Child>,
    pub(super) port: u16,
}

impl Postgres {
    /// The URL the Space's `DATABASE_URL` gets: local, so no `sslmode` (the backend allows that
    /// only for local hosts), and trust authentication on loopback, so no password anywhere.
    pub(super) fn database_url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Whether the server has exited, with its status.
    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Leaves the server running; `postmaster.pid` in its data directory is what `stop` reads.
    pub(super) fn detach(mut self) {
        self.child.take();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::stop_child(&mut child, libc::SIGINT, STOP_GRACE);
        }
    }
}

/// Installs the pinned pgserver (warm when unchanged), initialises the data directory on
/// first use and starts the server on a free loopback port; returns once it accepts
/// connections.
pub(super) fn start(
    sh: &Shell,
    root: &Utf8Path,
    paths: &Paths,
    progress: &Progress,
) -> Result<Postgres> {
    let bin = install(sh, root, paths, progress)?;
    let user = server_user()?;
    let bin = match &user {
        Some(_) => {
            let pin = pgserver_pin(&root.join(settings::BACKEND_DIR).join(PIN_FILE))?;
            let bin = server_copy(&bin, &pin)?;
            forget_deleted_checkouts();
            link_data(paths)?;
            bin
        }
        None => bin,
    };
    if paths.pgdata.join("PG_VERSION").exists() {
        ensure_same_major(&bin, paths)?;
    } else {
        init(&bin, user.as_ref(), paths, progress)?;
    }
    if let Some(user) = &user {
        user.own(&paths.pgdata)?;
    }
    // A postmaster.pid whose process is gone (xtask or the machine was killed) would make
    // PostgreSQL refuse to start if its pid now belongs to someone else.
    let stale = paths.pgdata.join("postmaster.pid");
    if stale.exists() && running_pid(paths).is_none() {
        std::fs::remove_file(&stale).with_context(|| format!("cannot remove the stale {stale}"))?;
    }

    let port = free_port()?;
    let log = paths.postgres_log();
    let mut command = Command::new(bin.join("postgres"));
    command
        .args([
            "-D",
            paths.pgdata.as_str(),
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        // No Unix socket: the app connects over TCP, as it does to a hosted database.
        .args(["-k", ""])
        // Not the project root: as `pgserver` it may not be able to enter it.
        .current_dir("/")
        .env_clear()
        .env("LC_ALL", "C");
    if let Some(user) = &user {
        command.uid(user.uid).gid(user.gid);
    }
    let mut server = Postgres {
        child: Some(process::spawn_logged(&mut command, &log)?),
        port,
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut ticker = progress.ticker("starting PostgreSQL");
    let ready = process::poll(process::SERVER_STARTING, Some(deadline), || {
        if let Err(err) = interrupt::check() {
            return Some(Err(err));
        }
        ticker.tick(&String::new);
        if let Some(status) = server.exited() {
            return Some(Err(anyhow::anyhow!(
                "PostgreSQL exited ({status}) while starting; the last lines of {log}:\n{}",
                process::log_tail(&log, 15)
            )));
        }
        (status_line(paths).as_deref() == Some("ready")).then_some(Ok(()))
    });
    match ready {
        Some(result) => result.map(|()| server),
        None => bail!(
            "PostgreSQL did not become ready within {}s; see {log}",
            READY_TIMEOUT.as_secs()
        ),
    }
}

/// The pid of a PostgreSQL server running on our data directory, from its `postmaster.pid`.
pub(super) fn running_pid(paths: &Paths) -> Option<u32> {
    let pid = process::read_pid(&paths.pgdata.join("postmaster.pid"))?;
    process::is_running(pid, paths.pgdata.as_str()).then_some(pid)
}

/// Stops a server left running by `--detach` (or by an xtask that was killed).
pub(super) fn stop_detached(paths: &Paths) -> Result<Option<u32>> {
    let Some(pid) = running_pid(paths) else {
        return Ok(None);
    };
    Ok(process::stop_pid(
        pid,
        "PostgreSQL",
        paths.pgdata.as_str(),
        libc::SIGINT,
        STOP_GRACE,
    )?
    .then_some(pid))
}

/// The last line of `postmaster.pid`: `starting`, `ready`, `stopping`.
fn status_line(paths: &Paths) -> Option<String> {
    let text = std::fs::read_to_string(paths.pgdata.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    (lines.len() >= 8).then(|| lines[7].trim().to_owned())
}

/// Installs the pinned `pgserver` into the tools venv; returns its PostgreSQL `bin/`.
pub(super) fn install(
    sh: &Shell,
    root: &Utf8Path,
    paths: &Paths,
    progress: &Progress,
) -> Result<Utf8PathBuf> {
    let pin_file = root.join(settings::BACKEND_DIR).join(PIN_FILE);
    let pin = pgserver_pin(&pin_file)?;
    let requirements = paths.dir.join("tools-requirements.txt");
    let text = format!(
        "# Written by `cargo xtask deploy --local` from {}/{PIN_FILE}.\n{pin}\n",
        settings::BACKEND_DIR
    );
    if sh.read_file(&requirements).ok().as_deref() != Some(text.as_str()) {
        sh.write_file(&requirements, &text)?;
    }
    tools::ensure_venv(sh, &paths.tools, &requirements, progress)
        .with_context(|| format!("cannot install {pin} (PostgreSQL for deploy --local)"))?;
    let lib = paths.tools.join("lib");
    let bin = std::fs::read_dir(&lib)
        .with_context(|| format!("cannot read {lib}"))?
        .flatten()
        .map(|entry| {
            lib.join(entry.file_name().to_string_lossy().as_ref())
                .join("site-packages/pgserver/pginstall/bin")
        })
        .find(|bin| bin.join("postgres").is_file());
    bin.with_context(|| format!("{pin} installed no PostgreSQL server under {lib}/python*/site-packages/pgserver/pginstall/bin"))
}

/// The `pgserver==VERSION` line of `file`, comments and whitespace removed.
fn pgserver_pin(file: &Utf8Path) -> Result<String> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    for line in text.lines() {
        if requirements::requirement_name(line)
            .is_some_and(|name| requirements::normalize(name) == "pgserver")
        {
            return Ok(line.split('#').next().unwrap_or("").trim().to_owned());
        }
    }
    bail!(
        "{file}: no `pgserver==VERSION` line: add one (deploy --local runs PostgreSQL from that wheel)"
    )
}

/// Creates the data directory: initdb into a staging directory, then one rename, so an
/// interrupted first run never leaves a half-initialised cluster behind.
fn init(
    bin: &Utf8Path,
    user: Option<&ServerUser>,
    paths: &Paths,
    progress: &Progress,
) -> Result<()> {
    // Beside the data directory, so the rename stays on one filesystem.
    let staging = paths.pgdata.with_file_name("pgdata.init");
    for dir in [&staging, &paths.pgdata] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot remove the unfinished {dir}"))?;
        }
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {staging}"))?;
    let log = paths.postgres_log();
    let mut command = Command::new(bin.join("initdb"));
    command
        .args([
            "-D",
            staging.as_str(),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-locale",
        ])
        .current_dir("/")
        .env_clear();
    if let Some(user) = user {
        std::os::unix::fs::chown(&staging, Some(user.uid), Some(user.gid))?;
        command.uid(user.uid).gid(user.gid);
    }
    let mut child = process::spawn_logged(&mut command, &log)?;
    let status = progress.wait(
        "creating PostgreSQL's data directory (initdb)",
        &mut child,
        String::new,
    )?;
    if !status.success() {
        bail!(
            "PostgreSQL's initdb failed ({status}); the last lines of {log}:\n{}",
            process::log_tail(&log, 15)
        );
    }
    std::fs::rename(&staging, &paths.pgdata)
        .with_context(|| format!("cannot rename {staging} to {}", paths.pgdata))
}

/// A data directory from another major version (after a `pgserver` upgrade) cannot be
/// opened; say so rather than leave the user with PostgreSQL's log.
fn ensure_same_major(bin: &Utf8Path, paths: &Paths) -> Result<()> {
    let version_file = paths.pgdata.join("PG_VERSION");
    let data = std::fs::read_to_string(&version_file)
        .with_context(|| format!("cannot read {version_file}"))?
        .trim()
        .to_owned();
    // `postgres (PostgreSQL) 16.2`
    let version = process::read(Command::new(bin.join("postgres")).arg("--version"))?;
    let server = version
        .split_whitespace()
        .last()
        .and_then(|v| v.split('.').next())
        .unwrap_or_default();
    if server != data {
        bail!(
            "{} holds PostgreSQL {data} data but the pinned pgserver runs PostgreSQL {server}: delete that folder \
             (it only holds the local chat history) or pin the earlier pgserver in {}/{PIN_FILE}",
            paths.pgdata,
            settings::BACKEND_DIR
        );
    }
    Ok(())
}

/// A port the kernel reports free on loopback. PostgreSQL binds it a moment later; the
/// window is tiny, and a clash shows as PostgreSQL's own error in its log.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// The unprivileged user PostgreSQL runs as when xtask runs as root.
struct ServerUser {
    uid: u32,
    gid: u32,
}

impl ServerUser {
    /// Gives `dir` (recursively) to this user when it does not own it yet.
    fn own(&self, dir: &Utf8Path) -> Result<()> {
        let owner = std::fs::metadata(dir)
            .with_context(|| format!("cannot read {dir}"))?
            .uid();
        if owner != self.uid {
            let owner = format!("{}:{}", self.uid, self.gid);
            process::read(Command::new("chown").args(["-R", &owner]).arg(dir))?;
        }
        Ok(())
    }
}

/// `None` when we are not root; as root, the `pgserver` system user, created when missing.
fn server_user() -> Result<Option<ServerUser>> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    if !process::succeeds(Command::new("id").args(["-u", SERVER_USER])) {
        let mut useradd = Command::new("useradd");
        useradd
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(SERVER_USER);
        process::read(&mut useradd).with_context(|| {
            format!(
                "PostgreSQL refuses to run as root and the user `{SERVER_USER}` cannot be created: run as a normal user"
            )
        })?;
    }
    let id = |flag: &str| -> Result<u32> {
        Ok(process::read(Command::new("id").args([flag, SERVER_USER]))?
            .trim()
            .parse()?)
    };
    Ok(Some(ServerUser {
        uid: id("-u")?,
        gid: id("-g")?,
    }))
}

/// As root, where PostgreSQL's data for the project whose state is in `state` lives: a
/// directory of its own under [`SERVER_BASE`], named by a fingerprint of `state`'s path.
/// `None` for other users, whose PostgreSQL reads everything where it is.
pub(super) fn server_home(state: &Utf8Path) -> Option<Utf8PathBuf> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    root.then(|| {
        let key = crate::fingerprint::of(state.as_str().as_bytes());
        Utf8Path::new(SERVER_BASE).join(format!("project-{key:016x}"))
    })
}

/// As root: a copy of the pinned server under [`SERVER_BASE`], where `pgserver` can reach it;
/// made once per pin. The wheel's layout is kept: its programs find their shared libraries
/// at `$ORIGIN/../../../pgserver.libs`. Returns the copy's `bin/`.
fn server_copy(bin: &Utf8Path, pin: &str) -> Result<Utf8PathBuf> {
    const INSTALL: &str = "pgserver/pginstall";
    let key = crate::fingerprint::of(pin.as_bytes());
    let copy = Utf8Path::new(SERVER_BASE).join(format!("pgserver-{key:016x}"));
    let copied_bin = copy.join(INSTALL).join("bin");
    if copied_bin.join("postgres").is_file() {
        return Ok(copied_bin);
    }
    let site = bin
        .ancestors()
        .nth(3)
        .context("PostgreSQL's bin/ is not inside the pgserver wheel")?;
    // Copied aside, then renamed: a copy cut short is never taken for a complete one, and two
    // starts at once each make their own and keep the first.
    let staging = Utf8Path::new(SERVER_BASE).join(format!(".copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("pgserver"))
        .with_context(|| format!("cannot create {staging}"))?;
    for part in [INSTALL, "pgserver.libs"] {
        let (from, to) = (site.join(part), staging.join(part));
        if !from.exists() {
            continue;
        }
        let copied =
            process::read(Command::new("cp").args(["-a", "--", from.as_str(), to.as_str()]));
        if let Err(err) = copied {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err.context(format!(
                "cannot copy {from} to {to} for PostgreSQL's user `{SERVER_USER}`"
            )));
        }
    }
    if std::fs::rename(&staging, &copy).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if !copied_bin.join("postgres").is_file() {
        bail!("cannot place PostgreSQL's binaries at {copy} for its user `{SERVER_USER}`");
    }
    Ok(copied_bin)
}

/// In each project's directory under [`SERVER_BASE`]: the state directory it belongs to.
const CHECKOUT_FILE: &str = "checkout";

/// As root: removes the data of checkouts that no longer exist (a deleted clone, a test's
/// temporary copy), whose server is not running. Best effort: leftovers only cost space.
fn forget_deleted_checkouts() {
    let Ok(entries) = Utf8Path::new(SERVER_BASE).read_dir_utf8() else {
        return;
    };
    for entry in entries.flatten() {
        let home = entry.path();
        if !entry.file_name().starts_with("project-") {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(home.join(CHECKOUT_FILE)) else {
            continue;
        };
        let pgdata = home.join("pgdata");
        let running = process::read_pid(&pgdata.join("postmaster.pid"))
            .is_some_and(|pid| process::is_running(pid, pgdata.as_str()));
        if !Utf8Path::new(owner.trim()).exists() && !running {
            let _ = std::fs::remove_dir_all(home);
        }
    }
}

/// As root: makes `target/xtask/local/pgdata` a link to the data under [`SERVER_BASE`], so it
/// is found where it is found for other users. A data directory an earlier version left
/// there is moved over first.
fn link_data(paths: &Paths) -> Result<()> {
    let link = paths.dir.join("pgdata");
    let home = paths
        .pgdata
        .parent()
        .expect("the data directory has a parent");
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {home}"))?;
    let owner = home.join(CHECKOUT_FILE);
    std::fs::write(&owner, format!("{}\n", paths.dir))
        .with_context(|| format!("cannot write {owner}"))?;
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.is_symlink() => {
            if std::fs::read_link(&link).ok().as_deref() == Some(paths.pgdata.as_std_path()) {
                return Ok(());
            }
            std::fs::remove_file(&link).with_context(|| format!("cannot replace {link}"))?;
        }
        Ok(_) if !paths.pgdata.exists() => {
            std::fs::rename(&link, &paths.pgdata).with_context(|| {
                format!(
                    "cannot move {link} to {}, where PostgreSQL's user `{SERVER_USER}` can reach it: \
                     move it there yourself, or delete it (it only holds the local chat history)",
                    paths.pgdata
                )
            })?;
        }
        Ok(_) => bail!(
            "{link} and {} both hold PostgreSQL data: delete the one you do not need (it only holds the local chat history)",
            paths.pgdata
        ),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&paths.pgdata, &link)
        .with_context(|| format!("cannot link {link} to {}", paths.pgdata))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::files::TempDir;

    #[test]
    fn data_of_another_major_version_is_refused_with_the_fix() {
        let dir = TempDir::new("xtask-local").unwrap();
        let mut paths = Paths::new(dir.path());
        paths.pgdata = dir.path().join("pgdata");
        std::fs::create_dir_all(&paths.pgdata).unwrap();
        std::fs::write(paths.pgdata.join("PG_VERSION"), "9\n").unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let fake = bin.join("postgres");
        std::fs::write(&fake, "#!/bin/sh\necho 'postgres (PostgreSQL) 16.2'\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_same_major(&bin, &paths).unwrap_err().to_string();
        assert!(
            err.contains(
                "PostgreSQL 9 data but the pinned pgserver runs PostgreSQL 16: delete that folder"
            ),
            "{err}"
        );
        std::fs::write(paths.pgdata.join("PG_VERSION"), "16\n").unwrap();
        ensure_same_major(&bin, &paths).unwrap();
    }

    #[test]
    fn the_data_of_a_deleted_checkout_is_forgotten_and_a_present_ones_kept() {
        // SAFETY: geteuid(2) cannot fail and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return; // only root keeps data under SERVER_BASE
        }
        let present = TempDir::new("xtask-local").unwrap();
        let home = |name: &str, owner: &Utf8Path| {
            let home = Utf8Path::new(SERVER_BASE)
                .join(format!("project-test-{name}-{}", std::process::id()));
            std::fs::create_dir_all(home.join("pgdata")).unwrap();
            std::fs::write(home.join(CHECKOUT_FILE), format!("{owner}\n")).unwrap();
            home
        };
        let gone = home("gone", &present.path().join("deleted/target/xtask/local"));
        let kept = home("kept", present.path());
        forget_deleted_checkouts();
        let (gone_exists, kept_exists) = (gone.exists(), kept.exists());
        let _ = std::fs::remove_dir_all(&gone);
        let _ = std::fs::remove_dir_all(&kept);
        assert!(!gone_exists, "the data of a deleted checkout is removed");
        assert!(kept_exists, "the data of an existing checkout is kept");
    }

    #[test]
    fn the_pin_is_read_from_the_backends_requirements() {
        let root = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let pin = pgserver_pin(&root.join("backend").join(PIN_FILE)).unwrap();
        assert!(pin.starts_with("pgserver=="), "{pin}");
    }

    #[test]
    fn the_pin_matches_normalized_names_and_drops_comments() {
        let dir = TempDir::new("xtask-local").unwrap();
        let file = dir.path().join(PIN_FILE);
        std::fs::write(
            &file,
            "-r requirements.txt\npgserver-extras==1\nPGServer == 0.1.4  # local PostgreSQL\n",
        )
        .unwrap();
        assert_eq!(pgserver_pin(&file).unwrap(), "PGServer == 0.1.4");
        std::fs::write(&file, "httpx==0.28.1\n").unwrap();
        let err = pgserver_pin(&file).unwrap_err().to_string();
        assert!(
            err.contains("no `pgserver==VERSION` line") && err.contains(file.as_str()),
            "{err}"
        );
    }
}
