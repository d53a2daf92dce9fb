//! The frontend chat client's production `baseUrl` literal: found, checked and patched by
//! one regex (used by `check`'s lints and by `deploy`'s frontend step), and the `process.env` scan
//! of browser code.

use std::sync::LazyLock;

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use crate::pattern::Pattern;

/// The recipe's ternary for the backend URL, `isProduction ? '<url>' : 'http://localhost:8000'`, possibly
/// spread over lines; group `url` is the production literal (any JS quote style).
static BASE_URL: LazyLock<Pattern> = LazyLock::new(|| {
    Pattern::new(
        r#"\bisProduction\s*\?\s*['"`](?P<url>[^'"`\s]*)['"`]\s*:\s*['"`]http://localhost:\d+/?['"`]"#,
    )
});

/// The recipe's ternary, quoted in error messages so the fix is obvious.
pub(crate) const EXPECTED_SHAPE: &str =
    "`isProduction ? 'https://USER-SPACE.hf.space' : 'http://localhost:8000'`";

/// What `patch_base_url` did or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patch {
    /// The chat client, relative to the project root.
    pub(crate) file: Utf8PathBuf,
    /// 1-based line of the literal.
    pub(crate) line: usize,
    pub(crate) old_url: String,
    pub(crate) new_url: String,
}

impl Patch {
    pub(crate) fn changed(&self) -> bool {
        self.old_url != self.new_url
    }
}

/// The production `baseUrl` literal of a chat client's source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    /// 1-based line of the literal.
    pub(crate) line: usize,
    pub(crate) url: String,
    /// Byte range of the URL (inside the quotes) in the text.
    span: std::ops::Range<usize>,
}

/// Finds the one production `baseUrl` literal in `text` (the content of `file`); zero or
/// several matches are an error that names every place.
pub(crate) fn find_base_url(file: &Utf8Path, text: &str) -> Result<BaseUrl> {
    let found = base_urls(text);
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap()),
        0 => bail!(
            "{file}:1: no production baseUrl literal found: write the chat client's URL as {EXPECTED_SHAPE}"
        ),
        n => {
            let places: Vec<String> = found.iter().map(|b| format!("{file}:{}", b.line)).collect();
            bail!(
                "{}: the production baseUrl ternary appears {n} times; keep exactly one {EXPECTED_SHAPE} so it can be patched unambiguously",
                places.join(", ")
            )
        }
    }
}

/// Every production `baseUrl` literal in `text` (the contract is: exactly one).
pub(crate) fn base_urls(text: &str) -> Vec<BaseUrl> {
    // The regex runs only from each `isProduction` on (a window long enough for any sane
    // ternary): over the whole file it costs tens of millions of instructions in the
    // unoptimized build the pre-commit hook runs.
    const WINDOW: usize = 400;
    let mut found: Vec<BaseUrl> = Vec::new();
    for (at, _) in text.match_indices("isProduction") {
        let mut end = (at + WINDOW).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let Some(caps) = BASE_URL.captures_iter(&text[at..end]).next() else {
            continue;
        };
        let url = caps.name("url").unwrap();
        let span = at + url.start()..at + url.range().end;
        // `\b` before `isProduction`: not part of a longer name.
        let bounded = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if caps.get(0).is_some_and(|m| m.start() == 0) && bounded {
            found.push(BaseUrl {
                line: line_of(text, span.start),
                url: url.as_str().to_owned(),
                span,
            });
        }
    }
    found
}

/// Points the chat client's production `baseUrl` at `url`. The regex must match exactly once
/// (else an error with file:line, nothing written); writes atomically, and only when
/// `write` is true and the URL differs.
pub(crate) fn patch_base_url(
    root: &Utf8Path,
    client: &Utf8Path,
    url: &str,
    write: bool,
) -> Result<Patch> {
    if Origin::parse(url).is_none() {
        bail!(
            "the Space URL `{}` is not an origin: give it as https://HOST[:PORT] (letters, digits, `-` and `.` in \
             the host; no path, trailing `/`, quote or space)",
            crate::untrusted::line(url)
        );
    }
    let path = root.join(client);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the chat client {client}: set `frontend-client` in Cargo.toml [workspace.metadata.hf-space] to its path"))?;
    let found = find_base_url(client, &text)?;
    let patch = Patch {
        file: client.to_owned(),
        line: found.line,
        old_url: found.url.clone(),
        new_url: url.to_owned(),
    };
    if write && patch.changed() {
        let mut patched = String::with_capacity(text.len() + url.len());
        patched.push_str(&text[..found.span.start]);
        patched.push_str(url);
        patched.push_str(&text[found.span.end..]);
        crate::files::write_atomic(&path, patched.as_bytes(), None)?;
    }
    Ok(patch)
}

/// An origin in its strict grammar: `http` or `https`, `://`, a host of letters, digits, `-` and
/// `.` (or a bracketed IPv6 address), an optional port; nothing else (no path, no trailing `/`,
/// no user, no quote, space or control character). What may be written into the chat client's
/// source, and what a Space host reported by the Hub must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin<'a> {
    pub(crate) https: bool,
    /// Lowercase is not enforced; compare with `eq_ignore_ascii_case`.
    pub(crate) host: &'a str,
}

impl<'a> Origin<'a> {
    pub(crate) fn parse(url: &'a str) -> Option<Origin<'a>> {
        let (https, rest) = match url.split_once("://")? {
            (scheme, rest) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            (scheme, rest) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            _ => return None,
        };
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (address, after) = v6.split_once(']')?;
                let valid = !address.is_empty()
                    && address
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || ":.".contains(c));
                (valid.then_some(&rest[..address.len() + 2])?, after)
            }
            None => {
                let end = rest.find(':').unwrap_or(rest.len());
                let host = &rest[..end];
                let valid = host.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
                (valid.then_some(host)?, &rest[end..])
            }
        };
        match port.strip_prefix(':') {
            None if port.is_empty() => {}
            Some(digits)
                if digits.bytes().all(|b| b.is_ascii_digit())
                    && digits.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => return None,
        }
        Some(Origin { https, host })
    }

    /// One of [`LOCAL_HOSTS`](crate::http::LOCAL_HOSTS) (`[::1]` in brackets): this machine,
    /// where plain http is acceptable.
    pub(crate) fn is_loopback(&self) -> bool {
        let host = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host);
        crate::http::LOCAL_HOSTS
            .iter()
            .any(|h| host.eq_ignore_ascii_case(h))
    }

    /// Whether the host is a subdomain of `domain` (not `domain` itself).
    pub(crate) fn is_under(&self, domain: &str) -> bool {
        let host = self.host.to_ascii_lowercase();
        host.strip_suffix(&domain.to_ascii_lowercase())
            .is_some_and(|label| label.len() > 1 && label.ends_with('.'))
    }
}

/// Whether `path` (relative to the project root) is code that runs in the browser: sources
/// under `frontend/src`, except tests (Vitest runs those in Node, where `process` exists).
pub(crate) fn is_browser_source(path: &Utf8Path) -> bool {
    let name = path.file_name().unwrap_or_default();
    let is_code = [
        "ts", "tsx", "js", "jsx", "mjs", "cjs", "mts", "vue", "svelte",
    ]
    .iter()
    .any(|ext| path.extension() == Some(ext));
    let is_test = name.contains(".test.")
        || name.contains(".spec.")
        || path.components().any(|c| c.as_str() == "__tests__");
    path.starts_with(Utf8Path::new(crate::settings::FRONTEND_DIR).join("src"))
        && is_code
        && !is_test
}

/// 1-based lines of `text` that use `process.env` outside a comment: in the browser it
/// throws "process is not defined" (a common mistake when porting Node code).
pub(crate) fn process_env_lines(text: &str) -> Vec<usize> {
    let mut in_block_comment = false;
    let mut lines = Vec::new();
    if !text.contains("process.env") {
        return lines;
    }
    for (index, line) in text.lines().enumerate() {
        let mut code = String::new();
        let mut rest = line;
        loop {
            if in_block_comment {
                match rest.find("*/") {
                    Some(end) => {
                        in_block_comment = false;
                        rest = &rest[end + 2..];
                    }
                    None => break,
                }
            } else {
                let block = rest.find("/*");
                let slash = line_comment_start(rest);
                match (block, slash) {
                    (Some(b), s) if s.is_none_or(|s| b < s) => {
                        code.push_str(&rest[..b]);
                        in_block_comment = true;
                        rest = &rest[b + 2..];
                    }
                    (_, Some(s)) => {
                        code.push_str(&rest[..s]);
                        break;
                    }
                    _ => {
                        code.push_str(rest);
                        break;
                    }
                }
            }
        }
        if code.contains("process.env") {
            lines.push(index + 1);
        }
    }
    lines
}

/// Where a `//` comment starts, ignoring the `//` of a URL scheme (`'http://…'`).
fn line_comment_start(code: &str) -> Option<usize> {
    code.match_indices("//")
        .map(|(i, _)| i)
        .find(|&i| !code[..i].ends_with(':'))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_CLIENT: &str = "export class ChatClient {\n  private baseUrl: string;\n\n  constructor() {\n    const isProduction = typeof window !== 'undefined' &&\n      !window.location.hostname.includes('localhost');\n\n    this.baseUrl = isProduction\n      ? 'https://USERNAME-SPACE_NAME.hf.space'\n      : 'http://localhost:8000';\n  }\n}\n";

    /// A temporary project root with the frontend's services folder.
    fn project() -> crate::files::TempDir {
        let dir = crate::files::TempDir::new("xtask-frontend").unwrap();
        std::fs::create_dir_all(dir.path().join("frontend/src/services")).unwrap();
        dir
    }

    const CLIENT: &str = "frontend/src/services/chatClient.ts";

    #[test]
    fn finds_the_seed_ternary_across_lines() {
        let found = find_base_url(CLIENT.into(), SEED_CLIENT).unwrap();
        assert_eq!(
            (found.line, found.url.as_str()),
            (9, "https://USERNAME-SPACE_NAME.hf.space")
        );
    }

    #[test]
    fn finds_a_one_line_ternary_with_double_quotes() {
        let text = "const a = 1;\nthis.baseUrl = isProduction ? \"https://x.hf.space\" : \"http://localhost:8000\";\n";
        let found = find_base_url(CLIENT.into(), text).unwrap();
        assert_eq!((found.line, found.url.as_str()), (2, "https://x.hf.space"));
    }

    #[test]
    fn no_match_is_an_error_showing_the_expected_shape() {
        let err =
            find_base_url(CLIENT.into(), "this.baseUrl = 'https://x.hf.space';\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with("frontend/src/services/chatClient.ts:1: no production baseUrl literal"),
            "{msg}"
        );
        assert!(
            msg.contains("isProduction ? 'https://USER-SPACE.hf.space'"),
            "{msg}"
        );
    }

    #[test]
    fn two_matches_are_an_error_naming_both_lines() {
        let text = format!("{SEED_CLIENT}\n{SEED_CLIENT}");
        let msg = format!("{:#}", find_base_url(CLIENT.into(), &text).unwrap_err());
        assert!(
            msg.starts_with(
                "frontend/src/services/chatClient.ts:9, frontend/src/services/chatClient.ts:22: "
            ),
            "{msg}"
        );
        assert!(msg.contains("appears 2 times"), "{msg}");
    }

    #[test]
    fn patch_rewrites_only_the_literal_and_is_idempotent() {
        let dir = project();
        let path = dir.path().join(CLIENT);
        std::fs::write(&path, SEED_CLIENT).unwrap();
        let url = "https://anusha-soh-rag-chatbot.hf.space";

        let dry = patch_base_url(dir.path(), CLIENT.into(), url, false).unwrap();
        assert!(dry.changed());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            SEED_CLIENT,
            "a dry run writes nothing"
        );

        let patch = patch_base_url(dir.path(), CLIENT.into(), url, true).unwrap();
        assert_eq!(
            patch,
            Patch {
                file: CLIENT.into(),
                line: 9,
                old_url: "https://USERNAME-SPACE_NAME.hf.space".into(),
                new_url: url.into()
            }
        );
        let expected = SEED_CLIENT.replace("https://USERNAME-SPACE_NAME.hf.space", url);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let again = patch_base_url(dir.path(), CLIENT.into(), url, true).unwrap();
        assert!(!again.changed());
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            mtime,
            "an unchanged file is not rewritten"
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }

    #[test]
    fn patch_writes_nothing_when_the_literal_is_ambiguous() {
        let dir = project();
        let path = dir.path().join(CLIENT);
        let text = format!("{SEED_CLIENT}{SEED_CLIENT}");
        std::fs::write(&path, &text).unwrap();
        assert!(patch_base_url(dir.path(), CLIENT.into(), "https://a.hf.space", true).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn patch_refuses_urls_that_would_break_the_literal() {
        let dir = project();
        std::fs::write(dir.path().join(CLIENT), SEED_CLIENT).unwrap();
        for bad in [
            "https://a.hf.space/",
            "https://a'.hf.space",
            "ftp://a",
            "https://a b",
            "https://a.hf.space/x",
            "https://u@a.hf.space",
            "https://a.hf.space?x",
            "https://a.hf.space#x",
            "https://a.hf.space:0",
            "https://a.hf.space:99999",
            "https://a..hf.space",
            "https://a.hf.space${x}",
            "https://[::1",
            "https://",
        ] {
            let msg = format!(
                "{:#}",
                patch_base_url(dir.path(), CLIENT.into(), bad, true).unwrap_err()
            );
            assert!(msg.contains(bad) && msg.contains("not an origin"), "{msg}");
        }
        let msg = format!(
            "{:#}",
            patch_base_url(
                dir.path(),
                CLIENT.into(),
                "https://a.hf.space\x1b]8;;x\x07",
                true
            )
            .unwrap_err()
        );
        assert!(
            !msg.contains('\x1b') && !msg.contains('\x07') && msg.contains("\\x1b"),
            "{msg}"
        );
        for good in [
            "https://a-b.hf.space",
            "http://127.0.0.1:7860",
            "http://[::1]:8000",
            "https://X.Example",
        ] {
            patch_base_url(dir.path(), CLIENT.into(), good, false).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CLIENT)).unwrap(),
            SEED_CLIENT
        );
    }

    #[test]
    fn process_env_in_code_is_found_and_comments_are_ignored() {
        let text = "// never use process.env here\nconst a = process.env.API_URL;\n/* process.env\n still process.env */ const b = 1;\nconst c = 2; /* x */ const d = process.env.X; // process.env\nfetch('http://a' + process.env.B);\n";
        assert_eq!(process_env_lines(text), vec![2, 5, 6]);
    }

    #[test]
    fn browser_sources_exclude_tests_and_other_folders() {
        assert!(is_browser_source(
            "frontend/src/services/chatClient.ts".into()
        ));
        assert!(is_browser_source("frontend/src/main.tsx".into()));
        assert!(!is_browser_source(
            "frontend/src/services/chatClient.test.ts".into()
        ));
        assert!(!is_browser_source("frontend/src/__tests__/x.ts".into()));
        assert!(!is_browser_source("frontend/vite.config.ts".into()));
        assert!(!is_browser_source("frontend/src/style.css".into()));
    }
}
