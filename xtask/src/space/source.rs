//! What `generate` and `check` read: the files of `backend/`, `huggingface-spaces/` and
//! `frontend/` they need, from the worktree or from the git index, held in memory.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::settings::{BACKEND_DIR, FRONTEND_DIR, HfSpace, SPACE_DIR};
use crate::{fingerprint, process};

/// Files keyed by their path relative to the project root.
pub(crate) struct Snapshot {
    /// Where the files were read from, for messages: "worktree" or "index".
    pub(crate) origin: Origin,
    /// Keyed by the path as a string: string order and comparison (a `Path` compares
    /// component by component, which dominated building this map in the unoptimized build).
    files: BTreeMap<String, File>,
}

struct File {
    bytes: Vec<u8>,
    /// A content id: the worktree's by `fingerprint::of`, the index's from the blob id. What
    /// `check` remembers per-file results by (`memo`).
    id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Worktree,
    Index,
}

/// The paths a snapshot holds: the backend's app and requirements, the whole Space folder,
/// the frontend's sources and its chat client, and the knowledge files and folders.
fn roots(settings: &HfSpace) -> Vec<Utf8PathBuf> {
    let mut roots = vec![
        Utf8Path::new(BACKEND_DIR).join("app"),
        Utf8Path::new(BACKEND_DIR).join("requirements.txt"),
        SPACE_DIR.into(),
        Utf8Path::new(FRONTEND_DIR).join("src"),
        settings.frontend_client.clone(),
    ];
    roots.extend(settings.knowledge.iter().cloned());
    roots
}

/// Whether `path` (under one of the roots) is read: everything under the code roots, only
/// Markdown under the knowledge roots (images and the rest of docs/ are never needed).
fn is_read(path: &Utf8Path, settings: &HfSpace) -> bool {
    !is_cache(path)
        && (is_markdown(path)
            || !settings.knowledge.iter().any(|k| path.starts_with(k))
            || path.starts_with(SPACE_DIR)
            || path.starts_with(BACKEND_DIR)
            || path.starts_with(FRONTEND_DIR)
            || path == settings.frontend_client)
}

/// A Markdown file: what the knowledge setting ships.
pub(crate) fn is_markdown(path: &Utf8Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"))
}

/// Python and editor droppings that are never part of a tree (they are git-ignored too).
fn is_cache(path: &Utf8Path) -> bool {
    path.as_str()
        .split('/')
        .any(|c| c == "__pycache__" || c == "node_modules")
        || path.as_str().ends_with(".pyc")
}

impl Snapshot {
    /// Reads the files from disk under `root`.
    pub(crate) fn worktree(root: &Utf8Path, settings: &HfSpace) -> Result<Snapshot> {
        let mut files = BTreeMap::new();
        for path in roots(settings) {
            read_tree(root, &path, settings, &mut files)?;
        }
        Ok(Snapshot::with_worktree_ids(Origin::Worktree, files))
    }

    /// A snapshot of exactly these files (for tests and for rendering a fixture).
    #[cfg(test)]
    pub(crate) fn from_files<P: Into<Utf8PathBuf>, C: Into<Vec<u8>>>(
        origin: Origin,
        files: impl IntoIterator<Item = (P, C)>,
    ) -> Snapshot {
        let files = files
            .into_iter()
            .map(|(p, c)| (p.into().into_string(), c.into()))
            .collect();
        Snapshot::with_worktree_ids(origin, files)
    }

    fn with_worktree_ids(origin: Origin, files: BTreeMap<String, Vec<u8>>) -> Snapshot {
        let files = files
            .into_iter()
            .map(|(path, bytes)| {
                let id = fingerprint::of(&bytes);
                (path, File { bytes, id })
            })
            .collect();
        Snapshot { origin, files }
    }

    pub(crate) fn get(&self, path: &Utf8Path) -> Option<&[u8]> {
        self.files.get(path.as_str()).map(|f| f.bytes.as_slice())
    }

    /// The file as text; non-UTF-8 content is an error naming the file.
    pub(crate) fn text(&self, path: &Utf8Path) -> Result<Option<&str>> {
        self.get(path)
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .with_context(|| format!("{path}: not UTF-8 text: save it as UTF-8"))
            })
            .transpose()
    }

    /// Files under `dir`, with their path relative to `dir`.
    pub(crate) fn under<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a Utf8Path, &'a [u8])> + 'a {
        self.under_with_ids(dir)
            .map(|(path, bytes, _)| (path, bytes))
    }

    /// Files under `dir` (a `/`-terminated prefix), with their path relative to `dir` and
    /// their content id.
    pub(crate) fn under_with_ids<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a Utf8Path, &'a [u8], u64)> + 'a {
        // A string prefix test: `Path::strip_prefix` parses components, slow in the
        // unoptimized build.
        self.files_with_ids().filter_map(move |(path, bytes, id)| {
            let rest = path.as_str().strip_prefix(dir)?;
            Some((Utf8Path::new(rest), bytes, id))
        })
    }

    /// Every file, with its path relative to the root.
    pub(crate) fn files(&self) -> impl Iterator<Item = (&Utf8Path, &[u8])> {
        self.files_with_ids().map(|(path, bytes, _)| (path, bytes))
    }

    /// Every file, with its path relative to the root and its content id (equal content,
    /// equal id).
    pub(crate) fn files_with_ids(&self) -> impl Iterator<Item = (&Utf8Path, &[u8], u64)> {
        self.files
            .iter()
            .map(|(p, f)| (Utf8Path::new(p), f.bytes.as_slice(), f.id))
    }
}

/// The staged files under the snapshot's roots: `git ls-files --stage` output (modes, blob
/// ids, paths) and the entries to read.
pub(crate) struct IndexListing {
    /// The raw listing: it names every staged content by its blob id.
    pub(crate) text: String,
    entries: Vec<(Utf8PathBuf, String)>,
}

impl IndexListing {
    /// Lists the staged files (one `git ls-files`).
    pub(crate) fn read(sh: &Shell, settings: &HfSpace) -> Result<IndexListing> {
        let roots = roots(settings);
        let mut git = process::git(sh.current_dir());
        git.args(["ls-files", "--stage", "-z", "--"]).args(roots);
        let listing = process::read(&mut git)
            .context("`git ls-files` failed: `check --staged` needs git and a git repository")?;
        let mut entries = Vec::new();
        for record in listing.split('\0').filter(|r| !r.is_empty()) {
            let (meta, path) = record
                .split_once('\t')
                .context("unexpected `git ls-files --stage` output")?;
            let mut fields = meta.split(' ');
            let (mode, object, stage) = (fields.next(), fields.next(), fields.next());
            if stage != Some("0") {
                bail!(
                    "{path}: unmerged in the index: resolve the conflict and `git add` it, then commit"
                );
            }
            let path = Utf8PathBuf::from(path);
            if mode == Some("160000") || !is_read(&path, settings) {
                continue;
            }
            entries.push((path, object.unwrap_or_default().to_owned()));
        }
        Ok(IndexListing {
            text: listing,
            entries,
        })
    }

    /// Reads the listed blobs (one `git cat-file --batch`).
    pub(crate) fn load(self, sh: &Shell) -> Result<Snapshot> {
        let entries = self.entries;
        let mut request = String::new();
        for (_, object) in &entries {
            request.push_str(object);
            request.push('\n');
        }
        let mut git = process::git(sh.current_dir());
        git.args(["cat-file", "--batch"]);
        let output = process::checked(&mut git, Some(request.into_bytes()))
            .context("`git cat-file` failed: `check --staged` needs git and a git repository")?;
        let mut batch = output.stdout.as_slice();
        let mut files = BTreeMap::new();
        for (path, object) in entries {
            let truncated = || {
                format!(
                    "{path}: `git cat-file` output ends before staged object {object}: re-run the check"
                )
            };
            let header_end = batch
                .iter()
                .position(|&b| b == b'\n')
                .with_context(truncated)?;
            let header = String::from_utf8_lossy(&batch[..header_end]);
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .with_context(|| {
                    format!("{path}: git cannot read staged object {object}: {header}")
                })?;
            // Each object is followed by a newline.
            let body = batch[header_end + 1..]
                .get(..size + 1)
                .with_context(truncated)?;
            // The blob id names the content; its first 64 bits are plenty to tell files apart.
            let id = u64::from_str_radix(object.get(..16).unwrap_or_default(), 16)
                .unwrap_or_else(|_| fingerprint::of(&body[..size]));
            let bytes = body[..size].to_vec();
            files.insert(path.into_string(), File { bytes, id });
            batch = &batch[header_end + 1 + size + 1..];
        }
        Ok(Snapshot {
            origin: Origin::Index,
            files,
        })
    }
}

/// Adds `path` (a file, or a directory read recursively) under `root` to `files`; a missing
/// path adds nothing.
fn read_tree(
    root: &Utf8Path,
    path: &Utf8Path,
    settings: &HfSpace,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    if is_cache(path) {
        return Ok(());
    }
    let full = root.join(path);
    let meta = match std::fs::metadata(&full) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {path}")),
    };
    if meta.is_file() {
        if !is_read(path, settings) {
            return Ok(());
        }
        let bytes = std::fs::read(&full).with_context(|| format!("cannot read {path}"))?;
        files.insert(path.as_str().to_owned(), bytes);
    } else if meta.is_dir() {
        for entry in std::fs::read_dir(&full).with_context(|| format!("cannot list {path}"))? {
            let name = entry?.file_name();
            let name = name.to_str().with_context(|| {
                format!(
                    "{path}/{}: the name is not valid UTF-8: rename it",
                    name.to_string_lossy()
                )
            })?;
            read_tree(root, &path.join(name), settings, files)?;
        }
    }
    Ok(())
}
