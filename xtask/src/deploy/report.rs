//! The deploy's final report, as text or JSON. Its progress lines (one per step with the
//! elapsed time, a spinner while waiting on a terminal) come from `crate::progress`, shared
//! with `ci` and the local runtime.

use serde::Serialize;

use super::git::Change;

pub(crate) use crate::progress::Progress;

/// The frontend patch, as reported.
#[derive(Debug, Serialize)]
pub(crate) struct FrontendReport {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) old_url: String,
    pub(crate) new_url: String,
    /// Whether the file was (or, in a dry run or a local deploy, would be) rewritten.
    pub(crate) changed: bool,
    pub(crate) written: bool,
    /// The commit `--push-frontend` made and pushed.
    pub(crate) pushed_commit: Option<String>,
}

impl FrontendReport {
    pub(crate) fn new(patch: &crate::frontend::Patch, written: bool) -> FrontendReport {
        FrontendReport {
            file: patch.file.to_string(),
            line: patch.line,
            old_url: patch.old_url.clone(),
            new_url: patch.new_url.clone(),
            changed: patch.changed(),
            written: written && patch.changed(),
            pushed_commit: None,
        }
    }
}

/// The final report: the URLs plus what this run did.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) space: String,
    pub(crate) space_url: String,
    pub(crate) docs_url: String,
    pub(crate) health_url: String,
    pub(crate) dry_run: bool,
    pub(crate) local: bool,
    /// The commit pushed to the Space; `None` when it was already up to date (or a dry run).
    pub(crate) commit: Option<String>,
    /// With `--rollback`: the earlier Space commit whose tree was pushed.
    pub(crate) rolled_back_to: Option<String>,
    pub(crate) up_to_date: bool,
    pub(crate) changes: Vec<Change>,
    /// The source commit recorded in the pushed commit's body.
    pub(crate) source_commit: String,
    /// Files `generate` rewrote in `huggingface-spaces/` (to be committed by the user).
    pub(crate) regenerated: Vec<String>,
    pub(crate) frontend: Option<FrontendReport>,
    pub(crate) secrets_set: Vec<String>,
    /// `healthy` when verified, `skipped` with `--no-verify`.
    pub(crate) health: String,
    pub(crate) chat_answer: Option<String>,
    pub(crate) warnings: Vec<String>,
    /// What a dry run without a token could not check (only the Hub knows).
    pub(crate) not_checked: Vec<String>,
    pub(crate) elapsed_seconds: f64,
}

impl Report {
    /// The report of a deploy of `space`, served at `space_url` with its health check at
    /// `health_path` (the `health-path` setting).
    pub(crate) fn new(space: String, space_url: &str, health_path: &str) -> Report {
        Report {
            space,
            space_url: space_url.to_owned(),
            docs_url: format!("{space_url}/docs"),
            health_url: format!("{space_url}{health_path}"),
            ..Report::default()
        }
    }

    pub(crate) fn render(&self, json: bool) -> String {
        if json {
            return serde_json::to_string_pretty(self).expect("the report serializes") + "\n";
        }
        let mut out = String::new();
        let title = match (self.dry_run, self.local, &self.rolled_back_to) {
            (true, _, _) => "Dry run (nothing was pushed, patched or set) for",
            (false, true, _) => "Deployed locally:",
            (false, false, Some(_)) => "Rolled back",
            (false, false, None) => "Deployed",
        };
        out.push_str(&format!("\n{title} {}\n", self.space));
        out.push_str(&format!("  HF Spaces URL: {}\n", self.space_url));
        out.push_str(&format!("  API Docs:      {}\n", self.docs_url));
        out.push_str(&format!(
            "  Health Check:  {} ({})\n",
            self.health_url, self.health
        ));
        let files = self.changes.len();
        let commit = match (&self.commit, self.dry_run) {
            (Some(commit), _) => format!(
                "{commit} ({files} file(s) changed; source {})",
                self.source_commit
            ),
            (None, true) if files > 0 => {
                format!("would commit {files} file(s): {}", self.change_list())
            }
            (None, true) if !self.not_checked.is_empty() => {
                "not compared with the Space's repo (no token)".to_owned()
            }
            (None, _) => "already up to date (nothing pushed)".to_owned(),
        };
        out.push_str(&format!("  Space commit:  {commit}\n"));
        if let Some(target) = &self.rolled_back_to {
            out.push_str(&format!("  Rolled back:   to the tree of {target}\n"));
        }
        if let Some(f) = &self.frontend {
            let what = match (f.changed, f.written) {
                (false, _) => format!("already points at {}", f.new_url),
                (true, true) => format!("now points at {} (was {})", f.new_url, f.old_url),
                (true, false) => format!(
                    "would point at {} (is {}); not written",
                    f.new_url, f.old_url
                ),
            };
            out.push_str(&format!("  Frontend:      {}:{} {what}\n", f.file, f.line));
            if let Some(commit) = &f.pushed_commit {
                out.push_str(&format!("  Frontend push: {commit}\n"));
            }
        }
        if !self.secrets_set.is_empty() {
            out.push_str(&format!(
                "  Secrets set:   {}\n",
                self.secrets_set.join(", ")
            ));
        }
        if let Some(answer) = &self.chat_answer {
            out.push_str(&format!("  Chat answer:   {answer}\n"));
        }
        if !self.regenerated.is_empty() {
            out.push_str(&format!(
                "  Note: generate updated {} in huggingface-spaces/: commit it\n",
                self.regenerated.join(", ")
            ));
        }
        for warning in &self.warnings {
            out.push_str(&format!("  Warning: {warning}\n"));
        }
        for what in &self.not_checked {
            out.push_str(&format!("  Not checked:   {what}\n"));
        }
        if !self.dry_run && self.health == "healthy" && !self.local {
            out.push_str("The frontend should now connect to the backend.\n");
        }
        out
    }

    fn change_list(&self) -> String {
        self.changes
            .iter()
            .map(|c| format!("{} {}", c.status, crate::untrusted::line(&c.path)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
