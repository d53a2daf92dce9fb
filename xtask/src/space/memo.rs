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

#[derive(Default)]
pub(crate) struct Memo {
    /// Where it is read from and written to; `None`: in memory only.
    path: Option<Utf8PathBuf>,
    imports: HashMap<u64, Vec<Import>>,
    clean: HashSet<u64>,
    /// Ids used or added by this run, in order; written first.
    used: Vec<(u64, bool)>,
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
                _ => {}
            }
        }
        memo
    }

    /// The imports remembered for content `id`.
    pub(crate) fn imports(&mut self, id: u64) -> Option<Vec<Import>> {
        let found = self.imports.get(&id).cloned();
        if found.is_some() {
            self.used.push((id, false));
        }
        found
    }

    pub(crate) fn remember_imports(&mut self, id: u64, imports: &[Import]) {
        self.imports.insert(id, imports.to_vec());
        self.used.push((id, false));
        self.dirty = true;
    }

    /// Whether the secret scan found content `id` clean before.
    pub(crate) fn is_clean(&mut self, id: u64) -> bool {
        let clean = self.clean.contains(&id);
        if clean {
            self.used.push((id, true));
        }
        clean
    }

    pub(crate) fn remember_clean(&mut self, id: u64) {
        self.clean.insert(id);
        self.used.push((id, true));
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
        let mut line = |id: u64, clean: bool, text: &mut String| {
            if !written.insert((id, clean)) {
                return;
            }
            if clean {
                writeln!(text, "c {id:016x}").unwrap();
            } else if let Some(imports) = self.imports.get(&id) {
                writeln!(text, "i {id:016x} {}", encode(imports)).unwrap();
            }
        };
        for (id, clean) in &self.used {
            line(*id, *clean, &mut text);
        }
        let others = self
            .clean
            .iter()
            .map(|id| (*id, true))
            .chain(self.imports.keys().map(|id| (*id, false)));
        for (id, clean) in others.take(KEPT) {
            line(id, clean, &mut text);
        }
        let temp = path.with_extension(format!("tmp-{}", std::process::id()));
        let ok = path
            .parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
            && std::fs::write(&temp, text).is_ok()
            && std::fs::rename(&temp, path).is_ok();
        if !ok {
            let _ = std::fs::remove_file(&temp);
        }
    }
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
    fn a_memo_is_written_read_back_and_dropped_by_another_build() {
        let root = Utf8PathBuf::from(
            std::env::temp_dir()
                .join(format!("xtask-memo-{}", std::process::id()))
                .to_str()
                .unwrap(),
        );
        let mut memo = Memo::load(&root);
        let imports = super::super::closure::imports(
            &python::logical_lines("from app.x import y\n").unwrap(),
        );
        memo.remember_imports(7, &imports);
        memo.remember_clean(9);
        memo.save();
        let mut again = Memo::load(&root);
        assert_eq!(again.imports(7), Some(imports));
        assert!(again.is_clean(9) && !again.is_clean(7));
        let file = root.join(STATE_DIR).join("memo");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("xtask-memo", "xtask-memo 1", 1)).unwrap();
        assert!(
            !Memo::load(&root).is_clean(9),
            "another build's memo is ignored"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
