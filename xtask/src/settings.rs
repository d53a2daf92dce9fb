//! The one source of facts: paths of the monorepo and `[workspace.metadata.hf-space]`.
//!
//! Read once in `main.rs` and passed down as plain values.

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

/// The backend the Space is generated from, relative to the project root.
pub(crate) const BACKEND_DIR: &str = "backend";
/// The generated, committed Space folder, relative to the project root.
pub(crate) const SPACE_DIR: &str = "huggingface-spaces";
/// The web chat page, relative to the project root.
pub(crate) const FRONTEND_DIR: &str = "frontend";
/// Where xtask keeps its own state (venvs, the local Space remote), relative to the root.
pub(crate) const STATE_DIR: &str = "target/xtask";

/// The seed's secrets (its step 7), in its order, with the seed's description of each: what
/// the Space README lists as required, what `deploy --secrets-file` accepts and validates.
pub(crate) const SEED_SECRETS: [(&str, &str); 7] = [
    ("GEMINI_API_KEY", "Google Gemini API key"),
    (
        "QDRANT_URL",
        "Qdrant Cloud cluster URL: https, no trailing slash or space",
    ),
    ("QDRANT_API_KEY", "Qdrant Cloud API key"),
    ("QDRANT_COLLECTION", "Collection name"),
    (
        "DATABASE_URL",
        "PostgreSQL connection string with `?sslmode=require`",
    ),
    (
        "ALLOWED_ORIGINS",
        "Frontend URLs (comma-separated), including the frontend URL",
    ),
    ("LOG_LEVEL", "`INFO`"),
];

/// Whether `env` is one of the seed's secrets.
pub(crate) fn is_seed_secret(env: &str) -> bool {
    SEED_SECRETS.iter().any(|(name, _)| *name == env)
}

/// Settings from `[workspace.metadata.hf-space]` in the root `Cargo.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct HfSpace {
    pub(crate) user: Option<String>,
    pub(crate) space: Option<String>,
    pub(crate) frontend_url: Option<String>,
    pub(crate) space_url: Option<String>,
    #[serde(default = "default_frontend_client")]
    pub(crate) frontend_client: Utf8PathBuf,
    #[serde(default)]
    pub(crate) generator: Generator,
}

/// What `generate` renders; the defaults reproduce the seed byte for byte.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct Generator {
    pub(crate) port: u16,
    pub(crate) uid: u32,
    pub(crate) health_path: String,
    pub(crate) base_image: String,
    pub(crate) title: String,
    pub(crate) emoji: String,
    pub(crate) color_from: String,
    pub(crate) color_to: String,
    pub(crate) short_description: String,
    pub(crate) test_packages: Vec<String>,
}

impl Default for Generator {
    fn default() -> Generator {
        Generator {
            port: 7860,
            uid: 1000,
            health_path: "/api/health".to_owned(),
            base_image: "python:3.11-slim".to_owned(),
            title: "RAG Chatbot Backend".to_owned(),
            emoji: "\u{1F916}".to_owned(),
            color_from: "blue".to_owned(),
            color_to: "purple".to_owned(),
            short_description: "FastAPI RAG chatbot with Gemini + Qdrant".to_owned(),
            test_packages: ["pytest", "pytest-asyncio", "pytest-cov"]
                .map(String::from)
                .to_vec(),
        }
    }
}

fn default_frontend_client() -> Utf8PathBuf {
    Utf8PathBuf::from("frontend/src/services/chatClient.ts")
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Option<Workspace>,
}
#[derive(Deserialize)]
struct Workspace {
    metadata: Option<Metadata>,
}
#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "hf-space")]
    hf_space: Option<HfSpace>,
}

impl HfSpace {
    /// Reads `[workspace.metadata.hf-space]` from `<root>/Cargo.toml`.
    pub(crate) fn load(root: &Utf8Path) -> Result<HfSpace> {
        let path = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        HfSpace::parse(&text)
            .with_context(|| format!("{path}: invalid [workspace.metadata.hf-space]"))
    }

    pub(crate) fn parse(text: &str) -> Result<HfSpace> {
        let manifest: Manifest = toml::from_str(text)?;
        let settings = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.hf_space)
            .context("the table is missing: add `[workspace.metadata.hf-space]` (see README.md, \"Settings\")")?;
        // `check --staged` reads the client from the index and `deploy` rewrites it: it must
        // be a file of this repository.
        let client = &settings.frontend_client;
        let inside = client.is_relative()
            && client
                .components()
                .all(|c| matches!(c, camino::Utf8Component::Normal(_)))
            && client.file_name().is_some();
        ensure!(
            inside,
            "frontend-client = \"{client}\" is not a file inside the repository: give its path relative to the root, without `..`, e.g. \"{}\"",
            default_frontend_client()
        );
        Ok(settings)
    }
}

/// The public URL of a Space after Hugging Face's subdomain rule:
/// `https://USER-SPACE.hf.space`, lower-case, with `_` and `.` turned into `-`.
pub(crate) fn derived_space_url(user: &str, space: &str) -> String {
    let host: String = format!("{user}-{space}")
        .chars()
        .map(|c| {
            if c == '_' || c == '.' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    format!("https://{host}.hf.space")
}

impl HfSpace {
    /// The Space URL the committed settings point at: `space-url`, else the derived one.
    pub(crate) fn configured_space_url(&self) -> Option<String> {
        match (&self.space_url, &self.user, &self.space) {
            (Some(url), _, _) => Some(url.clone()),
            (None, Some(user), Some(space)) => Some(derived_space_url(user, space)),
            _ => None,
        }
    }
}

/// Where `deploy` goes: resolved once from flags, then `[workspace.metadata.hf-space]`, then
/// a prompt on a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeployTarget {
    pub(crate) user: String,
    pub(crate) space: String,
    /// An origin (`https://host[:port]`, no trailing slash): what CORS compares.
    pub(crate) frontend_url: String,
    /// `--space-url` or `space-url`; `None` means: the host the Hub reports, else the derived one.
    pub(crate) space_url: Option<String>,
}

/// Asks the user for one value, given the question.
pub(crate) type Prompt<'a> = &'a mut dyn FnMut(&str) -> Result<String>;

/// The deploy settings given as flags, before the manifest and the prompt fill the gaps.
#[derive(Debug, Default)]
pub(crate) struct DeployFlags {
    pub(crate) user: Option<String>,
    pub(crate) space: Option<String>,
    pub(crate) frontend_url: Option<String>,
    pub(crate) space_url: Option<String>,
}

impl DeployTarget {
    /// `prompt` asks the user for one value (it is `None` when stdin is not a terminal);
    /// whatever is still missing is reported in ONE error that says how to supply each value.
    pub(crate) fn resolve(
        flags: DeployFlags,
        settings: &HfSpace,
        mut prompt: Option<Prompt<'_>>,
    ) -> Result<DeployTarget> {
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for (key, label, flag, configured, example) in [
            (
                "user",
                "Hugging Face user or organisation",
                flags.user,
                &settings.user,
                "anusha-soh",
            ),
            (
                "space",
                "Space name",
                flags.space,
                &settings.space,
                "rag-chatbot",
            ),
            (
                "frontend-url",
                "Frontend URL",
                flags.frontend_url,
                &settings.frontend_url,
                "https://my-app.vercel.app",
            ),
        ] {
            let mut value = flag
                .or_else(|| configured.clone())
                .filter(|v| !v.trim().is_empty());
            if value.is_none()
                && let Some(ask) = prompt.as_mut()
            {
                value = Some(ask(&format!("{label} (e.g. {example})"))?)
                    .filter(|v| !v.trim().is_empty());
            }
            match value {
                Some(v) => values.push(v.trim().to_owned()),
                None => {
                    missing.push(format!("  {key}: pass `--{key} {example}` or add `{key} = \"{example}\"` to [workspace.metadata.hf-space] in Cargo.toml"));
                    values.push(String::new());
                }
            }
        }
        if !missing.is_empty() {
            bail!(
                "missing deploy settings (or run on a terminal to be asked):\n{}",
                missing.join("\n")
            );
        }
        let [user, space, frontend_url] = <[String; 3]>::try_from(values).unwrap();
        validate_repo_name("user", &user)?;
        validate_repo_name("space", &space)?;
        let frontend_url = origin("frontend-url", &frontend_url)?;
        let space_url = flags.space_url.or_else(|| settings.space_url.clone());
        let space_url = space_url.map(|url| origin("space-url", &url)).transpose()?;
        Ok(DeployTarget {
            user,
            space,
            frontend_url,
            space_url,
        })
    }

    /// `USER/SPACE`, as the Hub API and the git remote name it.
    pub(crate) fn repo_id(&self) -> String {
        format!("{}/{}", self.user, self.space)
    }
}

/// The Hub's repo-name rule (as `huggingface_hub` validates it): 1 to 96 of ASCII letters,
/// digits, `-`, `_`, `.`; starting and ending with a letter, digit or `_`; no `--` or `..`;
/// not ending in `.git`.
pub(crate) fn validate_repo_name(key: &str, name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let valid = (1..=96).contains(&name.len())
        && name.chars().all(allowed)
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("--")
        && !name.contains("..")
        && !name.ends_with(".git");
    ensure!(
        valid,
        "{key} `{name}` is not a valid Hugging Face name: use 1-96 letters, digits, `-`, `_` or `.`, \
         start and end with a letter, digit or `_`, no `--` or `..`, no `.git` suffix"
    );
    Ok(())
}

/// An `http(s)://host[:port]` origin without a path; a trailing `/` is dropped.
pub(crate) fn origin(key: &str, url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let host = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    // The port, when there is one, is what follows the last `:` outside an IPv6 `[...]`.
    let port_ok = |host: &str| match host
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
    {
        Some((_, port)) => port.parse::<u16>().is_ok_and(|p| p > 0),
        None => true,
    };
    let valid = host.is_some_and(|host| {
        !host.is_empty()
            && !host.contains(['/', '?', '#', ' ', '@'])
            && !host.starts_with(':')
            && port_ok(host)
    });
    ensure!(
        valid,
        "{key} `{url}` is not an origin: write it as `https://host` (optionally `:port`), without a path"
    );
    Ok(trimmed.to_owned())
}

/// The project root: the nearest directory at or above `start` whose `Cargo.toml` has
/// `[workspace.metadata.hf-space]`, so the tool works from any subdirectory and on copies
/// of the repository; `fallback` (where xtask was built) otherwise.
pub(crate) fn find_root(start: &Utf8Path, fallback: &Utf8Path) -> Utf8PathBuf {
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("[workspace.metadata.hf-space]"))
        })
        .unwrap_or(fallback)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_settings_parse() {
        let root = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let settings = HfSpace::load(root).unwrap();
        assert_eq!(settings.generator.port, 7860);
        assert_eq!(settings.frontend_client, default_frontend_client());
    }

    #[test]
    fn the_subdomain_rule_lowercases_and_dashes() {
        assert_eq!(
            derived_space_url("Alice_B", "my.bot"),
            "https://alice-b-my-bot.hf.space"
        );
        assert_eq!(
            derived_space_url("anusha-soh", "rag-chatbot"),
            "https://anusha-soh-rag-chatbot.hf.space"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = HfSpace::parse("[workspace.metadata.hf-space]\nusr = \"x\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `usr`"),
            "{err:#}"
        );
    }

    #[test]
    fn a_missing_table_says_how_to_add_it() {
        let err = HfSpace::parse("[workspace]\nmembers = []\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("add `[workspace.metadata.hf-space]`"),
            "{err:#}"
        );
    }

    #[test]
    fn a_frontend_client_outside_the_repository_is_refused() {
        for bad in [
            "/etc/passwd",
            "../other/chatClient.ts",
            "frontend/../../x.ts",
            "./frontend/src/a.ts",
            "",
        ] {
            let err = HfSpace::parse(&format!(
                "[workspace.metadata.hf-space]\nfrontend-client = \"{bad}\"\n"
            ))
            .unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.starts_with(&format!(
                    "frontend-client = \"{bad}\" is not a file inside the repository"
                )),
                "{msg}"
            );
        }
        let ok =
            HfSpace::parse("[workspace.metadata.hf-space]\nfrontend-client = \"web/src/api.ts\"\n")
                .unwrap();
        assert_eq!(ok.frontend_client, "web/src/api.ts");
    }

    fn empty() -> HfSpace {
        HfSpace::parse("[workspace.metadata.hf-space]\n").unwrap()
    }

    #[test]
    fn flags_win_over_the_manifest() {
        let settings = HfSpace::parse(
            "[workspace.metadata.hf-space]\nuser = \"a\"\nspace = \"b\"\nfrontend-url = \"https://f.example/\"\n",
        )
        .unwrap();
        let flags = DeployFlags {
            space: Some("c".into()),
            ..DeployFlags::default()
        };
        let target = DeployTarget::resolve(flags, &settings, None).unwrap();
        assert_eq!(target.repo_id(), "a/c");
        assert_eq!(target.frontend_url, "https://f.example");
        assert_eq!(target.space_url, None);
    }

    #[test]
    fn every_missing_setting_is_named_in_one_error() {
        let err = DeployTarget::resolve(DeployFlags::default(), &empty(), None)
            .unwrap_err()
            .to_string();
        for key in [
            "--user",
            "--space",
            "--frontend-url",
            "[workspace.metadata.hf-space]",
        ] {
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn the_prompt_fills_what_is_missing() {
        let mut asked = Vec::new();
        let mut ask = |question: &str| {
            asked.push(question.to_owned());
            Ok(format!(" v{} ", asked.len()))
        };
        let flags = DeployFlags {
            frontend_url: Some("http://localhost:5173".into()),
            ..DeployFlags::default()
        };
        let target = DeployTarget::resolve(flags, &empty(), Some(&mut ask)).unwrap();
        assert_eq!((target.user.as_str(), target.space.as_str()), ("v1", "v2"));
        assert_eq!(asked.len(), 2);
    }

    #[test]
    fn hub_names_follow_the_repo_name_rule() {
        for good in ["rag-chatbot", "Alice_B", "my.bot", "a", "x1"] {
            validate_repo_name("space", good).unwrap();
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a..b",
            "my bot",
            "a/b",
            "bot.git",
            &"a".repeat(97),
        ] {
            let err = validate_repo_name("space", bad).unwrap_err().to_string();
            assert!(err.contains(&format!("space `{bad}`")), "{err}");
        }
    }

    #[test]
    fn origins_lose_a_trailing_slash_and_refuse_paths() {
        assert_eq!(
            origin("frontend-url", "https://x.dev/").unwrap(),
            "https://x.dev"
        );
        assert_eq!(
            origin("space-url", "http://127.0.0.1:7860").unwrap(),
            "http://127.0.0.1:7860"
        );
        assert_eq!(
            origin("space-url", "http://[::1]:7860").unwrap(),
            "http://[::1]:7860"
        );
        assert_eq!(origin("space-url", "http://[::1]").unwrap(), "http://[::1]");
        for bad in [
            "x.dev",
            "ftp://x.dev",
            "https://x.dev/app",
            "https://",
            "https://x.dev:",
            "https://x.dev:port",
            "https://x.dev:99999",
            "https://a:b:c",
        ] {
            assert!(origin("frontend-url", bad).is_err(), "{bad}");
        }
    }
}
