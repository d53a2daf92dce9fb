//! The tools the commands install and run for the backend: a venv built from a requirements
//! file (rebuilt only when those files change), and Debian packages when one is missing.
//! `ci`, `deploy --local` and its PostgreSQL all use these; no command imports another.

use std::process::Command;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::progress::Progress;
use crate::{interrupt, process};

/// A venv at `venv` with `requirements` installed; reinstalls only when the requirement files
/// it was built from have changed. Returns its Python.
pub(crate) fn ensure_venv(
    sh: &Shell,
    venv: &Utf8Path,
    requirements: &Utf8Path,
    progress: &Progress,
) -> Result<Utf8PathBuf> {
    let python = venv_bin(venv, "python");
    let stamp_file = venv.join(".xtask-requirements");
    let stamp = requirements_stamp(requirements)?;
    if sh.path_exists(&python) && sh.read_file(&stamp_file).is_ok_and(|s| s == stamp) {
        return Ok(python);
    }
    let here = sh.current_dir();
    let shown = |path: &Utf8Path| {
        let relative = path.strip_prefix(&here).unwrap_or(path);
        relative.to_string()
    };
    if !sh.path_exists(&python) {
        let system_python = find_python()?;
        let create = |clear: &[&str]| {
            progress.run(
                &format!("creating the venv {}", shown(venv)),
                Command::new(&system_python)
                    .args(["-m", "venv"])
                    .args(clear)
                    .arg(venv),
            )
        };
        if let Err(err) = create(&[]) {
            if err.is::<interrupt::Interrupted>() {
                return Err(err);
            }
            apt_install(&["python3-venv"], "Python's venv module", progress)?;
            create(&["--clear"])?;
        }
    }
    // pip's own output is summarized (requirements collected, its last line), not hidden.
    progress.run(
        &format!("installing {} into {}", shown(requirements), shown(venv)),
        Command::new(&python)
            .args(["-m", "pip", "install", "--progress-bar", "off", "-r"])
            .arg(requirements)
            .current_dir(sh.current_dir())
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            // Line by line into the pipe, so the summary follows pip as it goes.
            .env("PYTHONUNBUFFERED", "1"),
    )?;
    sh.write_file(&stamp_file, stamp)?;
    Ok(python)
}

/// The program `name` installed in `venv`.
pub(crate) fn venv_bin(venv: &Utf8Path, name: &str) -> Utf8PathBuf {
    venv.join("bin").join(name)
}

/// The development venv (backend runtime + test tools) of the project at `root`.
pub(crate) fn dev_venv_dir(root: &Utf8Path) -> Utf8PathBuf {
    root.join(crate::settings::STATE_DIR).join("venv")
}

/// For unit tests that ask Python itself: the dev venv's Python (`cargo xtask ci` builds it
/// before the tests; it has pip), else the system's `python3`.
#[cfg(test)]
fn test_python() -> String {
    let root = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = venv_bin(&dev_venv_dir(root), "python");
    if python.exists() {
        python.into_string()
    } else {
        "python3".to_owned()
    }
}

/// For unit tests that ask Python itself: what `script` (run with `python -c`) prints with
/// `args`; a failure to start it or a non-zero exit fails the test with `what` and its stderr.
#[cfg(test)]
pub(crate) fn run_test_python<I, S>(script: &str, args: I, what: &str) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = Command::new(test_python())
        .args(["-c", script])
        .args(args)
        .output()
        .expect("Python (with pip) is needed for this test: run `cargo xtask ci --only hadolint` to build the dev venv");
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The content of `requirements` and of every file it includes with `-r`, so editing any of
/// them triggers a reinstall.
fn requirements_stamp(requirements: &Utf8Path) -> Result<String> {
    let mut stamp = String::new();
    add_to_stamp(requirements, &mut Vec::new(), &mut stamp)?;
    Ok(stamp)
}

/// `including` is the chain of files that led here: an include cycle would recurse forever
/// (the depth bound catches one spelled with different paths).
fn add_to_stamp(
    requirements: &Utf8Path,
    including: &mut Vec<Utf8PathBuf>,
    stamp: &mut String,
) -> Result<()> {
    let cycle = including.iter().any(|p| p == requirements) || including.len() >= 16;
    if let Some(parent) = including.last().filter(|_| cycle) {
        bail!(
            "{parent}: `-r {requirements}` includes a file that includes it back: remove one of the two lines"
        );
    }
    let text = std::fs::read_to_string(requirements).with_context(|| match including.last() {
        Some(parent) => format!("cannot read {requirements}, included by {parent} with -r"),
        None => format!("cannot read {requirements}"),
    })?;
    stamp.push_str(&text);
    including.push(requirements.to_owned());
    for line in text.lines() {
        if let Some(included) = line.trim().strip_prefix("-r ") {
            let dir = requirements.parent().unwrap_or(Utf8Path::new("."));
            add_to_stamp(&dir.join(included.trim()), including, stamp)?;
        }
    }
    including.pop();
    Ok(())
}

fn find_python() -> Result<String> {
    for candidate in ["python3.11", "python3", "python"] {
        let check = "import sys; assert sys.version_info >= (3, 10)";
        if process::succeeds(Command::new(candidate).args(["-c", check])) {
            return Ok(candidate.to_owned());
        }
    }
    bail!(
        "Python 3.10 or newer is required: install it (`apt-get install python3 python3-venv`) and re-run"
    )
}

/// Installs Debian packages when running as root; otherwise says which command to run.
pub(crate) fn apt_install(packages: &[&str], what: &str, progress: &Progress) -> Result<()> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "{what} is missing: run `sudo apt-get install {}` and re-run",
            packages.join(" ")
        );
    }
    progress.run(
        "updating the apt package lists",
        Command::new("apt-get")
            .args(["update", "-q"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    progress.run(
        &format!("installing {what} ({})", packages.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_follows_includes_and_refuses_a_cycle() {
        let temp = crate::files::TempDir::new("xtask-ci-stamp").unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("a.txt"), "fastapi\n-r b.txt\n").unwrap();
        std::fs::write(dir.join("b.txt"), "pytest\n").unwrap();
        assert_eq!(
            requirements_stamp(&dir.join("a.txt")).unwrap(),
            "fastapi\n-r b.txt\npytest\n"
        );
        std::fs::write(dir.join("b.txt"), "pytest\n-r a.txt\n").unwrap();
        let err = requirements_stamp(&dir.join("a.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("b.txt: `-r ")
                && err.contains("a.txt` includes a file that includes it back"),
            "{err}"
        );
    }
}
