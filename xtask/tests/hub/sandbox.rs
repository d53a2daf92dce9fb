//! A sandbox per test: a copy of this monorepo (`support/repo.rs`, plus a bare `origin`),
//! a HOME, a TMPDIR and the test Hub's repos; and the real `xtask` binary run in it.

use crate::repo::{Repo, Run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Sandbox {
    pub copy: Repo,
    /// The copy of the monorepo.
    pub repo: PathBuf,
    /// Everything else: HOME, TMPDIR, the Hub's repos, `origin.git`.
    pub dir: PathBuf,
    /// The bare repo the copy's `origin` points at.
    pub origin: PathBuf,
    pub home: PathBuf,
    /// TMPDIR of the binary: where its temporary clones go.
    pub tmp: PathBuf,
    /// The test Hub's bare repos.
    pub repos: PathBuf,
    _temp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let copy = Repo::copy_of_this_repo("deploy");
        let temp = crate::repo::temp_dir("xtask-deploy-test-");
        let dir = temp.path().to_owned();
        let sandbox = Sandbox {
            repo: copy.dir.clone(),
            origin: dir.join("origin.git"),
            home: dir.join("home"),
            tmp: dir.join("tmp"),
            repos: dir.join("hub"),
            dir,
            copy,
            _temp: temp,
        };
        for d in [&sandbox.home, &sandbox.tmp, &sandbox.repos] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The identity the user's own commits (--push-frontend) are made with.
        sandbox.copy.git(&["config", "user.name", "Test User"]);
        sandbox
            .copy
            .git(&["config", "user.email", "test@example.com"]);
        sandbox.copy.git(&[
            "init",
            "--quiet",
            "--bare",
            sandbox.origin.to_str().unwrap(),
        ]);
        sandbox
            .copy
            .git(&["remote", "add", "origin", sandbox.origin.to_str().unwrap()]);
        sandbox.copy.git(&["push", "--quiet", "origin", "main"]);
        sandbox
    }

    /// This repository's own state directory (`target/xtask`).
    pub fn source_state() -> PathBuf {
        crate::repo::source_root().join("target/xtask")
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
        Run::from(self.command(args, env).output().unwrap())
    }

    pub fn write(&self, file: &str, text: &str) {
        self.copy.write(file, text);
    }

    pub fn read(&self, file: &str) -> String {
        self.copy.read(file)
    }

    pub fn commit_all(&self, message: &str) {
        self.copy.commit_all(message);
    }

    /// Files left in the binary's TMPDIR.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Every file of the sandbox (the repo copy, HOME, TMPDIR, the Hub's repos), for secret scans.
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out)
                } else {
                    out.push(path)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.repo, &mut out);
        walk(&self.dir, &mut out);
        out
    }
}
