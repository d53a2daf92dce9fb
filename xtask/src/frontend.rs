//! The frontend chat client's production `baseUrl` literal: found, checked and patched by
//! one regex (used by `check`'s lints and by `deploy`'s step 8).

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

/// What `patch_base_url` did or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patch {
    /// The chat client, relative to the project root.
    pub(crate) file: Utf8PathBuf,
    /// 1-based line of the literal.
    pub(crate) line: usize,
    pub(crate) old_url: String,
    pub(crate) new_url: String,
}

impl Patch {
    pub(crate) fn changed(&self) -> bool {
        self.old_url != self.new_url
    }
}

/// Points the chat client's production `baseUrl` at `url`. The regex must match exactly once
/// (else an error with file:line, nothing written); writes atomically, and only when
/// `write` is true and the URL differs.
pub(crate) fn patch_base_url(_root: &Utf8Path, _client: &Utf8Path, _url: &str, _write: bool) -> Result<Patch> {
    anyhow::bail!("frontend patch: under construction (issue 3)")
}
