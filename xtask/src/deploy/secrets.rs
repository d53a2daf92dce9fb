//! The Space's secrets: validated from `--secrets-file` before any
//! request, or printed as the table the user fills in on the Space's settings page.

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::settings::{SPACE_SECRETS, is_space_secret};
use crate::space::{BackendSettings, Secret};

/// Secrets read from a file: `(key, value)` in file order.
#[derive(Debug)]
pub(crate) struct Secrets(pub(crate) Vec<(String, String)>);

impl Secrets {
    /// Reads `KEY=VALUE` lines (blank lines and `#` comments skipped) and validates every
    /// one, by the backend's own rules where it declares them; the error lists each problem as
    /// `file:line: KEY: what to fix`.
    pub(crate) fn load(
        path: &Utf8Path,
        frontend_url: &str,
        backend: &BackendSettings,
    ) -> Result<Secrets> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --secrets-file {path}"))?;
        Secrets::parse(&text, path.as_str(), frontend_url, backend)
    }

    fn parse(
        text: &str,
        file: &str,
        frontend_url: &str,
        backend: &BackendSettings,
    ) -> Result<Secrets> {
        let mut secrets: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let at = format!("{file}:{}", index + 1);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            // A malformed line may be a secret itself: it is never shown, nor a key that is
            // not a name (`DATABASE_URL: postgresql://u:pw@h/db?sslmode=require` splits at `=`).
            let Some((key, value)) = line.split_once('=').filter(|(key, _)| is_name(key.trim()))
            else {
                problems.push(format!(
                    "{at}: expected KEY=VALUE with KEY a name such as DATABASE_URL (the line is not shown: it may hold a secret)"
                ));
                continue;
            };
            let key = key.trim();
            let value = unquote(value);
            if !is_space_secret(key) {
                problems.push(format!(
                    "{at}: {key}: not one of the Space's secrets ({})",
                    SPACE_SECRETS.join(", ")
                ));
            } else if secrets.iter().any(|(k, _)| k == key) {
                problems.push(format!("{at}: {key}: set twice; keep one line"));
            } else if let Err(why) = validate(key, value, frontend_url, backend) {
                problems.push(format!("{at}: {key}: {why}"));
            } else {
                secrets.push((key.to_owned(), value.to_owned()));
            }
        }
        if !problems.is_empty() {
            bail!(
                "invalid secrets, nothing was sent:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(Secrets(secrets))
    }

    /// The Space's secrets this file leaves as they are on the Space.
    pub(crate) fn unset(&self) -> Vec<&'static str> {
        SPACE_SECRETS
            .into_iter()
            .filter(|k| !self.0.iter().any(|(key, _)| key == k))
            .collect()
    }
}

/// An environment variable name: a letter or `_`, then letters, digits and `_`.
fn is_name(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` (a Hub answer) with `secret` replaced wherever it appears as written, JSON-escaped
/// (also with non-ASCII as `\uXXXX`) or URL-encoded (`%XX` in either case, or `+` for a space).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json[1..json.len() - 1].to_owned();
    let json_ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    let percent = |space_as_plus: bool, lower: bool| -> String {
        secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' if space_as_plus => "+".to_owned(),
                b if lower => format!("%{b:02x}"),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut forms = vec![
        secret.to_owned(),
        json.clone(),
        json_ascii.clone(),
        json_ascii.to_uppercase().replace("\\U", "\\u"),
        percent(false, false),
        percent(false, true),
        percent(true, false),
        percent(true, true),
    ];
    // Longest first, so a form is not half-replaced by a shorter one.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    let mut out = text.to_owned();
    for form in forms {
        out = out.replace(&form, "<the value>");
    }
    out
}

/// Where `url` (a `postgresql://` URL) would not parse as libpq and URL parsers read it: an
/// unescaped `@` or space, a `%` not followed by two hex digits, or `%00`. The message shows
/// the URL with its password as `***`.
fn database_url_problem(url: &str) -> Option<String> {
    let (scheme, shown_userinfo, shown_after) = split_userinfo(url);
    let rest = &url[scheme.len()..];
    // The user and password end at the last `@` before any `?` or `#` (a password may hold `/`).
    let userinfo = rest
        .rfind('@')
        .filter(|&at| !rest[..at].contains(['?', '#']))
        .map(|at| &rest[..at]);
    // Shown with everything between the user's `:` and the last `@` hidden, wherever that `@`
    // is: a password may hold `?` or `#` too, and hiding too much is only less helpful.
    let shown = match shown_userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***@{shown_after}"),
            None => format!("{scheme}{info}@{shown_after}"),
        },
        None => url.to_owned(),
    };
    let shown = crate::untrusted::line(&shown);
    let problem = |why: &str| Some(format!("{why}: {shown}"));
    if userinfo.is_some_and(|info| info.contains('@')) {
        return problem("the user or password holds an unescaped `@`: write it as %40");
    }
    if url.contains(char::is_whitespace) {
        return problem("the URL holds a space: write it as %20");
    }
    let bytes = url.as_bytes();
    for (at, _) in url.match_indices('%') {
        let hex = bytes.get(at + 1..at + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return problem("a `%` is not followed by two hex digits: write a literal `%` as %25");
        }
        if hex == Some(b"00") {
            return problem("`%00` (a NUL byte) is not allowed in a connection string");
        }
    }
    None
}

/// A URL's scheme (with `://`), its user and password (everything up to the last `@`), and
/// what follows that `@`: the host never holds a fragment of the password.
fn split_userinfo(url: &str) -> (&str, Option<&str>, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let scheme = &url[..url.len() - rest.len()];
    match rest.rfind('@') {
        Some(at) => (scheme, Some(&rest[..at]), &rest[at + 1..]),
        None => (scheme, None, rest),
    }
}

/// `"value"` or `'value'` without the quotes; anything else as written.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

/// `value` for `key` as the backend will judge it: its `LOCAL_DB_HOSTS` and `LOG_LEVELS`
/// where it declares them (where not, the Space alone judges those at startup).
fn validate(
    key: &str,
    value: &str,
    frontend_url: &str,
    backend: &BackendSettings,
) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty value".to_owned());
    }
    if value.trim() != value {
        return Err(
            "surrounding whitespace (a pasted value often ends in a space or newline): remove it"
                .to_owned(),
        );
    }
    match key {
        "DATABASE_URL" => {
            if let Some(problem) = database_url_problem(value) {
                return Err(problem);
            }
            if !value.starts_with("postgresql://") && !value.starts_with("postgres://") {
                return Err("must start with postgresql:// (or postgres://)".to_owned());
            }
            let (_, _, after) = split_userinfo(value);
            let host_port = after.split(['/', '?', '#']).next().unwrap_or_default();
            let host = if host_port.starts_with('[') {
                host_port
                    .split(']')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('[')
            } else {
                host_port.split(':').next().unwrap_or_default()
            };
            let local = backend
                .local_db_hosts
                .as_ref()
                .is_none_or(|hosts| hosts.iter().any(|h| h == host));
            let query = value.split_once('?').map(|(_, q)| q).unwrap_or_default();
            if !local
                && !query
                    .split('&')
                    .any(|p| p == "sslmode=require" || p == "sslmode=verify-full")
            {
                return Err(format!(
                    "host {host} is remote: add `?sslmode=require` (Neon refuses connections without it)"
                ));
            }
        }
        "QDRANT_URL" => {
            if !value.starts_with("https://") {
                return Err("must be an https:// URL (Qdrant Cloud)".to_owned());
            }
            if value.ends_with('/') {
                return Err("remove the trailing `/`".to_owned());
            }
        }
        "ALLOWED_ORIGINS"
            if !value
                .split(',')
                .any(|origin| origin.trim().trim_end_matches('/') == frontend_url) =>
        {
            return Err(format!(
                "must contain the frontend URL {frontend_url} (else browsers get CORS errors)"
            ));
        }
        "LOG_LEVEL" => {
            if let Some(levels) = &backend.log_levels
                && !levels.contains(&value.to_ascii_uppercase())
            {
                return Err(format!("one of {}", levels.join(", ")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The Space's secrets table under `intro`, for a user without `--secrets-file`, with the
/// backend's descriptions (`secrets`: the Settings fields).
pub(crate) fn table(intro: &str, frontend_url: &str, secrets: &[Secret]) -> String {
    let mut out = format!("{intro}\n");
    out.push_str("  | Secret | Description |\n  |---|---|\n");
    for Secret {
        env: key,
        description: what,
    } in secrets.iter().filter(|s| is_space_secret(&s.env))
    {
        let what = if key == "ALLOWED_ORIGINS" {
            format!("{what}, including {frontend_url}")
        } else {
            what.to_owned()
        };
        out.push_str(&format!("  | `{key}` | {what} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONTEND: &str = "https://my-app.vercel.app";

    /// This repo's backend settings: the rules the tests check against are the backend's.
    fn backend() -> BackendSettings {
        crate::space::backend_settings(
            camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap(),
        )
        .unwrap()
    }

    fn parse(text: &str) -> Result<Secrets> {
        Secrets::parse(text, "secrets.env", FRONTEND, &backend())
    }

    #[test]
    fn a_valid_file_is_kept_in_order_and_quotes_are_dropped() {
        let secrets = parse(
            "# production\nQDRANT_URL=https://x.cloud.qdrant.io\nDATABASE_URL=\"postgresql://u:p@ep-1.neon.tech/db?sslmode=require\"\n\
             ALLOWED_ORIGINS=http://localhost:5173,https://my-app.vercel.app/\nLOG_LEVEL=INFO\n",
        )
        .unwrap();
        assert_eq!(
            secrets.0[0],
            ("QDRANT_URL".into(), "https://x.cloud.qdrant.io".into())
        );
        assert_eq!(
            secrets.0[1].1,
            "postgresql://u:p@ep-1.neon.tech/db?sslmode=require"
        );
        assert_eq!(
            secrets.unset(),
            ["GEMINI_API_KEY", "QDRANT_API_KEY", "QDRANT_COLLECTION"]
        );
    }

    #[test]
    fn a_log_level_is_accepted_in_any_case_as_the_backend_accepts_it() {
        for level in ["debug", "Info", "WARNING", "critical"] {
            parse(&format!("LOG_LEVEL={level}\n")).unwrap();
        }
        let err = parse("LOG_LEVEL=verbose\n").unwrap_err().to_string();
        assert!(
            err.contains("LOG_LEVEL: one of CRITICAL, ERROR, WARNING, INFO, DEBUG"),
            "{err}"
        );
    }

    #[test]
    fn a_local_database_needs_no_sslmode() {
        parse("DATABASE_URL=postgresql://u:p@localhost:5432/db\n").unwrap();
        parse("DATABASE_URL=postgres://[::1]:5432/db\n").unwrap();
    }

    #[test]
    fn every_invalid_secret_is_reported_with_file_and_line() {
        let err = parse(
            "GEMINI_API_KEY=abc \nQDRANT_URL=https://x.io/\nQDRANT_API_KEY=\nDATABASE_URL=postgresql://u:p@ep-1.neon.tech/db\n\
             ALLOWED_ORIGINS=https://other.app\nGEMINI_KEY=x\nnot a pair\nLOG_LEVEL=loud\nQDRANT_COLLECTION=docs\nQDRANT_COLLECTION=docs\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "secrets.env:1: GEMINI_API_KEY: surrounding whitespace",
            "secrets.env:2: QDRANT_URL: remove the trailing `/`",
            "secrets.env:3: QDRANT_API_KEY: empty value",
            "secrets.env:4: DATABASE_URL: host ep-1.neon.tech is remote: add `?sslmode=require`",
            "secrets.env:5: ALLOWED_ORIGINS: must contain the frontend URL https://my-app.vercel.app",
            "secrets.env:6: GEMINI_KEY: not one of the Space's secrets",
            "secrets.env:7: expected KEY=VALUE",
            "secrets.env:8: LOG_LEVEL: one of",
            "secrets.env:10: QDRANT_COLLECTION: set twice",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
        assert!(
            !err.contains("abc"),
            "a secret value leaked into the error:\n{err}"
        );
        assert!(
            parse("QDRANT_URL=http://x.io\n")
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
    }

    #[test]
    fn a_malformed_line_is_never_shown() {
        let err = parse(
            "DATABASE_URL: postgresql://u:pw@h/db?sslmode=require\nhunter2\nexport GEMINI_API_KEY=AIzaSecret\n",
        )
        .unwrap_err()
        .to_string();
        for line in 1..=3 {
            assert!(
                err.contains(&format!("secrets.env:{line}: expected KEY=VALUE")),
                "{err}"
            );
        }
        for secret in ["pw", "hunter2", "AIzaSecret", "postgresql", "DATABASE_URL:"] {
            assert!(!err.contains(secret), "{secret} leaked:\n{err}");
        }
    }

    #[test]
    fn a_database_url_no_parser_reads_is_refused_with_the_password_hidden() {
        for (password, why) in [
            ("Sup3r%zzSecret", "two hex digits"),
            ("pa%00ss", "%00"),
            ("p@ss", "unescaped `@`"),
            ("my s3cr3t pw", "a space"),
            ("end%", "two hex digits"),
        ] {
            let url =
                format!("postgresql://neondb_owner:{password}@ep-1.neon.tech/db?sslmode=require");
            let err = parse(&format!("DATABASE_URL={url}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("secrets.env:1: DATABASE_URL: ") && err.contains(why),
                "{err}"
            );
            assert!(err.contains("postgresql://neondb_owner:***@"), "{err}");
            for fragment in password.split(['%', '@', ' ']).filter(|f| f.len() > 2) {
                assert!(!err.contains(fragment), "{fragment} leaked:\n{err}");
            }
        }
        parse("DATABASE_URL=postgresql://u:p%40ss%25w@ep-1.neon.tech/db?sslmode=require\n")
            .unwrap();
    }

    #[test]
    fn a_password_with_a_question_mark_or_hash_is_hidden_too() {
        // `?` and `#` in a password, with another mistake (a space, `%zz`, no sslmode), or an
        // `@` in the query: whatever the message, no fragment of the password shows.
        for (url, fragments) in [
            (
                "postgresql://u:my#s3cr3t pw@ep-1.neon.tech/db?sslmode=require",
                &["s3cr3t"][..],
            ),
            (
                "postgresql://u:wh?tS3cr3t%zz@ep-1.neon.tech/db?sslmode=require",
                &["S3cr3t"],
            ),
            ("postgresql://u:p@ssw0rd?x@ep-1.neon.tech/db", &["ssw0rd"]),
            (
                "postgresql://u:Sup3r%zzS3cr3t@ep-1.neon.tech/db?sslmode=require&application_name=a@b",
                &["Sup3r", "S3cr3t"],
            ),
        ] {
            let err = parse(&format!("DATABASE_URL={url}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("secrets.env:1: DATABASE_URL: "), "{err}");
            for fragment in fragments {
                assert!(!err.contains(fragment), "{fragment} leaked:\n{err}");
            }
        }
    }

    #[test]
    fn redaction_finds_the_value_raw_json_escaped_and_url_encoded() {
        let value = r#"pa"ss\w/ord é+&x y"#;
        let json = serde_json::to_string(value).unwrap();
        let bodies = [
            format!("invalid value: {value}"),
            format!(
                r#"{{"error":"invalid value: {}"}}"#,
                &json[1..json.len() - 1]
            ),
            "value=pa%22ss%5Cw%2Ford%20%C3%A9%2B%26x%20y".to_owned(),
            "value=pa%22ss%5cw%2ford+%c3%a9%2b%26x+y".to_owned(),
            r#"{"value":"pa\"ss\\w/ord \u00e9+&x y"}"#.to_owned(),
        ];
        for body in bodies {
            let redacted = redact(&body, value);
            assert!(
                redacted.contains("<the value>"),
                "not found in {body}: {redacted}"
            );
            for fragment in ["pa\"ss", "pa%22ss", "ord", "x y", "x+y"] {
                assert!(
                    !redacted.contains(fragment),
                    "{fragment} left in {redacted}"
                );
            }
        }
        assert_eq!(redact("body", ""), "body");
    }

    #[test]
    fn the_table_lists_the_spaces_secrets_with_the_backends_descriptions() {
        let secrets = backend().secrets;
        let table = table("Set these secrets:", FRONTEND, &secrets);
        for key in SPACE_SECRETS {
            let described = &secrets.iter().find(|s| s.env == key).unwrap().description;
            assert!(
                table.contains(&format!("| `{key}` | {described}")),
                "{table}"
            );
        }
        assert_eq!(table.lines().count(), 3 + SPACE_SECRETS.len(), "{table}");
        assert!(
            table.contains(&format!("(comma-separated), including {FRONTEND} |")),
            "{table}"
        );
    }

    #[test]
    fn without_the_backends_rules_the_space_alone_judges_log_level_and_database_host() {
        let silent = BackendSettings {
            log_levels: None,
            local_db_hosts: None,
            ..backend()
        };
        Secrets::parse(
            "LOG_LEVEL=TRACE\nDATABASE_URL=postgresql://u:p@db.example/db\n",
            "secrets.env",
            FRONTEND,
            &silent,
        )
        .unwrap();
    }
}
