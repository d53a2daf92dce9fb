//! What `generate` renders: the Space folder, in memory, from a snapshot of the backend.

mod closure;
mod derive;
pub(crate) mod dockerfile;
pub(crate) mod memo;
pub(crate) mod pattern;
pub(crate) mod python;
pub(crate) mod readme;
pub(crate) mod requirements;
pub(crate) mod source;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

pub(crate) use memo::Memo;
pub(crate) use source::{Origin, Snapshot};

use crate::settings::{BACKEND_DIR, HfSpace};

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
    let endpoints = derive::endpoints(&python)?;
    let secrets = derive::secrets(&python)?;

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
