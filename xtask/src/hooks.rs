//! `cargo xtask install-hooks`: the pre-commit hook that runs `check --staged`.

use anyhow::Result;
use xshell::Shell;

use crate::{Project, flags};

impl flags::InstallHooks {
    pub(crate) fn run(self, _sh: &Shell, _project: &Project) -> Result<()> {
        anyhow::bail!("install-hooks: under construction (issue 3)")
    }
}
