//! Every command's flags, in one place.

use std::path::PathBuf;

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

        /// Deploy the backend to its Hugging Face Space (the seed's steps 1-10).
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
            /// Only these suites (comma-separated: xtask,backend,frontend,e2e,check,hadolint).
            optional --only suites: String
        }
    }
}
