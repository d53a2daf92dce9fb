//! `cargo xtask generate`: write `huggingface-spaces/` from `backend/`.
//!
//! The new tree is built in a staging directory beside the old one (unchanged files are
//! hard-linked, so their mtimes are kept), then swapped in with two renames: a failure
//! before the swap leaves the old tree as it was.
//!
//! It never destroys work: a file it would overwrite or delete whose content git cannot give
//! back (it matches neither what generate writes, nor what the last generate wrote, nor the
//! committed or staged version) is a hand edit, and generate refuses with its diff unless
//! `--force`.

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

use crate::settings::{self, SPACE_DIR, STATE_DIR};
use crate::space::{self, KNOWLEDGE_DIR, Memo, Snapshot, SpaceFiles};
use crate::{Project, files, fingerprint, flags, process};

impl flags::Generate {
    pub(crate) fn run(self, _sh: &Shell, project: &Project) -> Result<()> {
        let changed = generate(project, self.force)?;
        if changed.is_empty() {
            println!("{SPACE_DIR}/ is up to date");
        } else {
            for path in &changed {
                let what = if project.root.join(SPACE_DIR).join(path).exists() {
                    "wrote"
                } else {
                    "removed"
                };
                println!("{what} {SPACE_DIR}/{path}");
            }
            println!(
                "{SPACE_DIR}/: {} file(s) changed; commit them with the change to their sources",
                changed.len()
            );
        }
        Ok(())
    }
}

/// Regenerates `huggingface-spaces/` atomically. Returns the files (relative to the Space
/// folder) that were written, added or removed; empty when it was already up to date.
/// Refuses to overwrite a hand edit (see [`refuse_hand_edits`]) unless `force`.
pub(crate) fn generate(project: &Project, force: bool) -> Result<Vec<Utf8PathBuf>> {
    remove_leftovers(&project.root);
    let snapshot = Snapshot::worktree(&project.root, &project.settings)?;
    let mut memo = Memo::load(&project.root);
    let expected = space::render(&snapshot, &project.settings, &mut memo)?;
    memo.save();
    let current = space::current_files(&snapshot);
    let changed = space::changed_files(&current, &expected);
    if !changed.is_empty() {
        if !force {
            refuse_hand_edits(&project.root, &current, &expected, &changed)?;
        }
        replace_tree(&project.root, &current, &expected)?;
        Written::save(&project.root, &expected)?;
    }
    Ok(changed)
}

/// The fingerprints of what the last generate wrote (`target/xtask/generated`): regenerating
/// over its own earlier output, not yet staged, loses nothing.
struct Written(std::collections::HashMap<String, u64>);

impl Written {
    fn file(root: &Utf8Path) -> Utf8PathBuf {
        root.join(STATE_DIR).join("generated")
    }

    /// Empty when the file is missing or unreadable: then only git counts as a backup.
    fn load(root: &Utf8Path) -> Written {
        let text = std::fs::read_to_string(Written::file(root)).unwrap_or_default();
        let entries = text.lines().filter_map(|line| {
            let (hash, path) = line.split_once(' ')?;
            Some((path.to_owned(), u64::from_str_radix(hash, 16).ok()?))
        });
        Written(entries.collect())
    }

    fn save(root: &Utf8Path, written: &SpaceFiles) -> Result<()> {
        let text: String = written
            .iter()
            .map(|(path, bytes)| format!("{:016x} {path}\n", fingerprint::of(bytes)))
            .collect();
        let file = Written::file(root);
        std::fs::create_dir_all(root.join(STATE_DIR))
            .with_context(|| format!("cannot create {STATE_DIR}"))?;
        files::write_atomic(&file, text.as_bytes(), None)
    }

    fn holds(&self, path: &Utf8Path, bytes: &[u8]) -> bool {
        self.0.get(path.as_str()) == Some(&fingerprint::of(bytes))
    }
}

/// How many lines of one hand edit's diff the error shows.
const DIFF_LINES: usize = 40;

/// Fails, showing each diff, when a file generate would overwrite or delete holds content
/// that only the worktree has: not what generate writes or last wrote, not the committed (HEAD)
/// version and not the staged one. Overwriting anything else loses nothing.
fn refuse_hand_edits(
    root: &Utf8Path,
    current: &SpaceFiles,
    expected: &SpaceFiles,
    changed: &[Utf8PathBuf],
) -> Result<()> {
    let on_disk: Vec<&Utf8PathBuf> = changed
        .iter()
        .filter(|path| current.contains_key(*path))
        .collect();
    if on_disk.is_empty() {
        return Ok(());
    }
    let mut names = Vec::new();
    for path in &on_disk {
        names.push(format!("HEAD:./{SPACE_DIR}/{path}"));
        names.push(format!(":./{SPACE_DIR}/{path}"));
    }
    let mut known = git_blobs(root, &names)?.into_iter();
    let written = Written::load(root);
    let mut shown = String::new();
    let mut edited = Vec::new();
    for path in on_disk {
        let (committed, staged) = (known.next().flatten(), known.next().flatten());
        let mine = &current[path];
        if Some(mine) == expected.get(path)
            || written.holds(path, mine)
            || committed.as_ref() == Some(mine)
            || staged.as_ref() == Some(mine)
        {
            continue;
        }
        let name = format!("{SPACE_DIR}/{path}");
        let (base, base_name) = match (&committed, &staged) {
            (Some(bytes), _) => (bytes.as_slice(), format!("{name} (committed)")),
            (None, Some(bytes)) => (bytes.as_slice(), format!("{name} (staged)")),
            (None, None) => (&b""[..], "/dev/null (not in git)".to_owned()),
        };
        shown.push_str(&diff(base, mine, &base_name, &format!("{name} (worktree)")));
        edited.push(name);
    }
    if edited.is_empty() {
        return Ok(());
    }
    bail!(
        "{SPACE_DIR}/ is generated from {}/, and these hand edits would be lost: {}\n{shown}\
         Move the change into {}/ (generate copies it; {SPACE_DIR}/{KNOWLEDGE_DIR}/X is a copy of X), or undo it (`git checkout -- FILE`, or delete a stray file), \
         or overwrite it with `--force`",
        settings::BACKEND_DIR,
        edited.join(", "),
        settings::BACKEND_DIR,
    )
}

/// The content of each git object `names` names (`HEAD:./path`, `:./path`), `None` where
/// there is none (no commit yet, not tracked, not a git repository): one `git cat-file`.
/// Fails only on Ctrl-C.
fn git_blobs(root: &Utf8Path, names: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
    let request: String = names.iter().map(|n| format!("{n}\n")).collect();
    let mut git = process::git(root);
    git.args(["cat-file", "--batch"]);
    let output = match process::output(&mut git, Some(request.into_bytes())) {
        Ok(output) if output.ok() => output.stdout,
        Err(err) if err.is::<crate::interrupt::Interrupted>() => return Err(err),
        _ => return Ok(vec![None; names.len()]),
    };
    let mut rest = output.as_slice();
    let mut blobs = Vec::new();
    for _ in names {
        // `<id> blob <size>\n<content>\n`, or `<name> missing\n`.
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            blobs.push(None);
            continue;
        };
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        let mut fields = header.rsplitn(3, ' ');
        let (size, kind) = (fields.next(), fields.next());
        match (kind, size.and_then(|s| s.parse::<usize>().ok())) {
            (Some("blob"), Some(size)) if rest.len() > size => {
                blobs.push(Some(rest[..size].to_vec()));
                rest = &rest[size + 1..];
            }
            _ => blobs.push(None),
        }
    }
    Ok(blobs)
}

/// A unified diff from `old` to `new`, cut after [`DIFF_LINES`] lines.
fn diff(old: &[u8], new: &[u8], old_name: &str, new_name: &str) -> String {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return format!("--- {old_name}\n+++ {new_name}\n(binary content differs)\n");
    };
    let text = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(old_name, new_name)
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut shown: String = lines
        .iter()
        .take(DIFF_LINES)
        .map(|l| format!("{l}\n"))
        .collect();
    if lines.len() > DIFF_LINES {
        shown.push_str(&format!(
            "… ({} more diff lines)\n",
            lines.len() - DIFF_LINES
        ));
    }
    shown
}

/// The names of a generate's staging tree and of the tree it moves aside, made unique by pid.
const STAGING: &str = "staging-";
const MOVED_ASIDE: &str = "old-";

fn replace_tree(root: &Utf8Path, current: &SpaceFiles, expected: &SpaceFiles) -> Result<()> {
    let target = root.join(SPACE_DIR);
    let pid = std::process::id();
    let staging = root.join(format!(".{SPACE_DIR}.{STAGING}{pid}"));
    let old = root.join(format!(".{SPACE_DIR}.{MOVED_ASIDE}{pid}"));
    let built = write_staging(&target, &staging, current, expected);
    if let Err(err) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err).context(format!("{SPACE_DIR}/ was left as it was"));
    }
    let had_old = target.exists();
    if had_old {
        std::fs::rename(&target, &old).with_context(|| format!("cannot move {target} aside"))?;
    }
    if let Err(err) = std::fs::rename(&staging, &target) {
        if had_old {
            let _ = std::fs::rename(&old, &target);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err).with_context(|| {
            format!("cannot move the new tree to {target}; {SPACE_DIR}/ was left as it was")
        });
    }
    if had_old {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the previous tree, moved to {old}"))?;
    }
    Ok(())
}

/// Removes the staging or moved-aside trees of a generate that was stopped midway (Ctrl-C,
/// a kill), which would otherwise sit untracked in the root forever; those of a generate
/// still running are left alone. Best effort: leftovers only cost space.
fn remove_leftovers(root: &Utf8Path) {
    let Ok(entries) = root.read_dir_utf8() else {
        return;
    };
    for entry in entries.flatten() {
        let Some(rest) = entry.file_name().strip_prefix(&format!(".{SPACE_DIR}.")) else {
            continue;
        };
        let pid = [STAGING, MOVED_ASIDE]
            .iter()
            .find_map(|kind| rest.strip_prefix(kind)?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process::alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write_staging(
    target: &Utf8Path,
    staging: &Utf8Path,
    current: &SpaceFiles,
    expected: &SpaceFiles,
) -> Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)
            .with_context(|| format!("cannot remove the old staging tree {staging}"))?;
    }
    for (path, bytes) in expected {
        let dest = staging.join(path);
        std::fs::create_dir_all(dest.parent().unwrap())
            .with_context(|| format!("cannot create {}", dest.parent().unwrap()))?;
        let unchanged = current.get(path) == Some(bytes);
        if !(unchanged && keep(&target.join(path), &dest)) {
            std::fs::write(&dest, bytes).with_context(|| format!("cannot write {dest}"))?;
        }
    }
    Ok(())
}

/// Carries an unchanged file over with its mtime: a hard link, else a copy with the mtime set.
fn keep(from: &Utf8Path, to: &Utf8Path) -> bool {
    if std::fs::hard_link(from, to).is_ok() {
        return true;
    }
    let copied = || -> std::io::Result<()> {
        let modified = std::fs::metadata(from)?.modified()?;
        std::fs::copy(from, to)?;
        std::fs::File::options()
            .write(true)
            .open(to)?
            .set_modified(modified)
    };
    copied().is_ok()
}
