//! The Hugging Face token: found as `huggingface_hub` finds it, and kept out of every
//! output, argv, URL and file.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

use super::hub::DEFAULT_ENDPOINT;
use crate::settings::Env;

/// The variables a token comes from, its file's path included: for this process's own
/// requests to the Hub only, so `main` takes them out of the environment its children
/// (git and the programs git runs, pip, uvicorn, the test suites) inherit.
pub(crate) const VARIABLES: [&str; 3] = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH"];

/// The command that logs in to the Hub (and writes the token file), as every message names it.
pub(crate) const LOGIN: &str = "hf auth login";

/// A token and where it came from (for error messages; the value itself is never printed).
pub(crate) struct Token {
    value: String,
    pub(crate) source: String,
    /// Set when the token file holds an OAuth access token that [`LOGIN`] wrote (its
    /// `stored_tokens` entry has an expiry): such a token is short-lived.
    pub(crate) oauth: Option<OAuth>,
}

/// What `stored_tokens` says about an OAuth login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OAuth {
    /// Unix time at which the access token expires.
    pub(crate) expires_at: u64,
    /// Whether a refresh token is stored, so an `hf` command can renew the login.
    pub(crate) refreshable: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {})", self.source)
    }
}

impl Token {
    /// `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN` (the legacy name), else the file
    /// `$HF_TOKEN_PATH`, else `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else
    /// `~/.cache/huggingface/token`; surrounding whitespace and newlines stripped. `env` reads
    /// one environment variable. A file token that [`LOGIN`] stored as an expired OAuth
    /// login is refused with the command that renews it.
    pub(crate) fn of(env: &Env) -> Result<Token> {
        Token::find(&|key| env.var(key))
    }

    /// [`Token::of`], with `env` reading one environment variable.
    pub(crate) fn find(env: &dyn Fn(&str) -> Option<String>) -> Result<Token> {
        let set = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        for key in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
            if let Some(value) = set(key) {
                return Ok(Token {
                    value: value.trim().to_owned(),
                    source: key.to_owned(),
                    oauth: None,
                });
            }
        }
        let path = match (
            set("HF_TOKEN_PATH"),
            set("HF_HOME"),
            set("XDG_CACHE_HOME"),
            set("HOME"),
        ) {
            (Some(path), ..) => Utf8PathBuf::from(path),
            (None, Some(home), ..) => Utf8PathBuf::from(home).join("token"),
            (None, None, Some(cache), _) => Utf8PathBuf::from(cache).join("huggingface/token"),
            (None, None, None, Some(home)) => {
                Utf8PathBuf::from(home).join(".cache/huggingface/token")
            }
            (None, None, None, None) => anyhow::bail!(
                "no Hugging Face token: set HF_TOKEN (HOME, HF_HOME and HF_TOKEN_PATH are all unset, so there is no token file to read)"
            ),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read the Hugging Face token file {path}"));
            }
        };
        anyhow::ensure!(
            !text.trim().is_empty(),
            "no Hugging Face token: set HF_TOKEN, or log in with `{LOGIN}` (it writes {path}). \
             Create a token with write access at {DEFAULT_ENDPOINT}/settings/tokens \
             (git push to a Space needs an access token, not your password)"
        );
        let value = text.trim().to_owned();
        let oauth = path
            .parent()
            .and_then(|dir| std::fs::read_to_string(dir.join("stored_tokens")).ok())
            .and_then(|stored| oauth_login(&stored, &value));
        if let Some(login) = oauth {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if login.expires_at <= now {
                let renew = if login.refreshable {
                    format!(
                        "run `{LOGIN}` again (or any `hf` command, e.g. `hf auth whoami`, which renews a login whose refresh token is still valid)"
                    )
                } else {
                    format!("run `{LOGIN}` again")
                };
                anyhow::bail!(
                    "the token in {path} is a login from `{LOGIN}` that expired {} ago: {renew}, \
                     or set HF_TOKEN to a write token from {DEFAULT_ENDPOINT}/settings/tokens",
                    ago(now - login.expires_at)
                );
            }
        }
        Ok(Token {
            value,
            source: format!("the token file {path}"),
            oauth,
        })
    }

    pub(crate) fn secret(&self) -> &str {
        &self.value
    }
}

/// The OAuth entry of `token` in huggingface_hub's `stored_tokens` (an INI file next to the
/// token file: one `[name]` section per login with `hf_token`, and for OAuth logins
/// `refresh_token` and `expires_at`).
fn oauth_login(stored: &str, token: &str) -> Option<OAuth> {
    let mut sections: Vec<Vec<(&str, &str)>> = Vec::new();
    for line in stored.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            sections.push(Vec::new());
        } else if let (Some(section), Some((key, value))) = (
            sections.last_mut(),
            line.split_once('=').or_else(|| line.split_once(':')),
        ) {
            section.push((key.trim(), value.trim()));
        }
    }
    fn field<'a>(section: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
        section.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    let section = sections
        .iter()
        .find(|section| field(section, "hf_token") == Some(token))?;
    Some(OAuth {
        expires_at: field(section, "expires_at")?.parse().ok()?,
        refreshable: field(section, "refresh_token").is_some_and(|v| !v.is_empty()),
    })
}

/// `3 hours`, `2 days`: how long ago, roughly.
fn ago(seconds: u64) -> String {
    match seconds {
        0..120 => format!("{seconds} seconds"),
        120..7200 => format!("{} minutes", seconds / 60),
        7200..172800 => format!("{} hours", seconds / 3600),
        _ => format!("{} days", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_home_or_token_paths_only_hf_token_is_asked_for() {
        let err = find(&[]).unwrap_err().to_string();
        assert!(
            err.contains("set HF_TOKEN") && err.contains("no token file"),
            "{err}"
        );
    }

    fn find(vars: &[(&str, &str)]) -> Result<Token> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Token::find(&|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_legacy_variable_is_read_after_hf_token() {
        let token = find(&[
            ("HUGGING_FACE_HUB_TOKEN", "hf_legacy\n"),
            ("HOME", "/nonexistent"),
        ])
        .unwrap();
        assert_eq!(
            (token.secret(), token.source.as_str()),
            ("hf_legacy", "HUGGING_FACE_HUB_TOKEN")
        );
        let token = find(&[
            ("HF_TOKEN", "hf_new"),
            ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"),
        ])
        .unwrap();
        assert_eq!(token.secret(), "hf_new");
    }

    #[test]
    fn stored_tokens_tell_an_oauth_login_from_an_access_token() {
        let stored = "[hf_oauth]\nhf_token = hf_oauth_abc\nrefresh_token = rt_1\nexpires_at = 1700000000\n\n[write]\nhf_token = hf_plain\n";
        assert_eq!(
            oauth_login(stored, "hf_oauth_abc"),
            Some(OAuth {
                expires_at: 1_700_000_000,
                refreshable: true
            })
        );
        assert_eq!(oauth_login(stored, "hf_plain"), None);
        assert_eq!(oauth_login(stored, "hf_unknown"), None);
        assert_eq!(oauth_login("not an ini", "hf_plain"), None);
    }

    #[test]
    fn hf_token_wins_and_is_stripped() {
        let token = find(&[("HF_TOKEN", " hf_abc\n"), ("HF_TOKEN_PATH", "/nonexistent")]).unwrap();
        assert_eq!(
            (token.secret(), token.source.as_str()),
            ("hf_abc", "HF_TOKEN")
        );
        assert!(!format!("{token:?}").contains("hf_abc"));
    }

    #[test]
    fn the_token_files_are_read_in_huggingface_hub_order() {
        let temp = crate::files::TempDir::new("xtask-token-test").unwrap();
        let dir = temp.path();
        std::fs::create_dir_all(dir.join("hub")).unwrap();
        std::fs::write(dir.join("explicit"), "hf_explicit\n").unwrap();
        std::fs::write(dir.join("hub/token"), "  hf_home  \n").unwrap();
        let dir = dir.as_str();
        let explicit = format!("{dir}/explicit");
        let home = format!("{dir}/hub");
        assert_eq!(
            find(&[("HF_TOKEN_PATH", &explicit), ("HF_HOME", &home)])
                .unwrap()
                .secret(),
            "hf_explicit"
        );
        let token = find(&[("HF_TOKEN", "  "), ("HF_HOME", &home)]).unwrap();
        assert_eq!(token.secret(), "hf_home");
        assert!(token.source.ends_with("hub/token"), "{}", token.source);
        let err = find(&[("HOME", dir)]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{dir}/.cache/huggingface/token"))
                && err.contains("settings/tokens"),
            "{err}"
        );
    }
}
