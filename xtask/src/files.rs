//! The file-system jobs every command shares, each written once: a temporary directory that
//! removes itself, a write that readers never see half done, and a recursive copy.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// A directory under the system temporary directory (never inside the monorepo), removed
/// on drop: after success, an error, a panic or Ctrl-C alike.
pub(crate) struct TempDir {
    path: Utf8PathBuf,
}

impl TempDir {
    /// A new, empty directory whose name starts with `prefix`.
    pub(crate) fn new(prefix: &str) -> Result<TempDir> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let base = Utf8PathBuf::from_path_buf(std::env::temp_dir()).map_err(|p| {
            anyhow::anyhow!(
                "the temporary directory {} is not UTF-8: set TMPDIR",
                p.display()
            )
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create the temporary directory {path}"))?;
        Ok(TempDir { path })
    }

    pub(crate) fn path(&self) -> &Utf8Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Replaces `path` with `contents` in one rename, so a reader sees the old file or the new
/// one, never half of it. The file gets `mode` (unix permission bits) when given, else
/// keeps the permissions it had.
pub(crate) fn write_atomic(path: &Utf8Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    let temp = dir.join(format!(
        ".{}.xtask-{}",
        path.file_name().unwrap_or("file"),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        std::fs::write(&temp, contents)?;
        if let Some(mode) = mode {
            set_mode(&temp, mode)?;
        } else if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("cannot write {path}"))
}

#[cfg(unix)]
fn set_mode(path: &Utf8Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Utf8Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// Copies the tree `from` into `to` (created as needed), leaving out every entry named in
/// `skip` at any depth.
pub(crate) fn copy_tree(from: &Utf8Path, to: &Utf8Path, skip: &[&str]) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {to}"))?;
    for entry in from
        .read_dir_utf8()
        .with_context(|| format!("cannot read {from}"))?
    {
        let entry = entry.with_context(|| format!("cannot read {from}"))?;
        if skip.contains(&entry.file_name()) {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(entry.path(), &target, skip)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {target}", entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_dir_is_removed_on_drop_and_names_are_unique() {
        let (a, b) = (
            TempDir::new("xtask-files").unwrap(),
            TempDir::new("xtask-files").unwrap(),
        );
        assert_ne!(a.path(), b.path());
        let kept = a.path().to_owned();
        std::fs::write(kept.join("f"), "x").unwrap();
        drop(a);
        assert!(!kept.exists());
    }

    #[test]
    fn write_atomic_keeps_permissions_and_copy_tree_skips() {
        let dir = TempDir::new("xtask-files").unwrap();
        let file = dir.path().join("hook");
        write_atomic(&file, b"one", Some(0o755)).unwrap();
        write_atomic(&file, b"two", None).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        std::fs::create_dir_all(dir.path().join("a/.git")).unwrap();
        std::fs::write(dir.path().join("a/.git/x"), "").unwrap();
        std::fs::write(dir.path().join("a/y"), "y").unwrap();
        copy_tree(&dir.path().join("a"), &dir.path().join("b"), &[".git"]).unwrap();
        assert!(!dir.path().join("b/.git").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b/y")).unwrap(),
            "y"
        );
    }
}
