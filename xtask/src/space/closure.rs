//! The Python files `backend/app/main.py` needs: its import closure inside the `app` package,
//! read from source text (absolute `app.…` and relative imports; see the backend contract).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::memo::Memo;
use super::python::{self, Kind, LogicalLine, Token};

/// The recipe's module list: the Space must contain these; `services/llm.py` too when
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

/// One imported module: an import statement's (one per module of `import a, b`), or a
/// literal `importlib.import_module("app.x")`.
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
    /// Inside a `try:` whose handlers catch ImportError: a missing module is not an error.
    pub(crate) guarded: bool,
}

/// The imports of a module's logical lines, at any depth (functions, `if TYPE_CHECKING:`,
/// `try:` blocks, one-line compound statements), as Python's import system would execute them.
pub(crate) fn imports(lines: &[LogicalLine]) -> Vec<Import> {
    let mut found = Vec::new();
    // Open `try:` blocks: (indentation, whether a handler catches ImportError).
    let mut tries: Vec<(usize, bool)> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        while tries
            .last()
            .is_some_and(|(indent, _)| line.indent <= *indent)
        {
            tries.pop();
        }
        let is_try = line.tokens.first().is_some_and(|t| t.is_name("try"));
        if is_try {
            tries.push((line.indent, handlers_catch_import_error(lines, index)));
        }
        let guarded = tries.iter().any(|(_, catches)| *catches);
        for statement in line.statements() {
            imports_in(statement, guarded, &mut found);
        }
    }
    found
}

/// Whether the `except` clauses of the `try:` at `lines[index]` catch ImportError (or its
/// subclass ModuleNotFoundError, or Exception, BaseException, or everything).
fn handlers_catch_import_error(lines: &[LogicalLine], index: usize) -> bool {
    let indent = lines[index].indent;
    lines[index + 1..]
        .iter()
        .skip_while(|l| l.indent > indent)
        .take_while(|l| l.indent == indent)
        .take_while(|l| {
            l.tokens
                .first()
                .is_some_and(|t| t.is_name("except") || t.is_name("else") || t.is_name("finally"))
        })
        .filter(|l| l.tokens[0].is_name("except"))
        .any(|l| {
            let clause = l.tokens.iter().take_while(|t| !t.is_op(":"));
            let mut names = clause.skip(1).filter(|t| t.kind == Kind::Name).peekable();
            names.peek().is_none()
                || names.any(|t| {
                    [
                        "ImportError",
                        "ModuleNotFoundError",
                        "Exception",
                        "BaseException",
                    ]
                    .contains(&t.text)
                })
        })
}

/// A dotted name `a.b.c` starting at `tokens[*at]`; moves `at` past it.
fn dotted(tokens: &[Token], at: &mut usize) -> Option<String> {
    let mut name = String::new();
    while let Some(t) = tokens.get(*at).filter(|t| t.kind == Kind::Name) {
        name.push_str(t.text);
        if !tokens.get(*at + 1).is_some_and(|t| t.is_op(".")) {
            *at += 1;
            return Some(name);
        }
        name.push('.');
        *at += 2;
    }
    None
}

/// `name [as alias]` at `tokens[*at]`: (name, bound name); moves `at` past it.
fn aliased(tokens: &[Token], at: &mut usize, bound_of_dotted: bool) -> Option<(String, String)> {
    let name = dotted(tokens, at)?;
    let bound = if tokens.get(*at).is_some_and(|t| t.is_name("as")) {
        let alias = tokens.get(*at + 1).filter(|t| t.kind == Kind::Name)?;
        *at += 2;
        alias.text.to_owned()
    } else if bound_of_dotted {
        name.split('.').next().unwrap_or_default().to_owned()
    } else {
        name.clone()
    };
    Some((name, bound))
}

/// The imports of one statement.
fn imports_in(tokens: &[Token], guarded: bool, found: &mut Vec<Import>) {
    let line = tokens[0].line;
    let import = |level, module, names, bound| Import {
        line,
        level,
        module,
        names,
        bound,
        guarded,
    };
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        i += 1;
        if token.is_name("from") {
            // `from ..pkg.mod import (a, b as c)`; also `yield from` and `raise … from`.
            let mut at = i;
            let mut level = 0;
            while let Some(t) = tokens.get(at).filter(|t| t.is_op(".") || t.is_op("...")) {
                level += t.text.len();
                at += 1;
            }
            let module = match tokens.get(at) {
                Some(t) if t.is_name("import") => String::new(),
                _ => dotted(tokens, &mut at).unwrap_or_default(),
            };
            if (level == 0 && module.is_empty())
                || !tokens.get(at).is_some_and(|t| t.is_name("import"))
            {
                continue;
            }
            at += 1;
            let mut names = Vec::new();
            let parenthesized = tokens.get(at).is_some_and(|t| t.is_op("("));
            at += usize::from(parenthesized);
            if tokens.get(at).is_some_and(|t| t.is_op("*")) {
                at += 1;
            }
            while let Some(pair) = aliased(tokens, &mut at, false) {
                names.push(pair);
                if !tokens.get(at).is_some_and(|t| t.is_op(",")) {
                    break;
                }
                at += 1;
            }
            found.push(import(level, module, names, None));
            i = at;
        } else if token.is_name("import") {
            let mut at = i;
            while let Some((module, bound)) = aliased(tokens, &mut at, true) {
                found.push(import(0, module, Vec::new(), Some(bound)));
                if !tokens.get(at).is_some_and(|t| t.is_op(",")) {
                    break;
                }
                at += 1;
            }
            i = at;
        } else if token.is_name("import_module") && tokens.get(i).is_some_and(|t| t.is_op("(")) {
            // `importlib.import_module("app.x")`, or relative with `package=` a literal or
            // `__package__` (the importing module's package).
            let Some((args, _)) = python::call_args(tokens, i) else {
                continue;
            };
            let Some(name) = args
                .first()
                .filter(|a| a.keyword.is_none())
                .and_then(|a| python::literal(a.value))
            else {
                continue;
            };
            let level = name.len() - name.trim_start_matches('.').len();
            let module = name[level..].to_owned();
            if level == 0 {
                found.push(import(0, module, Vec::new(), None));
                continue;
            }
            let package = args
                .iter()
                .skip(1)
                .find(|a| a.keyword == Some("package") || a.keyword.is_none());
            match package.map(|a| a.value) {
                Some([t]) if t.is_name("__package__") => {
                    found.push(import(level, module, Vec::new(), None))
                }
                Some(value) => {
                    if let Some(package) = python::literal(value) {
                        let mut parts: Vec<&str> = package.split('.').collect();
                        parts.truncate(parts.len().saturating_sub(level - 1));
                        if !module.is_empty() {
                            parts.push(&module);
                        }
                        found.push(import(0, parts.join("."), Vec::new(), None));
                    }
                }
                None => {}
            }
        }
    }
}

/// The Python files of the backend, keyed by their path relative to `backend/`
/// (`app/main.py`) as a string (a `Path` key compares component by component: slow in the
/// unoptimized build the hook runs).
pub(crate) type Sources<'a> = BTreeMap<&'a str, &'a str>;

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
    if sources.contains_key(module.as_str()) {
        return Some(Resolved::Module(module));
    }
    let init = base.join("__init__.py");
    if sources.contains_key(init.as_str()) {
        return Some(Resolved::Package(base, Some(init)));
    }
    let dir = format!("{base}/");
    let is_dir = sources.keys().any(|path| path.starts_with(&dir));
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
/// (Paths as strings: string comparison is cheap in the unoptimized build.)
pub(crate) struct Closure {
    pub(crate) files: BTreeSet<String>,
    pub(crate) packages: BTreeSet<String>,
}

/// The logical lines of `backend/<file>`; a syntax error names file and line.
pub(crate) fn parse<'a>(file: &Utf8Path, text: &'a str) -> Result<Vec<LogicalLine<'a>>> {
    python::logical_lines(text).map_err(|err| {
        anyhow::anyhow!(
            "backend/{file}:{}: {}: Python cannot import this file either; fix the syntax",
            err.line,
            err.message
        )
    })
}

/// Follows imports from `app/main.py`; an import of a module that is not under
/// `backend/app` is an error naming file and line.
/// `ids` are the files' content ids: their imports are taken from `memo` when it has them.
pub(crate) fn closure(
    sources: &Sources,
    ids: &BTreeMap<&str, u64>,
    memo: &mut Memo,
) -> Result<Closure> {
    let main = Utf8Path::new("app/main.py");
    if !sources.contains_key(main.as_str()) {
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
        if !closure.files.insert(file.as_str().to_owned()) {
            continue;
        }
        // Importing a module runs every enclosing package's `__init__.py`.
        for package in file.ancestors().skip(1).filter(|p| !p.as_str().is_empty()) {
            closure.packages.insert(package.as_str().to_owned());
            let init = package.join("__init__.py");
            if sources.contains_key(init.as_str()) {
                queue.push(init);
            }
        }
        let id = ids.get(file.as_str()).copied();
        let found = match id.and_then(|id| memo.imports(id)) {
            Some(found) => found,
            None => {
                let found = imports(&parse(&file, sources[file.as_str()])?);
                if let Some(id) = id {
                    memo.remember_imports(id, &found);
                }
                found
            }
        };
        for import in found {
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
            let Some(resolved) = resolve(sources, &dotted) else {
                if import.guarded {
                    continue; // `except ImportError` handles it, as at runtime
                }
                return Err(missing(&dotted));
            };
            match resolved {
                Resolved::Module(path) => queue.push(path),
                Resolved::Package(dir, init) => {
                    queue.extend(init.clone());
                    closure.packages.insert(dir.into_string());
                    for (name, _) in &import.names {
                        match resolve(sources, &format!("{dotted}.{name}")) {
                            Some(Resolved::Module(path)) => queue.push(path),
                            Some(Resolved::Package(sub, sub_init)) => {
                                closure.packages.insert(sub.into_string());
                                queue.extend(sub_init);
                            }
                            // A name defined in the package's `__init__.py`.
                            None if init.is_some() || import.guarded => {}
                            None => return Err(missing(&format!("{dotted}.{name}"))),
                        }
                    }
                }
            }
        }
    }
    for required in SEED_MODULES.iter().chain(
        sources
            .contains_key(SEED_OPTIONAL_MODULE)
            .then_some(&SEED_OPTIONAL_MODULE),
    ) {
        let required = Utf8Path::new(required);
        if !closure.files.contains(required.as_str()) {
            let why = if sources.contains_key(required.as_str()) {
                "exists but app/main.py's imports never reach it"
            } else {
                "does not exist"
            };
            bail!(
                "backend/{required} {why}: the Space must contain these modules (main, api/chat, api/health, core/config, db/postgres, db/qdrant, models/schemas, services/embedding, services/llm if it exists, services/rag_service)"
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
        let found = imports(&python::logical_lines(text).unwrap());
        type Summary<'a> = (usize, usize, &'a str, Vec<&'a str>, Option<&'a str>);
        let summary: Vec<Summary> = found
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

    /// (line, module, guarded) of each import of `text`.
    fn modules(text: &str) -> Vec<(usize, String, bool)> {
        imports(&python::logical_lines(text).unwrap())
            .into_iter()
            .map(|i| {
                (
                    i.line,
                    format!("{}{}", ".".repeat(i.level), i.module),
                    i.guarded,
                )
            })
            .collect()
    }

    #[test]
    fn the_forms_a_line_reader_misses_are_found() {
        let found = modules(concat!(
            "import json; from app.services import a
",
            "# a comment with \"\"\" in it\n",
            "QUOTES = \"'''\"\n",
            "def f():\n    \"\"\"Mentions ''' once.\"\"\"\n    from app.core import b\n",
            "if TYPE_CHECKING: from app.models import c\n",
            "x = importlib.import_module(\"app.d\")\n",
            "y = import_module(\".e\", package=__package__)\n",
            "z = import_module(\"..f\", \"app.core.sub\")\n",
            "s = \"from app.not_an_import import x\"\n",
            "from ...up import g\n",
        ));
        let expected: Vec<(usize, String, bool)> = [
            (1, "json"),
            (1, "app.services"),
            (6, "app.core"),
            (7, "app.models"),
            (8, "app.d"),
            (9, ".e"),
            (10, "app.core.f"),
            (12, "...up"),
        ]
        .into_iter()
        .map(|(l, m)| (l, m.to_owned(), false))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn imports_under_try_except_import_error_are_guarded() {
        let found = modules(concat!(
            "try:\n    import app.optional\nexcept ImportError:\n    pass\n",
            "try:\n    import app.needed\nexcept ValueError:\n    pass\n",
            "try: import app.inline\nexcept (OSError, ModuleNotFoundError): pass\n",
            "try:\n    if x:\n        import app.deep\nfinally:\n    pass\n",
            "import app.after\n",
        ));
        let guarded: Vec<(&str, bool)> = found.iter().map(|(_, m, g)| (m.as_str(), *g)).collect();
        assert_eq!(
            guarded,
            [
                ("app.optional", true),
                ("app.needed", false),
                ("app.inline", true),
                ("app.deep", false),
                ("app.after", false),
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
            guarded: false,
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
