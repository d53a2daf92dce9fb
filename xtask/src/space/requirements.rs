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

/// Logical lines of a requirements file: each is a run of physical lines (with their line
/// endings) joined by trailing backslashes, with the 1-based number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut lines: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut continued = false;
    for (index, physical) in text.split_inclusive('\n').enumerate() {
        match lines.last_mut() {
            Some((_, parts)) if continued => parts.push(physical),
            _ => lines.push((index + 1, vec![physical])),
        }
        continued = physical.trim_end().ends_with('\\');
    }
    lines
}

/// The test packages a requirements text names: (1-based line, name as written).
pub(crate) fn test_packages_in<'a>(
    text: &'a str,
    test_packages: &[String],
) -> Vec<(usize, &'a str)> {
    let wanted: Vec<String> = test_packages.iter().map(|p| normalize(p)).collect();
    logical_lines(text)
        .into_iter()
        .filter_map(|(line, parts)| {
            let name = requirement_name(parts[0])?;
            wanted.contains(&normalize(name)).then_some((line, name))
        })
        .collect()
}

/// `text` without the requirements of `test_packages` (with their continuation lines); every
/// other line is kept byte for byte.
pub(crate) fn without_test_packages(text: &str, test_packages: &[String]) -> String {
    let wanted: Vec<String> = test_packages.iter().map(|p| normalize(p)).collect();
    let mut out = String::with_capacity(text.len());
    for (_, parts) in logical_lines(text) {
        let is_test =
            requirement_name(parts[0]).is_some_and(|name| wanted.contains(&normalize(name)));
        if !is_test {
            parts.iter().for_each(|p| out.push_str(p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        crate::settings::Generator::default().test_packages
    }

    #[test]
    fn test_packages_are_removed_by_normalized_name() {
        // (line, kept?) — every case is one line of a requirements file.
        let table: &[(&str, bool)] = &[
            ("pytest\n", false),
            ("PyTest==8\n", false),
            ("pytest_asyncio\n", false),
            ("pytest-cov[toml]>=4 ; python_version>\"3\"\n", false),
            ("Pytest.Asyncio>=0.21\n", false),
            ("  pytest  \n", false),
            (
                "pytest @ https://example.com/pytest-8.0-py3-none-any.whl\n",
                false,
            ),
            ("pytest-cov\r\n", false),
            ("pytest;python_version<'3.12'\n", false),
            ("pytest  # the test runner\n", false),
            ("pytest-xdist==3.5\n", true),
            ("pytestify\n", true),
            ("fastapi==0.110  # pytest is not this\n", true),
            ("# pytest==8\n", true),
            ("-r requirements-base.txt\n", true),
            ("-e ./vendor/pytest\n", true),
            ("--index-url https://pypi.org/simple\n", true),
            ("https://example.com/pytest-8.0-py3-none-any.whl\n", true),
            (
                "git+https://github.com/pytest-dev/pytest#egg=pytest\n",
                true,
            ),
            ("./pytest\n", true),
            ("uvicorn[standard]>=0.29; python_version >= \"3.8\"\n", true),
            ("psycopg[binary]==3.3.9\n", true),
            ("\n", true),
        ];
        for (line, kept) in table {
            let expected = if *kept {
                line.to_string()
            } else {
                String::new()
            };
            assert_eq!(
                without_test_packages(line, &defaults()),
                expected,
                "line {line:?}"
            );
        }
    }

    #[test]
    fn continuation_lines_go_with_their_requirement() {
        let text = "fastapi==1 \\\n    --hash=sha256:aaa\npytest==8.0 \\\n    --hash=sha256:bbb \\\n    --hash=sha256:ccc\nuvicorn==2\n";
        assert_eq!(
            without_test_packages(text, &defaults()),
            "fastapi==1 \\\n    --hash=sha256:aaa\nuvicorn==2\n"
        );
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
    fn a_file_without_a_final_newline_keeps_its_last_line_verbatim() {
        assert_eq!(
            without_test_packages("pytest\nnumpy==2", &defaults()),
            "numpy==2"
        );
    }

    #[test]
    fn test_packages_are_reported_with_their_line() {
        let text = "fastapi\n# tests\npytest==8\nhttpx\nPytest_Cov\n";
        assert_eq!(
            test_packages_in(text, &defaults()),
            vec![(3, "pytest"), (5, "Pytest_Cov")]
        );
    }

    #[test]
    fn normalization_follows_pep_503() {
        assert_eq!(normalize("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
    }
}
