//! Every command's flags, in one place, and the help printed from them: `cargo xtask help`
//! (the commands), `cargo xtask help CMD` or `cargo xtask CMD --help` (that command's options),
//! `--version`. The help text is xflags' own, cut per command, so the doc comments below are
//! the one place each flag is described.

use std::path::PathBuf;

use anyhow::{Result, bail};

xflags::xflags! {
    /// Generate, check and deploy the Hugging Face Space of this monorepo.
    cmd xtask {
        /// Regenerate `huggingface-spaces/` from `backend/` (atomic; unchanged files are not rewritten).
        cmd generate {
            /// Overwrite hand edits in `huggingface-spaces/` (refused by default, with their diff).
            optional --force
        }

        /// Exit 1 with a diff when `huggingface-spaces/` is not what `generate` would write, or a lint fails.
        cmd check {
            /// Check the git index (what is about to be committed) instead of the worktree.
            optional --staged
        }

        /// Install a git pre-commit hook that runs `cargo xtask check --staged`.
        cmd install-hooks {
            /// Replace a pre-commit hook that this command did not write.
            optional --force
        }

        /// Deploy the backend to its Hugging Face Space: generate, push, secrets, frontend, verify.
        cmd deploy {
            /// Hugging Face user or organisation that owns the Space.
            optional --user user: String
            /// Space name.
            optional --space space: String
            /// Public URL of the frontend (must be in ALLOWED_ORIGINS).
            optional --frontend-url url: String
            /// Public URL of the Space, instead of the host the Hub reports.
            optional --space-url url: String
            /// Create the Space (sdk docker) when it does not exist.
            optional --create
            /// Validate the secrets in FILE (KEY=VALUE lines) and set them on the Space.
            optional --secrets-file path: PathBuf
            /// Commit the frontend URL change and push the current branch.
            optional --push-frontend
            /// Do not wait for the Space to build and answer /api/health.
            optional --no-verify
            /// Generate and lint, then print what would be pushed, patched and set; change nothing.
            optional --dry-run
            /// Print the final report as JSON.
            optional --json
            /// Seconds to wait for the Space to become healthy (default 900).
            optional --timeout seconds: u64
            /// Factory-restart the Space when it shows no build.
            optional --restart
            /// Deploy to a local bare repo and run the Space on this machine (no account, no network).
            optional --local
            /// With --local: leave the Space running in the background and return.
            optional --detach
            /// With --local: stop a Space left running by --detach.
            optional --stop
            /// With --local: the port the Space listens on (default: the generator's, 7860).
            optional --port port: u16
            /// Overwrite hand edits in `huggingface-spaces/` when regenerating it.
            optional --force
            /// Push the tree of an earlier Space commit (REV, default: the one before the current) as a new commit.
            optional --rollback
            /// With --rollback: the Space commit to go back to (see `status --history`).
            optional rev: String
        }

        /// The Space now: stage, hardware, its commit vs huggingface-spaces/, /api/health, URLs.
        cmd status {
            /// Hugging Face user or organisation that owns the Space.
            optional --user user: String
            /// Space name.
            optional --space space: String
            /// List recent deploys (commit, date, source commit) instead.
            optional --history
            /// Print the status as JSON.
            optional --json
        }

        /// Print the Space's run log (or build log), optionally following it.
        cmd logs {
            /// Hugging Face user or organisation that owns the Space.
            optional --user user: String
            /// Space name.
            optional --space space: String
            /// The build log (image build) instead of the run log.
            optional --build
            /// The run log (the app's output; the default).
            optional --run
            /// Keep printing new lines until Ctrl-C.
            optional --follow
            /// Only the last N lines of what the log holds now.
            optional --tail lines: usize
        }

        /// The test command: install what is missing, then run every suite and `check`.
        cmd ci {
            /// Only these suites, comma-separated (listed below).
            optional --only suites: String
        }
    }
}

const VERSION: &str = concat!("cargo-xtask ", env!("CARGO_PKG_VERSION"), "\n");

/// The text to print instead of running a command, when `args` (after the program name) ask
/// for help or the version; `None` when they ask for a command.
pub(crate) fn help_or_version(args: &[String]) -> Result<Option<String>> {
    let asks_help = |a: &String| a == "--help" || a == "-h";
    let text = match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => match args.get(1).filter(|_| args[0] == "help") {
            None => overview(),
            Some(name) => command_help(name)?,
        },
        Some("--version" | "-V") => VERSION.to_owned(),
        Some(name) if args[1..].iter().any(asks_help) => command_help(name)?,
        Some(_) => return Ok(None),
    };
    Ok(Some(text))
}

/// Each command's name and its part of xflags' help (description, then `OPTIONS:`), with
/// the two-space indent of a subcommand removed.
fn commands() -> Vec<(&'static str, String)> {
    let mut commands: Vec<(&'static str, String)> = Vec::new();
    for line in Xtask::HELP_.lines() {
        if let Some(name) = line.strip_prefix("xtask ") {
            commands.push((name, String::new()));
        } else if let Some((_, text)) = commands.last_mut() {
            text.push_str(line.strip_prefix("  ").unwrap_or(line));
            text.push('\n');
        }
    }
    for (_, text) in &mut commands {
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    commands
}

/// `cargo xtask help`: what each command does.
fn overview() -> String {
    let about = Xtask::HELP_.lines().nth(1).unwrap_or_default().trim();
    let commands = commands();
    let mut rows: Vec<(String, &str)> = commands
        .iter()
        .map(|(name, text)| (name.to_string(), text.lines().next().unwrap_or_default()))
        .collect();
    rows.push((
        "help [COMMAND]".to_owned(),
        "Print this overview, or COMMAND's options.",
    ));
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut text =
        format!("cargo xtask: {about}\n\nUsage: cargo xtask COMMAND [OPTIONS]\n\nCommands:\n");
    for (name, summary) in rows {
        text.push_str(&format!("  {name:width$}  {summary}\n"));
    }
    text.push_str(
        "\nOptions:\n  -h, --help     Print this overview (`cargo xtask COMMAND --help`: that command's options).\n  \
         -V, --version  Print the version.\n\nMore: docs/xtask.md (generate, check, install-hooks, ci) and docs/deploy.md.\n",
    );
    text
}

/// `cargo xtask help NAME`: what the command does and its options.
fn command_help(name: &str) -> Result<String> {
    let commands = commands();
    let Some((_, text)) = commands.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = commands.iter().map(|(n, _)| *n).collect();
        bail!(
            "`{name}` is not a command of cargo xtask: choose from {} (`cargo xtask help` says what each does)",
            names.join(", ")
        );
    };
    let (description, options) = text.split_once("\nOPTIONS:\n").unwrap_or((text, ""));
    let usage = if options.is_empty() { "" } else { " [OPTIONS]" };
    let mut help = format!(
        "Usage: cargo xtask {name}{usage}\n\n{}\n\nOptions:\n",
        description.trim_end()
    );
    if !options.is_empty() {
        help.push_str(options);
        help.push_str("\n\n");
    }
    help.push_str("  -h, --help\n    Print this help.\n");
    if name == "ci" {
        help.push_str(&format!(
            "\nSuites, in the order they run: {}.\n",
            crate::ci::SUITES.join(", ")
        ));
    }
    Ok(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_command_has_a_summary_and_its_own_options_only() {
        let commands = commands();
        let names: Vec<&str> = commands.iter().map(|(n, _)| *n).collect();
        for name in ["generate", "check", "install-hooks", "deploy", "ci"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        for (name, text) in &commands {
            assert!(!text.trim().is_empty(), "{name} has no description");
        }
        let check = command_help("check").unwrap();
        assert!(check.contains("--staged"), "{check}");
        assert!(!check.contains("--secrets-file"), "{check}");
        assert!(check.starts_with("Usage: cargo xtask check [OPTIONS]\n\nExit 1 with a diff"));
        let generate = command_help("generate").unwrap();
        assert!(
            generate.starts_with("Usage: cargo xtask generate [OPTIONS]\n\n")
                && generate.contains("--force")
                && !generate.contains("--staged"),
            "{generate}"
        );
        assert!(command_help("ci").unwrap().contains("fmt, clippy, ruff"));
    }

    #[test]
    fn help_version_and_command_help_are_recognised_anywhere_a_user_types_them() {
        let overview = overview();
        for line in ["", "help", "--help", "-h"] {
            assert_eq!(
                help_or_version(&args(line)).unwrap(),
                Some(overview.clone()),
                "{line}"
            );
        }
        let deploy = command_help("deploy").unwrap();
        for line in ["help deploy", "deploy --help", "deploy --local -h"] {
            assert_eq!(
                help_or_version(&args(line)).unwrap(),
                Some(deploy.clone()),
                "{line}"
            );
        }
        assert_eq!(
            help_or_version(&args("--version")).unwrap().unwrap(),
            format!("cargo-xtask {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(help_or_version(&args("deploy --local")).unwrap(), None);
        let err = help_or_version(&args("help deplyo"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`deplyo` is not a command") && err.contains("deploy"),
            "{err}"
        );
    }
}
