//! What the Space README derives from the backend's source text (the backend contract):
//! the endpoints (routers, one-line route decorators) and the secrets (Settings fields).

use std::sync::LazyLock;

use anyhow::{Result, bail};
use camino::Utf8Path;

use super::closure::{self, Resolved, Sources, strip_comment};
use super::pattern::Pattern;

use crate::settings::{SEED_SECRETS, is_seed_secret};

const CONFIG: &str = "app/core/config.py";
const MAIN: &str = "app/main.py";
const SETTINGS_CLASS: &str = "class Settings(BaseSettings):";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

// The regexes read the lines the contract fixes; cheap string tests pick those lines first,
// because `check` runs in the pre-commit hook from an unoptimized build.

/// A Settings field on one line: name, type, the arguments of `Field(...)`.
static FIELD: LazyLock<Pattern> = LazyLock::new(|| {
    Pattern::new(r"^    ([A-Za-z_]\w*)\s*:\s*(.+?)\s*=\s*Field\((.*)\)\s*(?:#.*)?$")
});
/// `router = APIRouter(...)` on one line: its arguments.
static ROUTER: LazyLock<Pattern> =
    LazyLock::new(|| Pattern::new(r"^router\s*=\s*APIRouter\((.*)\)\s*(?:#.*)?$"));
/// A route decorator on one line: receiver, method, the path string, the other arguments.
static ROUTE: LazyLock<Pattern> = LazyLock::new(|| {
    Pattern::new(&format!(
        r"^\s*@(router|app)\.(get|post|put|patch|delete)\(\s*{STRING}(.*)\)\s*(?:#.*)?$"
    ))
});
/// `name="text"` keyword arguments.
static KEYWORD: LazyLock<Pattern> =
    LazyLock::new(|| Pattern::new(&format!(r"\b([A-Za-z_]\w*)\s*=\s*{STRING}")));

/// A string literal (either quote), group 1 or 2 holding its text.
const STRING: &str = r#"(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#;

/// The text of the string passed as keyword argument `name` in `args`.
fn keyword(args: &str, name: &str) -> Option<String> {
    KEYWORD
        .captures_iter(args)
        .find(|caps| &caps[1] == name)
        .map(|caps| {
            let raw = caps.get(2).or_else(|| caps.get(3)).unwrap().as_str();
            unescape(raw)
        })
}

fn unescape(raw: &str) -> String {
    raw.replace("\\\"", "\"")
        .replace("\\'", "'")
        .replace("\\\\", "\\")
}

/// The name of an attribute annotated at the class body's indentation (`    name: ...`).
fn annotated_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("    ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_well && rest[end..].trim_start().starts_with(':')).then_some(name)
}

/// A row of the README's secrets table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    pub(crate) env: String,
    pub(crate) description: String,
}

const RULE_1: &str = "backend contract rule 1";
const RULE_2: &str = "backend contract rule 2";

/// The Settings fields of `app/core/config.py`: the seed's seven first, in the seed's order,
/// then the others in declaration order.
pub(crate) fn secrets(sources: &Sources) -> Result<Vec<Secret>> {
    let file = format!("backend/{CONFIG}");
    let Some(text) = sources.get(Utf8Path::new(CONFIG)) else {
        bail!("{file} not found ({RULE_1}): the Settings class lives there");
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(class_line) = lines
        .iter()
        .position(|l| strip_comment(l).trim_end() == SETTINGS_CLASS)
    else {
        bail!(
            "{file}:1: no `class Settings(BaseSettings):` ({RULE_1}): declare the settings in one such class"
        );
    };
    let mut fields: Vec<(usize, Secret)> = Vec::new();
    let mut in_string: Option<&str> = None;
    for (index, line) in lines.iter().enumerate().skip(class_line + 1) {
        let place = format!("{file}:{}", index + 1);
        if let Some(quote) = in_string {
            if line.matches(quote).count() % 2 == 1 {
                in_string = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if !line.is_empty() && !line.starts_with(char::is_whitespace) && !trimmed.starts_with('#') {
            break; // the class body ended
        }
        for quote in ["\"\"\"", "'''"] {
            if line.matches(quote).count() % 2 == 1 {
                in_string = Some(quote);
            }
        }
        let Some(name) = annotated_name(line) else {
            continue;
        };
        if line.contains("ClassVar") {
            continue;
        }
        let Some(caps) = FIELD.captures(line) else {
            bail!(
                "{place}: field `{name}` is not declared on one line as `{name}: <type> = Field(<default>, description=\"...\")` ({RULE_1}): the README's secrets table is read from that line"
            );
        };
        let Some(description) = keyword(&caps[3], "description") else {
            bail!(
                "{place}: field `{name}` has no `description=\"...\"` ({RULE_1}): it becomes the README's description of {}",
                name.to_uppercase()
            );
        };
        fields.push((
            index + 1,
            Secret {
                env: name.to_uppercase(),
                description,
            },
        ));
    }
    let missing: Vec<&str> = SEED_SECRETS
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !fields.iter().any(|(_, f)| f.env == *s))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{file}:{}: Settings lacks the seed's secret(s) {} ({RULE_1}): add a field for each (lower-case name), with a description",
            class_line + 1,
            missing.join(", ")
        );
    }
    for (line, field) in &fields {
        if fields.iter().filter(|(_, f)| f.env == field.env).count() > 1 {
            bail!(
                "{file}:{line}: field {} is declared twice ({RULE_1}): keep one",
                field.env
            );
        }
    }
    let mut ordered: Vec<Secret> = SEED_SECRETS
        .iter()
        .map(|(s, _)| fields.iter().find(|(_, f)| f.env == *s).unwrap().1.clone())
        .collect();
    ordered.extend(
        fields
            .into_iter()
            .map(|(_, f)| f)
            .filter(|f| !is_seed_secret(&f.env)),
    );
    Ok(ordered)
}

/// A row of the README's endpoints table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) summary: String,
}

/// The routes of `app/main.py` and of the routers it includes, in the order main.py declares
/// or includes them, then FastAPI's `/docs`.
pub(crate) fn endpoints(sources: &Sources) -> Result<Vec<Endpoint>> {
    let main = sources
        .get(Utf8Path::new(MAIN))
        .copied()
        .unwrap_or_default();
    let imports = closure::imports(main);
    let mut endpoints = Vec::new();
    for (index, line) in main.lines().enumerate() {
        let place = format!("backend/{MAIN}:{}", index + 1);
        if let Some(include) = line.trim_start().strip_prefix("app.include_router") {
            let argument = strip_comment(include)
                .trim()
                .strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'));
            let Some(name) = argument
                .and_then(|a| a.trim().strip_suffix(".router"))
                .filter(|n| is_identifier(n))
            else {
                bail!(
                    "{place}: write `app.include_router(<module>.router)` on one line, without a prefix ({RULE_2}): the endpoints table is read from it"
                );
            };
            let module = router_module(sources, &imports, name)
                .ok_or_else(|| anyhow::anyhow!("{place}: `{name}` is not a module imported from app.api ({RULE_2}): import it as `from app.api import {name}`"))?;
            endpoints.extend(router_routes(sources, &module)?);
        } else if let Some(route) = route_of(line, "app", &place, "")? {
            endpoints.push(route);
        }
    }
    endpoints.push(Endpoint {
        method: "GET".into(),
        path: "/docs".into(),
        summary: "Interactive API documentation (Swagger UI)".into(),
    });
    Ok(endpoints)
}

/// The file of the module bound to `name` in main.py.
fn router_module(
    sources: &Sources,
    imports: &[closure::Import],
    name: &str,
) -> Option<camino::Utf8PathBuf> {
    let main = Utf8Path::new(MAIN);
    let dotted = imports.iter().find_map(|import| {
        let base = closure::absolute_module(main, import).ok().flatten()?;
        if import.bound.as_deref() == Some(name) {
            return Some(base);
        }
        let (imported, _) = import.names.iter().find(|(_, bound)| bound == name)?;
        Some(format!("{base}.{imported}"))
    })?;
    match closure::resolve(sources, &dotted)? {
        Resolved::Module(path) => Some(path),
        Resolved::Package(_, init) => init,
    }
}

fn router_routes(sources: &Sources, module: &Utf8Path) -> Result<Vec<Endpoint>> {
    let text = sources[module];
    let file = format!("backend/{module}");
    let Some(router) = text
        .lines()
        .filter(|l| l.starts_with("router"))
        .find_map(|l| ROUTER.captures(l))
    else {
        bail!(
            "{file}:1: no one-line `router = APIRouter(prefix=\"/api\", tags=[...])` ({RULE_2}): declare the router on one line"
        );
    };
    let prefix = keyword(&router[1], "prefix").unwrap_or_default();
    let mut routes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(route) = route_of(line, "router", &format!("{file}:{}", index + 1), &prefix)? {
            routes.push(route);
        }
    }
    Ok(routes)
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The endpoint a decorator line declares on `receiver`, if it is one.
fn route_of(line: &str, receiver: &str, place: &str, prefix: &str) -> Result<Option<Endpoint>> {
    let Some(rest) = line
        .trim_start()
        .strip_prefix('@')
        .and_then(|r| r.strip_prefix(receiver))
        .and_then(|r| r.strip_prefix('.'))
    else {
        return Ok(None);
    };
    let method_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    if !METHODS.contains(&&rest[..method_end]) {
        return Ok(None);
    }
    let shape = format!("`@{receiver}.get(\"/path\", ..., summary=\"...\")` on one line");
    let Some(caps) = ROUTE.captures(line) else {
        bail!(
            "{place}: route decorator is not on one line with its path string first ({RULE_2}): write it as {shape}"
        );
    };
    let path = unescape(caps.get(3).or_else(|| caps.get(4)).unwrap().as_str());
    let Some(summary) = keyword(&caps[5], "summary") else {
        bail!(
            "{place}: route decorator has no `summary=\"...\"` ({RULE_2}): it becomes the endpoint's README description"
        );
    };
    let full = format!("{prefix}{path}");
    Ok(Some(Endpoint {
        method: caps[2].to_uppercase(),
        path: if full.is_empty() { "/".into() } else { full },
        summary,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources<'a>(files: &'a [(&'a str, &'a str)]) -> Sources<'a> {
        files.iter().map(|(p, t)| (Utf8Path::new(*p), *t)).collect()
    }

    const SEVEN: &str = "    gemini_api_key: str = Field(\"\", description=\"Google Gemini API key\")\n    qdrant_url: str = Field(\"\", description=\"Qdrant URL\")\n    qdrant_api_key: str = Field(\"\", description=\"Qdrant key\")\n    qdrant_collection: str = Field(\"docs\", description=\"Collection name\")\n    database_url: str = Field(\"\", description=\"PostgreSQL URL with `?sslmode=require`\")\n    allowed_origins: str = Field(\"\", description=\"Frontend URLs (comma-separated)\")\n";

    #[test]
    fn seed_secrets_come_first_then_declaration_order() {
        let text = format!(
            "from pydantic import Field\n\nclass Settings(BaseSettings):\n    \"\"\"Settings.\n\n    name: not a field\n    \"\"\"\n    model_config = SettingsConfigDict(\n        env_file=\".env\",\n    )\n    top_k: int = Field(default=5, description='Chunks \\'retrieved\\'')\n{SEVEN}    log_level: str = Field(\"INFO\", description=\"`INFO`\")  # why\n\n    @field_validator(\"qdrant_url\")\n    def strip(cls, v: str) -> str:\n        x: int = 1\n        return v\n\nsettings = Settings()\n"
        );
        let found = secrets(&sources(&[(CONFIG, &text)])).unwrap();
        let envs: Vec<&str> = found.iter().map(|s| s.env.as_str()).collect();
        let seed: Vec<&str> = SEED_SECRETS.iter().map(|(s, _)| *s).collect();
        assert_eq!(envs, [&seed[..], &["TOP_K"]].concat());
        assert_eq!(found[7].description, "Chunks 'retrieved'");
        assert_eq!(found[6].description, "`INFO`");
    }

    #[test]
    fn a_multi_line_field_is_an_error_with_its_line() {
        let text = format!(
            "class Settings(BaseSettings):\n{SEVEN}    log_level: str = Field(\n        \"INFO\", description=\"x\")\n"
        );
        let msg = format!("{:#}", secrets(&sources(&[(CONFIG, &text)])).unwrap_err());
        assert!(
            msg.starts_with(
                "backend/app/core/config.py:8: field `log_level` is not declared on one line"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_seed_secret_is_named() {
        let text = format!("class Settings(BaseSettings):\n{SEVEN}");
        let msg = format!("{:#}", secrets(&sources(&[(CONFIG, &text)])).unwrap_err());
        assert!(
            msg.starts_with(
                "backend/app/core/config.py:1: Settings lacks the seed's secret(s) LOG_LEVEL"
            ),
            "{msg}"
        );
    }

    #[test]
    fn endpoints_follow_main_py_order_with_prefixes() {
        let main = "from fastapi import FastAPI\nfrom app.api import chat, health as health_api\n\napp = FastAPI()\napp.include_router(health_api.router)\napp.include_router(chat.router)\n\n@app.get(\"/\", summary=\"Service banner\")\nasync def root():\n    ...\n";
        let chat = "router = APIRouter(prefix=\"/api\", tags=[\"chat\"])\n\n@router.post(\"/chat\", response_model=Answer, summary=\"Ask a question\")\nasync def chat(): ...\n";
        let health = "router = APIRouter(tags=[\"health\"])\n@router.get('/api/health', summary='Service health')\n";
        let found = endpoints(&sources(&[
            (MAIN, main),
            ("app/api/chat.py", chat),
            ("app/api/health.py", health),
            ("app/api/__init__.py", ""),
        ]))
        .unwrap();
        let rows: Vec<String> = found
            .iter()
            .map(|e| format!("{} {} {}", e.method, e.path, e.summary))
            .collect();
        assert_eq!(
            rows,
            [
                "GET /api/health Service health",
                "POST /api/chat Ask a question",
                "GET / Service banner",
                "GET /docs Interactive API documentation (Swagger UI)"
            ]
        );
    }

    #[test]
    fn a_multi_line_decorator_or_a_missing_summary_is_an_error_with_its_line() {
        let main = "from app.api import chat\napp.include_router(chat.router)\n";
        let multi =
            "router = APIRouter(prefix=\"/api\")\n\n@router.post(\n    \"/chat\", summary=\"x\")\n";
        let msg = format!(
            "{:#}",
            endpoints(&sources(&[(MAIN, main), ("app/api/chat.py", multi)])).unwrap_err()
        );
        assert!(
            msg.starts_with("backend/app/api/chat.py:3: route decorator is not on one line"),
            "{msg}"
        );
        let bare = "router = APIRouter(prefix=\"/api\")\n@router.post(\"/chat\")\n";
        let msg = format!(
            "{:#}",
            endpoints(&sources(&[(MAIN, main), ("app/api/chat.py", bare)])).unwrap_err()
        );
        assert!(
            msg.starts_with("backend/app/api/chat.py:2: route decorator has no `summary=\"...\"`"),
            "{msg}"
        );
    }

    #[test]
    fn an_include_with_a_prefix_is_an_error() {
        let main = "from app.api import chat\napp.include_router(chat.router, prefix=\"/v1\")\n";
        let msg = format!("{:#}", endpoints(&sources(&[(MAIN, main)])).unwrap_err());
        assert!(
            msg.starts_with("backend/app/main.py:2: write `app.include_router(<module>.router)`"),
            "{msg}"
        );
    }
}
