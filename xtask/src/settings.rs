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

/// The environment variables `cargo xtask` was started with, read once in `main.rs` and handed
/// to the commands that take settings from them (the Hub's `HF_ENDPOINT`, the token), so no
/// module below asks the process. A variable that is not UTF-8 reads as unset.
pub(crate) struct Env(std::collections::BTreeMap<String, String>);

impl Env {
    pub(crate) fn of_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect())
    }

    pub(crate) fn var(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// The Space's secrets, in the order its README and deploy's table list them: what the
/// backend's Settings must declare, what `deploy --secrets-file` accepts and validates. Their
/// descriptions are the backend's own (`description=` in `backend/app/core/config.py`).
pub(crate) const SPACE_SECRETS: [&str; 7] = [
    "GEMINI_API_KEY",
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "QDRANT_COLLECTION",
    "DATABASE_URL",
    "ALLOWED_ORIGINS",
    "LOG_LEVEL",
];

/// Whether `env` is one of the Space's secrets.
pub(crate) fn is_space_secret(env: &str) -> bool {
    SPACE_SECRETS.contains(&env)
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
    /// Markdown files and folders (relative to the root) the Space ships in `knowledge/` and
    /// `deploy --local` hands the backend: what the chatbot answers from.
    #[serde(default)]
    pub(crate) knowledge: Vec<Utf8PathBuf>,
    #[serde(default)]
    pub(crate) generator: Generator,
}

/// What `generate` renders; the defaults (here, and only here) reproduce the recipe byte for
/// byte. Every value is validated when it is read (`Generator::validate`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct Generator {
    #[serde(deserialize_with = "port")]
    pub(crate) port: u16,
    #[serde(deserialize_with = "uid")]
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

/// The Spaces card colors the Hub accepts for `colorFrom` / `colorTo` (Spaces configuration
/// reference, huggingface.co/docs/hub/spaces-config-reference).
pub(crate) const COLORS: [&str; 8] = [
    "red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray",
];
/// The Hub's limit on `short_description` (same reference).
pub(crate) const SHORT_DESCRIPTION_MAX: usize = 60;

/// Where the generator's settings live, for messages.
const GENERATOR_TABLE: &str = "Cargo.toml [workspace.metadata.hf-space.generator]";

/// `port`: a TCP port, 1 to 65535 (read wide, so a bad value gets this rule, not a type error).
fn port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let value = i64::deserialize(d)?;
    u16::try_from(value).ok().filter(|p| *p > 0).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{GENERATOR_TABLE}: `port` = {value} is not a TCP port: use 1 to 65535 (Spaces route to 7860 unless the README's app_port says otherwise)"
        ))
    })
}

/// `uid`: a non-root user id, 1 or more.
fn uid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let value = i64::deserialize(d)?;
    u32::try_from(value).ok().filter(|u| *u > 0 && *u < u32::MAX).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{GENERATOR_TABLE}: `uid` = {value} is not a non-root user id: use 1 or more (Spaces run the app as UID 1000)"
        ))
    })
}

impl Generator {
    /// Each value against its rule; the error names the key, the rule and the fix. (`port`
    /// and `uid` are checked as they are deserialized.)
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: &dyn std::fmt::Debug, why: &str| -> Result<()> {
            bail!("{GENERATOR_TABLE}: `{key}` = {value:?} {why}")
        };
        let path_ok = self.health_path.starts_with('/')
            && !self
                .health_path
                .contains(|c: char| c.is_whitespace() || c.is_control() || "'\"\\#?".contains(c));
        if !path_ok {
            bad(
                "health-path",
                &self.health_path,
                "is not a URL path: start it with `/`, without spaces, quotes, `?` or `#`, like \"/api/health\"",
            )?;
        }
        if self.base_image.is_empty() || self.base_image.contains(char::is_whitespace) {
            bad(
                "base-image",
                &self.base_image,
                "is not an image reference: write it like \"python:3.11-slim\"",
            )?;
        }
        if self.title.trim().is_empty()
            || self.title != self.title.trim()
            || self.title.contains(char::is_control)
        {
            bad(
                "title",
                &self.title,
                "is not a title: write one non-empty line without leading or trailing spaces",
            )?;
        }
        if !is_one_emoji(&self.emoji) {
            bad(
                "emoji",
                &self.emoji,
                "is not exactly one emoji, as the Hub requires: write one, like \"🤖\" (a flag, a keycap or a ZWJ sequence such as \"🧑‍💻\" counts as one)",
            )?;
        }
        for (key, color) in [
            ("color-from", &self.color_from),
            ("color-to", &self.color_to),
        ] {
            if !COLORS.contains(&color.as_str()) {
                bad(
                    key,
                    color,
                    &format!("is not a Spaces color: choose one of {}", COLORS.join(", ")),
                )?;
            }
        }
        let length = self.short_description.chars().count();
        if length == 0
            || length > SHORT_DESCRIPTION_MAX
            || self.short_description.contains(char::is_control)
        {
            bad(
                "short-description",
                &self.short_description,
                &format!(
                    "has {length} characters: the Hub wants one line of 1 to {SHORT_DESCRIPTION_MAX}; shorten it"
                ),
            )?;
        }
        for package in &self.test_packages {
            let valid = package.starts_with(|c: char| c.is_ascii_alphanumeric())
                && package.ends_with(|c: char| c.is_ascii_alphanumeric())
                && package
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                bad(
                    "test-packages",
                    package,
                    "is not a package name: write the bare name as in requirements.txt, like \"pytest-asyncio\" (no version or extras)",
                )?;
            }
        }
        Ok(())
    }
}

/// Whether `text` is exactly one emoji, as one grapheme (Unicode TR51 "emoji sequences"):
/// one pictograph with an optional VS16 (U+FE0F) and skin-tone modifier, a ZWJ sequence of
/// such elements, a flag (two regional indicators), a keycap (`1️⃣`), or a tag sequence
/// (`🏴󠁧󠁢󠁳󠁣󠁴󠁿`). Written by hand over the pictograph blocks instead of a Unicode crate.
pub(crate) fn is_one_emoji(text: &str) -> bool {
    const VS16: char = '\u{FE0F}';
    const ZWJ: char = '\u{200D}';
    let is_regional = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
    let is_modifier = |c: char| ('\u{1F3FB}'..='\u{1F3FF}').contains(&c);
    let is_pictograph = |c: char| {
        let blocks = [
            ('\u{1F000}', '\u{1FAFF}'), // pictographs, emoticons, transport, symbols
            ('\u{2600}', '\u{27BF}'),   // miscellaneous symbols, dingbats
            ('\u{2300}', '\u{23FF}'),   // ⌚ ⌛ ⏰ …
            ('\u{2B00}', '\u{2BFF}'),   // ⬛ ⭐ …
            ('\u{2190}', '\u{21FF}'),   // arrows (↔️)
            ('\u{25A0}', '\u{25FF}'),   // geometric shapes (▶️)
            ('\u{2900}', '\u{297F}'),   // ⤴️ ⤵️
        ];
        let singles = [
            '\u{A9}', '\u{AE}', '\u{203C}', '\u{2049}', '\u{2122}', '\u{2139}', '\u{24C2}',
            '\u{3030}', '\u{303D}', '\u{3297}', '\u{3299}',
        ];
        (blocks.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) || singles.contains(&c))
            && !is_regional(c)
            && !is_modifier(c)
    };
    let chars: Vec<char> = text.chars().collect();
    match chars.as_slice() {
        [a, b] if is_regional(*a) && is_regional(*b) => return true,
        [key, VS16, '\u{20E3}'] | [key, '\u{20E3}'] if "0123456789#*".contains(*key) => {
            return true;
        }
        ['\u{1F3F4}', tags @ .., '\u{E007F}']
            if !tags.is_empty() && tags.iter().all(|c| ('\u{E0020}'..='\u{E007E}').contains(c)) =>
        {
            return true;
        }
        _ => {}
    }
    // One element, or elements joined by ZWJ: a pictograph, then at most one VS16 and at
    // most one skin-tone modifier.
    text.split(ZWJ).all(|element| {
        let mut chars = element.chars();
        let rest: Vec<char> = chars.by_ref().skip(1).collect();
        let base = element.chars().next();
        let count = |f: &dyn Fn(char) -> bool| rest.iter().filter(|c| f(**c)).count();
        base.is_some_and(is_pictograph)
            && count(&|c| c == VS16) <= 1
            && count(&|c| is_modifier(c)) <= 1
            && count(&|c| c == VS16 || is_modifier(c)) == rest.len()
    })
}

impl HfSpace {
    /// Reads `[workspace.metadata.hf-space]` from `<root>/Cargo.toml`.
    pub(crate) fn load(root: &Utf8Path) -> Result<HfSpace> {
        let path = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let settings = HfSpace::deserialize_from(&text)
            .with_context(|| format!("{path}: invalid [workspace.metadata.hf-space]"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads and validates the settings from a manifest's text.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<HfSpace> {
        let settings = HfSpace::deserialize_from(text)?;
        settings.validate()?;
        Ok(settings)
    }

    fn deserialize_from(text: &str) -> Result<HfSpace> {
        let manifest: Manifest = toml::from_str(text)?;
        let settings = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.hf_space)
            .context("the table is missing: add `[workspace.metadata.hf-space]` (see README.md, \"Settings\")")?;
        // `check --staged` reads the client from the index and `deploy` rewrites it: it must
        // be a file of this repository.
        let client = &settings.frontend_client;
        let inside = is_inside(client) && client.file_name().is_some();
        ensure!(
            inside,
            "frontend-client = \"{client}\" is not a file inside the repository: give its path relative to the root, without `..`, e.g. \"{}\"",
            default_frontend_client()
        );
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        for path in &self.knowledge {
            ensure!(
                is_inside(path),
                "Cargo.toml [workspace.metadata.hf-space]: knowledge entry \"{path}\" is not inside the repository: give Markdown files or folders relative to the root, without `..`, like \"docs/\""
            );
        }
        self.generator.validate()
    }
}

/// A relative path of this repository, without `..` or `.` components.
fn is_inside(path: &Utf8Path) -> bool {
    path.is_relative()
        && path.components().next().is_some()
        && path
            .components()
            .all(|c| matches!(c, camino::Utf8Component::Normal(_)))
}

/// The public URL of a Space after Hugging Face's subdomain rule:
/// `https://USER-SPACE.hf.space`, lower-case, with `_` and `.` turned into `-`.
/// The domain the public Hub serves Spaces under (`https://USER-SPACE.hf.space`).
pub(crate) const SPACES_DOMAIN: &str = "hf.space";

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
    format!("https://{host}.{SPACES_DOMAIN}")
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
                "YOUR_NAME",
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
    fn an_emoji_is_one_emoji_grapheme() {
        for one in [
            "🤖",
            "❤️",
            "❤",
            "⭐",
            "1️⃣",
            "#️⃣",
            "🇫🇷",
            "👍🏽",
            "🧑‍💻",
            "👩‍👩‍👧‍👦",
            "🧑🏽‍💻",
            "🏳️‍🌈",
            "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
            "©️",
            "▶️",
        ] {
            assert!(is_one_emoji(one), "{one:?} is one emoji");
        }
        for not_one in [
            "",
            "A",
            "AB",
            ":robot:",
            "🤖🤖",
            "🤖 ",
            "🇫",
            "🇫🇷🇫🇷",
            "🏽",
            "1",
            "\u{FE0F}",
            "🧑‍",
            "‍💻",
            "🤖\u{FE0F}\u{FE0F}",
            "é",
        ] {
            assert!(!is_one_emoji(not_one), "{not_one:?} is not one emoji");
        }
    }

    #[test]
    fn knowledge_entries_stay_inside_the_repository() {
        for bad in ["../notes", "/etc", "./docs", ""] {
            let err = HfSpace::parse(&format!(
                "[workspace.metadata.hf-space]\nknowledge = [\"{bad}\"]\n"
            ))
            .unwrap_err();
            assert!(
                format!("{err:#}").contains("is not inside the repository"),
                "{err:#}"
            );
        }
        let ok = HfSpace::parse(
            "[workspace.metadata.hf-space]\nknowledge = [\"README.md\", \"docs/\"]\n",
        )
        .unwrap();
        assert_eq!(ok.knowledge, ["README.md", "docs/"]);
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
    fn an_unknown_key_or_a_missing_table_is_an_error_that_says_so() {
        for (toml, says) in [
            (
                "[workspace.metadata.hf-space]\nusr = \"x\"\n",
                "unknown field `usr`",
            ),
            (
                "[workspace]\nmembers = []\n",
                "add `[workspace.metadata.hf-space]`",
            ),
        ] {
            let err = format!("{:#}", HfSpace::parse(toml).unwrap_err());
            assert!(err.contains(says), "{err}");
        }
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
