//! `cargo xtask check`: drift between `huggingface-spaces/` and a fresh generation, then lints.

use anyhow::Result;
use xshell::Shell;

use crate::{Project, flags};

impl flags::Check {
    pub(crate) fn run(self, _sh: &Shell, _project: &Project) -> Result<()> {
        anyhow::bail!("check: under construction (issue 3)")
    }
}

/// Runs every lint on the worktree (generated folder, frontend); the error lists each failure
/// as `file:line: rule: message`.
pub(crate) fn lint(_project: &Project) -> Result<()> {
    anyhow::bail!("lint: under construction (issue 3)")
}
