//! The house rules no compiler or linter checks, in the style of rust-analyzer's tidy test:
//! no debugging left behind, a doc comment on every module, every command and flag in the docs,
//! every `cargo xtask ci` suite a step of the CI workflow.
//!
//! What a linter can check is left to it, where it reads the code rather than its text: in the
//! backend ruff's T10 and T20 (no debugger, no `print` outside the command-line program) and
//! D100 (a docstring opening every module), in the frontend ESLint's `no-console` and
//! `no-debugger` (backend/pyproject.toml, frontend/eslint.config.js).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every file under `dir` whose name ends with one of `extensions`, except test inputs.
fn files(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root().join(dir)];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["fixtures", "golden", "node_modules", "dist", "__pycache__"].contains(&&*name)
                {
                    todo.push(path);
                }
            } else if extensions.iter().any(|e| name.ends_with(e)) {
                found.push(path);
            }
        }
    }
    found.sort();
    assert!(!found.is_empty(), "no {extensions:?} files under {dir}");
    found
}

/// `path:line: text` for each line of each file that `bad` flags.
fn offending_lines(paths: &[PathBuf], bad: impl Fn(&Path, &str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if bad(path, line) {
                let shown = path.strip_prefix(root()).unwrap().display();
                found.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

fn assert_none(what: &str, found: Vec<String>) {
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

/// The words are split so this file does not flag itself.
const MARKERS: [&str; 3] = [
    concat!("TO", "DO"),
    concat!("FIX", "ME"),
    concat!("XX", "X"),
];

/// Whether `word` stands alone in `line` (so the `\uXXXX` of an escape is no marker).
fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn no_unfinished_work_markers() {
    let mut paths = files("xtask/src", &[".rs"]);
    paths.extend(files("xtask/tests", &[".rs"]));
    paths.extend(files("backend/app", &[".py"]));
    paths.extend(files("backend/tests", &[".py"]));
    paths.extend(files("frontend/src", &[".ts"]));
    paths.extend(files("frontend/e2e", &[".mjs"]));
    paths.extend(files("bench", &[".sh", ".py", ".mjs"]));
    paths.extend(files("docs", &[".md"]));
    assert_none(
        "unfinished work: finish it, or describe it in an issue",
        offending_lines(&paths, |_, line| MARKERS.iter().any(|m| has_word(line, m))),
    );
}

#[test]
fn no_debugging_left_behind() {
    let mut rust = files("xtask/src", &[".rs"]);
    rust.extend(files("xtask/tests", &[".rs"]));
    let debug_macros = [
        concat!("dbg", "!("),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
    ];
    assert_none(
        "debugging macros",
        offending_lines(&rust, |_, line| {
            debug_macros.iter().any(|m| line.contains(m))
        }),
    );
    // What xtask prints is for users: Debug formatting (`{:?}`) in a print is a debugging print.
    assert_none(
        "a print with Debug formatting (write for the user, or use the error's Display)",
        offending_lines(&files("xtask/src", &[".rs"]), |_, line| {
            line.contains("print!(") || line.contains("println!(")
        })
        .into_iter()
        .filter(|l| l.contains(":?}") || l.contains(":#?}"))
        .collect(),
    );
}

/// rust-analyzer's rule: a test that does not run is no test (a benchmark belongs in bench/),
/// and clippy is answered by fixing the code, or for the whole crate in a `[lints]` table of
/// `Cargo.toml`, not by allowing a lint here and there.
#[test]
fn no_ignored_tests_and_no_clippy_allowances() {
    let mut rust = files("xtask/src", &[".rs"]);
    rust.extend(files("xtask/tests", &[".rs"]));
    rust.extend(files("bench", &[".rs"]));
    assert_none(
        "ignored tests (make it pass, or move a benchmark to bench/)",
        offending_lines(&rust, |_, line| {
            line.trim_start().starts_with(concat!("#[ig", "nore"))
        }),
    );
    assert_none(
        "clippy lints allowed in the code (fix the code, or configure the lint in Cargo.toml)",
        offending_lines(&rust, |_, line| {
            line.contains(concat!("allow(clip", "py::"))
                || line.contains(concat!("expect(clip", "py::"))
        }),
    );
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut paths = files("xtask/src", &[".rs"]);
    paths.extend(files("xtask/tests", &[".rs"]));
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            !text.starts_with("//!")
        })
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert_none(
        "modules without a `//!` doc comment on their first line",
        missing,
    );
    // The frontend's modules open with a comment (after vitest's environment line, which must
    // come first).
    let mut frontend = files("frontend/src", &[".ts"]);
    frontend.extend(files("frontend/e2e", &[".mjs"]));
    frontend.push(root().join("frontend/vite.config.ts"));
    frontend.push(root().join("frontend/eslint.config.js"));
    let missing: Vec<String> = frontend
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let mut lines = text
                .lines()
                .skip_while(|l| l.starts_with("// @vitest-environment"));
            !lines
                .next()
                .is_some_and(|l| l.starts_with("//") || l.starts_with("/**"))
        })
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert_none(
        "frontend modules without a comment on their first line saying what they are for",
        missing,
    );
}

#[test]
fn no_trailing_whitespace() {
    let mut paths = files("xtask/src", &[".rs"]);
    paths.extend(files("xtask/tests", &[".rs"]));
    paths.extend(files("frontend/src", &[".ts", ".css"]));
    paths.extend(files("frontend/e2e", &[".mjs"]));
    paths.extend(files(".github/workflows", &[".yml"]));
    // Not docs/: a unified diff quoted there has context lines that are one space. Not the
    // backend: ruff's W291 and W293 check it.
    assert_none(
        "trailing whitespace",
        offending_lines(&paths, |_, line| line.ends_with([' ', '\t'])),
    );
}

/// The commands and their flags, as `cargo xtask help` and `cargo xtask CMD --help` print them.
fn commands_and_flags() -> Vec<(String, Vec<String>)> {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "xtask {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    };
    let overview = help(&["help"]);
    let names: Vec<String> = overview
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 5, "{overview}");
    names
        .into_iter()
        .map(|name| {
            let flags = help(&[&name, "--help"])
                .lines()
                .filter_map(|l| l.trim().strip_prefix("--"))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|flag| *flag != "help")
                .map(|flag| format!("--{flag}"))
                .collect();
            (name, flags)
        })
        .collect()
}

#[test]
fn the_docs_describe_every_command_and_flag() {
    let mut docs = std::fs::read_to_string(root().join("README.md")).unwrap();
    for page in files("docs", &[".md"]) {
        docs.push_str(&std::fs::read_to_string(page).unwrap());
    }
    let mut missing = Vec::new();
    for (command, flags) in commands_and_flags() {
        if !docs.contains(&format!("cargo xtask {command}")) {
            missing.push(format!("`cargo xtask {command}`"));
        }
        for flag in flags {
            if !docs.contains(&flag) {
                missing.push(format!("`cargo xtask {command} {flag}`"));
            }
        }
    }
    assert_none(
        "not in README.md or docs/ (describe each where its command is described)",
        missing,
    );
}

/// The suites `cargo xtask ci --help` lists, in the order they run.
fn ci_suites() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let line = help
        .lines()
        .find_map(|l| l.strip_prefix("Suites, in the order they run: "))
        .unwrap_or_else(|| panic!("no list of suites in `cargo xtask ci --help`:\n{help}"));
    line.trim_end_matches('.')
        .split(", ")
        .map(str::to_owned)
        .collect()
}

/// GitHub shows each step's outcome: one suite a step names the gate that failed, and a suite
/// added to `cargo xtask ci` without a step would never run there.
#[test]
fn ci_workflow_runs_every_suite_once() {
    let path = ".github/workflows/ci.yml";
    let workflow = std::fs::read_to_string(root().join(path)).unwrap();
    // What follows `cargo xtask ci` in each step, e.g. `--only fmt`.
    let stepped: Vec<&str> = workflow
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run: cargo xtask ci"))
        .map(str::trim)
        .collect();
    let suites = ci_suites();
    assert!(suites.len() >= 10, "{suites:?}");
    let mut problems = Vec::new();
    for suite in &suites {
        let step = format!("--only {suite}");
        match stepped.iter().filter(|s| **s == step).count() {
            1 => {}
            0 => problems.push(format!(
                "`{suite}` has no step `cargo xtask ci --only {suite}`"
            )),
            n => problems.push(format!("`{suite}` runs in {n} steps")),
        }
    }
    let one_suite = |step: &str| {
        step.strip_prefix("--only ")
            .is_some_and(|s| suites.iter().any(|x| x == s))
    };
    for step in stepped.iter().filter(|s| !one_suite(s)) {
        problems.push(format!(
            "the step `cargo xtask ci {step}` is not one suite (`--only NAME`, one per step)"
        ));
    }
    assert_none(
        &format!("{path}: each suite is a step of its own"),
        problems,
    );
}

/// Settings come from `Cargo.toml`, flags and the environment, all read in `main.rs` and
/// `settings.rs` and handed down: a module that asks the process for a variable is a setting
/// nobody can see from `main`. Two modules hand the environment on to a program instead of
/// taking a setting from it: `ci.rs` (a nested cargo without the variables `cargo run` set for
/// xtask) and `http.rs` (curl's `NO_PROXY`, which it reads itself, plus loopback). Tests
/// (after `#[cfg(test)]`) may read what they like.
#[test]
fn the_environment_is_read_in_main_and_settings_only() {
    let readers = ["env::var(", "env::var_os(", "env::vars(", "env::vars_os("];
    let allowed = ["main.rs", "settings.rs", "ci.rs", "http.rs"];
    let mut found = Vec::new();
    for path in files("xtask/src", &[".rs"]) {
        if path.parent() == Some(&root().join("xtask/src"))
            && allowed.contains(&path.file_name().unwrap().to_str().unwrap())
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if readers.iter().any(|r| line.contains(r)) {
                let shown = path.strip_prefix(root()).unwrap().display();
                found.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert_none(
        "environment variables read below main (read them in settings.rs and pass them down)",
        found,
    );
}
