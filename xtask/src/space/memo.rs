//! Per-file results remembered by content id (`Snapshot::id`), so a check after an edit
//! re-reads only the edited files: the imports of each Python file, and which files the
//! secret scan found clean. Both depend on the file's content alone (and on the xtask build,
//! which the file's first line names: another build starts afresh).
//!
//! It lives in `target/xtask/memo`; deleting it is always safe. Findings are never
//! remembered (a file with a secret is scanned again, so its report is printed).

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use camino::{Utf8Path, Utf8PathBuf};

use super::closure::Import;
use crate::settings::STATE_DIR;

/// How many entries are kept beyond those used by the last run (other branches, the index).
const KEPT: usize = 2000;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Imports,
    Clean,
    Derived,
}

#[derive(Default)]
pub(crate) struct Memo {
    /// Where it is read from and written to; `None`: in memory only.
    path: Option<Utf8PathBuf>,
    imports: HashMap<u64, Vec<Import>>,
    clean: HashSet<u64>,
    /// A table derived from several files (the README's endpoints, its secrets): the files
    /// read with their content ids, and the rows encoded by the caller.
    derived: HashMap<u64, (Vec<(String, u64)>, String)>,
    /// Ids used or added by this run, in order, with their kind; written first.
    used: Vec<(u64, Kind)>,
    dirty: bool,
}

/// The identity of the running xtask build (size and modification time of the binary).
pub(crate) fn build_stamp() -> (u64, u64) {
    let binary = std::env::current_exe().and_then(std::fs::metadata).ok();
    let size = binary.as_ref().map_or(0, |m| m.len());
    let built = binary
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    (size, built.map_or(0, |d| d.as_nanos() as u64))
}

fn header() -> String {
    let (size, built) = build_stamp();
    format!("xtask-memo {size} {built}")
}

impl Memo {
    /// The memo of the project at `root`; empty when absent, unreadable or from another build.
    pub(crate) fn load(root: &Utf8Path) -> Memo {
        let path = root.join(STATE_DIR).join("memo");
        let mut memo = Memo {
            path: Some(path.clone()),
            ..Memo::default()
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return memo;
        };
        let mut lines = text.lines();
        if lines.next() != Some(header().as_str()) {
            return memo;
        }
        for line in lines {
            let mut fields = line.splitn(3, ' ');
            let (Some(kind), Some(id)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(id) = u64::from_str_radix(id, 16) else {
                continue;
            };
            match kind {
                "c" => {
                    memo.clean.insert(id);
                }
                "i" => {
                    if let Some(imports) = decode(fields.next().unwrap_or_default()) {
                        memo.imports.insert(id, imports);
                    }
                }
                "d" => {
                    let rest = fields.next().unwrap_or_default();
                    let Some((deps, value)) = rest.split_once('\t') else {
                        continue;
                    };
                    let deps: Option<Vec<(String, u64)>> = deps
                        .split(',')
                        .map(|dep| {
                            let (path, id) = dep.rsplit_once('=')?;
                            Some((unescape(path), u64::from_str_radix(id, 16).ok()?))
                        })
                        .collect();
                    if let Some(deps) = deps {
                        memo.derived.insert(id, (deps, value.to_owned()));
                    }
                }
                _ => {}
            }
        }
        memo
    }

    /// The imports remembered for content `id`.
    pub(crate) fn imports(&mut self, id: u64) -> Option<Vec<Import>> {
        let found = self.imports.get(&id).cloned();
        if found.is_some() {
            self.used.push((id, Kind::Imports));
        }
        found
    }

    pub(crate) fn remember_imports(&mut self, id: u64, imports: &[Import]) {
        self.imports.insert(id, imports.to_vec());
        self.used.push((id, Kind::Imports));
        self.dirty = true;
    }

    /// The table remembered under `key`, when every file it was derived from still has the
    /// content id it had (`current` gives a file's id now).
    pub(crate) fn derived(
        &mut self,
        key: u64,
        current: impl Fn(&str) -> Option<u64>,
    ) -> Option<String> {
        let (deps, value) = self.derived.get(&key)?;
        if !deps.iter().all(|(path, id)| current(path) == Some(*id)) {
            return None;
        }
        let value = value.clone();
        self.used.push((key, Kind::Derived));
        Some(value)
    }

    /// Remembers a table derived from `deps` (path, content id), encoded on one line (no
    /// newline: see [`escape`]).
    pub(crate) fn remember_derived(&mut self, key: u64, deps: Vec<(String, u64)>, value: String) {
        self.derived.insert(key, (deps, value));
        self.used.push((key, Kind::Derived));
        self.dirty = true;
    }

    /// Whether the secret scan found content `id` clean before.
    pub(crate) fn is_clean(&mut self, id: u64) -> bool {
        let clean = self.clean.contains(&id);
        if clean {
            self.used.push((id, Kind::Clean));
        }
        clean
    }

    pub(crate) fn remember_clean(&mut self, id: u64) {
        self.clean.insert(id);
        self.used.push((id, Kind::Clean));
        self.dirty = true;
    }

    /// Writes the memo when this run added to it. Best effort: a memo that cannot be
    /// written only costs time.
    pub(crate) fn save(&self) {
        let Some(path) = &self.path else {
            return;
        };
        if !self.dirty {
            return;
        }
        let mut text = header();
        text.push('\n');
        let mut written = HashSet::new();
        let mut line = |id: u64, kind: Kind, text: &mut String| {
            if !written.insert((id, kind)) {
                return;
            }
            match kind {
                Kind::Clean => writeln!(text, "c {id:016x}").unwrap(),
                Kind::Imports => {
                    if let Some(imports) = self.imports.get(&id) {
                        writeln!(text, "i {id:016x} {}", encode(imports)).unwrap();
                    }
                }
                Kind::Derived => {
                    if let Some((deps, value)) = self.derived.get(&id) {
                        let deps: Vec<String> = deps
                            .iter()
                            .map(|(path, id)| format!("{}={id:016x}", escape(path)))
                            .collect();
                        writeln!(text, "d {id:016x} {}\t{value}", deps.join(",")).unwrap();
                    }
                }
            }
        };
        for (id, kind) in &self.used {
            line(*id, *kind, &mut text);
        }
        let others = self
            .clean
            .iter()
            .map(|id| (*id, Kind::Clean))
            .chain(self.imports.keys().map(|id| (*id, Kind::Imports)))
            .chain(self.derived.keys().map(|id| (*id, Kind::Derived)));
        for (id, kind) in others.take(KEPT) {
            line(id, kind, &mut text);
        }
        if path
            .parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
        {
            let _ = crate::files::write_atomic(path, text.as_bytes(), None);
        }
    }
}

/// `text` on one line of the memo and inside its fields: `\\`, newlines, tabs, `,`, `=` and
/// the record and unit separators the callers join fields with are escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ',' => out.push_str("\\c"),
            '=' => out.push_str("\\q"),
            '\x1e' => out.push_str("\\R"),
            '\x1f' => out.push_str("\\U"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('c') => ',',
            Some('q') => '=',
            Some('R') => '\x1e',
            Some('U') => '\x1f',
            Some(other) => other,
            None => break,
        });
    }
    out
}

/// Imports as one line: `line level guarded module bound names` per import (`-` for empty;
/// names `a=b,c=d`), separated by tabs. Python names hold none of these separators.
fn encode(imports: &[Import]) -> String {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    imports
        .iter()
        .map(|i| {
            let names: Vec<String> = i.names.iter().map(|(n, b)| format!("{n}={b}")).collect();
            format!(
                "{} {} {} {} {} {}",
                i.line,
                i.level,
                u8::from(i.guarded),
                dash(&i.module),
                dash(i.bound.as_deref().unwrap_or_default()),
                dash(&names.join(","))
            )
        })
        .collect::<Vec<_>>()
        .join("\t")
}

fn decode(text: &str) -> Option<Vec<Import>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let undash = |s: &str| {
        if s == "-" {
            String::new()
        } else {
            s.to_owned()
        }
    };
    text.split('\t')
        .map(|item| {
            let f: Vec<&str> = item.split(' ').collect();
            let [line, level, guarded, module, bound, names] = f.as_slice() else {
                return None;
            };
            let names = undash(names);
            Some(Import {
                line: line.parse().ok()?,
                level: level.parse().ok()?,
                guarded: *guarded == "1",
                module: undash(module),
                bound: (*bound != "-").then(|| bound.to_string()),
                names: names
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|pair| {
                        let (n, b) = pair.split_once('=')?;
                        Some((n.to_owned(), b.to_owned()))
                    })
                    .collect::<Option<Vec<_>>>()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::python;

    #[test]
    fn imports_survive_the_round_trip() {
        let text = "import os, app.db as db\nfrom . import (a, b as c)\nfrom ..x.y import *\ntry:\n    import app.opt\nexcept ImportError:\n    pass\n";
        let imports = super::super::closure::imports(&python::logical_lines(text).unwrap());
        assert_eq!(imports.len(), 5);
        assert_eq!(decode(&encode(&imports)), Some(imports));
        assert_eq!(decode(&encode(&[])), Some(vec![]));
    }

    #[test]
    fn escaped_text_has_no_separator_and_reads_back() {
        let text = "a\\b\nc\td,e=f\x1eg\x1fh é 🤖";
        let escaped = escape(text);
        assert!(
            !escaped.contains(['\n', '\t', ',', '=', '\x1e', '\x1f']),
            "{escaped}"
        );
        assert_eq!(unescape(&escaped), text);
    }

    #[test]
    fn a_memo_is_written_read_back_and_dropped_by_another_build() {
        let temp = crate::files::TempDir::new("xtask-memo").unwrap();
        let root = temp.path().to_owned();
        let mut memo = Memo::load(&root);
        let imports = super::super::closure::imports(
            &python::logical_lines("from app.x import y\n").unwrap(),
        );
        memo.remember_imports(7, &imports);
        memo.remember_clean(9);
        memo.remember_derived(11, vec![("app/a b.py".into(), 5)], "x\x1fy".into());
        memo.save();
        let mut again = Memo::load(&root);
        assert_eq!(again.imports(7), Some(imports));
        assert!(again.is_clean(9) && !again.is_clean(7));
        assert_eq!(
            again
                .derived(11, |p| (p == "app/a b.py").then_some(5))
                .as_deref(),
            Some("x\x1fy")
        );
        assert_eq!(
            again.derived(11, |_| Some(6)),
            None,
            "a file it read changed"
        );
        let file = root.join(STATE_DIR).join("memo");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("xtask-memo", "xtask-memo 1", 1)).unwrap();
        assert!(
            !Memo::load(&root).is_clean(9),
            "another build's memo is ignored"
        );
    }
}
