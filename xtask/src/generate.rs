//! `cargo xtask generate`: write `huggingface-spaces/` from `backend/`.

use anyhow::Result;
use camino::Utf8PathBuf;
use xshell::Shell;

use crate::{Project, flags};

impl flags::Generate {
    pub(crate) fn run(self, _sh: &Shell, project: &Project) -> Result<()> {
        generate(project)?;
        Ok(())
    }
}

/// Regenerates `huggingface-spaces/` atomically. Returns the files (relative to the Space
/// folder) that were written, added or removed; empty when it was already up to date.
pub(crate) fn generate(_project: &Project) -> Result<Vec<Utf8PathBuf>> {
    anyhow::bail!("generate: under construction (issue 3)")
}
