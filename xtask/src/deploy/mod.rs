//! `cargo xtask deploy`: settings, generate, push, secrets, frontend, verify, report — to the Hub or (`--local`) to this machine.
//!
//! One job per module: `token` (finding the token), `hub` (the Hub API), `git` (clone,
//! mirror, push), `secrets`, `verify` (runtime, health, CORS), `report` (progress and the
//! final report), `lock`. This file runs them in that order.

pub(crate) mod git;
pub(crate) mod hub;
pub(crate) use token::VARIABLES as TOKEN_VARIABLES;
mod local;
mod lock;
mod report;
mod rollback;
mod secrets;
mod token;
pub(crate) mod verify;

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::settings::{self, DeployFlags, DeployTarget, Env};
use crate::{Project, check, flags, frontend, generate, interrupt, untrusted};
use git::{GitEnv, SpaceClone};
use report::{FrontendReport, Progress, Report};

/// The pushed commit's subject, as the hand-run recipe wrote it.
const COMMIT_SUBJECT: &str = "Deploy RAG chatbot backend";
/// The monorepo commit `--push-frontend` makes, as the hand-run recipe wrote it.
const FRONTEND_SUBJECT: &str = "Update API URL for HF Spaces backend";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

impl flags::Deploy {
    pub(crate) fn run(self, sh: &Shell, project: &Project, env: &Env) -> Result<()> {
        interrupt::install()?;
        self.refuse_conflicting_flags()?;
        if self.stop {
            return crate::local_space::stop(project);
        }
        let progress = Progress::new();
        if !self.local {
            let report = self.deploy_to_hub(project, env, &progress)?;
            print!("{}", report.render(self.json));
            return Ok(());
        }
        // `--port` replaces the generator's port for this run only: the Dockerfile keeps its own.
        let mut settings = project.settings.clone();
        if let Some(port) = self.port {
            settings.generator.port = port;
        }
        let project = &Project {
            root: project.root.clone(),
            settings,
        };
        let (report, space) = local::deploy(sh, project, &self, &progress)?;
        print!("{}", report.render(self.json));
        let log = space.log_shown(&project.root);
        if self.detach {
            space.detach()?;
            eprintln!(
                "The local Space keeps running at {}, logging to {log}; stop it with `cargo xtask deploy --local --stop`.",
                report.space_url
            );
            Ok(())
        } else {
            eprintln!(
                "The local Space runs at {}, logging to {log}, until Ctrl-C (or use --detach next time).",
                report.space_url
            );
            space.wait_until_interrupted()
        }
    }

    fn refuse_conflicting_flags(&self) -> Result<()> {
        let hub_only = [
            ("--create", self.create),
            ("--secrets-file", self.secrets_file.is_some()),
            ("--push-frontend", self.push_frontend),
            ("--restart", self.restart),
        ];
        if self.local {
            if let Some((flag, _)) = hub_only.iter().find(|(_, set)| *set) {
                bail!("{flag} is for a Hub deploy and cannot be combined with --local");
            }
        } else if let Some(flag) = [
            ("--detach", self.detach),
            ("--stop", self.stop),
            ("--port", self.port.is_some()),
        ]
        .iter()
        .find(|(_, set)| *set)
        {
            bail!("{} only applies to a local deploy: add --local", flag.0);
        }
        if self.rev.is_some() && !self.rollback {
            bail!(
                "`{}` is read only with --rollback: run `cargo xtask deploy --rollback {0}`",
                self.rev.as_deref().unwrap_or_default()
            );
        }
        if self.rollback {
            let other = [
                ("--local", self.local),
                ("--create", self.create),
                ("--secrets-file", self.secrets_file.is_some()),
                ("--push-frontend", self.push_frontend),
            ];
            if let Some((flag, _)) = other.iter().find(|(_, set)| *set) {
                bail!(
                    "--rollback pushes an earlier tree of the Space on the Hub and cannot be combined with {flag}"
                );
            }
        }
        if self.stop && self.detach {
            bail!("--stop and --detach contradict each other: use one");
        }
        if self.port == Some(0) {
            bail!("--port 0: give the port the Space listens on, e.g. --port 7861");
        }
        // Checked before anything runs: `--local` starts its clock only once the Space is up.
        deadline(self.timeout, DEFAULT_TIMEOUT)?;
        if self.dry_run && (self.local || self.push_frontend || self.restart) {
            bail!(
                "--dry-run changes nothing, so it cannot be combined with --local, --push-frontend or --restart"
            );
        }
        Ok(())
    }

    /// The deploy's steps against the Hub at `HF_ENDPOINT`: settings and preflight, generate
    /// and lint, publish, secrets, frontend, verify, `--push-frontend`.
    fn deploy_to_hub(&self, project: &Project, env: &Env, progress: &Progress) -> Result<Report> {
        let root = &project.root;
        // Settings, secrets file and token, all checked before any request.
        let (target, secrets) = self.target_and_secrets(project)?;
        let endpoint = hub::endpoint_of(env)?;
        let token = match token::Token::of(env) {
            Ok(token) => token,
            Err(err) if self.dry_run => {
                return self.dry_run_without_hub(
                    project,
                    &target,
                    secrets.as_ref(),
                    &err,
                    progress,
                );
            }
            Err(err) => return Err(err),
        };
        let hub = hub::Hub::new(&endpoint, token);
        let deadline = deadline(self.timeout, DEFAULT_TIMEOUT)?;
        GitEnv::user().git(root, &["--version"])?;
        let _lock = lock::Lock::acquire(root)?;
        let login = log_in(&hub, progress)?;
        let (info, exists) = self.find_space(&hub, &target, &login, progress)?;
        let chosen = hub::space_url(
            target.space_url.as_deref(),
            &target.user,
            &target.space,
            &info,
            hub.endpoint(),
        )?;
        let mut report = self.start_report(project, &target, &chosen, info.private, progress);
        let repo = target.repo_id();
        let verify = Verify::new(
            project,
            &hub,
            &repo,
            &target,
            &chosen,
            info.private,
            deadline,
        );
        let git = GitEnv::new(
            root,
            Some(git::Credential {
                endpoint: hub.endpoint(),
                user: &login,
                token: hub.token().secret(),
            }),
        )?;
        let remote = format!("{}/spaces/{repo}", hub.endpoint());
        if self.rollback {
            self.roll_back(&git, &remote, &verify, progress, &mut report)?;
        } else {
            let space = exists.then_some((&git, remote.as_str(), &hub));
            let preview = self.update_space(project, space, &chosen.url, progress, &mut report)?;
            self.update_secrets(
                project,
                &hub,
                &target,
                secrets.as_ref(),
                progress,
                &mut report,
            )?;
            self.update_frontend(project, &chosen.url, preview, progress, &mut report)?;
            self.verify(&verify, progress, &mut report)?;
            if self.push_frontend {
                commit_and_push_frontend(project, progress, &mut report)?;
            }
        }
        report.elapsed_seconds = progress.elapsed_secs();
        Ok(report)
    }

    /// `--rollback`: the earlier tree pushed as a new commit, then verified as a deploy is.
    fn roll_back(
        &self,
        git: &GitEnv,
        remote: &str,
        verify: &Verify<'_>,
        progress: &Progress,
        report: &mut Report,
    ) -> Result<()> {
        let clone = SpaceClone::new(git, remote)?;
        rollback::publish(
            git,
            &clone,
            self.rev.as_deref(),
            self.dry_run,
            progress,
            report,
        )?;
        drop(clone);
        self.verify(verify, progress, report)
    }

    /// The secrets: set from `--secrets-file`, else the table of what to set by hand.
    fn update_secrets(
        &self,
        project: &Project,
        hub: &hub::Hub,
        target: &DeployTarget,
        secrets: Option<&secrets::Secrets>,
        progress: &Progress,
        report: &mut Report,
    ) -> Result<()> {
        let repo = target.repo_id();
        match secrets {
            Some(secrets) => set_secrets(hub, &repo, secrets, self.dry_run, progress, report),
            None => show_secrets_table(hub, &repo, &target.frontend_url, &project.root),
        }
    }

    /// The chat client's production URL: patched to `space_url` (only previewed in a dry run).
    fn update_frontend(
        &self,
        project: &Project,
        space_url: &str,
        preview: frontend::Patch,
        progress: &Progress,
        report: &mut Report,
    ) -> Result<()> {
        let patch = if self.dry_run {
            preview
        } else {
            let client = &project.settings.frontend_client;
            frontend::patch_base_url(&project.root, client, space_url, true)?
        };
        frontend_step(&patch, progress);
        report.frontend = Some(FrontendReport::new(&patch, !self.dry_run));
        Ok(())
    }

    /// Where to deploy (settings, flags, a prompt for what is missing) and the secrets file,
    /// read and checked.
    fn target_and_secrets(
        &self,
        project: &Project,
    ) -> Result<(DeployTarget, Option<secrets::Secrets>)> {
        let flags = DeployFlags {
            user: self.user.clone(),
            space: self.space.clone(),
            frontend_url: self.frontend_url.clone(),
            space_url: self.space_url.clone(),
        };
        let target = DeployTarget::resolve(
            flags,
            &project.settings,
            terminal_prompt().as_mut().map(|p| p as _),
        )?;
        let secrets = match &self.secrets_file {
            Some(path) => Some(secrets::Secrets::load(
                &secrets_file(path)?,
                &target.frontend_url,
                &crate::space::backend_settings(&project.root)?,
            )?),
            None => None,
        };
        Ok((target, secrets))
    }

    /// The Space's details: it must exist (or be created with `--create`) before it is
    /// cloned. Also says whether it exists (not in a dry run that would create it).
    fn find_space(
        &self,
        hub: &hub::Hub,
        target: &DeployTarget,
        login: &str,
        progress: &Progress,
    ) -> Result<(hub::SpaceInfo, bool)> {
        let repo = target.repo_id();
        let info = match hub.space(&repo)? {
            Some(info) => info,
            None if self.create && self.dry_run => {
                progress.step(format_args!(
                    "{repo} does not exist: --create would create it (sdk docker)"
                ));
                return Ok((hub::SpaceInfo::default(), false));
            }
            None if self.create => {
                let created = hub.create_space(&target.user, &target.space, login)?;
                progress.step(format_args!("Space {repo}: {:?} (sdk docker)", created));
                hub.space(&repo)?.with_context(|| {
                    format!(
                        "the Hub created {repo} but does not show it yet: deploy again in a minute"
                    )
                })?
            }
            None => bail!(
                "the Space {repo} does not exist: create it at {}/new-space (Docker SDK), or re-run with --create",
                hub.endpoint()
            ),
        };
        Ok((info, true))
    }

    /// The report of this deploy, with its warnings (a chosen Space URL, a private Space)
    /// said now as well: a failed deploy never prints the report.
    fn start_report(
        &self,
        project: &Project,
        target: &DeployTarget,
        chosen: &hub::SpaceUrl,
        private: bool,
        progress: &Progress,
    ) -> Report {
        let repo = target.repo_id();
        let mut report = Report::new(
            repo.clone(),
            &chosen.url,
            &project.settings.generator.health_path,
        );
        report.dry_run = self.dry_run;
        report.warnings.extend(chosen.warning.clone());
        if private && !is_local_origin(&target.frontend_url) {
            report.warnings.push(format!(
                "the Space {repo} is private: browsers on {} get 404 from it; make it public in its settings",
                target.frontend_url
            ));
        }
        for warning in &report.warnings {
            progress.step(format_args!("warning: {warning}"));
        }
        report
    }

    /// Generate, lint and publish: generates and lints while the Space repo (`space`: git, remote, Hub)
    /// is cloned, then publishes; for a Space a dry run would create, lists every file as
    /// added. Returns the frontend patch the lint previewed.
    fn update_space(
        &self,
        project: &Project,
        space: Option<(&GitEnv, &str, &hub::Hub)>,
        space_url: &str,
        progress: &Progress,
        report: &mut Report,
    ) -> Result<frontend::Patch> {
        let root = &project.root;
        let prepare = || -> Result<_> {
            let regenerated = regenerate(project, self.force, progress)?;
            Ok((
                regenerated,
                lint_before_publishing(project, space_url, progress)?,
            ))
        };
        let Some((git, remote, hub)) = space else {
            let (regenerated, preview) = prepare()?;
            report.regenerated = regenerated;
            report.source_commit = git::source_commit(root)?;
            let files = git::worktree_files(root, settings::SPACE_DIR)?;
            report.changes = files
                .iter()
                .map(|f| git::Change {
                    status: "added",
                    path: f.to_string(),
                })
                .collect();
            progress.step(format_args!(
                "git: would push all {} file(s) to the new Space",
                files.len()
            ));
            return Ok(preview);
        };
        let (clone, (regenerated, preview)) =
            clone_while(git, remote, Some(hub), progress, prepare)?;
        report.regenerated = regenerated;
        publish(git, root, &clone, self.dry_run, progress, report)?;
        Ok(preview)
    }
}

/// Secrets without `--secrets-file`: the table of secrets to set by hand, and where.
fn show_secrets_table(
    hub: &hub::Hub,
    repo: &str,
    frontend_url: &str,
    root: &Utf8Path,
) -> Result<()> {
    let intro = format!(
        "Set these secrets at {}/spaces/{repo}/settings (Variables and secrets), or pass --secrets-file FILE:",
        hub.endpoint()
    );
    let backend = crate::space::backend_settings(root)?;
    eprint!("{}", secrets::table(&intro, frontend_url, &backend.secrets));
    Ok(())
}

impl flags::Deploy {
    /// `--dry-run` with no usable token: every step that needs no Hub (settings, secrets file,
    /// generate, lints, the frontend patch), then the list of what only the Hub could tell.
    fn dry_run_without_hub(
        &self,
        project: &Project,
        target: &DeployTarget,
        secrets: Option<&secrets::Secrets>,
        no_token: &anyhow::Error,
        progress: &Progress,
    ) -> Result<Report> {
        let root = &project.root;
        progress.step(format_args!(
            "no token, so this dry run does not ask the Hub: {}",
            first_sentence(&format!("{no_token:#}"))
        ));
        GitEnv::user().git(root, &["--version"])?;
        let _lock = lock::Lock::acquire(root)?;
        let repo = target.repo_id();
        let space_url = target
            .space_url
            .clone()
            .unwrap_or_else(|| settings::derived_space_url(&target.user, &target.space));
        let mut report = Report::new(
            repo.clone(),
            &space_url,
            &project.settings.generator.health_path,
        );
        report.dry_run = true;
        report.health = "skipped".to_owned();
        report.regenerated = regenerate(project, self.force, progress)?;
        let patch = lint_before_publishing(project, &space_url, progress)?;
        report.source_commit = git::source_commit(root)?;
        let files = git::worktree_files(root, settings::SPACE_DIR)?;
        progress.step(format_args!(
            "git: {} file(s) in {} would be mirrored to the Space",
            files.len(),
            settings::SPACE_DIR
        ));
        if let Some(secrets) = secrets {
            let keys: Vec<&str> = secrets.0.iter().map(|(k, _)| k.as_str()).collect();
            progress.step(format_args!(
                "secrets: the file is valid; would set {}",
                keys.join(", ")
            ));
        }
        frontend_step(&patch, progress);
        report.frontend = Some(FrontendReport::new(&patch, false));
        report.not_checked = vec![
            format!(
                "the token and its account: log in with `{}` (or set HF_TOKEN), then re-run",
                token::LOGIN
            ),
            format!("whether the Space {repo} exists, and whether it is private"),
            format!(
                "which of the {} file(s) differ from the Space's repo (what a deploy would commit)",
                files.len()
            ),
        ];
        if target.space_url.is_none() {
            report.not_checked.push(format!(
                "the Space's URL: {space_url} is derived from the subdomain rule; the Hub may report another host"
            ));
        }
        report.elapsed_seconds = progress.elapsed_secs();
        Ok(report)
    }
}

/// The first sentence (up to `:`, `;` or `.` followed by a space) of an error, for a one-line
/// progress step.
fn first_sentence(text: &str) -> &str {
    let end = [": ", "; ", ". "]
        .iter()
        .filter_map(|sep| text.find(sep))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

/// The frontend step's progress line.
fn frontend_step(patch: &frontend::Patch, progress: &Progress) {
    progress.step(format_args!(
        "frontend: {}:{} {}",
        patch.file,
        patch.line,
        if patch.changed() {
            format!("{} -> {}", patch.old_url, patch.new_url)
        } else {
            "already up to date".to_owned()
        }
    ));
}

/// What verification checks, for a deploy or a rollback.
struct Verify<'a> {
    hub: &'a hub::Hub,
    repo: &'a str,
    space_url: &'a str,
    health_path: &'a str,
    frontend_url: &'a str,
    access: verify::SpaceAccess<'a>,
    deadline: Instant,
}

impl<'a> Verify<'a> {
    /// The checks for the Space `repo` at the URL `chosen`, by `deadline`.
    fn new(
        project: &'a Project,
        hub: &'a hub::Hub,
        repo: &'a str,
        target: &'a DeployTarget,
        chosen: &'a hub::SpaceUrl,
        private: bool,
        deadline: Instant,
    ) -> Verify<'a> {
        Verify {
            hub,
            repo,
            space_url: &chosen.url,
            health_path: &project.settings.generator.health_path,
            frontend_url: &target.frontend_url,
            access: verify::SpaceAccess::new(
                private,
                &chosen.url,
                chosen.own.as_deref(),
                hub.token().secret(),
            ),
            deadline,
        }
    }
}

/// Who the token belongs to (the Hub's `whoami`), said with where the token came from.
fn log_in(hub: &hub::Hub, progress: &Progress) -> Result<String> {
    let who = hub.whoami()?;
    progress.step(format_args!(
        "token from {}: logged in to {} as {}",
        hub.token().source,
        hub.endpoint(),
        untrusted::line(&who.name)
    ));
    Ok(who.name)
}

/// `--push-frontend`: the chat client committed alone and the current branch pushed.
fn commit_and_push_frontend(
    project: &Project,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let pushed = push_frontend(&project.root, &project.settings.frontend_client)?;
    progress.step(match &pushed {
        Some(commit) => format!("frontend: pushed {commit} \"{FRONTEND_SUBJECT}\""),
        None => "frontend: nothing to commit".to_owned(),
    });
    if let Some(f) = report.frontend.as_mut() {
        f.pushed_commit = pushed;
    }
    Ok(())
}

impl flags::Deploy {
    /// Verify (unless `--dry-run` or `--no-verify`): the runtime, the health check, CORS.
    fn verify(&self, v: &Verify<'_>, progress: &Progress, report: &mut Report) -> Result<()> {
        if self.dry_run || self.no_verify {
            report.health = "skipped".to_owned();
            return Ok(());
        }
        let checks = verify::Checks {
            hub: v.hub,
            repo: v.repo,
            pushed: report.commit.as_deref(),
            space_url: v.space_url,
            health_path: v.health_path,
            frontend_url: v.frontend_url,
            restart: self.restart,
            deadline: v.deadline,
            access: v.access,
        };
        let repo = v.repo;
        let health = checks.run(progress).with_context(|| match &report.commit {
            Some(commit) => {
                format!("pushed {commit} to {repo}, but the Space is not working yet")
            }
            None => format!("{repo} was already up to date, but the Space is not working"),
        })?;
        progress.step(format_args!(
            "verify: {} says {}; CORS allows {}",
            v.health_path, health.status, v.frontend_url
        ));
        report.health = health.status;
        Ok(())
    }
}

/// Secrets with `--secrets-file`: sets each secret (names only in the output, never values).
fn set_secrets(
    hub: &hub::Hub,
    repo: &str,
    secrets: &secrets::Secrets,
    dry_run: bool,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let keys: Vec<&str> = secrets.0.iter().map(|(k, _)| k.as_str()).collect();
    if dry_run {
        progress.step(format_args!("secrets: would set {}", keys.join(", ")));
        return Ok(());
    }
    for (key, value) in &secrets.0 {
        hub.set_secret(repo, key, value)?;
        report.secrets_set.push(key.clone());
    }
    progress.step(format_args!("secrets: set {} on {repo}", keys.join(", ")));
    let unset = secrets.unset();
    if !unset.is_empty() {
        progress.step(format_args!(
            "secrets: {} not in the file, left as they are on the Space",
            unset.join(", ")
        ));
    }
    Ok(())
}

/// Generate: returns the files it rewrote that now differ from the monorepo's HEAD
/// (for the reminder to commit them). A file it put back as committed needs no commit.
fn regenerate(project: &Project, force: bool, progress: &Progress) -> Result<Vec<String>> {
    let changed = generate::generate(project, force)?;
    if changed.is_empty() {
        progress.step(format_args!(
            "generate: {} is up to date",
            settings::SPACE_DIR
        ));
        return Ok(Vec::new());
    }
    let status = git::GitEnv::user().git(
        &project.root,
        &[
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--",
            settings::SPACE_DIR,
        ],
    )?;
    let uncommitted: Vec<&str> = status
        .split('\0')
        .filter_map(|entry| entry.get(3..))
        .collect();
    let (to_commit, restored): (Vec<String>, Vec<String>) = changed
        .iter()
        .map(|p| format!("{}/{p}", settings::SPACE_DIR))
        .partition(|path| uncommitted.contains(&path.as_str()));
    if !restored.is_empty() {
        progress.step(format_args!(
            "generate: put back the committed {}",
            restored.join(", ")
        ));
    }
    if !to_commit.is_empty() {
        progress.step(format_args!(
            "generate: updated {} (commit them: the Space commit records this worktree as dirty)",
            to_commit.join(", ")
        ));
    }
    Ok(to_commit)
}

/// The lints, and the frontend patch checked without writing: nothing is pushed unless
/// both pass. Whether the chat client's URL is this deploy's (which may come from flags or the
/// Hub) is the frontend step's job here, so the lints check only its shape; the patch itself
/// must match exactly once.
fn lint_before_publishing(
    project: &Project,
    space_url: &str,
    progress: &Progress,
) -> Result<frontend::Patch> {
    let preview = frontend::patch_base_url(
        &project.root,
        &project.settings.frontend_client,
        space_url,
        false,
    )?;
    check::lint_before_deploy(project)?;
    progress.step("lint: the Space folder and the frontend pass every lint");
    Ok(preview)
}

/// Generating and cloning overlap: `SpaceClone::new` (network) runs on its own thread while `prepare`
/// (generate, lints: CPU) runs on this one. Both finish before this returns, so an error or
/// Ctrl-C in either still removes the temporary clone.
fn clone_while<T>(
    git: &GitEnv,
    remote: &str,
    hub: Option<&hub::Hub>,
    progress: &Progress,
    prepare: impl FnOnce() -> Result<T>,
) -> Result<(SpaceClone, T)> {
    std::thread::scope(|scope| {
        let cloning = scope.spawn(|| clone_following(git, remote, hub));
        let prepared = prepare();
        progress.until_finished("git: cloning the Space repo", &cloning);
        let clone = cloning
            .join()
            .map_err(|_| anyhow::anyhow!("the clone thread panicked"))?;
        let prepared = prepared?;
        Ok((clone?, prepared))
    })
}

/// Clones `remote`. git follows no redirect (its header would follow it), so when the clone
/// fails the Hub is asked whether it redirects: to another path of its own endpoint (a renamed
/// Space) the clone is retried there; to anywhere else the deploy stops, saying where.
fn clone_following(git: &GitEnv, remote: &str, hub: Option<&hub::Hub>) -> Result<SpaceClone> {
    let err = match SpaceClone::new(git, remote) {
        Ok(clone) => return Ok(clone),
        Err(err) => err,
    };
    let Some(hub) = hub else { return Err(err) };
    match hub.git_redirect(remote) {
        Some(to)
            if to.starts_with(&format!("{}/", hub.endpoint()))
                && !to.contains(|c: char| c.is_control() || c.is_whitespace()) =>
        {
            SpaceClone::new(git, &to)
        }
        Some(to) => bail!(
            "the Hub redirected git from {remote} to `{}`, outside {}: not followed, so the token \
             stays with the Hub; check HF_ENDPOINT and the Space name",
            untrusted::line(&to),
            hub.endpoint()
        ),
        None => Err(err),
    }
}

/// Publish, after the clone: mirror the Space folder into it, refuse what the Hub would
/// reject, commit and push.
fn publish(
    git: &GitEnv,
    root: &Utf8Path,
    clone: &SpaceClone,
    dry_run: bool,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let source = git::source_commit(root)?;
    let files = git::worktree_files(root, settings::SPACE_DIR)?;
    if files.is_empty() {
        bail!(
            "{} is empty: run `cargo xtask generate` and commit it",
            settings::SPACE_DIR
        );
    }
    progress.step(format_args!(
        "git: cloned the Space repo into a temporary directory"
    ));
    let changes = clone.mirror(git, &root.join(settings::SPACE_DIR), &files)?;
    report.source_commit = source.clone();
    report.changes = changes;
    if report.changes.is_empty() {
        report.up_to_date = true;
        progress.step("git: already up to date: nothing to commit, nothing pushed");
        return Ok(());
    }
    let lfs = clone.check_pushable(git, &report.changes)?;
    if dry_run {
        show_would_push(&report.changes, progress);
        return Ok(());
    }
    let message = format!(
        "{COMMIT_SUBJECT}\n\nSource commit: {source}\nDeployed with `cargo xtask deploy`.\n"
    );
    let commit = clone.commit(git, &message)?;
    progress.step(format_args!(
        "git: committed {} file(s) as {commit}; pushing",
        report.changes.len()
    ));
    progress.during("git: pushing", || {
        clone.push(git, &format!("commit {commit}"), lfs)
    })?;
    progress.step("git: pushed");
    report.commit = Some(commit);
    Ok(())
}

/// `--push-frontend`: commits the chat client alone (other staged work stays staged) and pushes the
/// current branch with the user's own git setup. `None` when there was nothing to commit.
fn push_frontend(root: &Utf8Path, client: &Utf8Path) -> Result<Option<String>> {
    let git = GitEnv::user();
    let client = client.as_str();
    if git
        .git(root, &["status", "--porcelain", "--", client])?
        .trim()
        .is_empty()
    {
        return Ok(None);
    }
    git.git(
        root,
        &["commit", "--quiet", "-m", FRONTEND_SUBJECT, "--", client],
    )?;
    let branch = git
        .git(root, &["symbolic-ref", "--short", "HEAD"])
        .context("--push-frontend: HEAD is detached; check out a branch")?;
    let commit = git.git(root, &["rev-parse", "HEAD"])?.trim().to_owned();
    git.git(root, &["push", "origin", branch.trim()])
        .with_context(|| {
            format!(
                "--push-frontend: committed {commit}, but `git push origin {}` failed",
                branch.trim()
            )
        })?;
    Ok(Some(commit))
}

/// When `--timeout SECONDS` (else `default`) runs out; a value too large for the clock is
/// refused here rather than overflowing it later.
fn deadline(timeout: Option<u64>, default: Duration) -> Result<Instant> {
    let wait = timeout.map_or(default, Duration::from_secs);
    Instant::now().checked_add(wait).with_context(|| {
        format!(
            "--timeout {}: too large; give the seconds to wait, e.g. --timeout 900",
            wait.as_secs()
        )
    })
}

/// What a dry run's push would send, one line per file. A path may be a name from the Space
/// repo (a deleted file, a rollback's tree): shown, never obeyed.
fn show_would_push(changes: &[git::Change], progress: &Progress) {
    for change in changes {
        progress.step(format_args!(
            "git: would push {} {}",
            change.status,
            untrusted::line(&change.path)
        ));
    }
}

/// Whether the frontend runs on this machine (where a private Space is no problem).
fn is_local_origin(url: &str) -> bool {
    frontend::Origin::parse(url).is_some_and(|origin| origin.is_loopback())
}

fn secrets_file(path: &std::path::Path) -> Result<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(path.to_owned())
        .map_err(|p| anyhow::anyhow!("--secrets-file {}: the path is not valid UTF-8: rename the file or move it to a UTF-8 path", p.display()))
}

/// Asks on the terminal, when stdin is one.
fn terminal_prompt() -> Option<impl FnMut(&str) -> Result<String>> {
    std::io::stdin().is_terminal().then_some(|question: &str| {
        eprint!("{question}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        interrupt::check()?;
        Ok(line.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::hub::DEFAULT_ENDPOINT;
    use super::*;

    #[test]
    fn the_space_url_is_the_reported_host_unless_it_is_not_an_origin() {
        // The URL, and what the Hub reported when it was not trusted.
        fn space_url(
            target: &DeployTarget,
            info: &hub::SpaceInfo,
            endpoint: &str,
        ) -> (String, Option<String>) {
            let chosen = hub::space_url(
                target.space_url.as_deref(),
                &target.user,
                &target.space,
                info,
                endpoint,
            )
            .unwrap();
            (chosen.url, chosen.ignored)
        }
        let target = DeployTarget {
            user: "Alice_B".into(),
            space: "my.bot".into(),
            frontend_url: "https://f.dev".into(),
            space_url: None,
        };
        let info = |host: Option<&str>, subdomain: Option<&str>| hub::SpaceInfo {
            host: host.map(Into::into),
            subdomain: subdomain.map(Into::into),
            ..hub::SpaceInfo::default()
        };
        let derived = "https://alice-b-my-bot.hf.space".to_owned();
        assert_eq!(
            space_url(
                &target,
                &info(Some("https://h.hf.space/"), None),
                DEFAULT_ENDPOINT
            ),
            ("https://h.hf.space".into(), None)
        );
        assert_eq!(
            space_url(&target, &info(None, Some("sub")), DEFAULT_ENDPOINT),
            ("https://sub.hf.space".into(), None)
        );
        assert_eq!(
            space_url(&target, &info(None, None), DEFAULT_ENDPOINT),
            (derived.clone(), None)
        );
        assert_eq!(
            space_url(&target, &info(Some(""), Some("sub")), DEFAULT_ENDPOINT),
            ("https://sub.hf.space".into(), None)
        );
        for garbage in [
            "h.hf.space",
            "https://h.hf.space/x y",
            "javascript:alert(1)",
            "https://attacker.example",
            "http://h.hf.space",
            "https://hf.space",
            "https://h.hf.space.attacker.example",
            "https://h.hf.space\x1b[2J",
            "https://h.hf.space:443/\n",
        ] {
            assert_eq!(
                space_url(&target, &info(Some(garbage), Some("sub")), DEFAULT_ENDPOINT),
                (derived.clone(), Some(garbage.to_owned())),
                "{garbage}"
            );
        }
        assert_eq!(
            space_url(&target, &info(None, Some("a/b")), DEFAULT_ENDPOINT),
            (derived.clone(), Some("https://a/b.hf.space".to_owned()))
        );
        // Another endpoint: its own domain; a loopback (test) Hub: loopback hosts.
        let corp = "https://hub.corp.example";
        assert_eq!(
            space_url(&target, &info(Some("https://x.corp.example"), None), corp).0,
            "https://x.corp.example"
        );
        assert_eq!(
            space_url(&target, &info(Some("https://x.hf.space"), None), corp).1,
            Some("https://x.hf.space".to_owned())
        );
        let test_hub = "http://127.0.0.1:4000";
        assert_eq!(
            space_url(
                &target,
                &info(Some("http://127.0.0.1:4001"), None),
                test_hub
            ),
            ("http://127.0.0.1:4001".into(), None)
        );
        assert_eq!(
            space_url(
                &target,
                &info(Some("https://attacker.example"), None),
                test_hub
            )
            .0,
            derived
        );
        let flagged = DeployTarget {
            space_url: Some("https://custom.dev".into()),
            ..target
        };
        assert_eq!(
            space_url(
                &flagged,
                &info(Some("https://h.hf.space"), None),
                DEFAULT_ENDPOINT
            )
            .0,
            "https://custom.dev"
        );
    }

    #[test]
    fn a_frontend_on_this_machine_is_local_and_a_lookalike_host_is_not() {
        for local in [
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://[::1]:5173",
            "http://LOCALHOST",
        ] {
            assert!(is_local_origin(local), "{local}");
        }
        for remote in [
            "https://localhost.attacker.example",
            "https://127.0.0.1.nip.io",
            "https://my-app.vercel.app",
        ] {
            assert!(!is_local_origin(remote), "{remote}");
        }
    }

    #[test]
    fn a_timeout_beyond_the_clock_is_an_error_not_a_panic() {
        let err = deadline(Some(u64::MAX), DEFAULT_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("--timeout {}: too large", u64::MAX)),
            "{err}"
        );
        assert!(deadline(Some(0), DEFAULT_TIMEOUT).is_ok());
    }
}
