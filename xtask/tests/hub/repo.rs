//! A sandbox per test: a temporary copy of this monorepo (its own git repo, with a bare
//! `origin`), a HOME, a TMPDIR and the test Hub's repos; and the real `xtask` binary run in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{git, git_out};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Sandbox {
    pub dir: PathBuf,
    /// The copy of the monorepo.
    pub repo: PathBuf,
    /// The bare repo the copy's `origin` points at.
    pub origin: PathBuf,
    pub home: PathBuf,
    /// TMPDIR of the binary: where its temporary clones go.
    pub tmp: PathBuf,
    /// The test Hub's bare repos.
    pub repos: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-deploy-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        let sandbox = Sandbox {
            repo: dir.join("repo"),
            origin: dir.join("origin.git"),
            home: dir.join("home"),
            tmp: dir.join("tmp"),
            repos: dir.join("hub"),
            dir,
        };
        for d in [&sandbox.repo, &sandbox.home, &sandbox.tmp, &sandbox.repos] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The monorepo as git sees it (tracked and new files, not ignored), without the tool itself.
        let files = git_out(source, &["ls-files", "--cached", "--others", "--exclude-standard"]);
        for file in files.lines().filter(|f| !f.starts_with("xtask/") && !f.starts_with("target/")) {
            let from = source.join(file);
            if !from.is_file() {
                continue;
            }
            let to = sandbox.repo.join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
        git(&sandbox.repo, &["init", "--quiet", "--initial-branch=main"]);
        git(&sandbox.repo, &["config", "user.name", "Test User"]);
        git(&sandbox.repo, &["config", "user.email", "test@example.com"]);
        git(&sandbox.repo, &["add", "--all"]);
        git(&sandbox.repo, &["commit", "--quiet", "-m", "monorepo"]);
        git(&sandbox.dir, &["init", "--quiet", "--bare", sandbox.origin.to_str().unwrap()]);
        git(&sandbox.repo, &["remote", "add", "origin", sandbox.origin.to_str().unwrap()]);
        git(&sandbox.repo, &["push", "--quiet", "origin", "main"]);
        sandbox
    }

    /// `cargo xtask ARGS` in the copy, with a clean environment plus `env`.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .current_dir(&self.repo)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self.command(args, env).output().unwrap();
        Run::from(output)
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.repo.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.repo.join(file)).unwrap()
    }

    pub fn commit_all(&self, message: &str) {
        git(&self.repo, &["add", "--all"]);
        git(&self.repo, &["commit", "--quiet", "--allow-empty", "-m", message]);
    }

    /// Files left in the binary's TMPDIR.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.tmp).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    /// Every file under the sandbox (repo, home, tmp, Hub repos), for secret scans.
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() { walk(&path, out) } else { out.push(path) }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        out
    }
}

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit ok={}\n--- stdout\n{}\n--- stderr\n{}", self.ok, self.stdout, self.stderr)
    }
}
