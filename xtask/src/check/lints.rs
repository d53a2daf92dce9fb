//! The lints of DESIGN.md ("What `check` lints"), on a snapshot of the worktree or index.
//! Each failure names file, line and rule; none prints a secret it found.

use std::fmt;
use std::sync::LazyLock;

use camino::{Utf8Path, Utf8PathBuf};

use crate::frontend;
use crate::pattern::Pattern;
use crate::settings::{COLORS, FRONTEND_DIR, Generator, HfSpace, SHORT_DESCRIPTION_MAX, SPACE_DIR};
use crate::space::{Memo, Snapshot, requirements};

/// The port Spaces route to when the README does not say `app_port`.
const SPACES_DEFAULT_PORT: u16 = 7860;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) file: Utf8PathBuf,
    pub(crate) line: usize,
    pub(crate) rule: &'static str,
    pub(crate) message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.rule, self.message
        )
    }
}

struct Failures(Vec<Failure>);

impl Failures {
    fn add(
        &mut self,
        file: &Utf8Path,
        line: usize,
        rule: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(Failure {
            file: file.to_owned(),
            line,
            rule,
            message: message.into(),
        });
    }
}

/// What the chat client's production URL is checked against.
#[derive(Clone, Copy)]
pub(crate) enum ClientUrl {
    /// The Space URL the settings configure (`check`, the pre-commit hook).
    Configured,
    /// Its shape only: `deploy` writes the URL it deploys to into it right after the lints.
    PatchedNext,
}

/// Runs every lint; an empty list means they all pass.
/// `memo` remembers the files the secret scan found clean, by content.
pub(crate) fn run(
    snapshot: &Snapshot,
    settings: &HfSpace,
    client_url: ClientUrl,
    memo: &mut Memo,
) -> Vec<Failure> {
    let mut failures = Failures(Vec::new());
    let readme_path = Utf8Path::new(SPACE_DIR).join("README.md");
    let front_matter = match text(snapshot, &readme_path) {
        Some(text) => front_matter(&readme_path, text, &mut failures),
        None => {
            failures.add(
                &readme_path,
                1,
                "front-matter",
                "the Space has no README.md: run `cargo xtask generate`",
            );
            None
        }
    };
    let app_port = front_matter
        .and_then(|port| port)
        .unwrap_or(SPACES_DEFAULT_PORT);
    let dockerfile_path = Utf8Path::new(SPACE_DIR).join("Dockerfile");
    match text(snapshot, &dockerfile_path) {
        Some(text) => dockerfile(
            &dockerfile_path,
            text,
            app_port,
            &settings.generator,
            &mut failures,
        ),
        None => failures.add(
            &dockerfile_path,
            1,
            "healthcheck",
            "the Space has no Dockerfile: run `cargo xtask generate`",
        ),
    }
    let requirements_path = Utf8Path::new(SPACE_DIR).join("requirements.txt");
    if let Some(text) = text(snapshot, &requirements_path) {
        for (line, name) in requirements::test_packages_in(text, &settings.generator.test_packages)
        {
            failures.add(&requirements_path, line, "test-packages", format!("`{name}` is a test package (test-packages in Cargo.toml): the Space must not install it; remove it from backend/requirements.txt's runtime lines or regenerate"));
        }
    }
    frontend_lints(snapshot, settings, client_url, &mut failures);
    secrets(snapshot, memo, &mut failures);
    failures.0
}

fn text<'a>(snapshot: &'a Snapshot, path: &Utf8Path) -> Option<&'a str> {
    snapshot
        .get(path)
        .map(|bytes| std::str::from_utf8(bytes).unwrap_or_default())
}

/// Checks the README's Spaces front matter; returns `Some(app_port)` when it could be read.
fn front_matter(path: &Utf8Path, text: &str, failures: &mut Failures) -> Option<Option<u16>> {
    const RULE: &str = "front-matter";
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, l)| l) != Some("---") {
        failures.add(
            path,
            1,
            RULE,
            "README.md must start with `---` and the Spaces YAML front matter",
        );
        return None;
    }
    let mut keys: Vec<(usize, &str, String)> = Vec::new();
    let mut closed = false;
    for (index, line) in lines {
        if line == "---" {
            closed = true;
            break;
        }
        match line.split_once(':') {
            Some((key, value))
                if !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                if keys.iter().any(|(_, k, _)| *k == key) {
                    failures.add(path, index + 1, RULE, format!("`{key}` appears twice"));
                }
                keys.push((index + 1, key, unquote(value.trim())));
            }
            _ if line.trim().is_empty() || line.trim_start().starts_with('#') => {}
            _ => failures.add(path, index + 1, RULE, "not a `key: value` line"),
        }
    }
    if !closed {
        failures.add(
            path,
            1,
            RULE,
            "the front matter is not closed by a `---` line",
        );
        return None;
    }
    let get = |key: &str| keys.iter().find(|(_, k, _)| *k == key);
    for key in [
        "title",
        "emoji",
        "colorFrom",
        "colorTo",
        "sdk",
        "app_port",
        "short_description",
    ] {
        if get(key).is_none_or(|(_, _, v)| v.is_empty()) {
            failures.add(path, 1, RULE, format!("`{key}` is missing or empty"));
        }
    }
    if let Some((line, _, sdk)) = get("sdk").filter(|(_, _, v)| v != "docker") {
        failures.add(
            path,
            *line,
            RULE,
            format!(
                "sdk is `{sdk}`: this Space is built from its Dockerfile, so it must be `docker`"
            ),
        );
    }
    for key in ["colorFrom", "colorTo"] {
        if let Some((line, _, color)) =
            get(key).filter(|(_, _, v)| !v.is_empty() && !COLORS.contains(&v.as_str()))
        {
            failures.add(
                path,
                *line,
                RULE,
                format!(
                    "{key} `{color}` is not a Spaces color: use one of {}",
                    COLORS.join(", ")
                ),
            );
        }
    }
    if let Some((line, _, text)) =
        get("short_description").filter(|(_, _, v)| v.chars().count() > SHORT_DESCRIPTION_MAX)
    {
        failures.add(
            path,
            *line,
            RULE,
            format!(
                "short_description is {} characters: the Hub allows {}",
                text.chars().count(),
                SHORT_DESCRIPTION_MAX
            ),
        );
    }
    let port = match get("app_port") {
        Some((line, _, value)) => match value.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                failures.add(
                    path,
                    *line,
                    RULE,
                    format!("app_port `{value}` is not a port number"),
                );
                None
            }
        },
        None => None,
    };
    Some(port)
}

fn unquote(value: &str) -> String {
    let quoted = value.len() >= 2
        && (value.starts_with('"') && value.ends_with('"')
            || value.starts_with('\'') && value.ends_with('\''));
    if quoted {
        value[1..value.len() - 1].to_owned()
    } else {
        value.to_owned()
    }
}

/// A Dockerfile instruction with its continuation lines joined.
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut found: Vec<Instruction> = Vec::new();
    let mut continued = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && !continued) {
            continue;
        }
        let body = trimmed.strip_suffix('\\').unwrap_or(trimmed);
        if continued {
            let last = found.last_mut().unwrap();
            last.args.push(' ');
            last.args.push_str(body.trim());
        } else {
            let (keyword, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
            found.push(Instruction {
                line: index + 1,
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            });
        }
        continued = trimmed.ends_with('\\');
    }
    found
}

/// The port after `--port` in a CMD, in exec (`"--port", "7860"`) or shell form.
fn cmd_port(args: &str) -> Option<&str> {
    let after = &args[args.find("--port")? + "--port".len()..];
    digits(after.trim_start_matches(|c: char| c.is_whitespace() || "\"',=".contains(c)))
}

/// The port of the local URL a HEALTHCHECK probes. uvicorn listens on 0.0.0.0, IPv4 only: this
/// machine's IPv4 names reach it, and 0.0.0.0 itself does; `[::1]` does not.
fn local_port(args: &str) -> Option<&str> {
    let ipv4 = crate::http::LOCAL_HOSTS.iter().filter(|h| !h.contains(':'));
    ipv4.chain(&["0.0.0.0"]).find_map(|host| {
        let host = format!("{host}:");
        digits(&args[args.find(&host)? + host.len()..])
    })
}

fn digits(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The Dockerfile against the Hub's rules and the configured UID and health path.
fn dockerfile(
    path: &Utf8Path,
    text: &str,
    app_port: u16,
    generator: &Generator,
    failures: &mut Failures,
) {
    let uid = generator.uid.to_string();
    let uid = uid.as_str();
    let health_path = generator.health_path.as_str();
    let all = instructions(text);
    let port_rule = |what: &str, port: &str| {
        format!(
            "{what} uses port {port} but README.md says app_port {app_port}: Spaces route traffic to app_port, so both must agree"
        )
    };
    let mut healthchecks = 0;
    let mut user: Option<(&Instruction, String)> = None;
    for ins in &all {
        match ins.keyword.as_str() {
            "EXPOSE" => {
                for port in ins.args.split_whitespace().map(|p| p.split('/').next().unwrap()) {
                    if port != app_port.to_string() {
                        failures.add(path, ins.line, "port", port_rule("EXPOSE", port));
                    }
                }
            }
            "CMD" | "ENTRYPOINT" => match cmd_port(&ins.args) {
                Some(port) if port != app_port.to_string() => failures.add(path, ins.line, "port", port_rule(&ins.keyword, port)),
                Some(_) => {}
                None if ins.keyword == "CMD" => failures.add(path, ins.line, "port", format!("CMD passes no `--port`: uvicorn would listen on 8000, not app_port {app_port}")),
                None => {}
            },
            "HEALTHCHECK" => {
                if ins.args.trim().eq_ignore_ascii_case("NONE") {
                    failures.add(path, ins.line, "healthcheck", "HEALTHCHECK NONE disables the health check: probe the health endpoint instead");
                    continue;
                }
                healthchecks += 1;
                match local_port(&ins.args) {
                    Some(port) if port != app_port.to_string() => failures.add(path, ins.line, "port", port_rule("HEALTHCHECK", port)),
                    Some(_) => {}
                    None => failures.add(path, ins.line, "port", format!("HEALTHCHECK does not probe localhost:{app_port}")),
                }
                if !ins.args.contains(&format!(":{app_port}{health_path}")) {
                    failures.add(path, ins.line, "healthcheck", format!("HEALTHCHECK does not probe the configured health path {health_path} (health-path in Cargo.toml): probe http://localhost:{app_port}{health_path}"));
                }
            }
            "USER" => user = Some((ins, ins.args.split(':').next().unwrap_or("").trim().to_owned())),
            _ => {}
        }
    }
    if healthchecks == 0 {
        failures.add(path, 1, "healthcheck", "no HEALTHCHECK: add one that curls the health endpoint so a broken container shows as unhealthy");
    }

    // USER must end up as the configured UID: numerically, or a user `useradd` created with it.
    let user_name = match &user {
        None => {
            failures.add(path, 1, "user-uid", format!("no USER instruction: Spaces run the app as UID {uid}; add `RUN useradd -m -u {uid} user` and `USER user`"));
            None
        }
        Some((ins, name)) if name.chars().all(|c| c.is_ascii_digit()) => {
            if name != uid {
                failures.add(
                    path,
                    ins.line,
                    "user-uid",
                    format!("USER {name}: Spaces run the app as UID {uid}"),
                );
            }
            Some(name.clone())
        }
        Some((ins, name)) => {
            match all.iter().filter(|i| i.keyword == "RUN").find_map(|i| useradd(&i.args, name).map(|created| (i, created))) {
                Some((_, Some(created))) if created == uid => {}
                Some((run, created)) => failures.add(path, run.line, "user-uid", format!("user `{name}` is created with UID {}: the app must run as UID {uid} (uid in Cargo.toml; Spaces run UID 1000): write `useradd -u {uid} {name}`", created.unwrap_or_else(|| "(unspecified)".into()))),
                None => failures.add(path, ins.line, "user-uid", format!("USER {name} is never created: add `RUN useradd -m -u {uid} {name}` before it")),
            }
            Some(name.clone())
        }
    };

    for ins in all
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "ADD")
    {
        let owner = ins
            .args
            .split_whitespace()
            .find_map(|a| a.strip_prefix("--chown="))
            .map(|o| o.split(':').next().unwrap_or(""));
        let wanted = user_name.as_deref().unwrap_or("user");
        match owner {
            Some(owner) if owner == wanted || owner == uid => {}
            Some(owner) => failures.add(path, ins.line, "copy-chown", format!("{} --chown={owner}: files must belong to `{wanted}` (UID {uid}), who runs the app", ins.keyword)),
            None => failures.add(path, ins.line, "copy-chown", format!("{} without `--chown={wanted}`: the files would belong to root and the app (UID {uid}) could not write next to them", ins.keyword)),
        }
    }
}

/// For a RUN that creates `name` with `useradd`: `Some(uid)` (`None` inside when no `-u`).
fn useradd(run: &str, name: &str) -> Option<Option<String>> {
    run.split(['&', ';', '|']).find_map(|command| {
        let words: Vec<&str> = command.split_whitespace().collect();
        let start = words.iter().position(|w| *w == "useradd")?;
        let words = &words[start + 1..];
        if words.last() != Some(&name) {
            return None;
        }
        let uid = words.iter().enumerate().find_map(|(i, w)| match *w {
            "-u" | "--uid" => words.get(i + 1).map(|s| s.to_string()),
            _ => w.strip_prefix("--uid=").map(str::to_owned),
        });
        Some(uid)
    })
}

fn frontend_lints(
    snapshot: &Snapshot,
    settings: &HfSpace,
    client_url: ClientUrl,
    failures: &mut Failures,
) {
    let frontend_prefix = format!("{FRONTEND_DIR}/");
    if snapshot.under(&frontend_prefix).next().is_none() {
        return; // no frontend in this repository
    }
    let client = &settings.frontend_client;
    match text(snapshot, client) {
        None => failures.add(client, 1, "frontend-base-url", "the chat client is missing: set `frontend-client` in Cargo.toml [workspace.metadata.hf-space] to its path"),
        Some(text) => {
            let found = frontend::base_urls(text);
            let configured = match client_url {
                ClientUrl::Configured => Some(settings.configured_space_url()),
                ClientUrl::PatchedNext => None,
            };
            match (found.as_slice(), configured) {
                ([], _) => failures.add(client, 1, "frontend-base-url", format!("no production baseUrl literal: write it as {}", frontend::EXPECTED_SHAPE)),
                ([one], Some(Some(url))) if one.url != url => failures.add(client, one.line, "frontend-base-url", format!("the production baseUrl is '{}' but the configured Space URL is '{url}': run `cargo xtask deploy` (it patches this literal) or edit it", one.url)),
                ([_], Some(Some(_)) | None) => {}
                ([_], Some(None)) => failures.add(Utf8Path::new("Cargo.toml"), 1, "frontend-base-url", "no Space URL is configured: set `user` and `space` (or `space-url`) in [workspace.metadata.hf-space]"),
                (many, _) => {
                    for b in many {
                        failures.add(client, b.line, "frontend-base-url", format!("one of {} production baseUrl ternaries: keep exactly one so `deploy` can patch it", many.len()));
                    }
                }
            }
        }
    }
    for (path, bytes) in snapshot
        .files()
        .filter(|(p, _)| frontend::is_browser_source(p))
    {
        for line in frontend::process_env_lines(&String::from_utf8_lossy(bytes)) {
            failures.add(path, line, "process-env", "`process.env` in browser code throws \"process is not defined\": detect production from window.location.hostname instead");
        }
    }
}

/// A URL with `user:password@host`: the password and the host.
static URL_PASSWORD: LazyLock<Pattern> = LazyLock::new(|| {
    Pattern::new(r#"[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'"]+:([^/\s@'"]+)@(\[[^\]]*\]|[^/\s:?#'"]+)"#)
});

/// Passwords in URLs that are not secrets: local development databases and placeholders.
fn is_harmless_url_password(password: &str, host: &str) -> bool {
    let local = [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "0.0.0.0",
        "db",
        "postgres",
    ]
    .contains(&host);
    let lower = password.to_ascii_lowercase();
    let placeholder = ["password", "pass", "secret", "changeme", "pwd"].contains(&lower.as_str())
        || password.starts_with(['<', '$', '{', '*', '%'])
        || password
            .chars()
            .all(|c| c == 'x' || c == 'X' || c == '*' || c == '.');
    local || placeholder
}

/// No secret in any file of the Space folder (what `deploy` pushes) or the browser code.
fn secrets(snapshot: &Snapshot, memo: &mut Memo, failures: &mut Failures) {
    let space_prefix = format!("{SPACE_DIR}/");
    let frontend_src = Utf8Path::new(FRONTEND_DIR).join("src");
    for (path, bytes, id) in snapshot.files_with_ids() {
        let in_space = path.starts_with(SPACE_DIR);
        if !(in_space || path.starts_with(&frontend_src)) {
            continue;
        }
        let name = path.file_name().unwrap_or_default();
        if in_space && (name == ".env" || name.starts_with(".env.") && !name.ends_with(".example"))
        {
            failures.add(path, 1, "secret", format!("{name} files hold secrets and must never be pushed: remove it from {space_prefix}"));
        }
        // The scan depends on the content alone: a content found clean before is clean.
        if memo.is_clean(id) {
            continue;
        }
        let before = failures.0.len();
        let found = scan_secrets(bytes);
        for (line, what) in found.tokens {
            failures.add(path, line, "secret", format!("contains {what}: remove it and revoke it; secrets belong in the Space's settings"));
        }
        for (line, range) in found.url_lines {
            if !may_hold_a_password(&bytes[range.clone()]) {
                continue; // most URLs: no `@` in their authority
            }
            let code = String::from_utf8_lossy(&bytes[range]);
            if URL_PASSWORD
                .captures_iter(&code)
                .any(|caps| !is_harmless_url_password(&caps[1], &caps[2]))
            {
                failures.add(path, line, "secret", "contains a URL with a password: remove the password and set the URL as a Space secret instead");
            }
        }
        if failures.0.len() == before {
            memo.remember_clean(id);
        }
    }
}

/// Whether a line can hold a `scheme://user:password@host` URL: some `://` whose authority
/// (up to the next `/`, whitespace or quote, as in `URL_PASSWORD`) has an `@`. A cheap test
/// that spares most lines the regex, which runs without a DFA in the hook's build.
fn may_hold_a_password(line: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 <= line.len() {
        if &line[i..i + 3] == b"://" {
            let mut j = i + 3;
            while j < line.len() && !matches!(line[j], b'/' | b' ' | b'\t' | b'\'' | b'"') {
                if line[j] == b'@' {
                    return true;
                }
                j += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    false
}

struct Found {
    /// (1-based line, what kind of token).
    tokens: Vec<(usize, &'static str)>,
    /// Lines holding `://`, where a URL may carry a password: (1-based line, byte range).
    url_lines: Vec<(usize, std::ops::Range<usize>)>,
}

/// One pass over a file, byte by byte: a hand-written scan, because this runs over every
/// generated and browser file in the pre-commit hook, from an unoptimized build, where a
/// regex over the same bytes costs several times more.
fn scan_secrets(bytes: &[u8]) -> Found {
    let run = |from: usize, allowed: fn(u8) -> bool| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take_while(|b| allowed(**b))
            .count()
    };
    let mut found = Found {
        tokens: Vec::new(),
        url_lines: Vec::new(),
    };
    let (mut line, mut line_start, mut i) = (1, 0, 0);
    while i < bytes.len() {
        // Skip, in a tight loop, the bytes no rule starts with.
        while i < bytes.len() && !matches!(bytes[i], b'\n' | b'h' | b'A' | b':') {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            // Hugging Face tokens: `hf_` and 34 letters or digits (30 or more, to be safe).
            b'h' if bytes.get(i + 1) == Some(&b'f')
                && bytes.get(i + 2) == Some(&b'_')
                && run(i + 3, |b| b.is_ascii_alphanumeric()) >= 30 =>
            {
                found.tokens.push((line, "a Hugging Face token (hf_…)"));
            }
            // Google API keys: `AIza` and 35 more.
            b'A' if bytes.get(i + 1) == Some(&b'I')
                && bytes[i..].starts_with(b"AIza")
                && run(i + 4, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                }) >= 35 =>
            {
                found.tokens.push((line, "a Google API key (AIza…)"));
            }
            b':' if bytes.get(i + 1) == Some(&b'/')
                && bytes[i..].starts_with(b"://")
                && found.url_lines.last().is_none_or(|(l, _)| *l != line) =>
            {
                let end = bytes[i..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(bytes.len(), |n| i + n);
                found.url_lines.push((line, line_start..end));
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Origin;

    #[test]
    fn useradd_finds_the_uid_of_the_named_user() {
        assert_eq!(
            useradd("apt-get update && useradd -m -u 1000 user", "user"),
            Some(Some("1000".into()))
        );
        assert_eq!(
            useradd("useradd --uid=1001 -m app", "app"),
            Some(Some("1001".into()))
        );
        assert_eq!(useradd("useradd -m app", "app"), Some(None));
        assert_eq!(useradd("useradd -m -u 1000 other", "user"), None);
    }

    #[test]
    fn a_healthcheck_probes_a_host_that_reaches_uvicorn_on_0_0_0_0() {
        for host in ["localhost", "127.0.0.1", "0.0.0.0"] {
            let args = format!("CMD curl -f http://{host}:7860/api/health || exit 1");
            assert_eq!(local_port(&args), Some("7860"), "{host}");
        }
        assert_eq!(local_port("CMD curl -f http://[::1]:7860/api/health"), None);
        assert_eq!(local_port("CMD curl -f http://example.com:7860/"), None);
    }

    #[test]
    fn continuation_lines_belong_to_their_instruction() {
        let found = instructions(
            "FROM x\n# c\nHEALTHCHECK --interval=1s \\\n    CMD curl -f http://localhost:7860/ || exit 1\nEXPOSE 7860\n",
        );
        let summary: Vec<(usize, &str)> =
            found.iter().map(|i| (i.line, i.keyword.as_str())).collect();
        assert_eq!(summary, [(1, "FROM"), (3, "HEALTHCHECK"), (5, "EXPOSE")]);
        assert!(
            found[1]
                .args
                .ends_with("CMD curl -f http://localhost:7860/ || exit 1")
        );
    }

    #[test]
    fn the_secret_scan_finds_tokens_by_shape_with_their_line() {
        let text = b"hf_short\nx = 'hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567'\n\nkey=AIzaSyA1234567890abcdefghijklmnopqrstuv;\nsee https://example.com\n";
        let found = scan_secrets(text);
        assert_eq!(
            found.tokens,
            [
                (2, "a Hugging Face token (hf_…)"),
                (4, "a Google API key (AIza…)")
            ]
        );
        let lines: Vec<usize> = found.url_lines.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [5]);
        assert_eq!(
            &text[found.url_lines[0].1.clone()],
            b"see https://example.com"
        );
    }

    #[test]
    fn local_and_placeholder_url_passwords_are_not_secrets() {
        let snapshot = Snapshot::from_files(
            Origin::Worktree,
            [(
                "huggingface-spaces/app/core/config.py",
                "a = 'postgresql://postgres:postgres@localhost:5432/app'\nb = 'postgresql://user:<password>@host/db'\nc = 'postgresql://neon:s3cr3tValue@ep-x.neon.tech/db'\n",
            )],
        );
        let mut failures = Failures(Vec::new());
        secrets(&snapshot, &mut Memo::default(), &mut failures);
        let lines: Vec<usize> = failures.0.iter().map(|f| f.line).collect();
        assert_eq!(lines, [3]);
        assert!(
            !failures.0[0].to_string().contains("s3cr3tValue"),
            "the secret itself is never printed"
        );
    }
}
