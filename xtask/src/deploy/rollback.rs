//! `deploy --rollback [REV]`: the tree of an earlier Space commit pushed as a new commit.
//!
//! History is never rewritten: the Space's branch only moves forward, so a rollback is itself
//! one more deploy that `status --history` lists and a later rollback can undo.

use anyhow::{Result, bail};

use super::git::{Change, GitEnv, SpaceClone};
use super::report::{Progress, Report};

/// Commits the tree of `rev` (default: the commit before the current one) on top of the
/// clone's HEAD, with the source commit that commit recorded, and pushes it. The commit is made
/// from the tree directly (`commit-tree`): nothing is checked out.
pub(super) fn publish(
    git: &GitEnv,
    clone: &SpaceClone,
    rev: Option<&str>,
    dry_run: bool,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let dir = clone.path();
    let Some(target) = describe(git, clone, rev.unwrap_or("HEAD~1"))? else {
        match rev {
            Some(rev) => bail!(
                "`{rev}` is not a commit of the Space: pick one from `cargo xtask status --history`"
            ),
            None => bail!(
                "the Space has no commit before its current one: there is nothing to roll back to"
            ),
        }
    };
    progress.step(format_args!(
        "git: rolling back to {} {}",
        target.id,
        crate::untrusted::line(&target.described)
    ));
    report.rolled_back_to = Some(target.id.clone());
    report.source_commit = target.source.clone();
    report.changes = changes(git, clone, &target.id)?;
    if report.changes.is_empty() {
        report.up_to_date = true;
        progress.step(format_args!(
            "git: the Space already has the tree of {}: nothing to commit, nothing pushed",
            target.id
        ));
        return Ok(());
    }
    if dry_run {
        super::show_would_push(&report.changes, progress);
        return Ok(());
    }
    let short = &target.id[..target.id.len().min(12)];
    let message = format!(
        "Roll back to {short}\n\nRolled back to: {}\nSource commit: {}\nDeployed with `cargo xtask deploy --rollback`.\n",
        target.id, target.source
    );
    let commit = git
        .git(
            dir,
            &["commit-tree", &target.tree, "-p", "HEAD", "-m", &message],
        )?
        .trim()
        .to_owned();
    git.git(dir, &["update-ref", "HEAD", &commit])?;
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

/// An earlier commit of the Space.
struct Target {
    id: String,
    tree: String,
    /// `subject (date)`, as the Space has it.
    described: String,
    /// The `Source commit:` its body records, else `unknown`.
    source: String,
}

/// `rev` in the clone, `None` when it names no commit there. The clone has the Space's branch
/// alone (`--single-branch`, no tags), so every commit it knows is in that branch's history:
/// a rollback can only go to a commit the Space had.
fn describe(git: &GitEnv, clone: &SpaceClone, rev: &str) -> Result<Option<Target>> {
    if rev.starts_with('-') {
        return Ok(None);
    }
    let shown = match git.git(
        clone.path(),
        &[
            "log",
            "-1",
            "--format=%H%x00%T%x00%s (%cI)%x00%B",
            &format!("{rev}^{{commit}}"),
            "--",
        ],
    ) {
        Ok(out) => out,
        Err(err) if err.is::<crate::interrupt::Interrupted>() => return Err(err),
        Err(_) => return Ok(None),
    };
    let mut fields = shown.splitn(4, '\0');
    let (Some(id), Some(tree), Some(described), Some(body)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Ok(None);
    };
    let source = body
        .lines()
        .find_map(|line| line.trim().strip_prefix("Source commit:"))
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    Ok(Some(Target {
        id: id.to_owned(),
        tree: tree.to_owned(),
        described: described.to_owned(),
        source,
    }))
}

/// What committing the tree of `target` on top of HEAD changes.
fn changes(git: &GitEnv, clone: &SpaceClone, target: &str) -> Result<Vec<Change>> {
    let listed = git.git(
        clone.path(),
        &[
            "diff-tree",
            "-r",
            "--no-renames",
            "--name-status",
            "-z",
            "HEAD",
            target,
        ],
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
