//! `cargo xtask deploy`: the seed's steps 1-10.

use anyhow::Result;
use xshell::Shell;

use crate::{Project, flags};

impl flags::Deploy {
    pub(crate) fn run(self, _sh: &Shell, _project: &Project) -> Result<()> {
        anyhow::bail!("deploy: under construction (issue 5)")
    }
}
