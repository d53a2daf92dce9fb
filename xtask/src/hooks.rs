//! `cargo xtask install-hooks`: the pre-commit hook that runs `check --staged`.

use anyhow::{Context, Result, bail};

use crate::{Project, flags, process};

/// The line that marks a hook as ours (so it may be replaced without `--force`).
const MARKER: &str = "# xtask-managed pre-commit hook";

/// Git runs hooks from the top of the worktree. `cargo xtask` costs ~0.1 s even when nothing
/// needs rebuilding, so the hook runs the built binary itself while it is newer than every
/// source it was built from, and lets cargo rebuild it otherwise.
const HOOK: &str = r#"#!/bin/sh
# xtask-managed pre-commit hook, written by `cargo xtask install-hooks` (re-run it to update).
# Refuses a commit whose staged huggingface-spaces/ is not what `cargo xtask generate` writes
# from the staged backend/, or that fails a lint. It only checks: it never changes a file.
bin="${CARGO_TARGET_DIR:-target}/debug/xtask"
if [ -x "$bin" ] && [ -z "$(find xtask/src xtask/Cargo.toml Cargo.lock -type f -newer "$bin" 2>/dev/null | head -n 1)" ]; then
    exec "$bin" check --staged
fi
exec cargo xtask check --staged
"#;

impl flags::InstallHooks {
    pub(crate) fn run(self, project: &Project) -> Result<()> {
        let mut git = process::git(&project.root);
        git.args(["rev-parse", "--git-path", "hooks"]);
        let hooks = process::read(&mut git)
            .context("`git rev-parse` failed: install-hooks needs git and a git repository")?;
        let hooks = project.root.join(hooks.trim());
        let path = hooks.join("pre-commit");
        // Bytes, not text: a foreign hook may be a binary, and must be kept all the same.
        let existing = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read the existing hook {path}"));
            }
        };
        if let Some(existing) = existing {
            if existing == HOOK.as_bytes() {
                println!("{path} is already installed and up to date");
                return Ok(());
            }
            let ours = existing
                .windows(MARKER.len())
                .any(|w| w == MARKER.as_bytes());
            if !ours && !self.force {
                bail!(
                    "{path} exists and was not written by xtask: re-run with `cargo xtask install-hooks --force` to replace it (it is kept as pre-commit.xtask-backup), or call `cargo xtask check --staged` from it yourself"
                );
            }
            if !ours {
                let backup = hooks.join("pre-commit.xtask-backup");
                std::fs::rename(&path, &backup)
                    .with_context(|| format!("cannot move {path} to {backup}"))?;
                println!("moved the previous hook to {backup}");
            }
        }
        std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {hooks}"))?;
        crate::files::write_atomic(&path, HOOK.as_bytes(), Some(0o755))?;
        println!("installed {path}: `git commit` now runs `cargo xtask check --staged`");
        Ok(())
    }
}
