//! `deploy --rollback [REV]`: the tree of an earlier Space commit pushed as a new commit.
//!
//! History is never rewritten: the Space's branch only moves forward, so a rollback is itself
//! one more deploy that `status --history` lists and a later rollback can undo.

use anyhow::{Result, bail};

use super::git::{Change, Clone, GitEnv};
use super::report::{Progress, Report};

/// Makes the clone's index and files the tree of `rev` (default: the commit before the current
/// one), commits it with the source commit that commit recorded, and pushes.
pub(super) fn publish(
    git: &GitEnv,
    clone: &Clone,
    rev: Option<&str>,
    dry_run: bool,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let dir = clone.path();
    let wanted = rev.unwrap_or("HEAD~1");
    let Some(target) = resolve(git, clone, wanted)? else {
        match rev {
            Some(rev) => bail!(
                "`{rev}` is not a commit of the Space: pick one from `cargo xtask status --history`"
            ),
            None => bail!(
                "the Space has no commit before its current one: there is nothing to roll back to"
            ),
        }
    };
    if succeeds(git.git(dir, &["merge-base", "--is-ancestor", &target, "HEAD"]))?.is_none() {
        bail!(
            "{target} is not in the history of the Space's branch: pick a commit from `cargo xtask status --history`"
        );
    }
    let described = git
        .git(dir, &["log", "-1", "--format=%s (%cI)", &target])?
        .trim()
        .to_owned();
    let body = git.git(dir, &["log", "-1", "--format=%B", &target])?;
    let source = body
        .lines()
        .find_map(|line| line.trim().strip_prefix("Source commit:"))
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    progress.step(format_args!(
        "git: rolling back to {target} {}",
        crate::untrusted::line(&described)
    ));
    git.git(dir, &["read-tree", "-u", "--reset", &target])?;
    report.rolled_back_to = Some(target.clone());
    report.source_commit = source.clone();
    report.changes = staged_changes(git, clone)?;
    if report.changes.is_empty() {
        report.up_to_date = true;
        progress.step(format_args!(
            "git: the Space already has the tree of {target}: nothing to commit, nothing pushed"
        ));
        return Ok(());
    }
    if dry_run {
        for change in &report.changes {
            progress.step(format_args!(
                "git: would push {} {}",
                change.status, change.path
            ));
        }
        return Ok(());
    }
    let short = &target[..target.len().min(12)];
    let message = format!(
        "Roll back to {short}\n\nRolled back to: {target}\nSource commit: {source}\nDeployed with `cargo xtask deploy --rollback`.\n"
    );
    let commit = clone.commit(git, &message)?;
    progress.step(format_args!(
        "git: committed the tree of {short} as {commit} ({} file(s) changed); pushing",
        report.changes.len()
    ));
    // The earlier tree's LFS objects reached the Hub with that commit: nothing to upload.
    clone.push(git, &format!("commit {commit}"), false)?;
    progress.step("git: pushed");
    report.commit = Some(commit);
    Ok(())
}

/// The full id of `rev` in the clone, `None` when it names no commit there.
fn resolve(git: &GitEnv, clone: &Clone, rev: &str) -> Result<Option<String>> {
    if rev.starts_with('-') {
        return Ok(None);
    }
    let out = succeeds(git.git(
        clone.path(),
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    ))?;
    Ok(out.map(|id| id.trim().to_owned()))
}

/// A git command whose failure is an answer (`None`), not an error; Ctrl-C still unwinds.
fn succeeds(result: Result<String>) -> Result<Option<String>> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.is::<crate::interrupt::Interrupted>() => Err(err),
        Err(_) => Ok(None),
    }
}

/// What the index changes compared with HEAD.
fn staged_changes(git: &GitEnv, clone: &Clone) -> Result<Vec<Change>> {
    let listed = git.git(
        clone.path(),
        &["diff", "--cached", "--name-status", "--no-renames", "-z"],
    )?;
    let mut fields = listed.split('\0').filter(|f| !f.is_empty());
    let mut changes = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        changes.push(Change {
            status: match status {
                "A" => "added",
                "D" => "deleted",
                _ => "modified",
            },
            path: path.to_owned(),
        });
    }
    Ok(changes)
}
