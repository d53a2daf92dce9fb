//! The Space's secrets (the seed's step 7): validated from `--secrets-file` before any
//! request, or printed as the table the user fills in on the Space's settings page.

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::settings::{SEED_SECRETS as SECRETS, is_seed_secret};

/// Secrets read from a file: `(key, value)` in file order.
#[derive(Debug)]
pub(crate) struct Secrets(pub(crate) Vec<(String, String)>);

impl Secrets {
    /// Reads `KEY=VALUE` lines (blank lines and `#` comments skipped) and validates every
    /// one; the error lists each problem as `file:line: KEY: what to fix`.
    pub(crate) fn load(path: &Utf8Path, frontend_url: &str) -> Result<Secrets> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --secrets-file {path}"))?;
        Secrets::parse(&text, path.as_str(), frontend_url)
    }

    fn parse(text: &str, file: &str, frontend_url: &str) -> Result<Secrets> {
        let mut secrets: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let at = format!("{file}:{}", index + 1);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                problems.push(format!("{at}: expected KEY=VALUE"));
                continue;
            };
            let key = key.trim();
            let value = unquote(value);
            if !is_seed_secret(key) {
                let known: Vec<&str> = SECRETS.iter().map(|(k, _)| *k).collect();
                problems.push(format!(
                    "{at}: {key}: not one of the Space's secrets ({})",
                    known.join(", ")
                ));
            } else if secrets.iter().any(|(k, _)| k == key) {
                problems.push(format!("{at}: {key}: set twice; keep one line"));
            } else if let Err(why) = validate(key, value, frontend_url) {
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

    /// The seed's secrets this file leaves as they are on the Space.
    pub(crate) fn unset(&self) -> Vec<&'static str> {
        SECRETS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !self.0.iter().any(|(key, _)| key == k))
            .collect()
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

fn validate(key: &str, value: &str, frontend_url: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty value".to_owned());
    }
    if value.trim() != value {
        return Err(
            "surrounding whitespace (the seed's \"no trailing space!\"): remove it".to_owned(),
        );
    }
    match key {
        "DATABASE_URL" => {
            let rest = value
                .strip_prefix("postgresql://")
                .or_else(|| value.strip_prefix("postgres://"))
                .ok_or("must start with postgresql:// (or postgres://)")?;
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host_port = authority.rsplit('@').next().unwrap_or_default();
            let host = if host_port.starts_with('[') {
                host_port
                    .split(']')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('[')
            } else {
                host_port.split(':').next().unwrap_or_default()
            };
            let local = ["localhost", "127.0.0.1", "::1", ""].contains(&host);
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
        "ALLOWED_ORIGINS" => {
            if !value
                .split(',')
                .any(|origin| origin.trim().trim_end_matches('/') == frontend_url)
            {
                return Err(format!(
                    "must contain the frontend URL {frontend_url} (else browsers get CORS errors)"
                ));
            }
        }
        "LOG_LEVEL" => {
            if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&value) {
                return Err("one of DEBUG, INFO, WARNING, ERROR, CRITICAL".to_owned());
            }
        }
        _ => {}
    }
    Ok(())
}

/// The seed's secrets table under `intro`, for a user without `--secrets-file`.
pub(crate) fn table(intro: &str, frontend_url: &str) -> String {
    let mut out = format!("{intro}\n");
    out.push_str("  | Secret | Description |\n  |---|---|\n");
    for (key, what) in SECRETS {
        let what = if key == "ALLOWED_ORIGINS" {
            format!("{what}: {frontend_url}")
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

    fn parse(text: &str) -> Result<Secrets> {
        Secrets::parse(text, "secrets.env", FRONTEND)
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
    fn the_table_lists_the_seeds_secrets() {
        let table = table("Set these secrets:", FRONTEND);
        for (key, _) in SECRETS {
            assert!(table.contains(&format!("`{key}`")), "{table}");
        }
        assert!(table.contains(FRONTEND));
    }
}
