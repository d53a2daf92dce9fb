//! `cargo xtask generate`: write `huggingface-spaces/` from `backend/`.
//!
//! The new tree is built in a staging directory beside the old one (unchanged files are
//! hard-linked, so their mtimes are kept), then swapped in with two renames: a failure
//! before the swap leaves the old tree as it was.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::settings::SPACE_DIR;
use crate::space::{self, Snapshot, SpaceFiles};
use crate::{Project, flags};

impl flags::Generate {
    pub(crate) fn run(self, _sh: &Shell, project: &Project) -> Result<()> {
        let changed = generate(project)?;
        if changed.is_empty() {
            println!("{SPACE_DIR}/ is up to date");
        } else {
            for path in &changed {
                let what = if project.root.join(SPACE_DIR).join(path).exists() {
                    "wrote"
                } else {
                    "removed"
                };
                println!("{what} {SPACE_DIR}/{path}");
            }
            println!(
                "{SPACE_DIR}/: {} file(s) changed; commit them with the backend change",
                changed.len()
            );
        }
        Ok(())
    }
}

/// Regenerates `huggingface-spaces/` atomically. Returns the files (relative to the Space
/// folder) that were written, added or removed; empty when it was already up to date.
pub(crate) fn generate(project: &Project) -> Result<Vec<Utf8PathBuf>> {
    remove_leftovers(&project.root);
    let snapshot = Snapshot::worktree(&project.root, &project.settings)?;
    let expected = space::render(&snapshot, &project.settings.generator)?;
    let current = space_files(&snapshot);
    let changed = changed_files(&current, &expected);
    if !changed.is_empty() {
        replace_tree(&project.root, &current, &expected)?;
    }
    Ok(changed)
}

/// The Space folder's files in `snapshot`, relative to it.
pub(crate) fn space_files(snapshot: &Snapshot) -> SpaceFiles {
    let prefix = format!("{SPACE_DIR}/");
    snapshot
        .under(&prefix)
        .map(|(path, bytes)| (path.to_owned(), bytes.to_vec()))
        .collect()
}

/// Files that differ, are missing from `current`, or are extra in it; sorted.
pub(crate) fn changed_files(current: &SpaceFiles, expected: &SpaceFiles) -> Vec<Utf8PathBuf> {
    let stale = expected
        .iter()
        .filter(|(path, bytes)| current.get(*path) != Some(*bytes))
        .map(|(p, _)| p);
    let extra = current.keys().filter(|path| !expected.contains_key(*path));
    let mut changed: Vec<Utf8PathBuf> = stale.chain(extra).cloned().collect();
    changed.sort();
    changed
}

/// The names of a generate's staging tree and of the tree it moves aside, made unique by pid.
const STAGING: &str = "staging-";
const MOVED_ASIDE: &str = "old-";

fn replace_tree(root: &Utf8Path, current: &SpaceFiles, expected: &SpaceFiles) -> Result<()> {
    let target = root.join(SPACE_DIR);
    let pid = std::process::id();
    let staging = root.join(format!(".{SPACE_DIR}.{STAGING}{pid}"));
    let old = root.join(format!(".{SPACE_DIR}.{MOVED_ASIDE}{pid}"));
    let built = write_staging(&target, &staging, current, expected);
    if let Err(err) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err).context(format!("{SPACE_DIR}/ was left as it was"));
    }
    let had_old = target.exists();
    if had_old {
        std::fs::rename(&target, &old).with_context(|| format!("cannot move {target} aside"))?;
    }
    if let Err(err) = std::fs::rename(&staging, &target) {
        if had_old {
            let _ = std::fs::rename(&old, &target);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err).with_context(|| {
            format!("cannot move the new tree to {target}; {SPACE_DIR}/ was left as it was")
        });
    }
    if had_old {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the previous tree, moved to {old}"))?;
    }
    Ok(())
}

/// Removes the staging or moved-aside trees of a generate that was stopped midway (Ctrl-C,
/// a kill), which would otherwise sit untracked in the root forever; those of a generate
/// still running are left alone. Best effort: leftovers only cost space.
fn remove_leftovers(root: &Utf8Path) {
    let Ok(entries) = root.read_dir_utf8() else {
        return;
    };
    for entry in entries.flatten() {
        let Some(rest) = entry.file_name().strip_prefix(&format!(".{SPACE_DIR}.")) else {
            continue;
        };
        let pid = [STAGING, MOVED_ASIDE]
            .iter()
            .find_map(|kind| rest.strip_prefix(kind)?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !crate::local::process::alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write_staging(
    target: &Utf8Path,
    staging: &Utf8Path,
    current: &SpaceFiles,
    expected: &SpaceFiles,
) -> Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)
            .with_context(|| format!("cannot remove the old staging tree {staging}"))?;
    }
    for (path, bytes) in expected {
        let dest = staging.join(path);
        std::fs::create_dir_all(dest.parent().unwrap())
            .with_context(|| format!("cannot create {}", dest.parent().unwrap()))?;
        let unchanged = current.get(path) == Some(bytes);
        if !(unchanged && keep(&target.join(path), &dest)) {
            std::fs::write(&dest, bytes).with_context(|| format!("cannot write {dest}"))?;
        }
    }
    Ok(())
}

/// Carries an unchanged file over with its mtime: a hard link, else a copy with the mtime set.
fn keep(from: &Utf8Path, to: &Utf8Path) -> bool {
    if std::fs::hard_link(from, to).is_ok() {
        return true;
    }
    let copied = || -> std::io::Result<()> {
        let modified = std::fs::metadata(from)?.modified()?;
        std::fs::copy(from, to)?;
        std::fs::File::options()
            .write(true)
            .open(to)?
            .set_modified(modified)
    };
    copied().is_ok()
}
