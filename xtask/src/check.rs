//! `cargo xtask check`: drift between `huggingface-spaces/` and a fresh generation, then lints.
//!
//! Everything is read once into memory (from the worktree, or from the index with
//! `--staged`), so a check costs a few file reads or two git processes; a check of inputs
//! that already passed stops there (see `cache`).

mod cache;
mod lints;

use std::fmt::Write;

use anyhow::{Result, bail};
use similar::TextDiff;
use xshell::Shell;

use crate::settings::SPACE_DIR;
use crate::space::source::IndexListing;
use crate::space::{self, Memo, Origin, Snapshot};
use crate::{Project, flags};
use cache::Cache;
use lints::ClientUrl;

impl flags::Check {
    pub(crate) fn run(self, sh: &Shell, project: &Project) -> Result<()> {
        let passed = |origin| {
            println!(
                "{SPACE_DIR}/ is up to date and every lint passes ({})",
                origin_name(origin)
            )
        };
        let (snapshot, cache) = if self.staged {
            let listing = IndexListing::read(sh, &project.settings)?;
            let cache = Cache::new(&project.root, |hash| hash.write(listing.text.as_bytes()));
            if cache.passed_before() {
                passed(Origin::Index);
                return Ok(());
            }
            (listing.load(sh)?, cache)
        } else {
            let snapshot = Snapshot::worktree(&project.root, &project.settings)?;
            let cache = Cache::new(&project.root, |hash| {
                for (path, _, id) in snapshot.files_with_ids() {
                    hash.write(path.as_str().as_bytes());
                    hash.write_u64(id);
                }
            });
            if cache.passed_before() {
                passed(Origin::Worktree);
                return Ok(());
            }
            (snapshot, cache)
        };
        let report = check(&snapshot, project);
        if report.problems.is_empty() {
            cache.remember_pass();
            passed(snapshot.origin);
            return Ok(());
        }
        eprint!("{}", report.problems);
        if report.render_failed {
            bail!(
                "{SPACE_DIR}/ cannot be generated from the {}: fix the error above (then `cargo xtask generate`)",
                origin_name(snapshot.origin)
            );
        }
        match (report.stale, snapshot.origin) {
            (0, _) => bail!(
                "{} lint failure(s) above (file:line: rule: message): fix them and re-run `cargo xtask check`",
                report.lint_failures
            ),
            (n, Origin::Worktree) => {
                bail!("{SPACE_DIR}/ is stale ({n} file(s)): run `cargo xtask generate`")
            }
            (n, Origin::Index) => bail!(
                "the staged {SPACE_DIR}/ is stale ({n} file(s)): run `cargo xtask generate && git add {SPACE_DIR}`"
            ),
        }
    }
}

struct Report {
    /// Everything to show, one problem after another.
    problems: String,
    /// How many Space files are stale, extra or missing.
    stale: usize,
    /// The backend could not be rendered (the reason is in `problems`).
    render_failed: bool,
    lint_failures: usize,
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Worktree => "worktree",
        Origin::Index => "index",
    }
}

fn check(snapshot: &Snapshot, project: &Project) -> Report {
    let mut report = Report {
        problems: String::new(),
        stale: 0,
        render_failed: false,
        lint_failures: 0,
    };
    let origin = origin_name(snapshot.origin);
    let mut memo = Memo::load(&project.root);
    match space::render(snapshot, &project.settings, &mut memo) {
        Err(err) => {
            writeln!(
                report.problems,
                "cannot generate {SPACE_DIR}/ from the {origin}: {err:#}"
            )
            .unwrap();
            report.render_failed = true;
        }
        Ok(expected) => {
            let current = space::current_files(snapshot);
            for path in space::changed_files(&current, &expected) {
                report.stale += 1;
                let shown = format!("{SPACE_DIR}/{path}");
                match (current.get(&path), expected.get(&path)) {
                    (Some(_), None) => writeln!(
                        report.problems,
                        "extra file: {shown} (generate does not write it)"
                    )
                    .unwrap(),
                    (None, _) => writeln!(report.problems, "missing file: {shown}").unwrap(),
                    (Some(old), Some(new)) => {
                        match (std::str::from_utf8(old), std::str::from_utf8(new)) {
                            (Ok(old), Ok(new)) => {
                                let diff = TextDiff::from_lines(old, new);
                                let unified = diff
                                    .unified_diff()
                                    .header(
                                        &format!("{shown} ({origin})"),
                                        &format!("{shown} (generated)"),
                                    )
                                    .to_string();
                                report.problems.push_str(&unified);
                                if !unified.ends_with('\n') {
                                    report.problems.push('\n');
                                }
                            }
                            _ => writeln!(
                                report.problems,
                                "stale file: {shown} (binary content differs)"
                            )
                            .unwrap(),
                        }
                    }
                }
            }
        }
    }
    for failure in lints::run(
        snapshot,
        &project.settings,
        ClientUrl::Configured,
        &mut memo,
    ) {
        report.lint_failures += 1;
        writeln!(report.problems, "{failure}").unwrap();
    }
    memo.save();
    report
}

/// Runs every lint on the worktree (generated folder, frontend) before `deploy` publishes it,
/// the chat client's URL by its shape only (`deploy` patches it next); the error lists each
/// failure as `file:line: rule: message`.
pub(crate) fn lint_before_deploy(project: &Project) -> Result<()> {
    let snapshot = Snapshot::worktree(&project.root, &project.settings)?;
    let mut memo = Memo::load(&project.root);
    let failures = lints::run(
        &snapshot,
        &project.settings,
        ClientUrl::PatchedNext,
        &mut memo,
    );
    memo.save();
    if failures.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
    bail!("{} lint failure(s):\n{}", failures.len(), list.join("\n"))
}
