//! Temporary git repositories for the integration tests: a copy of this monorepo (or an empty
//! one), real git, and the real `xtask` binary run inside it.
//!
//! Include it with `#[path = "support/repo.rs"] mod repo;`.

#![allow(dead_code)] // each test file uses a different part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The monorepo this test binary was built from.
pub fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The fixture backend that follows the backend source contract.
pub fn fixture_backend() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backend")
}

/// A temporary directory holding a git repository; removed on drop (kept when the
/// environment has `XTASK_KEEP_TEMP=1`, for debugging).
pub struct Repo {
    pub dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Repo {
    /// An empty git repository.
    pub fn empty(name: &str) -> Repo {
        let temp = temp_dir(&format!("xtask-test-{name}-"));
        let repo = Repo {
            dir: temp.path().to_owned(),
            _temp: temp,
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// A copy of this monorepo's files (tracked ones and new untracked ones that are not
    /// ignored, as they are on disk, mtimes kept), committed as one commit.
    pub fn copy_of_this_repo(name: &str) -> Repo {
        let repo = Repo::empty(name);
        let root = source_root();
        let listed = git_in(
            &root,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        );
        for path in listed.split('\0').filter(|p| !p.is_empty()) {
            let from = root.join(path);
            if from.is_file() {
                copy_keeping_mtime(&from, &repo.dir.join(path));
            }
        }
        repo.commit_all("copy of the monorepo");
        repo
    }

    /// A repository with the workspace's Cargo.toml, the fixture backend and the fixture
    /// knowledge (README.md, docs/), generated and committed.
    pub fn with_fixture_backend(name: &str) -> Repo {
        let repo = Repo::empty(name);
        copy_keeping_mtime(
            &source_root().join("Cargo.toml"),
            &repo.dir.join("Cargo.toml"),
        );
        copy_dir(&fixture_backend(), &repo.dir.join("backend"));
        let fixtures = fixture_backend().parent().unwrap().to_owned();
        copy_keeping_mtime(&fixtures.join("README.md"), &repo.dir.join("README.md"));
        copy_dir(&fixtures.join("docs"), &repo.dir.join("docs"));
        repo.xtask_ok(&["generate"]);
        repo.commit_all("fixture backend and its Space");
        repo
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Replaces the first occurrence of `from` in a file; panics when it is absent.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path(relative)).unwrap();
    }

    /// Runs git in the repository with a fixed identity and no user or system config;
    /// panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.dir, args)
    }

    /// Runs git and returns its output whatever the exit status.
    pub fn git_output(&self, args: &[&str]) -> Output {
        git_command(&self.dir, args).output().unwrap()
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "--all"]);
        self.git(&[
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        ]);
    }

    /// Runs the real xtask binary with this repository as its working directory.
    pub fn xtask(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(&self.dir)
            .envs(git_env())
            .output()
            .unwrap();
        Run::from(output)
    }

    /// Runs xtask and panics with its output unless it succeeds.
    pub fn xtask_ok(&self, args: &[&str]) -> Run {
        let run = self.xtask(args);
        assert!(run.success, "xtask {args:?} failed:\n{run}");
        run
    }

    /// Runs xtask and panics with its output unless it exits 1.
    pub fn xtask_fails(&self, args: &[&str]) -> Run {
        let run = self.xtask(args);
        assert_eq!(run.code, Some(1), "xtask {args:?} should exit 1:\n{run}");
        run
    }
}

/// A temporary directory removed on drop, passing test or failing one (kept when the
/// environment has `XTASK_KEEP_TEMP=1`, for debugging).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .disable_cleanup(std::env::var_os("XTASK_KEEP_TEMP").is_some())
        .tempdir()
        .unwrap()
}

/// What a run printed and how it ended.
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Whether `text` is anywhere in what the run printed, stdout or stderr.
    pub fn printed(&self, text: &str) -> bool {
        self.stdout.contains(text) || self.stderr.contains(text)
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Git without the user's or the system's configuration, with a fixed identity.
pub fn git_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_AUTHOR_NAME", "xtask test"),
        ("GIT_AUTHOR_EMAIL", "xtask@example.invalid"),
        ("GIT_COMMITTER_NAME", "xtask test"),
        ("GIT_COMMITTER_EMAIL", "xtask@example.invalid"),
    ]
}

pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command.args(args).current_dir(dir).envs(git_env());
    command
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir, args).output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn copy_keeping_mtime(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
    let modified = std::fs::metadata(from).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(to)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_name() == "__pycache__" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            copy_keeping_mtime(&entry.path(), &target);
        }
    }
}
