//! Checks that passed, remembered by a fingerprint of everything they read, so the same
//! inputs are not checked twice (the pre-commit hook runs on every commit, most of which do
//! not touch the backend). Failures are never remembered: they must print their report.
//!
//! The fingerprint covers the inputs (every file's content, or for the index the blob ids
//! `git ls-files --stage` lists, which name the content), the root Cargo.toml (the
//! settings) and the xtask binary itself (size and mtime), so a new build or any edit
//! invalidates it. It lives under `target/xtask/`, next to xtask's other state.

use std::hash::Hasher;

use camino::{Utf8Path, Utf8PathBuf};

use crate::fingerprint::Fnv64;
use crate::settings::STATE_DIR;
use crate::space::memo;

/// How many passing fingerprints are kept (the worktree's and the index's, a few branches).
const KEPT: usize = 8;

pub(super) struct Cache {
    path: Utf8PathBuf,
    fingerprint: String,
}

impl Cache {
    /// `inputs` feeds the hasher with what the check is about to read.
    pub(super) fn new(root: &Utf8Path, inputs: impl FnOnce(&mut dyn Hasher)) -> Cache {
        let mut hash = Fnv64::default();
        inputs(&mut hash);
        hash.write(&std::fs::read(root.join("Cargo.toml")).unwrap_or_default());
        let (size, built) = memo::build_stamp();
        hash.write_u64(size);
        hash.write_u64(built);
        Cache {
            path: root.join(STATE_DIR).join("check-passed"),
            fingerprint: format!("{:016x}", hash.finish()),
        }
    }

    pub(super) fn passed_before(&self) -> bool {
        std::fs::read_to_string(&self.path)
            .is_ok_and(|text| text.lines().any(|line| line == self.fingerprint))
    }

    /// Best effort: a cache that cannot be written only costs time.
    pub(super) fn remember_pass(&self) {
        let previous = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut kept: Vec<&str> = vec![&self.fingerprint];
        kept.extend(
            previous
                .lines()
                .filter(|l| *l != self.fingerprint)
                .take(KEPT - 1),
        );
        let temp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let written = self
            .path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .is_ok()
            && std::fs::write(&temp, kept.join("\n") + "\n").is_ok()
            && std::fs::rename(&temp, &self.path).is_ok();
        if !written {
            let _ = std::fs::remove_file(&temp);
        }
    }
}
