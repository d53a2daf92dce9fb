//! Publishing the Space folder with the system git: clone into a temporary directory,
//! mirror, refuse what the Hub would reject, commit, upload Git LFS objects, push.
//!
//! The token reaches git only through its environment (`GIT_CONFIG_*` with an
//! `http.<endpoint>/.extraHeader`), never argv, a URL, a config file or a credential store;
//! and only requests to URLs under the Hub's endpoint carry it (see docs/security.md).

use std::io::Read;
use std::process::Command;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::files::TempDir;
use crate::process::{self, Output};
use crate::untrusted;

/// The Hub refuses files above this size unless Git LFS stores them.
const MAX_TEXT_FILE: u64 = 10 * 1024 * 1024;
/// The Hub refuses binary files above about this size unless Git LFS stores them.
const MAX_BINARY_FILE: u64 = 1_000_000;
/// Kept when mirroring: the Hub's own file routing large files to LFS.
const GITATTRIBUTES: &str = ".gitattributes";

/// The Hub credential of one deploy: sent by git only to URLs under `endpoint`.
pub(crate) struct Credential<'a> {
    /// `HF_ENDPOINT`, already checked (https, or http on a loopback host).
    pub(crate) endpoint: &'a str,
    pub(crate) user: &'a str,
    pub(crate) token: &'a str,
}

/// Environment for every git command of one deploy: credentials and commit identity.
pub(crate) struct GitEnv {
    vars: Vec<(String, String)>,
    /// The Hub credential as a config entry (`GIT_CONFIG_KEY_n`/`VALUE_n`, `n` = the count in
    /// `vars`): only in the environment of the commands that talk to the Hub (clone, push),
    /// never of the local ones whose filters or signing program are the user's programs.
    header: Option<[(String, String); 3]>,
    /// Whether git is cut off from the user's credential helpers, prompts and hooks.
    isolated: bool,
    /// The empty directory `core.hooksPath` points at, removed with this value.
    _no_hooks: Option<TempDir>,
}

impl GitEnv {
    /// `auth` is the Hub credential for an HTTP remote; `None` for a local bare repo.
    /// The identity is the monorepo's own `user.name`/`user.email` when set.
    pub(crate) fn new(root: &Utf8Path, auth: Option<Credential>) -> Result<GitEnv> {
        let no_hooks = TempDir::new("xtask-no-hooks")?;
        let config = vec![
            // No credential helper: nothing stores the token, nothing else is offered.
            ("credential.helper".to_owned(), String::new()),
            // None of the user's programs run inside the temporary clone with the header in
            // their environment: no hooks (an empty directory of ours), no fsmonitor, no askpass.
            ("core.hooksPath".to_owned(), no_hooks.path().to_string()),
            ("core.fsmonitor".to_owned(), "false".to_owned()),
            ("core.askPass".to_owned(), String::new()),
            // A redirect never moves the session (and its header) to another URL; see
            // `deploy::clone_following` for the redirects that are followed.
            ("http.followRedirects".to_owned(), "false".to_owned()),
            ("lfs.locksVerify".to_owned(), "false".to_owned()),
        ];
        let mut header = None;
        if let Some(auth) = auth {
            // The Hub checks the token, not the user name; a name it reported that is not a
            // plain name (a `:` would end the user part early) is not sent.
            let plain = !auth.user.is_empty()
                && auth
                    .user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            let user = if plain { auth.user } else { "user" };
            let authorization = crate::http::basic_auth(user, auth.token);
            // URL-scoped: git and git-lfs add it only to requests under the endpoint, so an
            // `lfs.url` elsewhere or an LFS storage host never sees it.
            let n = config.len();
            header = Some([
                ("GIT_CONFIG_COUNT".to_owned(), (n + 1).to_string()),
                (
                    format!("GIT_CONFIG_KEY_{n}"),
                    format!("http.{}/.extraHeader", auth.endpoint.trim_end_matches('/')),
                ),
                (
                    format!("GIT_CONFIG_VALUE_{n}"),
                    format!("Authorization: {authorization}"),
                ),
            ]);
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
            let value = if configured.ok() && !value.is_empty() {
                value
            } else {
                fallback.to_owned()
            };
            vars.extend(identity_vars.map(|var| (var.to_owned(), value.clone())));
        }
        // The clone's LFS pointers stay pointers: nothing is downloaded from anywhere.
        vars.push(("GIT_LFS_SKIP_SMUDGE".to_owned(), "1".to_owned()));
        Ok(GitEnv {
            vars,
            header,
            isolated: true,
            _no_hooks: Some(no_hooks),
        })
    }

    /// The user's own git setup, unchanged (for the monorepo's own remote).
    pub(crate) fn user() -> GitEnv {
        GitEnv {
            vars: Vec::new(),
            header: None,
            isolated: false,
            _no_hooks: None,
        }
    }

    /// Runs git in `dir`; fails with git's own message.
    pub(crate) fn git(&self, dir: &Utf8Path, args: &[&str]) -> Result<String> {
        process::read(&mut self.command(dir, args, false))
    }

    /// Runs a local git command with its output captured; how it ended is in the `Output`.
    fn run(&self, dir: &Utf8Path, args: &[&str]) -> Result<Output> {
        process::output(&mut self.command(dir, args, false), None)
    }

    /// Runs a git command that talks to the Hub: the only ones given its credential.
    fn run_remote(&self, dir: &Utf8Path, args: &[&str]) -> Result<Output> {
        process::output(&mut self.command(dir, args, true), None)
    }

    /// `git ARGS` in `dir` with this deploy's environment, and with the Hub credential when it
    /// is `remote`.
    fn command(&self, dir: &Utf8Path, args: &[&str], remote: bool) -> Command {
        let mut command = process::git(dir);
        command
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        if let Some(header) = self.header.as_ref().filter(|_| remote) {
            command.envs(header.iter().map(|(k, v)| (k, v)));
        }
        if self.isolated {
            // Never ask anyone for a password, and never run a user's askpass program.
            command
                .env("GIT_TERMINAL_PROMPT", "0")
                .env_remove("GIT_ASKPASS")
                .env_remove("SSH_ASKPASS");
            // A user's tracing (GIT_TRACE_CURL, GIT_CURL_VERBOSE, GIT_TRACE2…) keeps working, but
            // never with the switches that make it write the header out in full.
            for show_secrets in [
                "GIT_TRACE_REDACT",
                "LFS_DEBUG_HTTP",
                "GIT_TRACE2_ENV_VARS",
                "GIT_TRACE2_CONFIG_PARAMS",
            ] {
                command.env_remove(show_secrets);
            }
        }
        command
    }
}

/// A clone of the Space repo in a temporary directory.
pub(crate) struct SpaceClone {
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

impl SpaceClone {
    pub(crate) fn new(env: &GitEnv, remote: &str) -> Result<SpaceClone> {
        let dir = TempDir::new("xtask-deploy")?;
        // Checked out afterwards, without the credential: checking out runs filters.
        let out = env.run_remote(
            dir.path(),
            &[
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--no-checkout",
                remote,
                ".",
            ],
        )?;
        if !out.ok() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "cannot clone the Space repo {remote}: {}",
                quote_git(&stderr)
            );
        }
        env.git(dir.path(), &["reset", "--hard", "--quiet"])?;
        let branch = env
            .git(dir.path(), &["symbolic-ref", "--short", "HEAD"])?
            .trim()
            .to_owned();
        Ok(SpaceClone { dir, branch })
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
    /// reject: a text file over 10 MiB or a binary file over 1 MB, unless `.gitattributes`
    /// routes it to Git LFS (`filter=lfs`; the Hub's Xet storage is an LFS transfer agent and
    /// uses `filter=lfs` too). When added or modified files are routed to LFS, git-lfs must be
    /// installed and its filters configured; returns whether there are such files (then `push`
    /// uploads their objects first).
    pub(crate) fn check_pushable(&self, env: &GitEnv, changes: &[Change]) -> Result<bool> {
        let present: Vec<&str> = changes
            .iter()
            .filter(|c| c.status != "deleted")
            .map(|c| c.path.as_str())
            .collect();
        if present.is_empty() {
            return Ok(false);
        }
        let mut args = vec!["check-attr", "-z", "filter", "--"];
        args.extend(&present);
        let attrs = env.git(self.path(), &args)?;
        // `-z` output: path NUL attribute NUL value NUL, for each path.
        let fields: Vec<&str> = attrs.split('\0').collect();
        let filter_of = |path: &str| {
            fields
                .chunks(3)
                .find(|f| f.len() == 3 && f[0] == path)
                .map_or("unspecified", |f| f[2])
        };
        let mut lfs = Vec::new();
        let mut refused = Vec::new();
        for path in present {
            if filter_of(path) == "lfs" {
                lfs.push(path);
                continue;
            }
            let full = self.path().join(path);
            let cannot_read = || format!("cannot read {path} in the clone");
            let size = std::fs::metadata(&full).with_context(cannot_read)?.len();
            let mut head = Vec::with_capacity(8000);
            std::fs::File::open(&full)
                .and_then(|file| file.take(8000).read_to_end(&mut head))
                .with_context(cannot_read)?;
            // git's own rule: a NUL byte in the first 8000 bytes makes a file binary.
            let why = if size > MAX_TEXT_FILE {
                format!(
                    "{:.1} MiB, over the Hub's 10 MiB limit",
                    size as f64 / 1048576.0
                )
            } else if head.contains(&0) && size > MAX_BINARY_FILE {
                format!(
                    "a binary file of {:.1} MB, over the Hub's 1 MB limit for binary files",
                    size as f64 / 1e6
                )
            } else {
                continue;
            };
            let xet = if filter_of(path) == "xet" {
                " (`filter=xet` is not a Git filter: Xet storage is reached through `filter=lfs`)"
            } else {
                ""
            };
            refused.push(format!("  {path}: {why}{xet}"));
        }
        if !refused.is_empty() {
            bail!(
                "refusing to push: the Hub rejects these files unless Git LFS stores them (and rejects any \
                 pushed history that contains them):\n{}\nfix: keep them out of backend/ (and so out of the Space), \
                 or route them to LFS with a `PATTERN filter=lfs diff=lfs merge=lfs -text` line in the Space's .gitattributes",
                refused.join("\n")
            );
        }
        if lfs.is_empty() {
            return Ok(false);
        }
        if !env.run(self.path(), &["lfs", "version"])?.ok() {
            bail!(
                "the Space's .gitattributes routes {} to Git LFS, but git-lfs is not installed: install it \
                 (`apt-get install git-lfs`, `brew install git-lfs`, or https://git-lfs.com), run `git lfs install` once, and deploy again",
                lfs.join(", ")
            );
        }
        let configured = |key: &str| {
            env.run(self.path(), &["config", "--get", key])
                .is_ok_and(|out| out.ok() && !out.stdout.trim_ascii().is_empty())
        };
        if !(configured("filter.lfs.process") || configured("filter.lfs.clean")) {
            bail!(
                "the Space's .gitattributes routes {} to Git LFS, but git-lfs's filters are not configured \
                 (so git would commit the files themselves, not LFS pointers): run `git lfs install` once and deploy again",
                lfs.join(", ")
            );
        }
        Ok(true)
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

    /// Pushes to the branch it was cloned from; a rejection quotes the remote's reason. With
    /// `lfs`, the commit's Git LFS objects are uploaded first (`git lfs push`, which a hook
    /// would otherwise run: the user's hooks are off in the clone).
    pub(crate) fn push(&self, env: &GitEnv, what: &str, lfs: bool) -> Result<()> {
        if lfs {
            let out = env.run_remote(self.path(), &["lfs", "push", "origin", "HEAD"])?;
            if !out.ok() {
                let text = out.all_text();
                bail!(
                    "cannot upload the Git LFS objects of {what}; nothing was pushed:\n  {}\n\
                     check the message above (a token with write access, the Space's LFS storage) and deploy again",
                    untrusted::lines(text.trim()).replace('\n', "\n  ")
                );
            }
        }
        let refspec = format!("HEAD:refs/heads/{}", self.branch);
        let out = env.run_remote(
            self.path(),
            &["push", "--porcelain", "--no-verify", "origin", &refspec],
        )?;
        if out.ok() {
            return Ok(());
        }
        let text = out.all_text();
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

/// git's messages worth showing (the remote's reasons and git's errors), indented; escaped and
/// capped as one body, so a remote's flood of lines is cut too.
fn quote_git(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            line.starts_with("remote:")
                || line.starts_with('!')
                || line.starts_with("error:")
                || line.starts_with("fatal:")
        })
        .collect();
    let shown = if lines.is_empty() {
        text.trim().to_owned()
    } else {
        lines.join("\n").replace('\t', " ")
    };
    format!("  {}", untrusted::lines(&shown).replace('\n', "\n  "))
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
    fn clone_with(files: &[(&str, &[u8])]) -> (TempDir, GitEnv, SpaceClone, Vec<Change>) {
        let dir = TempDir::new("xtask-git-test").unwrap();
        let env = GitEnv::new(dir.path(), None).unwrap();
        let bare = dir.path().join("space.git");
        ensure_bare(&env, &bare).unwrap();
        let clone = SpaceClone::new(&env, bare.as_str()).unwrap();
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
    fn a_small_binary_passes_and_one_over_1_mb_is_refused_unless_routed_to_lfs() {
        let mut big = PNG.to_vec();
        big.resize(1_200_000, 0);
        let (_dir, env, clone, changes) = clone_with(&[
            ("app/main.py", b"print()\n"),
            ("static/logo.png", PNG),
            ("static/photo.png", &big),
        ]);
        let err = clone
            .check_pushable(&env, &changes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("static/photo.png: a binary file of 1.2 MB, over the Hub's 1 MB limit")
                && err.contains("filter=lfs"),
            "{err}"
        );
        assert!(
            !err.contains("main.py") && !err.contains("logo.png"),
            "{err}"
        );

        std::fs::write(
            clone.path().join(GITATTRIBUTES),
            "static/photo.png filter=xet\n",
        )
        .unwrap();
        let err = clone
            .check_pushable(&env, &changes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`filter=xet` is not a Git filter"), "{err}");
    }

    #[test]
    fn lfs_routed_files_need_git_lfs_with_its_filters() {
        let (_dir, env, clone, changes) = clone_with(&[("weights.bin", b"\0\0\0")]);
        // No filter.lfs.* here, whatever the machine's own git config says.
        let isolated = GitEnv {
            vars: [
                env.vars.clone(),
                vec![
                    ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
                    ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
                ],
            ]
            .concat(),
            header: None,
            isolated: true,
            _no_hooks: None,
        };
        match clone.check_pushable(&isolated, &changes) {
            Err(err) => {
                let err = err.to_string();
                assert!(
                    err.contains("weights.bin")
                        && (err.contains("git lfs install") || err.contains("not installed")),
                    "{err}"
                );
            }
            Ok(lfs) => panic!("accepted without configured LFS filters (lfs: {lfs})"),
        }
    }

    #[test]
    fn git_runs_with_the_header_scoped_to_the_hub_and_no_user_programs() {
        let dir = TempDir::new("xtask-git-env-test").unwrap();
        let env = GitEnv::new(
            dir.path(),
            Some(Credential {
                endpoint: "https://huggingface.co/",
                user: "al:ice",
                token: "hf_x",
            }),
        )
        .unwrap();
        // Local commands (filters, signing: the user's programs) never get the header.
        assert!(
            env.vars.iter().all(|(_, v)| !v.contains("Authorization")),
            "{:?}",
            env.vars
        );
        let count = |vars: &[(String, String)]| {
            vars.iter()
                .find(|(k, _)| k == "GIT_CONFIG_COUNT")
                .map(|(_, v)| v.parse::<usize>().unwrap())
        };
        let header = env.header.clone().unwrap();
        assert_eq!(count(&header), count(&env.vars).map(|n| n + 1));
        let remote = [env.vars.clone(), header.to_vec()].concat();
        let config: Vec<(&str, &str)> = (0..)
            .map_while(|i| {
                let find = |name: String| {
                    remote
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.as_str())
                };
                Some((
                    find(format!("GIT_CONFIG_KEY_{i}"))?,
                    find(format!("GIT_CONFIG_VALUE_{i}"))?,
                ))
            })
            .collect();
        let value = |key: &str| config.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        assert!(config.iter().all(|(k, _)| *k != "http.extraHeader"));
        assert_eq!(
            value("http.https://huggingface.co/.extraHeader"),
            Some("Authorization: Basic dXNlcjpoZl94")
        );
        assert_eq!(value("http.followRedirects"), Some("false"));
        assert_eq!(value("credential.helper"), Some(""));
        assert_eq!(value("core.fsmonitor"), Some("false"));
        let hooks = Utf8PathBuf::from(value("core.hooksPath").unwrap());
        assert_eq!(std::fs::read_dir(&hooks).unwrap().count(), 0);
        assert!(
            env.vars
                .iter()
                .any(|(k, v)| k == "GIT_LFS_SKIP_SMUDGE" && v == "1")
        );
        drop(config);
        drop(env);
        assert!(!hooks.exists(), "the hooks directory is removed");
    }

    #[test]
    fn git_messages_are_escaped_and_capped_in_total() {
        let flood = "remote: \x1b[2Jspam\n".repeat(10_000);
        let shown = quote_git(&format!("{flood}error: failed to push some refs\n"));
        assert!(!shown.contains('\x1b'), "{shown}");
        assert!(
            shown.starts_with("  remote: \\x1b[2Jspam\n  remote:"),
            "{shown}"
        );
        assert!(
            shown.chars().count() < 2 * untrusted::MAX_CHARS,
            "{} characters",
            shown.len()
        );
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
        assert!(
            !clone.check_pushable(&env, &changes).unwrap(),
            "no LFS needed"
        );
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, [".gitattributes", "README.md", "app/main.py"]);
    }
}
