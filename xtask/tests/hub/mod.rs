//! A local test Hub on 127.0.0.1: `git http-backend` behind token auth, the Git LFS batch API,
//! the Hub API subset `deploy` uses, and a fake Space host serving `/api/health` and CORS
//! preflights. A third server, "elsewhere", stands for every other host: the LFS storage the
//! batch API points at, the target of a scripted git redirect, a foreign `lfs.url`. Every
//! request the servers see is recorded, so tests can prove what was (not) sent where.

#![allow(dead_code)] // each test binary uses a different part

pub mod cgi;
pub mod sandbox;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tiny_http::{Header, Request, Response, Server};

/// The token the test Hub accepts. Split in the source, so the copy of this repository the
/// tests scan for it does not contain it.
pub const TOKEN: &str = concat!("hf_", "TestTokenXtaskDeploy0123456789abcd");
pub const USER: &str = "alice";
/// The Space the tests deploy to, and the frontend origin their Hub serves.
pub const SPACE: &str = "bot";
pub const FRONTEND: &str = "https://my-app.vercel.app";

/// A sandbox (a copy of this monorepo, its HOME and TMPDIR) and the test Hub it deploys to.
pub struct Setup {
    pub sandbox: sandbox::Sandbox,
    pub hub: Hub,
}

impl Setup {
    /// A sandbox and its Hub, with no Space yet.
    pub fn new() -> Setup {
        let sandbox = sandbox::Sandbox::new();
        let hub = Hub::start(&sandbox.repos, FRONTEND);
        Setup { sandbox, hub }
    }

    /// [`Setup::new`] with the Space [`SPACE`] already on the Hub.
    pub fn with_space() -> Setup {
        let s = Setup::new();
        s.hub.add_space(SPACE);
        s
    }
}

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `hub`, `space` or `elsewhere`.
    pub server: &'static str,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the Hub and the Space host answer; tests change it between runs.
pub struct State {
    pub seen: Vec<Seen>,
    /// `auth.accessToken.role` in whoami.
    pub role: String,
    /// When set, `POST /api/repos/create` answers this status without creating anything.
    pub create_status: Option<u16>,
    pub private: bool,
    pub secrets: Vec<(String, String)>,
    /// Refuse every secret with a 422 whose body quotes the value, as a validating API may.
    pub refuse_secrets: bool,
    /// Runtime stages still to answer, one per `GET .../runtime`; the last one repeats.
    pub runtime: VecDeque<String>,
    /// The stages a push starts (the Hub rebuilds the Space on every push).
    pub after_push: Vec<String>,
    /// The stages a factory restart starts.
    pub after_restart: Vec<String>,
    pub error_message: Option<String>,
    pub build_log: Vec<String>,
    /// The run log; `None` serves `build_log` for it too.
    pub run_log: Option<Vec<String>>,
    /// How each log request is answered, in order (then: every line, and the stream ends).
    pub log_scripts: VecDeque<LogScript>,
    pub restarts: u32,
    /// Answer the first N API calls with 429.
    pub throttle: u32,
    /// The header the 429s carry: `Retry-After: 0` unless set (e.g. `RateLimit`).
    pub throttle_header: Option<(String, String)>,
    /// Answer the first N creates with 409 "another conflicting operation is in progress".
    pub create_conflicts: u32,
    /// Hold every `git-receive-pack` POST for this long, then fail it without applying it.
    pub hang_push: Option<Duration>,
    /// Someone else pushes to the Space just as a push starts (once).
    pub race_push: bool,
    /// `(status, body)` of the Space's `/api/health`.
    pub health: (u16, String),
    /// Origins the Space's CORS middleware allows.
    pub cors_origins: Vec<String>,
    /// `(path prefix, URL prefix)`: git requests under the path are answered 302 to the URL.
    pub git_redirect: Option<(String, String)>,
    /// The `host` the Space info reports instead of the fake Space host's URL (`""`: neither
    /// a host nor a subdomain).
    pub space_host: Option<String>,
    /// The `name` whoami reports.
    pub whoami_name: String,
    /// The body of a scripted `create_status` answer.
    pub create_body: String,
    /// Git LFS objects the storage received: `(oid, bytes)`.
    pub lfs_objects: Vec<(String, Vec<u8>)>,
}

/// How one log request is answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogScript {
    /// Break the connection (invalid chunk framing, which the client reads as an I/O error,
    /// as it would a reset) after this many events.
    pub cut_after: Option<usize>,
    /// Keep the stream open after the last event (up to 30 s), as the Hub does.
    pub hold: bool,
}

pub const HEALTHY: &str = r#"{"status":"healthy","services":{"fastapi":"ok","qdrant":{"status":"connected"},"postgres":{"status":"connected"},"gemini":{"status":"ok"}}}"#;

pub struct Hub {
    pub url: String,
    pub space_url: String,
    /// Another host (another port): LFS storage, redirect target, foreign `lfs.url`.
    pub elsewhere_url: String,
    /// Bare repos: `<repos>/<user>/<space>.git`.
    pub repos: PathBuf,
    state: Arc<Mutex<State>>,
    servers: Vec<Arc<Server>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        for server in &self.servers {
            server.unblock();
        }
    }
}

impl Hub {
    /// Starts both servers; `repos` holds the bare repos.
    pub fn start(repos: &Path, frontend_origin: &str) -> Hub {
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            role: "write".into(),
            create_status: None,
            private: false,
            secrets: Vec::new(),
            refuse_secrets: false,
            runtime: VecDeque::from(["RUNNING".to_owned()]),
            after_push: vec!["BUILDING".into(), "APP_STARTING".into(), "RUNNING".into()],
            after_restart: vec!["BUILDING".into(), "RUNNING".into()],
            error_message: None,
            build_log: Vec::new(),
            run_log: None,
            log_scripts: VecDeque::new(),
            restarts: 0,
            throttle: 0,
            throttle_header: None,
            create_conflicts: 0,
            hang_push: None,
            race_push: false,
            health: (200, HEALTHY.to_owned()),
            cors_origins: vec![frontend_origin.to_owned()],
            git_redirect: None,
            space_host: None,
            whoami_name: USER.to_owned(),
            create_body: r#"{"error":"scripted"}"#.to_owned(),
            lfs_objects: Vec::new(),
        }));
        let hub_server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let space_server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let elsewhere_server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let url_of = |server: &Server| format!("http://{}", server.server_addr().to_ip().unwrap());
        let hub = Hub {
            url: url_of(&hub_server),
            space_url: url_of(&space_server),
            elsewhere_url: url_of(&elsewhere_server),
            repos: repos.to_owned(),
            state,
            servers: vec![
                hub_server.clone(),
                space_server.clone(),
                elsewhere_server.clone(),
            ],
        };
        let ctx = Arc::new(Ctx {
            repos: hub.repos.clone(),
            space_url: hub.space_url.clone(),
            elsewhere_url: hub.elsewhere_url.clone(),
            state: hub.state.clone(),
        });
        serve(hub_server, ctx.clone(), handle_hub);
        serve(space_server, ctx.clone(), handle_space);
        serve(elsewhere_server, ctx, handle_elsewhere);
        hub
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A Space repo with the Hub's initial commit (`.gitattributes` and `README.md`).
    pub fn add_space(&self, space: &str) -> PathBuf {
        create_space(&self.repos, USER, space)
    }

    /// A Space repo whose initial commit also holds `files` (a `.gitattributes` among them
    /// replaces the Hub's).
    pub fn add_space_with(&self, space: &str, files: &[(&str, &[u8])]) -> PathBuf {
        create_space_with(&self.repos, USER, space, files)
    }

    /// `METHOD url` of every request to `server` that carried the token in any form: a Bearer
    /// or Basic `Authorization`, or the token anywhere in a header or the body.
    pub fn token_seen_by(&self, server: &str) -> Vec<String> {
        self.state()
            .seen
            .iter()
            .filter(|s| s.server == server)
            .filter(|s| {
                authorized(s).is_some()
                    || s.headers.iter().any(|(_, v)| v.contains(TOKEN))
                    || s.body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes())
            })
            .map(|s| format!("{} {}", s.method, s.url))
            .collect()
    }

    pub fn bare(&self, space: &str) -> PathBuf {
        self.repos.join(USER).join(format!("{space}.git"))
    }

    /// Requests seen, in order, as `METHOD url` lines.
    pub fn log(&self) -> Vec<String> {
        self.state()
            .seen
            .iter()
            .map(|s| format!("{} {} {}", s.server, s.method, s.url))
            .collect()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }
}

struct Ctx {
    repos: PathBuf,
    space_url: String,
    elsewhere_url: String,
    state: Arc<Mutex<State>>,
}

fn serve(server: Arc<Server>, ctx: Arc<Ctx>, handle: fn(&Ctx, Request, Seen)) {
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let mut body = Vec::new();
                let hang = ctx.state.lock().unwrap().hang_push;
                let is_push = request.url().ends_with("/git-receive-pack");
                if !(is_push && hang.is_some()) {
                    let _ = request.as_reader().read_to_end(&mut body);
                }
                let seen = Seen {
                    server: "",
                    method: request.method().to_string(),
                    url: request.url().to_owned(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                handle(&ctx, request, seen);
            });
        }
    });
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn json(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

/// `None` without an `Authorization` header; else whether it holds the test token.
fn authorized(seen: &Seen) -> Option<bool> {
    let value = seen
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())?;
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return Some(bearer == TOKEN);
    }
    let basic = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(decode_base64(basic)).ok()?;
    Some(
        decoded
            .split_once(':')
            .is_some_and(|(_, token)| token == TOKEN),
    )
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            return Vec::new();
        };
        bits = (bits << 6) | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn handle_hub(ctx: &Ctx, request: Request, mut seen: Seen) {
    seen.server = "hub";
    ctx.state.lock().unwrap().seen.push(seen.clone());
    let path = seen.url.split('?').next().unwrap_or_default().to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();

    let redirect = ctx.state.lock().unwrap().git_redirect.clone();
    if let Some((from, to)) = redirect.filter(|(from, _)| seen.url.starts_with(from.as_str())) {
        let location = format!("{to}{}", &seen.url[from.len()..]);
        let _ = request.respond(
            Response::from_string("moved")
                .with_status_code(302)
                .with_header(header("Location", &location)),
        );
        return;
    }
    if parts.first() == Some(&"spaces") && parts.len() >= 4 {
        return git_route(
            ctx,
            request,
            &seen,
            parts[1],
            parts[2].trim_end_matches(".git"),
            &parts[3..].join("/"),
        );
    }
    if authorized(&seen) != Some(true) {
        let _ = request.respond(json(
            401,
            r#"{"error":"Invalid credentials in Authorization header"}"#,
        ));
        return;
    }
    {
        let mut state = ctx.state.lock().unwrap();
        if state.throttle > 0 {
            state.throttle -= 1;
            let (name, value) = state
                .throttle_header
                .clone()
                .unwrap_or(("Retry-After".into(), "0".into()));
            drop(state);
            let _ = request.respond(
                json(429, r#"{"error":"rate limited"}"#).with_header(header(&name, &value)),
            );
            return;
        }
    }
    if let ["api", "spaces", user, space, "logs", kind] = parts.as_slice()
        && seen.method == "GET"
        && ctx.repos.join(user).join(format!("{space}.git")).exists()
    {
        return serve_log(ctx, request, kind);
    }
    let method = seen.method.as_str();
    let response = match (method, parts.as_slice()) {
        ("GET", ["api", "whoami-v2"]) => {
            let state = ctx.state.lock().unwrap();
            json(
                200,
                &serde_json::json!({
                    "type": "user",
                    "name": state.whoami_name,
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": state.role}},
                })
                .to_string(),
            )
        }
        ("POST", ["api", "repos", "create"]) => {
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
            let (status, scripted) = {
                let state = ctx.state.lock().unwrap();
                (state.create_status, state.create_body.clone())
            };
            let name = body["name"].as_str().unwrap_or_default();
            let owner = body["organization"].as_str().unwrap_or(USER);
            let conflict = {
                let mut state = ctx.state.lock().unwrap();
                let conflict = state.create_conflicts > 0;
                state.create_conflicts = state.create_conflicts.saturating_sub(1);
                conflict
            };
            match status {
                _ if conflict => json(
                    409,
                    r#"{"error":"Cannot create repo: another conflicting operation is in progress"}"#,
                ),
                Some(status) => json(status, &scripted),
                None if body["type"] != "space" || body["sdk"] != "docker" => {
                    json(400, r#"{"error":"expected a docker space"}"#)
                }
                None if ctx.repos.join(owner).join(format!("{name}.git")).exists() => {
                    json(409, r#"{"error":"You already created this space repo"}"#)
                }
                None => {
                    create_space(&ctx.repos, owner, name);
                    json(
                        200,
                        &format!(r#"{{"url":"http://hub/spaces/{owner}/{name}"}}"#),
                    )
                }
            }
        }
        (_, ["api", "spaces", user, space, rest @ ..]) => {
            let bare = ctx.repos.join(user).join(format!("{space}.git"));
            if !bare.exists() {
                json(404, r#"{"error":"Repository not found"}"#)
            } else {
                space_api(ctx, method, user, space, rest, &seen, &bare)
            }
        }
        _ => json(404, r#"{"error":"not in the test Hub"}"#),
    };
    let _ = request.respond(response);
}

fn space_api(
    ctx: &Ctx,
    method: &str,
    user: &str,
    space: &str,
    rest: &[&str],
    seen: &Seen,
    bare: &Path,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut state = ctx.state.lock().unwrap();
    match (method, rest) {
        ("GET", []) => {
            let sha = git_out(bare, &["rev-parse", "HEAD"]);
            let blobs = seen.url.contains("blobs=true");
            let siblings: Vec<serde_json::Value> = git_out(bare, &["ls-tree", "-r", "HEAD"])
                .lines()
                .filter_map(|line| {
                    let (meta, path) = line.split_once('\t')?;
                    let id = meta.split(' ').nth(2)?;
                    Some(if blobs {
                        serde_json::json!({"rfilename": path, "blobId": id, "size": 1})
                    } else {
                        serde_json::json!({"rfilename": path})
                    })
                })
                .collect();
            let mut info = serde_json::json!({
                "id": format!("{user}/{space}"),
                "sha": sha,
                "host": state.space_host.as_deref().unwrap_or(&ctx.space_url),
                "subdomain": format!("{user}-{space}"),
                "private": state.private,
                "sdk": "docker",
                "siblings": siblings,
            });
            if state.space_host.as_deref() == Some("") {
                info.as_object_mut().unwrap().remove("host");
                info.as_object_mut().unwrap().remove("subdomain");
            }
            json(200, &info.to_string())
        }
        ("GET", ["commits", "main"]) => {
            let log = git_out(bare, &["log", "-z", "--format=%H%x1f%cI%x1f%s%x1f%B"]);
            let commits: Vec<serde_json::Value> = log
                .split('\0')
                .filter(|c| !c.trim().is_empty())
                .map(|c| {
                    let f: Vec<&str> = c.trim_start_matches('\n').splitn(4, '\x1f').collect();
                    serde_json::json!({
                        "id": f[0], "date": f[1], "title": f[2], "message": f[3],
                        "authors": [{"user": USER}],
                    })
                })
                .collect();
            json(200, &serde_json::Value::from(commits).to_string())
        }
        ("GET", ["runtime"]) => {
            let stage = if state.runtime.len() > 1 {
                state.runtime.pop_front().unwrap()
            } else {
                state.runtime[0].clone()
            };
            // `sha` is undocumented; this Hub reports the repo's head, which changes at once on
            // push, so a client that took it for the running commit would trust a stale stage.
            let sha = git_out(bare, &["rev-parse", "HEAD"]);
            let error = match (&state.error_message, stage.ends_with("_ERROR")) {
                (Some(message), true) => format!(
                    r#","errorMessage":{}"#,
                    serde_json::to_string(message).unwrap()
                ),
                _ => String::new(),
            };
            json(
                200,
                &format!(
                    r#"{{"stage":"{stage}","sha":"{sha}","hardware":{{"current":"cpu-basic"}}{error}}}"#
                ),
            )
        }
        ("POST", ["restart"]) if seen.url.contains("factory=true") => {
            state.restarts += 1;
            state.runtime = state.after_restart.iter().cloned().collect();
            json(200, "{}")
        }
        ("POST", ["secrets"]) => {
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
            match (body["key"].as_str(), body["value"].as_str()) {
                (Some(_), Some(value)) if state.refuse_secrets => json(
                    422,
                    &serde_json::json!({ "error": format!("invalid value: {value}") }).to_string(),
                ),
                (Some(key), Some(value)) => {
                    state.secrets.push((key.to_owned(), value.to_owned()));
                    json(200, "{}")
                }
                _ => json(400, r#"{"error":"key and value are required"}"#),
            }
        }
        _ => json(404, r#"{"error":"not in the test Hub"}"#),
    }
}

/// A log as the Hub streams it: one server-sent event per line, each with its own timestamp,
/// written and flushed one by one (chunked), then ended, cut or held open as scripted.
fn serve_log(ctx: &Ctx, request: Request, kind: &str) {
    let (lines, script) = {
        let mut state = ctx.state.lock().unwrap();
        let lines = match (kind, &state.run_log) {
            ("run", Some(run)) => run.clone(),
            _ => state.build_log.clone(),
        };
        (lines, state.log_scripts.pop_front().unwrap_or_default())
    };
    let mut out = request.into_writer();
    let _ = out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for (i, line) in lines.iter().enumerate() {
        if script.cut_after == Some(i) {
            // What came before reaches the client first, as on a connection that drops later.
            std::thread::sleep(Duration::from_millis(300));
            let _ = out.write_all(b"zz\r\nbroken");
            let _ = out.flush();
            return;
        }
        let event = serde_json::json!({
            "data": format!("{line}\n"),
            "timestamp": format!("2026-01-01T00:{:02}:{:02}Z", i / 60, i % 60),
        });
        let chunk = format!("data: {event}\n\n");
        let _ = write!(out, "{:x}\r\n{chunk}\r\n", chunk.len());
        let _ = out.flush();
    }
    if script.hold {
        std::thread::sleep(Duration::from_secs(30));
    }
    let _ = out.write_all(b"0\r\n\r\n");
    let _ = out.flush();
}

fn git_route(ctx: &Ctx, request: Request, seen: &Seen, user: &str, space: &str, rest: &str) {
    let push = rest == "git-receive-pack" || seen.url.contains("service=git-receive-pack");
    let auth = authorized(seen);
    if auth == Some(false) || (push && auth.is_none()) {
        let _ = request.respond(
            Response::from_string("Invalid username or password.")
                .with_status_code(401)
                .with_header(header("WWW-Authenticate", "Basic realm=\"test hub\"")),
        );
        return;
    }
    if rest == "git-receive-pack" {
        let hang = ctx.state.lock().unwrap().hang_push;
        if let Some(hang) = hang {
            std::thread::sleep(hang);
            let _ = request.respond(Response::from_string("held").with_status_code(500));
            return;
        }
    }
    let bare = ctx.repos.join(user).join(format!("{space}.git"));
    if !bare.exists() {
        let _ =
            request.respond(Response::from_string("Repository not found").with_status_code(404));
        return;
    }
    if let Some(lfs) = rest.strip_prefix("info/lfs/") {
        let _ = request.respond(lfs_api(ctx, lfs, seen));
        return;
    }
    if rest == "info/refs" && push && std::mem::take(&mut ctx.state.lock().unwrap().race_push) {
        commit_elsewhere(&bare, "someone else's change");
    }
    let path_info = format!("/{user}/{space}.git/{rest}");
    let (status, headers, body) = cgi::http_backend(&ctx.repos, &path_info, seen);
    if rest == "git-receive-pack" && status == 200 {
        let mut state = ctx.state.lock().unwrap();
        // The Hub rebuilds the Space on every push that changes it.
        state.runtime = state.after_push.iter().cloned().collect();
    }
    let mut response = Response::from_data(body).with_status_code(status);
    for (k, v) in headers {
        response.add_header(header(&k, &v));
    }
    let _ = request.respond(response);
}

/// The Git LFS API of a Space repo (`{repo}.git/info/lfs/...`, token required): the batch
/// endpoint hands out upload actions pointing at the storage on the "elsewhere" server, with a
/// storage ticket of their own in `header` (never the Hub token). Locking is not offered.
fn lfs_api(ctx: &Ctx, path: &str, seen: &Seen) -> Response<std::io::Cursor<Vec<u8>>> {
    let lfs_json = |status: u16, body: serde_json::Value| {
        Response::from_string(body.to_string())
            .with_status_code(status)
            .with_header(header("Content-Type", "application/vnd.git-lfs+json"))
    };
    if authorized(seen) != Some(true) {
        return lfs_json(401, serde_json::json!({"message": "Invalid credentials"}))
            .with_header(header("LFS-Authenticate", "Basic realm=\"test hub\""));
    }
    if path != "objects/batch" || seen.method != "POST" {
        return lfs_json(404, serde_json::json!({"message": "not in the test Hub"}));
    }
    let request: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
    let stored = ctx.state.lock().unwrap().lfs_objects.clone();
    let objects: Vec<serde_json::Value> = request["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|object| {
            let oid = object["oid"].as_str().unwrap_or_default();
            let mut answer =
                serde_json::json!({"oid": oid, "size": object["size"], "authenticated": true});
            if request["operation"] == "upload" && !stored.iter().any(|(o, _)| o == oid) {
                answer["actions"] = serde_json::json!({"upload": {
                    "href": format!("{}/lfs-storage/{oid}", ctx.elsewhere_url),
                    "header": {"X-Storage-Ticket": format!("ticket-{oid}")},
                    "expires_in": 3600,
                }});
            }
            answer
        })
        .collect();
    lfs_json(
        200,
        serde_json::json!({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}),
    )
}

/// Every other host: LFS storage (`PUT /lfs-storage/{oid}`, kept when the ticket matches),
/// and anything else (a redirected git request, a foreign `lfs.url`) recorded and refused.
fn handle_elsewhere(ctx: &Ctx, request: Request, mut seen: Seen) {
    seen.server = "elsewhere";
    let mut state = ctx.state.lock().unwrap();
    state.seen.push(seen.clone());
    let ticket = seen
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-storage-ticket"))
        .map(|(_, v)| v.clone());
    let response = match (seen.method.as_str(), seen.url.strip_prefix("/lfs-storage/")) {
        ("PUT", Some(oid)) if ticket.as_deref() == Some(&format!("ticket-{oid}")) => {
            state.lfs_objects.push((oid.to_owned(), seen.body.clone()));
            Response::from_string("").with_status_code(200)
        }
        ("PUT", Some(_)) => Response::from_string("bad ticket").with_status_code(403),
        _ => Response::from_string("not here").with_status_code(404),
    };
    drop(state);
    let _ = request.respond(response);
}

fn handle_space(ctx: &Ctx, request: Request, mut seen: Seen) {
    seen.server = "space";
    let mut state = ctx.state.lock().unwrap();
    state.seen.push(seen.clone());
    // A private Space answers 404 to anyone without a token that may read it.
    if state.private && authorized(&seen) != Some(true) {
        drop(state);
        let _ = request.respond(json(404, r#"{"error":"Repository not found"}"#));
        return;
    }
    let origin = seen
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("origin"))
        .map(|(_, v)| v.clone());
    let response = match (seen.method.as_str(), seen.url.as_str()) {
        ("GET", "/api/health") => json(state.health.0, &state.health.1.clone()),
        ("OPTIONS", "/api/chat") => match origin {
            Some(origin) if state.cors_origins.contains(&origin) => Response::from_string("OK")
                .with_header(header("Access-Control-Allow-Origin", &origin))
                .with_header(header("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
                .with_header(header("Access-Control-Allow-Headers", "content-type"))
                .with_header(header("Vary", "Origin")),
            _ => Response::from_string("Disallowed CORS origin").with_status_code(400),
        },
        _ => json(404, r#"{"detail":"Not Found"}"#),
    };
    drop(state);
    let _ = request.respond(response);
}

/// Serves a test Hub with the Space `space` for a script in bench/ (which sets BENCH_HUB_DIR),
/// until the file `stop` appears there (at most ten minutes). `hub.env` there holds
/// HF_ENDPOINT, SPACE_URL, HF_TOKEN, HF_USER and HF_SPACE. Does nothing without BENCH_HUB_DIR.
pub fn serve_for_bench(space: &str, frontend_origin: &str, script: impl FnOnce(&Hub)) {
    let Some(dir) = std::env::var_os("BENCH_HUB_DIR").map(PathBuf::from) else {
        return;
    };
    let repos = dir.join("hub");
    std::fs::create_dir_all(&repos).unwrap();
    let hub = Hub::start(&repos, frontend_origin);
    hub.add_space(space);
    script(&hub);
    let env = format!(
        "HF_ENDPOINT={}\nSPACE_URL={}\nHF_TOKEN={TOKEN}\nHF_USER={USER}\nHF_SPACE={space}\n",
        hub.url, hub.space_url
    );
    std::fs::write(dir.join("hub.env.partial"), env).unwrap();
    std::fs::rename(dir.join("hub.env.partial"), dir.join("hub.env")).unwrap();
    crate::process::poll(Duration::from_millis(50), Duration::from_secs(600), || {
        dir.join("stop").exists().then_some(())
    });
}

/// A bare repo with the Hub's initial commit: its `.gitattributes` (large and binary
/// formats to LFS, not images) and a README.
pub fn create_space(repos: &Path, user: &str, space: &str) -> PathBuf {
    create_space_with(repos, user, space, &[])
}

/// `create_space` with `files` added to (or replacing files of) the initial commit. They are
/// committed as they are: an LFS pointer stays a pointer.
pub fn create_space_with(
    repos: &Path,
    user: &str,
    space: &str,
    files: &[(&str, &[u8])],
) -> PathBuf {
    let bare = repos.join(user).join(format!("{space}.git"));
    let work = repos.join(format!(".init-{user}-{space}"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(work.join(".gitattributes"), "*.bin filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text\n").unwrap();
    std::fs::write(
        work.join("README.md"),
        format!("---\ntitle: {space}\nsdk: docker\n---\n"),
    )
    .unwrap();
    for (name, bytes) in files {
        std::fs::write(work.join(name), bytes).unwrap();
    }
    git(&work, &["add", "."]);
    git(
        &work,
        &[
            "-c",
            "user.name=hub",
            "-c",
            "user.email=hub@localhost",
            "commit",
            "--quiet",
            "-m",
            "initial commit",
        ],
    );
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    git(
        repos,
        &[
            "clone",
            "--quiet",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(&work).unwrap();
    bare
}

/// A commit pushed to `bare` from another clone, as a second user would.
pub fn commit_elsewhere(bare: &Path, message: &str) {
    let work = bare.with_extension("elsewhere");
    git(
        bare.parent().unwrap(),
        &[
            "clone",
            "--quiet",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("ELSEWHERE.md"), message).unwrap();
    git(&work, &["add", "."]);
    git(
        &work,
        &[
            "-c",
            "user.name=other",
            "-c",
            "user.email=other@localhost",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    );
    git(&work, &["push", "--quiet", "origin", "HEAD"]);
    std::fs::remove_dir_all(&work).unwrap();
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
