//! What the Space README derives from the backend's source (the backend contract): the
//! endpoints (routers, route decorators) and the secrets (Settings fields), read from logical
//! lines (`python.rs`), so any formatting of the backend reads the same.

use anyhow::{Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

use super::closure::{self, Resolved, Sources};
use super::python::{self, Arg, Kind, LogicalLine, Token};

use crate::settings::{SPACE_SECRETS, is_space_secret};

pub(crate) const CONFIG: &str = "app/core/config.py";
pub(crate) const MAIN: &str = "app/main.py";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A row of the README's secrets table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    pub(crate) env: String,
    pub(crate) description: String,
}

const RULE_1: &str = "backend contract rule 1";
const RULE_2: &str = "backend contract rule 2";

/// The arguments of the first `Field(...)` call in `tokens` (the value, or inside
/// `Annotated[...]`).
fn field_call<'t, 'a>(tokens: &'t [Token<'a>]) -> Option<Vec<Arg<'t, 'a>>> {
    let at = tokens
        .windows(2)
        .position(|w| w[0].is_name("Field") && w[1].is_op("("))?;
    python::call_args(tokens, at + 1).map(|(args, _)| args)
}

/// What deploy takes from the backend's settings (`app/core/config.py`), so that it says and
/// checks what the backend itself says and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendSettings {
    /// The Settings fields with their descriptions, as [`secrets`] lists them.
    pub(crate) secrets: Vec<Secret>,
    /// `LOG_LEVELS = (...)`: the levels `LOG_LEVEL` may name (in any case); `None` when the
    /// module declares no such tuple of strings.
    pub(crate) log_levels: Option<Vec<String>>,
    /// `LOCAL_DB_HOSTS = (...)`: the `DATABASE_URL` hosts that need no `sslmode=require`
    /// (`""`: a Unix socket); `None` when not declared.
    pub(crate) local_db_hosts: Option<Vec<String>>,
}

pub(crate) fn backend_settings(sources: &Sources) -> Result<BackendSettings> {
    let secrets = secrets(sources)?;
    let text = sources.get(CONFIG).copied().unwrap_or_default();
    let lines = closure::parse(Utf8Path::new(CONFIG), text)?;
    Ok(BackendSettings {
        secrets,
        log_levels: string_tuple(&lines, "LOG_LEVELS"),
        local_db_hosts: string_tuple(&lines, "LOCAL_DB_HOSTS"),
    })
}

/// The strings of a module-level `NAME = ("a", "b", ...)` (or `NAME: T = (...)`, or a list);
/// `None` when there is none, or an item is not a plain string literal.
fn string_tuple(lines: &[LogicalLine], name: &str) -> Option<Vec<String>> {
    let line = lines
        .iter()
        .filter(|l| l.indent == 0)
        .find(|l| l.tokens.first().is_some_and(|t| t.is_name(name)))?;
    let equals = line.tokens.iter().position(|t| t.is_op("="))?;
    let value = &line.tokens[equals + 1..];
    let [open, items @ .., close] = value else {
        return None;
    };
    if !(open.is_op("(") && close.is_op(")") || open.is_op("[") && close.is_op("]")) {
        return None;
    }
    items
        .split(|t| t.is_op(","))
        .filter(|item| !item.is_empty())
        .map(python::literal)
        .collect()
}

/// The Settings fields of `app/core/config.py`: the Space's seven secrets first, in their
/// order, then the others in declaration order.
pub(crate) fn secrets(sources: &Sources) -> Result<Vec<Secret>> {
    let file = format!("backend/{CONFIG}");
    let Some(text) = sources.get(CONFIG) else {
        bail!("{file} not found ({RULE_1}): the Settings class lives there");
    };
    let lines = closure::parse(Utf8Path::new(CONFIG), text)?;
    let is_settings_class = |l: &LogicalLine| {
        matches!(l.tokens.as_slice(), [class, name, open, .., close, colon]
            if class.is_name("class") && name.is_name("Settings") && open.is_op("(")
                && close.is_op(")") && colon.is_op(":"))
            && l.tokens.iter().any(|t| t.is_name("BaseSettings"))
    };
    let Some(class_index) = lines.iter().position(is_settings_class) else {
        bail!(
            "{file}:1: no `class Settings(BaseSettings):` ({RULE_1}): declare the settings in one such class"
        );
    };
    let class = &lines[class_index];
    let body: Vec<&LogicalLine> = lines[class_index + 1..]
        .iter()
        .take_while(|l| l.indent > class.indent)
        .collect();
    let body_indent = body.first().map_or(0, |l| l.indent);
    let mut fields: Vec<(usize, Secret)> = Vec::new();
    for line in body.iter().filter(|l| l.indent == body_indent) {
        let tokens = line.tokens.as_slice();
        let [name, colon, ..] = tokens else { continue };
        if name.kind != Kind::Name || !colon.is_op(":") {
            continue; // not an annotated attribute
        }
        let place = format!("{file}:{}", name.line);
        let name = name.text;
        if tokens.iter().any(|t| t.is_name("ClassVar")) {
            continue;
        }
        let shape = format!("`{name}: <type> = Field(<default>, description=\"...\")`");
        let Some(args) = field_call(tokens) else {
            bail!(
                "{place}: field `{name}` is not declared with `Field(...)` ({RULE_1}): write it as {shape}; the README's secrets table reads its description"
            );
        };
        let Some(description) = python::keyword_literal(&args, "description") else {
            bail!(
                "{place}: field `{name}` has no `description=\"...\"` string ({RULE_1}): it becomes the README's description of {}",
                name.to_uppercase()
            );
        };
        fields.push((
            line.line,
            Secret {
                env: name.to_uppercase(),
                description,
            },
        ));
    }
    let missing: Vec<&str> = SPACE_SECRETS
        .into_iter()
        .filter(|s| !fields.iter().any(|(_, f)| f.env == *s))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{file}:{}: Settings lacks the secret(s) the Space needs: {} ({RULE_1}): add a field for each (lower-case name), with a description",
            class.line,
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
    let mut ordered: Vec<Secret> = SPACE_SECRETS
        .iter()
        .map(|s| fields.iter().find(|(_, f)| f.env == *s).unwrap().1.clone())
        .collect();
    ordered.extend(
        fields
            .into_iter()
            .map(|(_, f)| f)
            .filter(|f| !is_space_secret(&f.env)),
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
/// or includes them, then FastAPI's `/docs`. `read` receives the router modules it read.
pub(crate) fn endpoints(sources: &Sources, read: &mut Vec<String>) -> Result<Vec<Endpoint>> {
    let main = match sources.get(MAIN) {
        Some(text) => closure::parse(Utf8Path::new(MAIN), text)?,
        None => Vec::new(),
    };
    let imports = closure::imports(&main);
    let mut endpoints = Vec::new();
    for statement in main.iter().flat_map(LogicalLine::statements) {
        let place = format!("backend/{MAIN}:{}", statement[0].line);
        if let [app, dot, include, open, ..] = statement
            && app.is_name("app")
            && dot.is_op(".")
            && include.is_name("include_router")
            && open.is_op("(")
        {
            let args = python::call_args(statement, 3).map(|(args, _)| args);
            let name = match args.as_deref() {
                Some(
                    [
                        Arg {
                            keyword: None,
                            value: [module, dot, router],
                        },
                    ],
                ) if module.kind == Kind::Name && dot.is_op(".") && router.is_name("router") => {
                    module.text
                }
                _ => bail!(
                    "{place}: write `app.include_router(<module>.router)`, without a prefix ({RULE_2}): the endpoints table is read from it"
                ),
            };
            let module = router_module(sources, &imports, name)
                .ok_or_else(|| anyhow::anyhow!("{place}: `{name}` is not a module imported from app.api ({RULE_2}): import it as `from app.api import {name}`"))?;
            let lines = closure::parse(&module, sources[module.as_str()])?;
            read.push(module.to_string());
            endpoints.extend(router_routes(&lines, &module)?);
        } else if let Some(route) = route_of(statement, "app", &place, "")? {
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
) -> Option<Utf8PathBuf> {
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

fn router_routes(lines: &[LogicalLine], module: &Utf8Path) -> Result<Vec<Endpoint>> {
    let file = format!("backend/{module}");
    let router = lines
        .iter()
        .filter(|l| l.indent == 0)
        .find_map(|l| match l.tokens.as_slice() {
            [router, eq, class, open, ..]
                if router.is_name("router")
                    && eq.is_op("=")
                    && class.is_name("APIRouter")
                    && open.is_op("(") =>
            {
                python::call_args(&l.tokens, 3).map(|(args, _)| (l.line, args))
            }
            _ => None,
        });
    let Some((router_line, args)) = router else {
        bail!(
            "{file}:1: no `router = APIRouter(prefix=\"/api\", tags=[...])` at module level ({RULE_2}): declare the router so"
        );
    };
    let prefix = match args.iter().find(|a| a.keyword == Some("prefix")) {
        None => String::new(),
        Some(arg) => python::literal(arg.value).ok_or_else(|| {
            anyhow::anyhow!("{file}:{router_line}: the router's `prefix=` is not a string literal ({RULE_2}): write it as a string")
        })?,
    };
    let mut routes = Vec::new();
    for statement in lines.iter().flat_map(LogicalLine::statements) {
        let place = format!("{file}:{}", statement[0].line);
        if let Some(route) = route_of(statement, "router", &place, &prefix)? {
            routes.push(route);
        }
    }
    Ok(routes)
}

/// The endpoint a decorator statement declares on `receiver`, if it is one.
fn route_of(
    statement: &[Token],
    receiver: &str,
    place: &str,
    prefix: &str,
) -> Result<Option<Endpoint>> {
    let [at, object, dot, method, open, ..] = statement else {
        return Ok(None);
    };
    let is_route = at.is_op("@")
        && object.is_name(receiver)
        && dot.is_op(".")
        && METHODS.contains(&method.text)
        && open.is_op("(");
    if !is_route {
        return Ok(None);
    }
    let shape = format!(
        "`@{receiver}.{}(\"/path\", ..., summary=\"...\")`",
        method.text
    );
    let args = python::call_args(statement, 4)
        .map(|(args, _)| args)
        .unwrap_or_default();
    let Some(path) = args
        .first()
        .filter(|a| a.keyword.is_none())
        .and_then(|a| python::literal(a.value))
    else {
        bail!(
            "{place}: the route's path is not a string literal given first ({RULE_2}): write it as {shape}"
        );
    };
    let Some(summary) = python::keyword_literal(&args, "summary") else {
        bail!(
            "{place}: route decorator has no `summary=\"...\"` string ({RULE_2}): it becomes the endpoint's README description"
        );
    };
    let full = format!("{prefix}{path}");
    Ok(Some(Endpoint {
        method: method.text.to_uppercase(),
        path: if full.is_empty() { "/".into() } else { full },
        summary,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources<'a>(files: &'a [(&'a str, &'a str)]) -> Sources<'a> {
        files.iter().map(|(p, t)| (*p, *t)).collect()
    }

    fn secrets_of(config: &str) -> Result<Vec<Secret>> {
        secrets(&sources(&[(CONFIG, config)]))
    }

    #[test]
    fn the_backends_own_rules_are_read_from_module_level_tuples() {
        let text = format!(
            "LOG_LEVELS = (\"CRITICAL\", 'ERROR')\nLOCAL_DB_HOSTS: tuple[str, ...] = (\n    \"\",\n    \"local\" \"host\",  # joined\n)\nOTHER = (x, \"y\")\n\nclass Settings(BaseSettings):\n{SEVEN}    log_level: str = Field(\"INFO\", description=\"Log level\")\n    LOG_LEVELS = (\"inside\",)\n"
        );
        let read = backend_settings(&sources(&[(CONFIG, &text)])).unwrap();
        assert_eq!(read.log_levels.unwrap(), ["CRITICAL", "ERROR"]);
        assert_eq!(read.local_db_hosts.unwrap(), ["", "localhost"]);
        assert_eq!(read.secrets.len(), 7);
        let lines = closure::parse(Utf8Path::new(CONFIG), &text).unwrap();
        assert_eq!(string_tuple(&lines, "OTHER"), None, "not all literals");
        assert_eq!(string_tuple(&lines, "MISSING"), None);
    }

    fn endpoints_of(files: &[(&str, &str)]) -> Result<Vec<String>> {
        Ok(endpoints(&sources(files), &mut Vec::new())?
            .iter()
            .map(|e| format!("{} {} {}", e.method, e.path, e.summary))
            .collect())
    }

    const SEVEN: &str = "    gemini_api_key: str = Field(\"\", description=\"Google Gemini API key\")\n    qdrant_url: str = Field(\"\", description=\"Qdrant URL\")\n    qdrant_api_key: str = Field(\"\", description=\"Qdrant key\")\n    qdrant_collection: str = Field(\"docs\", description=\"Collection name\")\n    database_url: str = Field(\"\", description=\"PostgreSQL URL with `?sslmode=require`\")\n    allowed_origins: str = Field(\"\", description=\"Frontend URLs (comma-separated)\")\n";

    #[test]
    fn seed_secrets_come_first_then_declaration_order() {
        let text = format!(
            "from pydantic import Field\n\nclass Settings(BaseSettings):\n    \"\"\"Settings.\n\n    name: not a field\n    \"\"\"\n    model_config = SettingsConfigDict(\n        env_file=\".env\",\n    )\n    top_k: int = Field(default=5, description='Chunks \\'retrieved\\'')\n{SEVEN}    log_level: str = Field(\"INFO\", description=\"`INFO`\")  # why\n    LIMIT: ClassVar[int] = 3\n\n    @field_validator(\"qdrant_url\")\n    def strip(cls, v: str) -> str:\n        x: int = 1\n        return v\n\nsettings = Settings()\n"
        );
        let found = secrets_of(&text).unwrap();
        let envs: Vec<&str> = found.iter().map(|s| s.env.as_str()).collect();
        assert_eq!(envs, [&SPACE_SECRETS[..], &["TOP_K"]].concat());
        assert_eq!(found[7].description, "Chunks 'retrieved'");
        assert_eq!(found[6].description, "`INFO`");
    }

    #[test]
    fn fields_over_several_lines_and_annotated_ones_read_the_same() {
        let one_line = format!(
            "class Settings(BaseSettings):\n{SEVEN}    log_level: str = Field(\"INFO\", description=\"Log level\")\n"
        );
        let formatted = format!(
            "class Settings(\n    BaseSettings,\n):\n{SEVEN}    log_level: Annotated[\n        str,\n        Field(\n            description=(\n                \"Log \"  # two literals\n                \"level\"\n            ),\n        ),\n    ] = \"INFO\"\n"
        );
        assert_eq!(
            secrets_of(&formatted).unwrap(),
            secrets_of(&one_line).unwrap()
        );
    }

    #[test]
    fn a_field_without_a_description_is_an_error_with_its_line() {
        for (field, message) in [
            (
                "    log_level: str = Field(\n        \"INFO\")\n",
                "backend/app/core/config.py:8: field `log_level` has no `description=\"...\"` string",
            ),
            (
                "    log_level: str = \"INFO\"\n",
                "backend/app/core/config.py:8: field `log_level` is not declared with `Field(...)`",
            ),
            (
                "    log_level: str = Field(\"INFO\", description=f\"{x}\")\n",
                "backend/app/core/config.py:8: field `log_level` has no `description=\"...\"` string",
            ),
        ] {
            let text = format!("class Settings(BaseSettings):\n{SEVEN}{field}");
            let msg = format!("{:#}", secrets_of(&text).unwrap_err());
            assert!(msg.starts_with(message), "{msg}");
        }
    }

    #[test]
    fn a_missing_seed_secret_is_named() {
        let text = format!("class Settings(BaseSettings):\n{SEVEN}");
        let msg = format!("{:#}", secrets_of(&text).unwrap_err());
        assert!(
            msg.starts_with(
                "backend/app/core/config.py:1: Settings lacks the secret(s) the Space needs: LOG_LEVEL"
            ),
            "{msg}"
        );
    }

    const CHAT: &str = "router = APIRouter(prefix=\"/api\", tags=[\"chat\"])\n\n@router.post(\"/chat\", response_model=Answer, summary=\"Ask a question\")\nasync def chat(): ...\n";

    #[test]
    fn endpoints_follow_main_py_order_with_prefixes() {
        let main = "from fastapi import FastAPI\nfrom app.api import chat, health as health_api\n\napp = FastAPI()\napp.include_router(health_api.router)\napp.include_router(chat.router)\n\n@app.get(\"/\", summary=\"Service banner\")\nasync def root():\n    ...\n";
        let health = "router = APIRouter(tags=[\"health\"])\n@router.get('/api/health', summary='Service health')\n";
        let rows = endpoints_of(&[
            (MAIN, main),
            ("app/api/chat.py", CHAT),
            ("app/api/health.py", health),
            ("app/api/__init__.py", ""),
        ])
        .unwrap();
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
    fn multi_line_decorators_and_routers_read_the_same() {
        let main = "from app.api import chat\napp.include_router(chat.router)\n";
        let formatted = "router = APIRouter(\n    prefix=\"/api\",\n    tags=[\"chat\"],\n)\n\n\n@router.post(\n    \"/chat\",\n    response_model=Answer,\n    summary=\"Ask a question\",\n)\nasync def chat(): ...\n";
        assert_eq!(
            endpoints_of(&[(MAIN, main), ("app/api/chat.py", formatted)]).unwrap(),
            endpoints_of(&[(MAIN, main), ("app/api/chat.py", CHAT)]).unwrap()
        );
    }

    #[test]
    fn a_route_without_a_literal_path_or_summary_is_an_error_with_its_line() {
        let main = "from app.api import chat\napp.include_router(chat.router)\n";
        for (chat, message) in [
            (
                "router = APIRouter(prefix=\"/api\")\n\n@router.post(\n    \"/chat\")\n",
                "backend/app/api/chat.py:3: route decorator has no `summary=\"...\"`",
            ),
            (
                "router = APIRouter(prefix=\"/api\")\n@router.post(PATH, summary=\"x\")\n",
                "backend/app/api/chat.py:2: the route's path is not a string literal given first",
            ),
        ] {
            let msg = format!(
                "{:#}",
                endpoints_of(&[(MAIN, main), ("app/api/chat.py", chat)]).unwrap_err()
            );
            assert!(msg.starts_with(message), "{msg}");
        }
    }

    #[test]
    fn an_include_with_a_prefix_is_an_error() {
        let main = "from app.api import chat\napp.include_router(\n    chat.router,\n    prefix=\"/v1\",\n)\n";
        let msg = format!("{:#}", endpoints_of(&[(MAIN, main)]).unwrap_err());
        assert!(
            msg.starts_with("backend/app/main.py:2: write `app.include_router(<module>.router)`"),
            "{msg}"
        );
    }
}
