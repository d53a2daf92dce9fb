//! What `generate` renders: the Space folder, in memory, from a snapshot of the backend.

mod closure;
mod derive;
pub(crate) mod dockerfile;
pub(crate) mod memo;
pub(crate) mod python;
pub(crate) mod readme;
pub(crate) mod requirements;
pub(crate) mod source;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

pub(crate) use derive::{BackendSettings, Secret};
pub(crate) use memo::Memo;
pub(crate) use source::{Origin, Snapshot};

use crate::settings::{BACKEND_DIR, HfSpace, SPACE_DIR};

/// The Space folder's files, keyed by their path relative to it.
pub(crate) type SpaceFiles = BTreeMap<Utf8PathBuf, Vec<u8>>;

/// The Space folder's copy of the `knowledge` setting's Markdown.
pub(crate) const KNOWLEDGE_DIR: &str = "knowledge";

/// Renders every file of the Space folder from the backend in `snapshot`.
/// `memo` holds per-file results of earlier runs (and receives this run's).
pub(crate) fn render(
    snapshot: &Snapshot,
    settings: &HfSpace,
    memo: &mut Memo,
) -> Result<SpaceFiles> {
    let generator = &settings.generator;
    let backend_prefix = format!("{BACKEND_DIR}/");
    let mut python = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for (path, bytes, id) in snapshot.under_with_ids(&backend_prefix) {
        if path.as_str().starts_with("app/") && path.as_str().ends_with(".py") {
            let text = std::str::from_utf8(bytes).with_context(|| {
                format!("{backend_prefix}{path}: not UTF-8 text: save it as UTF-8")
            })?;
            python.insert(path.as_str(), text);
            ids.insert(path.as_str(), id);
        }
    }
    let closure = closure::closure(&python, &ids, memo)?;
    // The README's tables, remembered by the content of the files they are read from.
    let endpoints = derived(memo, derive::MAIN, &ids, |read| {
        derive::endpoints(&python, read)
    })?;
    let secrets = derived(memo, derive::CONFIG, &ids, |_| derive::secrets(&python))?;

    let mut files = SpaceFiles::new();
    for path in &closure.files {
        files.insert(path.into(), python[path.as_str()].as_bytes().to_vec());
    }
    for package in &closure.packages {
        let init = Utf8Path::new(package).join("__init__.py");
        files.entry(init).or_insert_with(|| {
            format!("# Package marker written by `cargo xtask generate`: backend/{package}/ has no __init__.py.\n").into_bytes()
        });
    }

    let requirements_path = Utf8Path::new(BACKEND_DIR).join("requirements.txt");
    let Some(requirements) = snapshot.text(&requirements_path)? else {
        bail!(
            "{requirements_path} not found: the Space installs the backend's requirements from it"
        );
    };
    files.insert(
        "requirements.txt".into(),
        requirements::space_file(requirements, &generator.test_packages).into_bytes(),
    );
    for (path, bytes) in knowledge(snapshot, &settings.knowledge)? {
        files.insert(Utf8Path::new(KNOWLEDGE_DIR).join(path), bytes.to_vec());
    }
    files.insert(
        "Dockerfile".into(),
        dockerfile::render(generator).into_bytes(),
    );
    files.insert(
        "README.md".into(),
        readme::render(generator, &endpoints, &secrets).into_bytes(),
    );
    Ok(files)
}

/// The backend's settings as deploy needs them, from `backend/app/core/config.py` in the
/// working tree under `root`.
pub(crate) fn backend_settings(root: &Utf8Path) -> Result<BackendSettings> {
    let path = root.join(BACKEND_DIR).join(derive::CONFIG);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}: the backend's Settings live there"))?;
    derive::backend_settings(&BTreeMap::from([(derive::CONFIG, text.as_str())]))
}

/// A README table derived from `first` (and the files `derive` reports reading), taken from
/// `memo` when none of those files changed.
fn derived<T: Row>(
    memo: &mut Memo,
    first: &str,
    ids: &BTreeMap<&str, u64>,
    derive: impl FnOnce(&mut Vec<String>) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let key = ids
        .get(first)
        .map(|id| crate::fingerprint::of(format!("{first} {id:016x}").as_bytes()));
    if let Some(key) = key
        && let Some(value) = memo.derived(key, |path| ids.get(path).copied())
    {
        let rows: Option<Vec<T>> = value
            .split('\x1e')
            .filter(|row| !row.is_empty())
            .map(|row| T::decode(&row.split('\x1f').map(memo::unescape).collect::<Vec<_>>()))
            .collect();
        if let Some(rows) = rows {
            return Ok(rows);
        }
    }
    let mut read = vec![first.to_owned()];
    let rows = derive(&mut read)?;
    if let Some(key) = key {
        let deps = read
            .into_iter()
            .filter_map(|path| ids.get(path.as_str()).map(|id| (path, *id)))
            .collect();
        let value: Vec<String> = rows
            .iter()
            .map(|row| {
                let fields: Vec<String> = row.encode().iter().map(|f| memo::escape(f)).collect();
                fields.join("\x1f")
            })
            .collect();
        memo.remember_derived(key, deps, value.join("\x1e"));
    }
    Ok(rows)
}

/// A README table row, as text fields for the memo.
trait Row: Sized {
    fn encode(&self) -> Vec<&str>;
    fn decode(fields: &[String]) -> Option<Self>;
}

impl Row for derive::Endpoint {
    fn encode(&self) -> Vec<&str> {
        vec![&self.method, &self.path, &self.summary]
    }
    fn decode(fields: &[String]) -> Option<Self> {
        let [method, path, summary] = fields else {
            return None;
        };
        Some(derive::Endpoint {
            method: method.clone(),
            path: path.clone(),
            summary: summary.clone(),
        })
    }
}

impl Row for derive::Secret {
    fn encode(&self) -> Vec<&str> {
        vec![&self.env, &self.description]
    }
    fn decode(fields: &[String]) -> Option<Self> {
        let [env, description] = fields else {
            return None;
        };
        Some(derive::Secret {
            env: env.clone(),
            description: description.clone(),
        })
    }
}

/// The Markdown files the `knowledge` entries name (a file, or every Markdown file under a
/// folder, images and other files left out), with their paths relative to the root.
fn knowledge<'a>(
    snapshot: &'a Snapshot,
    entries: &[Utf8PathBuf],
) -> Result<Vec<(Utf8PathBuf, &'a [u8])>> {
    let mut found = Vec::new();
    for entry in entries {
        let place =
            format!("Cargo.toml [workspace.metadata.hf-space]: knowledge entry \"{entry}\"");
        // The snapshot holds only the Markdown of the knowledge entries.
        if let Some(bytes) = snapshot.get(entry) {
            found.push((entry.clone(), bytes));
            continue;
        }
        let prefix = format!("{}/", entry.as_str().trim_end_matches('/'));
        let before = found.len();
        found.extend(
            snapshot
                .files()
                .filter(|(path, _)| path.as_str().starts_with(&prefix))
                .map(|(path, bytes)| (path.to_owned(), bytes)),
        );
        if found.len() == before {
            bail!(
                "{place} names no Markdown file (.md, .markdown) in the {}: add it (or commit it, for `check --staged`) or remove it from `knowledge`",
                match snapshot.origin {
                    Origin::Worktree => "worktree",
                    Origin::Index => "index",
                }
            );
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The Space folder's files in `snapshot`, relative to it.
pub(crate) fn current_files(snapshot: &Snapshot) -> SpaceFiles {
    let prefix = format!("{SPACE_DIR}/");
    snapshot
        .under(&prefix)
        .map(|(path, bytes)| (path.to_owned(), bytes.to_vec()))
        .collect()
}

/// Files that differ, are missing from `current`, or are extra in it; sorted.
pub(crate) fn changed_files(current: &SpaceFiles, expected: &SpaceFiles) -> Vec<Utf8PathBuf> {
    // One walk over both sorted maps: a lookup per file compares paths component by
    // component, slow in the unoptimized build the hook runs.
    let mut changed = Vec::new();
    let (mut old, mut new) = (current.iter().peekable(), expected.iter().peekable());
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) if a.as_str() == b.as_str() => std::cmp::Ordering::Equal,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => changed.push(old.next().unwrap().0.clone()),
            std::cmp::Ordering::Greater => changed.push(new.next().unwrap().0.clone()),
            std::cmp::Ordering::Equal => {
                let ((path, a), (_, b)) = (old.next().unwrap(), new.next().unwrap());
                if a != b {
                    changed.push(path.clone());
                }
            }
        }
    }
    changed
}
