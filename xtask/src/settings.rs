//! The one source of facts: paths of the monorepo and `[workspace.metadata.hf-space]`.
//!
//! Read once in `main.rs` and passed down as plain values.

use anyhow::{Context, Result};
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
            test_packages: ["pytest", "pytest-asyncio", "pytest-cov"].map(String::from).to_vec(),
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
        HfSpace::parse(&text).with_context(|| format!("{path}: invalid [workspace.metadata.hf-space]"))
    }

    pub(crate) fn parse(text: &str) -> Result<HfSpace> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.hf_space)
            .context("the table is missing: add `[workspace.metadata.hf-space]` (see README.md, \"Settings\")")
    }
}

/// The public URL of a Space after Hugging Face's subdomain rule:
/// `https://USER-SPACE.hf.space`, lower-case, with `_` and `.` turned into `-`.
pub(crate) fn derived_space_url(user: &str, space: &str) -> String {
    let host: String = format!("{user}-{space}")
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c.to_ascii_lowercase() })
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
        assert_eq!(derived_space_url("Alice_B", "my.bot"), "https://alice-b-my-bot.hf.space");
        assert_eq!(derived_space_url("anusha-soh", "rag-chatbot"), "https://anusha-soh-rag-chatbot.hf.space");
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = HfSpace::parse("[workspace.metadata.hf-space]\nusr = \"x\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field `usr`"), "{err:#}");
    }

    #[test]
    fn a_missing_table_says_how_to_add_it() {
        let err = HfSpace::parse("[workspace]\nmembers = []\n").unwrap_err();
        assert!(format!("{err:#}").contains("add `[workspace.metadata.hf-space]`"), "{err:#}");
    }
}
