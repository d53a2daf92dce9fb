//! What `generate` renders: the Space folder, in memory, from a snapshot of the backend.

mod closure;
mod derive;
pub(crate) mod dockerfile;
pub(crate) mod pattern;
pub(crate) mod python;
pub(crate) mod readme;
pub(crate) mod requirements;
pub(crate) mod source;

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

pub(crate) use source::{Origin, Snapshot};

use crate::settings::{BACKEND_DIR, Generator};

/// The Space folder's files, keyed by their path relative to it.
pub(crate) type SpaceFiles = BTreeMap<Utf8PathBuf, Vec<u8>>;

/// Renders every file of the Space folder from the backend in `snapshot`.
pub(crate) fn render(snapshot: &Snapshot, generator: &Generator) -> Result<SpaceFiles> {
    let backend_prefix = format!("{BACKEND_DIR}/");
    let mut python = BTreeMap::new();
    for (path, _) in snapshot.under(&backend_prefix) {
        if path.starts_with("app") && path.extension() == Some("py") {
            let text = snapshot
                .text(&Utf8Path::new(BACKEND_DIR).join(path))?
                .unwrap();
            python.insert(path, text);
        }
    }
    let closure = closure::closure(&python)?;
    let endpoints = derive::endpoints(&python, &closure.parsed)?;
    let secrets = derive::secrets(&closure.parsed)?;

    let mut files = SpaceFiles::new();
    for path in &closure.files {
        files.insert(path.clone(), python[path.as_path()].as_bytes().to_vec());
    }
    for package in &closure.packages {
        let init = package.join("__init__.py");
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
