//! The Python files `backend/app/main.py` needs: its import closure inside the `app` package,
//! read from source text (absolute `app.…` and relative imports; see the backend contract).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

/// The seed's module list (step 3): the Space must contain these; `services/llm.py` too when
/// the backend has it.
const SEED_MODULES: [&str; 9] = [
    "app/main.py",
    "app/api/chat.py",
    "app/api/health.py",
    "app/core/config.py",
    "app/db/postgres.py",
    "app/db/qdrant.py",
    "app/models/schemas.py",
    "app/services/embedding.py",
    "app/services/rag_service.py",
];
const SEED_OPTIONAL_MODULE: &str = "app/services/llm.py";

/// One import statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    /// 1-based line of the statement's start.
    pub(crate) line: usize,
    /// Leading dots of a relative import (0 for absolute).
    pub(crate) level: usize,
    /// The dotted module after the dots (may be empty for `from . import x`).
    pub(crate) module: String,
    /// For `from … import`: (imported name, bound name); empty for `import a.b`.
    pub(crate) names: Vec<(String, String)>,
    /// For `import a.b as c`: the name bound in the importing module.
    pub(crate) bound: Option<String>,
}

/// The import statements of a Python source, skipping docstrings and comments.
pub(crate) fn imports(text: &str) -> Vec<Import> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut in_string: Option<&str> = None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let start = index;
        index += 1;
        // Cheap byte tests first: this runs on every line of the backend in the pre-commit
        // hook, from an unoptimized build.
        let has_quote = line.as_bytes().contains(&b'"') || line.as_bytes().contains(&b'\'');
        if let Some(quote) = in_string {
            if has_quote && line.matches(quote).count() % 2 == 1 {
                in_string = None;
            }
            continue;
        }
        if has_quote {
            for quote in ["\"\"\"", "'''"] {
                if line.matches(quote).count() % 2 == 1 {
                    in_string = Some(quote);
                }
            }
        }
        let indent = line
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        if !matches!(line.as_bytes().get(indent), Some(b'f' | b'i')) {
            continue;
        }
        // Import statements are simple enough to split by hand.
        let statement = strip_comment(&line[indent..]);
        if let Some(rest) = statement.strip_prefix("from ") {
            let Some((module, names)) = rest.trim_start().split_once(" import ") else {
                continue;
            };
            let module = module.trim();
            let dots = module.len() - module.trim_start_matches('.').len();
            let mut names = names.trim().to_owned();
            if names.starts_with('(') {
                while !names.contains(')') && index < lines.len() {
                    names.push(' ');
                    names.push_str(strip_comment(lines[index]));
                    index += 1;
                }
            } else {
                while names.ends_with('\\') && index < lines.len() {
                    names.pop();
                    names.push_str(strip_comment(lines[index]));
                    index += 1;
                }
            }
            let names = names.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace());
            found.push(Import {
                line: start + 1,
                level: dots,
                module: module[dots..].to_owned(),
                names: split_names(names)
                    .into_iter()
                    .filter(|(name, _)| name != "*")
                    .collect(),
                bound: None,
            });
        } else if let Some(rest) = statement.strip_prefix("import ") {
            for (module, bound) in split_names(rest) {
                found.push(Import {
                    line: start + 1,
                    level: 0,
                    module,
                    names: Vec::new(),
                    bound: Some(bound),
                });
            }
        }
    }
    found
}

pub(crate) fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("")
}

/// `a as b, c` → [(a, b), (c, c)].
fn split_names(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(" as ") {
            Some((name, alias)) => (name.trim().to_owned(), alias.trim().to_owned()),
            None => (
                item.to_owned(),
                item.split('.').next().unwrap_or(item).to_owned(),
            ),
        })
        .collect()
}

/// The Python files of the backend, keyed by their path relative to `backend/`
/// (`app/main.py`).
pub(crate) type Sources<'a> = BTreeMap<&'a Utf8Path, &'a str>;

/// What a dotted module name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Module(Utf8PathBuf),
    /// A package directory, with its `__init__.py` if it has one.
    Package(Utf8PathBuf, Option<Utf8PathBuf>),
}

pub(crate) fn resolve(sources: &Sources, dotted: &str) -> Option<Resolved> {
    let base = Utf8PathBuf::from(dotted.replace('.', "/"));
    let module = base.with_extension("py");
    if sources.contains_key(module.as_path()) {
        return Some(Resolved::Module(module));
    }
    let init = base.join("__init__.py");
    if sources.contains_key(init.as_path()) {
        return Some(Resolved::Package(base, Some(init)));
    }
    let is_dir = sources.keys().any(|path| path.starts_with(&base));
    is_dir.then_some(Resolved::Package(base, None))
}

/// The absolute dotted module an import in `file` refers to, or `None` when it is outside
/// `app` (a third-party or standard-library module).
pub(crate) fn absolute_module(file: &Utf8Path, import: &Import) -> Result<Option<String>, String> {
    if import.level == 0 {
        let inside = import.module == "app" || import.module.starts_with("app.");
        return Ok(inside.then(|| import.module.clone()));
    }
    let mut package: Vec<&str> = file.parent().unwrap().iter().collect();
    for _ in 1..import.level {
        if package.pop().is_none() || package.is_empty() {
            return Err(format!(
                "relative import with {} dots climbs out of the `app` package",
                import.level
            ));
        }
    }
    if !import.module.is_empty() {
        package.push(&import.module);
    }
    Ok(Some(package.join(".")))
}

/// The files of the closure of `app/main.py`, relative to `backend/`, plus every package
/// directory the closure touches (whether or not it has an `__init__.py`).
pub(crate) struct Closure {
    pub(crate) files: BTreeSet<Utf8PathBuf>,
    pub(crate) packages: BTreeSet<Utf8PathBuf>,
}

/// Follows imports from `app/main.py`; an import of a module that is not under
/// `backend/app` is an error naming file and line.
pub(crate) fn closure(sources: &Sources) -> Result<Closure> {
    let main = Utf8Path::new("app/main.py");
    if !sources.contains_key(main) {
        bail!(
            "backend/app/main.py not found: the Space is generated from the backend's FastAPI app (backend/app/main.py)"
        );
    }
    let mut closure = Closure {
        files: BTreeSet::new(),
        packages: BTreeSet::new(),
    };
    let mut queue = vec![main.to_owned()];
    while let Some(file) = queue.pop() {
        if !closure.files.insert(file.clone()) {
            continue;
        }
        // Importing a module runs every enclosing package's `__init__.py`.
        for package in file.ancestors().skip(1).filter(|p| !p.as_str().is_empty()) {
            closure.packages.insert(package.to_owned());
            let init = package.join("__init__.py");
            if sources.contains_key(init.as_path()) {
                queue.push(init);
            }
        }
        for import in imports(sources[file.as_path()]) {
            let place = format!("backend/{file}:{}", import.line);
            let dotted = match absolute_module(&file, &import) {
                Ok(Some(dotted)) => dotted,
                Ok(None) => continue,
                Err(why) => bail!("{place}: {why}: import from inside `app` only"),
            };
            let missing = |what: &str| {
                let path = what.replace('.', "/");
                anyhow::anyhow!(
                    "{place}: import of `{what}` resolves to nothing: there is no backend/{path}.py or backend/{path}/__init__.py; add the module or fix the import"
                )
            };
            match resolve(sources, &dotted).ok_or_else(|| missing(&dotted))? {
                Resolved::Module(path) => queue.push(path),
                Resolved::Package(dir, init) => {
                    queue.extend(init.clone());
                    closure.packages.insert(dir);
                    for (name, _) in &import.names {
                        match resolve(sources, &format!("{dotted}.{name}")) {
                            Some(Resolved::Module(path)) => queue.push(path),
                            Some(Resolved::Package(sub, sub_init)) => {
                                closure.packages.insert(sub);
                                queue.extend(sub_init);
                            }
                            // A name defined in the package's `__init__.py`.
                            None if init.is_some() => {}
                            None => return Err(missing(&format!("{dotted}.{name}"))),
                        }
                    }
                }
            }
        }
    }
    for required in SEED_MODULES.iter().chain(
        sources
            .contains_key(Utf8Path::new(SEED_OPTIONAL_MODULE))
            .then_some(&SEED_OPTIONAL_MODULE),
    ) {
        let required = Utf8Path::new(required);
        if !closure.files.contains(required) {
            let why = if sources.contains_key(required) {
                "exists but app/main.py's imports never reach it"
            } else {
                "does not exist"
            };
            bail!(
                "backend/{required} {why}: the Space must contain the seed's modules (main, api/chat, api/health, core/config, db/postgres, db/qdrant, models/schemas, services/embedding, services/llm if it exists, services/rag_service)"
            );
        }
    }
    Ok(closure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_forms_are_parsed() {
        let text = "\"\"\"Docs.\n\nfrom app.not_real import x\n\"\"\"\nimport os, app.db.postgres as pg\nfrom app.core.config import settings  # why\nfrom .schemas import (\n    Ask,\n    Answer as A,  # c\n)\nfrom .. import db\nfrom app.x import *\n    from app.services import rag_service\n";
        let found = imports(text);
        let summary: Vec<(usize, usize, &str, Vec<&str>, Option<&str>)> = found
            .iter()
            .map(|i| {
                (
                    i.line,
                    i.level,
                    i.module.as_str(),
                    i.names.iter().map(|(n, _)| n.as_str()).collect(),
                    i.bound.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (5, 0, "os", vec![], Some("os")),
                (5, 0, "app.db.postgres", vec![], Some("pg")),
                (6, 0, "app.core.config", vec!["settings"], None),
                (7, 1, "schemas", vec!["Ask", "Answer"], None),
                (11, 2, "", vec!["db"], None),
                (12, 0, "app.x", vec![], None),
                (13, 0, "app.services", vec!["rag_service"], None),
            ]
        );
    }

    #[test]
    fn relative_imports_resolve_against_the_importing_package() {
        let import = |level, module: &str| Import {
            line: 1,
            level,
            module: module.into(),
            names: vec![],
            bound: None,
        };
        let file = Utf8Path::new("app/core/deps.py");
        assert_eq!(
            absolute_module(file, &import(1, "config")),
            Ok(Some("app.core.config".into()))
        );
        assert_eq!(
            absolute_module(file, &import(2, "db")),
            Ok(Some("app.db".into()))
        );
        assert_eq!(
            absolute_module(file, &import(2, "")),
            Ok(Some("app".into()))
        );
        assert!(absolute_module(file, &import(3, "x")).is_err());
        assert_eq!(absolute_module(file, &import(0, "fastapi")), Ok(None));
        assert_eq!(absolute_module(file, &import(0, "application")), Ok(None));
    }
}
