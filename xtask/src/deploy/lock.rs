//! One deploy at a time per monorepo: a lock file under the state directory holding the pid.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::process;
use crate::settings;

/// Held for the whole deploy; the file is removed on drop (success, error or Ctrl-C).
pub(crate) struct Lock {
    path: Utf8PathBuf,
}

impl Lock {
    pub(crate) fn acquire(root: &Utf8Path) -> Result<Lock> {
        let dir = root.join(settings::STATE_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        let path = dir.join("deploy.lock");
        for _ in 0..2 {
            match std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write;
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("cannot write the deploy lock {path}"))?;
                    return Ok(Lock { path });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<u32> = holder.trim().parse().ok();
                    if pid.is_some_and(process::alive) {
                        bail!(
                            "another `cargo xtask deploy` (pid {}) is running in this repository: wait for it to \
                             finish (if it is gone, delete {path})",
                            pid.unwrap()
                        );
                    }
                    // Its owner died without cleaning up (killed, or the machine restarted).
                    let _ = std::fs::remove_file(&path);
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot create the deploy lock {path}"));
                }
            }
        }
        bail!("cannot take the deploy lock {path}: another deploy keeps recreating it")
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
