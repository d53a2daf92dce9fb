//! The Space's `requirements.txt`: the backend's, minus the test-only packages.

/// PEP 503 normalization: lower-case, runs of `-`, `_` and `.` become one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The project name a requirement line starts with (PEP 508: letters, digits and `._-`,
/// starting and ending with a letter or digit), when what follows it can follow a name:
/// nothing, whitespace, extras, a version spec, a marker, ` @ url`, a comment or a
/// continuation. `None` for comments, options (`-r`, `-e`, `--hash`), URLs and paths.
pub(crate) fn requirement_name(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let run = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(line.len());
    let name = line[..run].trim_end_matches(['.', '_', '-']);
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    match line[name.len()..].chars().next() {
        None => Some(name),
        Some(c) if c.is_whitespace() || "[<>=!~;@#\\,(".contains(c) => Some(name),
        Some(_) => None,
    }
}

/// The line breaks of Python's `str.splitlines()`, which pip's requirements reader splits on
/// (pip/_internal/req/req_file.py, `preprocess`): `\n`, `\r\n`, `\r`, and also `\v`, `\f`,
/// `\x1c`-`\x1e`, `\x85`, U+2028 and U+2029.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// The physical lines of `text`, each with its line break (the last may have none).
fn physical_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_line_break(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r' && chars.next_if(|(_, n)| *n == '\n').is_some() {
            end += 1;
        }
        lines.push(&text[start..end]);
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// pip's `COMMENT_RE.match`: the line is a comment (`#` first, or after leading whitespace).
fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// pip's `COMMENT_RE.sub("", line)`: everything from a `#` that starts the line or follows
/// whitespace.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return &line[..i];
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

/// A logical line of a requirements file as pip reads it.
struct Logical<'a> {
    /// 1-based number of its first physical line.
    line: usize,
    /// Its physical lines, verbatim with their line breaks (what is written back).
    parts: Vec<&'a str>,
    /// What pip judges: the lines joined (pip's `join_lines`), without the comment.
    joined: String,
}

/// pip's `join_lines`: a line ending in `\` continues on the next one, unless it is a
/// comment line (comments are never continued); a comment line also ends a continuation.
fn logical_lines(text: &str) -> Vec<Logical<'_>> {
    let mut lines: Vec<Logical> = Vec::new();
    let mut continued = false;
    for (index, physical) in physical_lines(text).into_iter().enumerate() {
        let content = physical.trim_end_matches(is_line_break);
        let comment = is_comment_line(content);
        let piece = if content.ends_with('\\') && !comment {
            content.trim_matches('\\')
        } else {
            content
        };
        match lines.last_mut() {
            Some(last) if continued => {
                last.parts.push(physical);
                last.joined.push_str(piece);
            }
            _ => lines.push(Logical {
                line: index + 1,
                parts: vec![physical],
                joined: piece.to_owned(),
            }),
        }
        continued = content.ends_with('\\') && !comment;
    }
    for line in &mut lines {
        line.joined = strip_comment(&line.joined).trim().to_owned();
    }
    lines
}

/// The test packages a requirements text names: (1-based line, name as written).
pub(crate) fn test_packages_in(text: &str, test_packages: &[String]) -> Vec<(usize, String)> {
    let wanted: Vec<String> = test_packages.iter().map(|p| normalize(p)).collect();
    logical_lines(text.strip_prefix('\u{feff}').unwrap_or(text))
        .into_iter()
        .filter_map(|logical| {
            let name = requirement_name(&logical.joined)?;
            wanted
                .contains(&normalize(name))
                .then(|| (logical.line, name.to_owned()))
        })
        .collect()
}

/// `text` without the requirements of `test_packages` (with their continuation lines) and
/// without a leading byte order mark (pip strips it at the start of a file only, so the
/// generated file's header must not follow it); every other line is kept byte for byte.
pub(crate) fn without_test_packages(text: &str, test_packages: &[String]) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let wanted: Vec<String> = test_packages.iter().map(|p| normalize(p)).collect();
    let mut out = String::with_capacity(text.len());
    for logical in logical_lines(text) {
        let is_test =
            requirement_name(&logical.joined).is_some_and(|name| wanted.contains(&normalize(name)));
        if !is_test {
            logical.parts.iter().for_each(|p| out.push_str(p));
        }
    }
    out
}

/// The Space's `requirements.txt`: a header line naming the source and the removed packages
/// (with the file's own line break), then the backend's requirements without them.
pub(crate) fn space_file(text: &str, test_packages: &[String]) -> String {
    let body = without_test_packages(text, test_packages);
    format!(
        "# Generated by `cargo xtask generate` from backend/requirements.txt without the test packages ({}); do not edit.{}{body}",
        test_packages.join(", "),
        line_break(&body)
    )
}

/// The line break of `text`'s first line (`\n` when it has none).
fn line_break(text: &str) -> &str {
    let first = physical_lines(text).into_iter().next().unwrap_or_default();
    let content = first.trim_end_matches(is_line_break);
    match &first[content.len()..] {
        "" => "\n",
        brk => brk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        crate::settings::Generator::default().test_packages
    }

    /// (backend requirements, what the Space keeps) — pip's reading of each: comments,
    /// continuations, options, line breaks, byte order marks.
    const CASES: &[(&str, &str)] = &[
        // Test packages by normalized name, whatever follows the name.
        ("pytest\n", ""),
        ("PyTest==8\n", ""),
        ("pytest_asyncio\n", ""),
        ("pytest-cov[toml]>=4 ; python_version>\"3\"\n", ""),
        ("Pytest.Asyncio>=0.21\n", ""),
        ("  pytest  \n", ""),
        ("\tpytest ~= 8.0\n", ""),
        ("pytest>=8,<9\n", ""),
        (
            "pytest @ https://example.com/pytest-8.0-py3-none-any.whl\n",
            "",
        ),
        ("pytest;python_version<'3.12'\n", ""),
        ("pytest  # the test runner\n", ""),
        (
            "pytest-asyncio @ git+https://github.com/pytest-dev/pytest-asyncio\n",
            "",
        ),
        // Other packages and lines are kept byte for byte.
        ("pytest-xdist==3.5\n", "pytest-xdist==3.5\n"),
        ("pytestify\n", "pytestify\n"),
        ("pytest_mock\n", "pytest_mock\n"),
        (
            "fastapi==0.110  # pytest is not this\n",
            "fastapi==0.110  # pytest is not this\n",
        ),
        ("# pytest==8\n", "# pytest==8\n"),
        (
            "uvicorn[standard]>=0.29; python_version >= \"3.8\"\n",
            "uvicorn[standard]>=0.29; python_version >= \"3.8\"\n",
        ),
        ("psycopg[binary]==3.3.9\n", "psycopg[binary]==3.3.9\n"),
        ("\n", "\n"),
        ("", ""),
        // Options are kept, whatever their argument says.
        ("-r base.txt\n", "-r base.txt\n"),
        ("--requirement base.txt\n", "--requirement base.txt\n"),
        ("--requirement=base.txt\n", "--requirement=base.txt\n"),
        ("-c constraints.txt\n", "-c constraints.txt\n"),
        (
            "--constraint constraints.txt\n",
            "--constraint constraints.txt\n",
        ),
        ("-e ./vendor/pytest\n", "-e ./vendor/pytest\n"),
        ("--editable ./vendor/pkg\n", "--editable ./vendor/pkg\n"),
        (
            "--index-url https://pypi.org/simple\n",
            "--index-url https://pypi.org/simple\n",
        ),
        (
            "-i https://pypi.org/simple\n",
            "-i https://pypi.org/simple\n",
        ),
        (
            "--extra-index-url https://example.com/simple\n",
            "--extra-index-url https://example.com/simple\n",
        ),
        (
            "https://example.com/pytest-8.0-py3-none-any.whl\n",
            "https://example.com/pytest-8.0-py3-none-any.whl\n",
        ),
        (
            "git+https://github.com/pytest-dev/pytest#egg=pytest\n",
            "git+https://github.com/pytest-dev/pytest#egg=pytest\n",
        ),
        ("./pytest\n", "./pytest\n"),
        // Continuations: judged joined, written back verbatim, removed whole.
        (
            "fastapi==1 \\\n    --hash=sha256:aaa\n",
            "fastapi==1 \\\n    --hash=sha256:aaa\n",
        ),
        (
            "pytest==8.0 \\\n    --hash=sha256:bbb \\\n    --hash=sha256:ccc\nuvicorn==2\n",
            "uvicorn==2\n",
        ),
        ("py\\\ntest==8\nnumpy\n", "numpy\n"),
        // A comment line is never continued: the line after it is its own.
        ("# tests \\\npytest==8.0\n", "# tests \\\n"),
        (
            "   # indented \\\npytest\nnumpy\n",
            "   # indented \\\nnumpy\n",
        ),
        // A comment line ends a continuation (pip appends it, then stops).
        ("pytest==8 \\\n# why\nnumpy\n", "numpy\n"),
        // A trailing comment ending in `\` does continue: pip reads the next line as comment.
        (
            "fastapi # web \\\npytest\nnumpy\n",
            "fastapi # web \\\npytest\nnumpy\n",
        ),
        // Line breaks: CRLF, CR alone, and the others of str.splitlines().
        ("fastapi\r\npytest-cov\r\nnumpy\r\n", "fastapi\r\nnumpy\r\n"),
        ("fastapi\rpytest==8\rnumpy\r", "fastapi\rnumpy\r"),
        ("fastapi\x0cpytest\n", "fastapi\x0c"),
        ("pytest \\\r\n  --hash=sha256:a\r\nnumpy", "numpy"),
        // A byte order mark is dropped (pip strips it at the start of a file only).
        ("\u{feff}fastapi\npytest\n", "fastapi\n"),
        ("\u{feff}pytest\nnumpy\n", "numpy\n"),
        // No final line break: the last line is kept verbatim.
        ("pytest\nnumpy==2", "numpy==2"),
    ];

    #[test]
    fn requirements_are_filtered_as_pip_reads_them() {
        assert!(CASES.len() >= 40);
        for (text, kept) in CASES {
            assert_eq!(without_test_packages(text, &defaults()), *kept, "{text:?}");
        }
    }

    /// Feeds every case's generated file (and the backend's original) to pip's own
    /// requirements reader (`pip._internal.req.req_file.parse_requirements`, no network):
    /// pip reads each without error, and sees exactly the original's requirements minus the
    /// test packages.
    #[test]
    fn pip_reads_every_generated_file_and_sees_no_test_package() {
        let temp = crate::files::TempDir::new("xtask-pip").unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("base.txt"), "").unwrap();
        std::fs::write(dir.join("constraints.txt"), "").unwrap();
        let mut files = Vec::new();
        for (i, (text, _)) in CASES.iter().enumerate() {
            for (kind, content) in [
                ("original", text.to_string()),
                ("space", space_file(text, &defaults())),
            ] {
                let path = dir.join(format!("{i}-{kind}.txt"));
                std::fs::write(&path, content).unwrap();
                files.push(path.to_string());
            }
        }
        let script = r#"
import json, sys, warnings
from pip._internal.network.session import PipSession
from pip._internal.req.req_file import parse_requirements
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
session = PipSession()
for path in sys.argv[1:]:
    names = []
    for parsed in parse_requirements(path, session=session):
        text = parsed.requirement
        try:
            names.append(canonicalize_name(Requirement(text).name))
        except Exception:
            names.append(text)  # a URL or a path
    print(json.dumps(names))
"#;
        let stdout = crate::tools::run_test_python(script, &files, "pip refused a file");
        let seen: Vec<Vec<String>> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(seen.len(), CASES.len() * 2, "{stdout}");
        let test_packages: Vec<String> = defaults().iter().map(|p| normalize(p)).collect();
        for (i, (text, _)) in CASES.iter().enumerate() {
            let (original, space) = (&seen[2 * i], &seen[2 * i + 1]);
            let expected: Vec<&String> = original
                .iter()
                .filter(|n| !test_packages.contains(n))
                .collect();
            assert_eq!(space.iter().collect::<Vec<_>>(), expected, "case {text:?}");
        }
    }

    #[test]
    fn the_header_comes_before_the_requirements_with_their_line_break() {
        let file = space_file("\u{feff}fastapi\r\npytest\r\n", &defaults());
        assert!(
            file.starts_with("# Generated by `cargo xtask generate`"),
            "{file:?}"
        );
        assert!(file.ends_with("do not edit.\r\nfastapi\r\n"), "{file:?}");
        assert!(!file.contains('\u{feff}'));
    }

    #[test]
    fn the_configured_list_is_normalized_too() {
        let packages = vec!["Mypy_Extensions".to_owned()];
        assert_eq!(
            without_test_packages("mypy-extensions==1\npytest\n", &packages),
            "pytest\n"
        );
    }

    #[test]
    fn test_packages_are_reported_with_their_line() {
        let text = "fastapi\n# tests \\\npytest==8\nhttpx\r\nPytest_Cov\rpy\\\ntest_asyncio\n";
        assert_eq!(
            test_packages_in(text, &defaults()),
            vec![
                (3, "pytest".to_owned()),
                (5, "Pytest_Cov".to_owned()),
                (6, "pytest_asyncio".to_owned())
            ]
        );
    }

    #[test]
    fn normalization_follows_pep_503() {
        assert_eq!(normalize("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
    }
}
