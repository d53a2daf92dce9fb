//! `cargo xtask generate`: write `huggingface-spaces/` from `backend/`.

use anyhow::Result;
use xshell::Shell;

use crate::{Project, flags};

impl flags::Generate {
    pub(crate) fn run(self, _sh: &Shell, _project: &Project) -> Result<()> {
        anyhow::bail!("generate: under construction (issue 3)")
    }
}
