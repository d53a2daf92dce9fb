//! The Hugging Face token: found as `huggingface_hub` finds it, and kept out of every
//! output, argv, URL and file.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

/// The command that logs in to the Hub (and writes the token file), as every message names it.
pub(crate) const LOGIN: &str = "hf auth login";

/// A token and where it came from (for error messages; the value itself is never printed).
pub(crate) struct Token {
    value: String,
    pub(crate) source: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {})", self.source)
    }
}

impl Token {
    /// `HF_TOKEN`, else the file `$HF_TOKEN_PATH`, else `$HF_HOME/token`, else
    /// `$XDG_CACHE_HOME/huggingface/token`, else `~/.cache/huggingface/token`; surrounding
    /// whitespace and newlines stripped. `env` reads one environment variable.
    pub(crate) fn find(env: &dyn Fn(&str) -> Option<String>) -> Result<Token> {
        let set = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        if let Some(value) = set("HF_TOKEN") {
            return Ok(Token {
                value: value.trim().to_owned(),
                source: "HF_TOKEN".to_owned(),
            });
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
             Create a token with write access at https://huggingface.co/settings/tokens \
             (git push to a Space needs an access token, not your password)"
        );
        Ok(Token {
            value: text.trim().to_owned(),
            source: format!("the token file {path}"),
        })
    }

    pub(crate) fn secret(&self) -> &str {
        &self.value
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
        let dir = std::env::temp_dir().join(format!("xtask-token-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("hub")).unwrap();
        std::fs::write(dir.join("explicit"), "hf_explicit\n").unwrap();
        std::fs::write(dir.join("hub/token"), "  hf_home  \n").unwrap();
        let dir = dir.to_str().unwrap();
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
        std::fs::remove_dir_all(dir).unwrap();
    }
}
