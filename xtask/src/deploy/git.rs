//! Publishing the Space folder with the system git: clone into a temporary directory,
//! mirror, refuse what the Hub would reject, commit, push.
//!
//! The token reaches git only through its environment (`GIT_CONFIG_*` with an
//! `http.extraHeader`), never argv, a URL, a config file or a credential store.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use camino::{Utf8Path, Utf8PathBuf};

use crate::interrupt;

/// The Hub refuses files above this size unless LFS/Xet stores them.
const MAX_PLAIN_FILE: u64 = 10 * 1024 * 1024;
/// Kept when mirroring: the Hub's own file routing large files to LFS/Xet.
const GITATTRIBUTES: &str = ".gitattributes";

/// Environment for every git command of one deploy: credentials and commit identity.
pub(crate) struct GitEnv {
    vars: Vec<(String, String)>,
    /// Whether git is cut off from the user's credential helpers and password prompts.
    isolated: bool,
}

impl GitEnv {
    /// `auth` is `(user, token)` for an HTTP remote; `None` for a local bare repo.
    /// The identity is the monorepo's own `user.name`/`user.email` when set.
    pub(crate) fn new(root: &Utf8Path, auth: Option<(&str, &str)>) -> Result<GitEnv> {
        let mut config = vec![("credential.helper".to_owned(), String::new())];
        if let Some((user, token)) = auth {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
            config.push((
                "http.extraHeader".to_owned(),
                format!("Authorization: Basic {basic}"),
            ));
        }
        let mut vars = vec![("GIT_CONFIG_COUNT".to_owned(), config.len().to_string())];
        for (i, (key, value)) in config.into_iter().enumerate() {
            vars.push((format!("GIT_CONFIG_KEY_{i}"), key));
            vars.push((format!("GIT_CONFIG_VALUE_{i}"), value));
        }
        // The temporary clone has no identity of its own; a user without one still gets a commit.
        let users_git = GitEnv::user();
        for (key, fallback, identity_vars) in [
            (
                "user.name",
                "cargo xtask deploy",
                ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"],
            ),
            (
                "user.email",
                "xtask-deploy@localhost",
                ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"],
            ),
        ] {
            let configured = users_git.run(root, &["config", "--get", key])?;
            let value = String::from_utf8_lossy(&configured.stdout)
                .trim()
                .to_owned();
            let value = if configured.ok && !value.is_empty() {
                value
            } else {
                fallback.to_owned()
            };
            vars.extend(identity_vars.map(|var| (var.to_owned(), value.clone())));
        }
        Ok(GitEnv {
            vars,
            isolated: true,
        })
    }

    /// The user's own git setup, unchanged (for the monorepo's own remote).
    pub(crate) fn user() -> GitEnv {
        GitEnv {
            vars: Vec::new(),
            isolated: false,
        }
    }

    /// Runs git in `dir`; fails with git's own message.
    pub(crate) fn git(&self, dir: &Utf8Path, args: &[&str]) -> Result<String> {
        let out = self.run(dir, args)?;
        if !out.ok {
            bail!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs git with output captured, killing it on Ctrl-C.
    fn run(&self, dir: &Utf8Path, args: &[&str]) -> Result<Output> {
        let mut command = Command::new("git");
        command
            .current_dir(dir)
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        if self.isolated {
            // Never ask anyone for a password, and never run a user's askpass program.
            command
                .env("GIT_TERMINAL_PROMPT", "0")
                .env_remove("GIT_ASKPASS")
                .env_remove("SSH_ASKPASS");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("`git` is required: install it and re-run")?;
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if interrupt::requested() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(interrupt::Interrupted.into());
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(Output {
            ok: status.success(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        })
    }
}

struct Output {
    ok: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A directory under the system temporary directory (never inside the monorepo), removed
/// on drop: after success, an error or Ctrl-C alike.
pub(crate) struct TempDir {
    path: Utf8PathBuf,
}

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<TempDir> {
        let base = Utf8PathBuf::from_path_buf(std::env::temp_dir()).map_err(|p| {
            anyhow::anyhow!(
                "the temporary directory {} is not UTF-8: set TMPDIR",
                p.display()
            )
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = base.join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create the temporary directory {path}"))?;
        Ok(TempDir { path })
    }

    pub(crate) fn path(&self) -> &Utf8Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A clone of the Space repo in a temporary directory.
pub(crate) struct Clone {
    dir: TempDir,
    branch: String,
}

/// One path in the difference between the Space repo and the mirrored folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Change {
    /// `added`, `modified` or `deleted`.
    pub(crate) status: &'static str,
    pub(crate) path: String,
}

impl Clone {
    pub(crate) fn new(env: &GitEnv, remote: &str) -> Result<Clone> {
        let dir = TempDir::new("xtask-deploy")?;
        let out = env.run(
            dir.path(),
            &[
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                remote,
                ".",
            ],
        )?;
        if !out.ok {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "cannot clone the Space repo {remote}: {}",
                quote_git(&stderr)
            );
        }
        let branch = env
            .git(dir.path(), &["symbolic-ref", "--short", "HEAD"])?
            .trim()
            .to_owned();
        Ok(Clone { dir, branch })
    }

    pub(crate) fn path(&self) -> &Utf8Path {
        self.dir.path()
    }

    /// Makes the clone's files exactly `files` (relative to `source`), except that
    /// `.gitattributes` stays unless `files` brings its own; stages everything and returns
    /// what changed.
    pub(crate) fn mirror(
        &self,
        env: &GitEnv,
        source: &Utf8Path,
        files: &[Utf8PathBuf],
    ) -> Result<Vec<Change>> {
        let clone = self.path();
        for entry in clone
            .read_dir_utf8()
            .with_context(|| format!("cannot list the clone {clone}"))?
        {
            let entry = entry.with_context(|| format!("cannot list the clone {clone}"))?;
            let name = entry.file_name();
            if name == ".git" || name == GITATTRIBUTES {
                continue;
            }
            let path = entry.path();
            let removed = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(path),
                _ => std::fs::remove_file(path),
            };
            removed.with_context(|| format!("cannot clear {path} in the clone"))?;
        }
        for file in files {
            let to = clone.join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {parent} in the clone"))?;
            }
            std::fs::copy(source.join(file), &to)
                .with_context(|| format!("cannot copy {source}/{file} into the clone"))?;
        }
        env.git(self.path(), &["add", "--all"])?;
        let status = env.git(
            self.path(),
            &["status", "--porcelain=v1", "-z", "--no-renames"],
        )?;
        Ok(status
            .split('\0')
            .filter(|entry| entry.len() > 3)
            .map(|entry| {
                let status = match &entry[..1] {
                    "A" => "added",
                    "D" => "deleted",
                    _ => "modified",
                };
                Change {
                    status,
                    path: entry[3..].to_owned(),
                }
            })
            .collect())
    }

    /// Refuses, before anything is committed, every file the Hub's pre-receive hook would
    /// reject: over 10 MiB, or binary, without `.gitattributes` routing it to LFS/Xet.
    pub(crate) fn check_pushable(&self, env: &GitEnv, changes: &[Change]) -> Result<()> {
        let mut suspects = Vec::new();
        for change in changes.iter().filter(|c| c.status != "deleted") {
            let path = self.path().join(&change.path);
            let cannot_read = || format!("cannot read {} in the clone", change.path);
            let size = std::fs::metadata(&path).with_context(cannot_read)?.len();
            let mut head = Vec::with_capacity(8000);
            std::fs::File::open(&path)
                .and_then(|file| file.take(8000).read_to_end(&mut head))
                .with_context(cannot_read)?;
            if size > MAX_PLAIN_FILE {
                suspects.push((
                    change.path.as_str(),
                    format!(
                        "{:.1} MiB, over the Hub's 10 MiB limit",
                        size as f64 / 1048576.0
                    ),
                ));
            } else if head.contains(&0) {
                suspects.push((change.path.as_str(), "a binary file".to_owned()));
            }
        }
        if suspects.is_empty() {
            return Ok(());
        }
        let mut args = vec!["check-attr", "filter", "--"];
        args.extend(suspects.iter().map(|(path, _)| *path));
        let attrs = env.git(self.path(), &args)?;
        let routed = |path: &str| {
            attrs.lines().any(|line| {
                line.starts_with(&format!("{path}: filter: "))
                    && (line.ends_with(": lfs") || line.ends_with(": xet"))
            })
        };
        let refused: Vec<String> = suspects
            .iter()
            .filter(|(path, _)| !routed(path))
            .map(|(path, why)| format!("  {path}: {why}"))
            .collect();
        if !refused.is_empty() {
            bail!(
                "refusing to push: the Hub rejects these files unless Git LFS/Xet stores them (and rejects any \
                 pushed history that contains them):\n{}\nfix: keep them out of backend/ (and so out of the Space), \
                 or route them to LFS with a `filter=lfs diff=lfs merge=lfs -text` line in the Space's .gitattributes",
                refused.join("\n")
            );
        }
        if !env.run(self.path(), &["lfs", "version"])?.ok {
            bail!(
                "the Space's .gitattributes routes some files to Git LFS, but git-lfs is not installed: install it (e.g. `apt-get install git-lfs`) and deploy again"
            );
        }
        Ok(())
    }

    /// Commits what `mirror` staged; returns the commit id.
    pub(crate) fn commit(&self, env: &GitEnv, message: &str) -> Result<String> {
        env.git(
            self.path(),
            &["commit", "--quiet", "--no-verify", "-m", message],
        )?;
        Ok(env
            .git(self.path(), &["rev-parse", "HEAD"])?
            .trim()
            .to_owned())
    }

    /// Pushes to the branch it was cloned from; a rejection quotes the remote's reason.
    pub(crate) fn push(&self, env: &GitEnv, what: &str) -> Result<()> {
        let refspec = format!("HEAD:refs/heads/{}", self.branch);
        let out = env.run(
            self.path(),
            &["push", "--porcelain", "--no-verify", "origin", &refspec],
        )?;
        if out.ok {
            return Ok(());
        }
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let advice = if text.contains("non-fast-forward") || text.contains("fetch first") {
            "someone pushed to the Space while this deploy ran: deploy again (it clones afresh)"
        } else if text.contains("hook declined") || text.contains("remote rejected") {
            "the Space's server refused the commit for the reason above: fix that file in backend/ and deploy again"
        } else if text.contains("403")
            || text.contains("Authentication failed")
            || text.contains("401")
        {
            "the token cannot write to this Space: use a token with write access from the Space's owner"
        } else {
            "check the remote's message above and deploy again"
        };
        bail!(
            "the push of {what} was rejected:\n{}\n{advice}",
            quote_git(&text)
        )
    }
}

/// git's messages worth showing (the remote's reasons and git's errors), indented.
fn quote_git(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            line.starts_with("remote:")
                || line.starts_with('!')
                || line.starts_with("error:")
                || line.starts_with("fatal:")
        })
        .map(|line| format!("  {}", line.replace('\t', " ")))
        .collect();
    if lines.is_empty() {
        format!("  {}", text.trim())
    } else {
        lines.join("\n")
    }
}

// The monorepo's own git commands run with the user's setup: the Space's credentials are
// for the Space's clone only, never in the environment of the monorepo's filters and hooks.

/// The files of `dir` (relative to `root`) as git sees them: tracked or new, not ignored,
/// present on disk.
pub(crate) fn worktree_files(root: &Utf8Path, dir: &str) -> Result<Vec<Utf8PathBuf>> {
    let listed = GitEnv::user().git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            dir,
        ],
    )?;
    let mut files: Vec<Utf8PathBuf> = listed
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            Utf8Path::new(p)
                .strip_prefix(dir)
                .ok()
                .map(Utf8Path::to_owned)
        })
        .filter(|rel| root.join(dir).join(rel).is_file())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The monorepo's HEAD commit, with `-dirty` when its worktree differs from it.
pub(crate) fn source_commit(root: &Utf8Path) -> Result<String> {
    let env = GitEnv::user();
    let head = env
        .git(root, &["rev-parse", "--verify", "HEAD"])
        .context("the monorepo has no commit yet: commit it, then deploy")?;
    let dirty = !env.git(root, &["status", "--porcelain"])?.trim().is_empty();
    Ok(format!(
        "{}{}",
        head.trim(),
        if dirty { "-dirty" } else { "" }
    ))
}

/// Makes an empty bare repo at `path` (the `--local` Space remote) unless one is there.
pub(crate) fn ensure_bare(env: &GitEnv, path: &Utf8Path) -> Result<()> {
    if path.join("HEAD").is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {path}"))?;
    env.git(
        path,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real clone of a real bare repo whose `.gitattributes` routes `*.bin` to LFS.
    fn clone_with(files: &[(&str, &[u8])]) -> (TempDir, GitEnv, Clone, Vec<Change>) {
        let dir = TempDir::new("xtask-git-test").unwrap();
        let env = GitEnv::new(dir.path(), None).unwrap();
        let bare = dir.path().join("space.git");
        ensure_bare(&env, &bare).unwrap();
        let clone = Clone::new(&env, bare.as_str()).unwrap();
        let source = dir.path().join("source");
        let mut names = Vec::new();
        for (name, bytes) in files {
            std::fs::create_dir_all(source.join(name).parent().unwrap()).unwrap();
            std::fs::write(source.join(name), bytes).unwrap();
            names.push(Utf8PathBuf::from(*name));
        }
        std::fs::write(
            clone.path().join(GITATTRIBUTES),
            "*.bin filter=lfs diff=lfs merge=lfs -text\n",
        )
        .unwrap();
        let changes = clone.mirror(&env, &source, &names).unwrap();
        (dir, env, clone, changes)
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";

    #[test]
    fn a_small_png_without_lfs_is_refused() {
        let (_dir, env, clone, changes) =
            clone_with(&[("app/main.py", b"print()\n"), ("static/logo.png", PNG)]);
        let err = clone
            .check_pushable(&env, &changes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("static/logo.png: a binary file") && err.contains("filter=lfs"),
            "{err}"
        );
        assert!(!err.contains("main.py"), "{err}");
    }

    #[test]
    fn a_file_over_10_mib_is_refused_even_as_text() {
        let big = vec![b'x'; 12 * 1024 * 1024];
        let (_dir, env, clone, changes) = clone_with(&[("data.txt", &big)]);
        let err = clone
            .check_pushable(&env, &changes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data.txt: 12.0 MiB, over the Hub's 10 MiB limit"),
            "{err}"
        );
    }

    #[test]
    fn text_files_pass_and_mirroring_keeps_gitattributes() {
        let (_dir, env, clone, changes) =
            clone_with(&[("app/main.py", b"print()\n"), ("README.md", b"# x\n")]);
        clone.check_pushable(&env, &changes).unwrap();
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, [".gitattributes", "README.md", "app/main.py"]);
    }
}
