//! `deploy --local`: the same pipeline with no account and no network. A bare repo under
//! the state directory stands in for the Space's git remote (pushed to by the same publish
//! code as the Hub path); the pushed tree is exported and run as the container would
//! (`crate::local_space`), then verified through its health check and one real chat question.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;
use xshell::Shell;

use super::git::{self, GitEnv};
use super::report::{FrontendReport, Progress, Report};
use super::{clone_while, deadline, lint_before_publishing, lock, publish, regenerate, verify};
use crate::local_space::{self, LocalSpace};
use crate::{Project, flags};

/// The question `deploy --local` asks the running Space, as a user of the chat page would.
const QUESTION: &str = "How do I deploy the backend to Hugging Face Spaces?";
/// From a warm venv a start takes seconds; a cold one installs the requirements first.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// Deploys to this machine; returns the report and the running Space (the lock is released,
/// so the caller can wait for Ctrl-C or detach).
pub(super) fn deploy(
    sh: &Shell,
    project: &Project,
    flags: &flags::Deploy,
    progress: &Progress,
) -> Result<(Report, LocalSpace)> {
    let root = &project.root;
    let _lock = lock::Lock::acquire(root)?;
    // A Space left running (--detach) runs from the tree this deploy replaces.
    local_space::ensure_not_running(project)?;
    let state = local_space::state_dir(root);
    let space_url = format!("http://127.0.0.1:{}", project.settings.generator.port);
    let remote = state.join("space.git");
    let mut report = Report::new(
        remote.strip_prefix(root).unwrap_or(&remote).to_string(),
        &space_url,
        &project.settings.generator.health_path,
    );
    report.local = true;

    let git = GitEnv::new(root, None)?;
    git::ensure_bare(&git, &remote)?;
    let (clone, (regenerated, preview)) =
        clone_while(&git, remote.as_str(), None, progress, || {
            let regenerated = regenerate(project, flags.force, progress)?;
            Ok((
                regenerated,
                lint_before_publishing(project, &space_url, progress)?,
            ))
        })?;
    report.regenerated = regenerated;
    publish(&git, root, &clone, false, progress, &mut report)?;
    let tree = state.join("tree");
    export(clone.path(), &tree)?;
    drop(clone);
    progress.step(format_args!("local: exported the pushed tree to {tree}"));

    // The committed frontend keeps pointing at the real Space: only say what would change.
    report.frontend = Some(FrontendReport::new(&preview, false));

    progress.step("local: starting the Space (venv, PostgreSQL, uvicorn)");
    let space = local_space::start(sh, project, &tree, progress)?;
    progress.step(format_args!(
        "local: the Space listens on {}; its log is {}",
        space.url,
        space.log_shown(root)
    ));
    if flags.no_verify {
        report.health = "skipped".to_owned();
        report.elapsed_seconds = progress.elapsed_secs();
        return Ok((report, space));
    }
    let deadline = deadline(flags.timeout, HEALTH_TIMEOUT)?;
    let health_path = &project.settings.generator.health_path;
    let health = verify::wait_for_health(&space.url, health_path, deadline, progress)
        .with_context(|| {
            format!(
                "the local Space started but is not healthy; its logs are in {}",
                space.logs
            )
        })?;
    progress.step(format_args!(
        "verify: {health_path} says {}; asking: {QUESTION}",
        health.status
    ));
    let answer = space.ask(QUESTION)?;
    progress.step(format_args!(
        "verify: /api/chat answered with {} source(s)",
        answer.sources.len()
    ));
    report.health = health.status;
    let answer_text = answer
        .answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let sources: Vec<&str> = answer.sources.iter().map(|s| s.title.as_str()).collect();
    // A model's answer is outside text: shown, never obeyed by the terminal.
    report.chat_answer = Some(crate::untrusted::line(&format!(
        "{} (sources: {})",
        crate::progress::clip(&answer_text, 200),
        sources.join("; ")
    )));
    report.elapsed_seconds = progress.elapsed_secs();
    Ok((report, space))
}

/// Replaces `tree` with the clone's files (its `.git` left out).
fn export(clone: &Utf8Path, tree: &Utf8Path) -> Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree).with_context(|| format!("cannot clear {tree}"))?;
    }
    crate::files::copy_tree(clone, tree, &[".git"])
        .with_context(|| format!("cannot export the pushed tree to {tree}"))
}
