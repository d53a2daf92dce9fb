//! What the Space README derives from the backend's source text (the backend contract):
//! the endpoints (routers, one-line route decorators) and the secrets (Settings fields).

use std::sync::LazyLock;

use anyhow::{Result, bail};
use camino::Utf8Path;
use regex::Regex;

use super::closure::{self, Resolved, Sources};

/// The seed's secrets (step 7), in the seed's order: the README's first rows.
pub(crate) const SEED_SECRETS: [&str; 7] =
    ["GEMINI_API_KEY", "QDRANT_URL", "QDRANT_API_KEY", "QDRANT_COLLECTION", "DATABASE_URL", "ALLOWED_ORIGINS", "LOG_LEVEL"];

const CONFIG: &str = "app/core/config.py";
const MAIN: &str = "app/main.py";

static SETTINGS_CLASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^class\s+Settings\s*\(\s*BaseSettings\s*\)\s*:\s*(?:#.*)?$").unwrap());
static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^    ([A-Za-z_]\w*)\s*:\s*(.+?)\s*=\s*Field\((.*)\)\s*(?:#.*)?$").unwrap()
});
/// Anything at the class body's indentation that looks like an annotated attribute.
static ANNOTATED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^    ([A-Za-z_]\w*)\s*:").unwrap());
static ROUTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^router\s*=\s*APIRouter\((.*)\)\s*(?:#.*)?$").unwrap());
/// A route decorator on one line: receiver, method, arguments.
static ROUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*@(router|app)\.(get|post|put|patch|delete)\((.*)\)\s*(?:#.*)?$").unwrap()
});
static ROUTE_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*@(router|app)\.(get|post|put|patch|delete)\b").unwrap());
static INCLUDE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*app\.include_router\b(.*)$").unwrap());
static INCLUDE_ONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(\s*([A-Za-z_]\w*)\.router\s*\)\s*(?:#.*)?$").unwrap());

/// A string literal (either quote), group 1 or 2 holding its text.
const STRING: &str = r#"(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#;

fn keyword(name: &str) -> Regex {
    Regex::new(&format!(r"\b{name}\s*=\s*{STRING}")).unwrap()
}
static DESCRIPTION: LazyLock<Regex> = LazyLock::new(|| keyword("description"));
static SUMMARY: LazyLock<Regex> = LazyLock::new(|| keyword("summary"));
static PREFIX: LazyLock<Regex> = LazyLock::new(|| keyword("prefix"));
static FIRST_STRING: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^\s*{STRING}")).unwrap());

fn string_in(re: &Regex, text: &str) -> Option<String> {
    re.captures(text).map(|caps| {
        let raw = caps.get(1).or_else(|| caps.get(2)).unwrap().as_str();
        raw.replace("\\\"", "\"").replace("\\'", "'").replace("\\\\", "\\")
    })
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
    let Some(class_line) = lines.iter().position(|l| SETTINGS_CLASS.is_match(l)) else {
        bail!("{file}:1: no `class Settings(BaseSettings):` ({RULE_1}): declare the settings in one such class");
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
        let Some(annotated) = ANNOTATED.captures(line) else { continue };
        let name = &annotated[1];
        if line.contains("ClassVar") {
            continue;
        }
        let Some(caps) = FIELD.captures(line) else {
            bail!(
                "{place}: field `{name}` is not declared on one line as `{name}: <type> = Field(<default>, description=\"...\")` ({RULE_1}): the README's secrets table is read from that line"
            );
        };
        let Some(description) = string_in(&DESCRIPTION, &caps[3]) else {
            bail!("{place}: field `{name}` has no `description=\"...\"` ({RULE_1}): it becomes the README's description of {}", name.to_uppercase());
        };
        fields.push((index + 1, Secret { env: name.to_uppercase(), description }));
    }
    let missing: Vec<&str> = SEED_SECRETS.iter().copied().filter(|s| !fields.iter().any(|(_, f)| f.env == *s)).collect();
    if !missing.is_empty() {
        bail!(
            "{file}:{}: Settings lacks the seed's secret(s) {} ({RULE_1}): add a field for each (lower-case name), with a description",
            class_line + 1,
            missing.join(", ")
        );
    }
    for (line, field) in &fields {
        if fields.iter().filter(|(_, f)| f.env == field.env).count() > 1 {
            bail!("{file}:{line}: field {} is declared twice ({RULE_1}): keep one", field.env);
        }
    }
    let mut ordered: Vec<Secret> = SEED_SECRETS
        .iter()
        .map(|s| fields.iter().find(|(_, f)| f.env == *s).unwrap().1.clone())
        .collect();
    ordered.extend(fields.into_iter().map(|(_, f)| f).filter(|f| !SEED_SECRETS.contains(&f.env.as_str())));
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
    let main = sources.get(Utf8Path::new(MAIN)).copied().unwrap_or_default();
    let imports = closure::imports(main);
    let mut endpoints = Vec::new();
    for (index, line) in main.lines().enumerate() {
        let place = format!("backend/{MAIN}:{}", index + 1);
        if let Some(include) = INCLUDE.captures(line) {
            let Some(caps) = INCLUDE_ONE.captures(&include[1]) else {
                bail!("{place}: write `app.include_router(<module>.router)` on one line, without a prefix ({RULE_2}): the endpoints table is read from it");
            };
            let module = router_module(sources, &imports, &caps[1])
                .ok_or_else(|| anyhow::anyhow!("{place}: `{}` is not a module imported from app.api ({RULE_2}): import it as `from app.api import {}`", &caps[1], &caps[1]))?;
            endpoints.extend(router_routes(sources, &module)?);
        } else if let Some(route) = route_of(line, "app", &place, "")? {
            endpoints.push(route);
        }
    }
    endpoints.push(Endpoint { method: "GET".into(), path: "/docs".into(), summary: "Interactive API documentation (Swagger UI)".into() });
    Ok(endpoints)
}

/// The file of the module bound to `name` in main.py.
fn router_module(sources: &Sources, imports: &[closure::Import], name: &str) -> Option<camino::Utf8PathBuf> {
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
    let Some(router) = text.lines().find_map(|l| ROUTER.captures(l)) else {
        bail!("{file}:1: no one-line `router = APIRouter(prefix=\"/api\", tags=[...])` ({RULE_2}): declare the router on one line");
    };
    let prefix = string_in(&PREFIX, &router[1]).unwrap_or_default();
    let mut routes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(route) = route_of(line, "router", &format!("{file}:{}", index + 1), &prefix)? {
            routes.push(route);
        }
    }
    Ok(routes)
}

/// The endpoint a decorator line declares on `receiver`, if it is one.
fn route_of(line: &str, receiver: &str, place: &str, prefix: &str) -> Result<Option<Endpoint>> {
    let Some(start) = ROUTE_START.captures(line) else { return Ok(None) };
    if &start[1] != receiver {
        return Ok(None);
    }
    let shape = format!("`@{receiver}.get(\"/path\", ..., summary=\"...\")` on one line");
    let Some(caps) = ROUTE.captures(line) else {
        bail!("{place}: route decorator is not on one line ({RULE_2}): write it as {shape}");
    };
    let Some(path) = string_in(&FIRST_STRING, &caps[3]) else {
        bail!("{place}: route decorator has no path string first ({RULE_2}): write it as {shape}");
    };
    let Some(summary) = string_in(&SUMMARY, &caps[3]) else {
        bail!("{place}: route decorator has no `summary=\"...\"` ({RULE_2}): it becomes the endpoint's README description");
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
        assert_eq!(envs, [&SEED_SECRETS[..], &["TOP_K"]].concat());
        assert_eq!(found[7].description, "Chunks 'retrieved'");
        assert_eq!(found[6].description, "`INFO`");
    }

    #[test]
    fn a_multi_line_field_is_an_error_with_its_line() {
        let text = format!("class Settings(BaseSettings):\n{SEVEN}    log_level: str = Field(\n        \"INFO\", description=\"x\")\n");
        let msg = format!("{:#}", secrets(&sources(&[(CONFIG, &text)])).unwrap_err());
        assert!(msg.starts_with("backend/app/core/config.py:8: field `log_level` is not declared on one line"), "{msg}");
    }

    #[test]
    fn a_missing_seed_secret_is_named() {
        let text = format!("class Settings(BaseSettings):\n{SEVEN}");
        let msg = format!("{:#}", secrets(&sources(&[(CONFIG, &text)])).unwrap_err());
        assert!(msg.starts_with("backend/app/core/config.py:1: Settings lacks the seed's secret(s) LOG_LEVEL"), "{msg}");
    }

    #[test]
    fn endpoints_follow_main_py_order_with_prefixes() {
        let main = "from fastapi import FastAPI\nfrom app.api import chat, health as health_api\n\napp = FastAPI()\napp.include_router(health_api.router)\napp.include_router(chat.router)\n\n@app.get(\"/\", summary=\"Service banner\")\nasync def root():\n    ...\n";
        let chat = "router = APIRouter(prefix=\"/api\", tags=[\"chat\"])\n\n@router.post(\"/chat\", response_model=Answer, summary=\"Ask a question\")\nasync def chat(): ...\n";
        let health = "router = APIRouter(tags=[\"health\"])\n@router.get('/api/health', summary='Service health')\n";
        let found = endpoints(&sources(&[(MAIN, main), ("app/api/chat.py", chat), ("app/api/health.py", health), ("app/api/__init__.py", "")])).unwrap();
        let rows: Vec<String> = found.iter().map(|e| format!("{} {} {}", e.method, e.path, e.summary)).collect();
        assert_eq!(rows, ["GET /api/health Service health", "POST /api/chat Ask a question", "GET / Service banner", "GET /docs Interactive API documentation (Swagger UI)"]);
    }

    #[test]
    fn a_multi_line_decorator_or_a_missing_summary_is_an_error_with_its_line() {
        let main = "from app.api import chat\napp.include_router(chat.router)\n";
        let multi = "router = APIRouter(prefix=\"/api\")\n\n@router.post(\n    \"/chat\", summary=\"x\")\n";
        let msg = format!("{:#}", endpoints(&sources(&[(MAIN, main), ("app/api/chat.py", multi)])).unwrap_err());
        assert!(msg.starts_with("backend/app/api/chat.py:3: route decorator is not on one line"), "{msg}");
        let bare = "router = APIRouter(prefix=\"/api\")\n@router.post(\"/chat\")\n";
        let msg = format!("{:#}", endpoints(&sources(&[(MAIN, main), ("app/api/chat.py", bare)])).unwrap_err());
        assert!(msg.starts_with("backend/app/api/chat.py:2: route decorator has no `summary=\"...\"`"), "{msg}");
    }

    #[test]
    fn an_include_with_a_prefix_is_an_error() {
        let main = "from app.api import chat\napp.include_router(chat.router, prefix=\"/v1\")\n";
        let msg = format!("{:#}", endpoints(&sources(&[(MAIN, main)])).unwrap_err());
        assert!(msg.starts_with("backend/app/main.py:2: write `app.include_router(<module>.router)`"), "{msg}");
    }
}
