//! The Hub API subset `deploy`, `status` and `logs` use: whoami, Space info (with its files'
//! blob ids), commits, create, secrets, runtime, logs, restart.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use super::token::Token;
use crate::frontend::Origin;
use crate::settings::Env;
use crate::settings::SPACES_DOMAIN;
use crate::{interrupt, untrusted};

/// How long one API call may take; the runtime and health waits have their own deadlines.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the build/run log stream is read for its tail (the stream may never end).
const LOG_READ: Duration = Duration::from_secs(5);
/// 429 answers are retried this many times, honouring `RateLimit` and `Retry-After`.
const RETRIES: u32 = 4;
/// The longest all the 429 waits of one call may add up to: past it, the user is told when to
/// try again instead of watching a silent wait.
const RATE_LIMIT_BUDGET: Duration = Duration::from_secs(60);
/// "Another conflicting operation is in progress" (409 from create) is retried this many times.
const CONFLICT_RETRIES: u32 = 5;
/// `HF_ENDPOINT` when it is unset.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

pub(crate) struct Hub {
    agent: crate::http::Agent,
    endpoint: String,
    token: Token,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WhoAmI {
    pub(crate) name: String,
    #[serde(default)]
    auth: Option<Auth>,
}
#[derive(Debug, Deserialize)]
struct Auth {
    #[serde(rename = "accessToken")]
    access_token: Option<AccessToken>,
}
#[derive(Debug, Deserialize)]
struct AccessToken {
    role: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SpaceInfo {
    /// The public URL, e.g. `https://user-space.hf.space`.
    pub(crate) host: Option<String>,
    /// `user-space`, the host's first label, when `host` is missing.
    pub(crate) subdomain: Option<String>,
    #[serde(default)]
    pub(crate) private: bool,
    /// The repo's files, with their git blob ids when asked for (`?blobs=true`).
    #[serde(default)]
    pub(crate) siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Sibling {
    pub(crate) rfilename: String,
    #[serde(rename = "blobId")]
    pub(crate) blob_id: Option<String>,
}

/// One commit of the Space repo, newest first (`GET /api/spaces/{id}/commits/main`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub(crate) struct Commit {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) date: String,
}

impl Commit {
    /// The monorepo commit a deploy recorded in the body (`Source commit: <sha>[-dirty]`).
    pub(crate) fn source_commit(&self) -> Option<&str> {
        self.message
            .lines()
            .find_map(|line| line.trim().strip_prefix("Source commit:"))
            .map(str::trim)
            .filter(|sha| !sha.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Runtime {
    pub(crate) stage: String,
    #[serde(rename = "errorMessage")]
    pub(crate) error_message: Option<String>,
    pub(crate) hardware: Option<Hardware>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Hardware {
    pub(crate) current: Option<String>,
    pub(crate) requested: Option<String>,
}

/// The Space's public URL, and how sure it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SpaceUrl {
    pub(crate) url: String,
    /// The Space's own host as the Hub reports it (`host`, else its `subdomain` on hf.space),
    /// when that is an origin: the one URL a private Space's token may be sent to.
    pub(crate) own: Option<String>,
    /// Why the URL may be wrong (the Hub's answer was unusable, or the URL is derived).
    pub(crate) warning: Option<String>,
    /// What the Hub reported as the Space's host when it could not be trusted.
    pub(crate) ignored: Option<String>,
}

/// The Space's public URL: `configured` (`--space-url`/`space-url`), else the host the Hub
/// reports (or its subdomain) when it can be trusted (`trusted_space_host`), else the one
/// derived by the subdomain rule, which is a guess: huggingface_hub never derives it (it reads
/// `host`/`subdomain`), and a derived label over 63 characters (a DNS label's limit) cannot be
/// the real one, so that is an error.
pub(crate) fn space_url(
    configured: Option<&str>,
    user: &str,
    space: &str,
    info: &SpaceInfo,
    endpoint: &str,
) -> Result<SpaceUrl> {
    let present = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let reported = match (present(&info.host), present(&info.subdomain)) {
        (Some(host), _) => Some(host),
        (None, Some(subdomain)) => Some(format!("https://{subdomain}.{SPACES_DOMAIN}")),
        (None, None) => None,
    };
    let own = reported
        .as_deref()
        .and_then(|r| trusted_space_host(endpoint, r));
    let ignored = reported.clone().filter(|_| own.is_none());
    if let Some(url) = configured {
        return Ok(SpaceUrl {
            url: url.to_owned(),
            own,
            warning: None,
            ignored: None,
        });
    }
    if let Some(url) = &own {
        return Ok(SpaceUrl {
            url: url.clone(),
            own: own.clone(),
            warning: None,
            ignored: None,
        });
    }
    let derived = crate::settings::derived_space_url(user, space);
    // Its first DNS label (the derived host has no other dot before the domain).
    let label = derived
        .trim_start_matches("https://")
        .split('.')
        .next()
        .unwrap_or_default();
    let why = match &reported {
        Some(reported) => format!(
            "the Hub reported `{}` as the Space's host, which is not an https:// origin under {}: ignored",
            untrusted::line(reported),
            if endpoint == DEFAULT_ENDPOINT {
                format!(".{SPACES_DOMAIN}")
            } else {
                "the Hub's domain".to_owned()
            }
        ),
        None => "the Hub reported no host for the Space".to_owned(),
    };
    if label.len() > 63 {
        bail!(
            "{why}, and the URL cannot be derived: `{label}` is {} characters, over the 63 a DNS name label may have, \
             so the Hub gives this Space another host. Copy the Space's URL from its page (\"Embed this Space\") \
             and pass it as --space-url (or space-url in Cargo.toml)",
            label.len()
        );
    }
    Ok(SpaceUrl {
        warning: Some(format!(
            "{why}; using {derived}, derived by the subdomain rule: a guess, so pass --space-url if it is wrong"
        )),
        url: derived,
        own: None,
        ignored,
    })
}

/// One line of a build or run log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub(crate) timestamp: String,
    pub(crate) text: String,
}

/// The lines of one server-sent event of a log stream (`data: {"data": ..., "timestamp": ...}`);
/// `None` for the stream's other lines (blank separators, comments, `event:`).
pub(crate) fn log_event(line: &str) -> Option<Vec<LogLine>> {
    let event = line.strip_prefix("data:")?.trim();
    let (text, timestamp) = match serde_json::from_str::<serde_json::Value>(event) {
        Ok(value) => (
            value["data"]
                .as_str()
                .map_or_else(|| event.to_owned(), str::to_owned),
            value["timestamp"].as_str().unwrap_or_default().to_owned(),
        ),
        Err(_) => (event.to_owned(), String::new()),
    };
    Some(
        text.lines()
            .map(|line| LogLine {
                timestamp: timestamp.clone(),
                text: line.to_owned(),
            })
            .collect(),
    )
}

/// What `POST /api/repos/create` said.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Created {
    Created,
    AlreadyExists,
}

/// `HF_ENDPOINT` (else the public Hub) checked before any request: the token travels to it, so
/// it must be `https://`, except a loopback host (a test Hub on this machine).
pub(crate) fn endpoint(value: Option<&str>, default: &str) -> Result<String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default.to_owned());
    };
    let endpoint = value.trim_end_matches('/');
    let shown = untrusted::line(value);
    let Some((_, origin, _)) = split_endpoint(endpoint).filter(|(_, _, path)| {
        !path.contains(|c: char| c.is_whitespace() || c.is_control() || "?#@\\".contains(c))
    }) else {
        bail!(
            "HF_ENDPOINT `{shown}` is not a Hub URL: set it to https://HOST (e.g. {default}) or unset it"
        );
    };
    if !origin.https && !origin.is_loopback() {
        bail!(
            "HF_ENDPOINT `{shown}` is plain http://: the Hub token would cross the network unencrypted; \
             use https:// (http:// is accepted only for 127.0.0.1, [::1] and localhost)"
        );
    }
    Ok(endpoint.to_owned())
}

/// The endpoint `env` names (`HF_ENDPOINT`, else the public Hub), checked.
pub(crate) fn endpoint_of(env: &Env) -> Result<String> {
    endpoint(env.var("HF_ENDPOINT").as_deref(), DEFAULT_ENDPOINT)
}

/// An endpoint's origin (`scheme://host[:port]`, checked) and the path after it.
fn split_endpoint(endpoint: &str) -> Option<(&str, Origin<'_>, &str)> {
    let after_scheme = endpoint.find("://")? + 3;
    let end = endpoint[after_scheme..]
        .find('/')
        .map_or(endpoint.len(), |at| after_scheme + at);
    let origin = &endpoint[..end];
    Some((origin, Origin::parse(origin)?, &endpoint[end..]))
}

/// The Space host the Hub reported, when it can be trusted as the Space's public URL: an
/// `https://` origin under `.hf.space` for the public Hub, under the endpoint's own domain for
/// another `HF_ENDPOINT` (its host without the first label, when it has three or more; none
/// for an IP address), or a loopback origin for a loopback (test) Hub. `None` otherwise.
pub(crate) fn trusted_space_host(endpoint: &str, reported: &str) -> Option<String> {
    let url = reported.strip_suffix('/').unwrap_or(reported);
    let origin = Origin::parse(url)?;
    let (_, hub, _) = split_endpoint(endpoint)?;
    let trusted = if hub.is_loopback() {
        origin.is_loopback()
    } else if split_endpoint(DEFAULT_ENDPOINT)
        .is_some_and(|(_, public, _)| hub.host.eq_ignore_ascii_case(public.host))
    {
        origin.https && origin.is_under(SPACES_DOMAIN)
    } else if hub.host.starts_with('[')
        || hub
            .host
            .split('.')
            .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        // An IP address has no domain to be under.
        false
    } else {
        let labels: Vec<&str> = hub.host.split('.').collect();
        let domain = if labels.len() > 2 {
            labels[1..].join(".")
        } else {
            hub.host.to_owned()
        };
        origin.https && origin.is_under(&domain)
    };
    trusted.then(|| url.to_owned())
}

impl Hub {
    /// The token found as `huggingface_hub` finds it, and `HF_ENDPOINT` (else the public Hub).
    /// `HF_ENDPOINT` is checked before the token is read (see [`endpoint`]).
    pub(crate) fn from_env(env: &Env) -> Result<Hub> {
        let endpoint = endpoint_of(env)?;
        Ok(Hub::new(&endpoint, Token::of(env)?))
    }

    pub(crate) fn new(endpoint: &str, token: Token) -> Hub {
        Hub {
            agent: crate::http::agent(CALL_TIMEOUT),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
        }
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn token(&self) -> &Token {
        &self.token
    }

    /// Checks the token; a 401 names where it came from, a read-only token is refused.
    pub(crate) fn whoami(&self) -> Result<WhoAmI> {
        let (status, body) = self.call("GET", "/api/whoami-v2", None)?;
        let create = format!(
            "create a token with write access at {}/settings/tokens and put it in HF_TOKEN \
             (git push needs an access token, not your password)",
            self.endpoint
        );
        match status {
            200 => {}
            401 | 403 if self.token.oauth.is_some() => bail!(
                "the login in {} (written by `{login}`) was refused (the Hub answered {status}): \
                 it has expired or was revoked; run `{login}` again, or set HF_TOKEN to a write token",
                self.token.source,
                login = super::token::LOGIN
            ),
            401 | 403 => bail!(
                "the token from {} is invalid (the Hub answered {status}): {create}",
                self.token.source
            ),
            _ => bail!("{}", unexpected("GET /api/whoami-v2", status, &body)),
        }
        let who: WhoAmI = parse("GET /api/whoami-v2", &body)?;
        let role = who
            .auth
            .as_ref()
            .and_then(|a| a.access_token.as_ref())
            .and_then(|t| t.role.as_deref());
        if role == Some("read") {
            bail!(
                "the token from {} is read-only and cannot push to a Space: {create}",
                self.token.source
            );
        }
        Ok(who)
    }

    /// `None` when the Space does not exist (404).
    pub(crate) fn space(&self, repo: &str) -> Result<Option<SpaceInfo>> {
        self.space_at(repo, &format!("/api/spaces/{repo}"))
    }

    fn space_at(&self, repo: &str, path: &str) -> Result<Option<SpaceInfo>> {
        match self.call("GET", path, None)? {
            (200, body) => Ok(Some(parse(path, &body)?)),
            (404, _) => Ok(None),
            (401 | 403, _) => bail!(
                "the token from {} may not read the Space {repo}: use a token of its owner",
                self.token.source
            ),
            (status, body) => bail!("{}", unexpected(&format!("GET {path}"), status, &body)),
        }
    }

    /// The Space info with every file's git blob id (what `status` compares with the local tree).
    pub(crate) fn space_files(&self, repo: &str) -> Result<Option<SpaceInfo>> {
        self.space_at(repo, &format!("/api/spaces/{repo}?blobs=true"))
    }

    /// The Space repo's commits on `main`, newest first (the first page the Hub returns).
    pub(crate) fn commits(&self, repo: &str) -> Result<Vec<Commit>> {
        let path = format!("/api/spaces/{repo}/commits/main");
        match self.call("GET", &path, None)? {
            (200, body) => parse(&path, &body),
            (404, _) => bail!(
                "the Space {repo} does not exist (or the token may not read it): create it with `cargo xtask deploy --create`"
            ),
            (status, body) => bail!("{}", unexpected(&format!("GET {path}"), status, &body)),
        }
    }

    /// Creates a public Docker Space. `owner` is the user or organisation, `me` the token's user.
    pub(crate) fn create_space(&self, owner: &str, name: &str, me: &str) -> Result<Created> {
        let mut body = json!({ "type": "space", "name": name, "sdk": "docker", "private": false });
        if owner != me {
            body["organization"] = json!(owner);
        }
        let mut wait = Duration::from_millis(500);
        let mut conflicts = 0;
        let answer = loop {
            let (status, text) = self.call("POST", "/api/repos/create", Some(body.clone()))?;
            // The Hub creates one repo per user at a time and answers 409 to a concurrent
            // create; huggingface_hub retries it. Any other 409 means the Space exists.
            if status == 409 && text.contains("conflicting operation") {
                conflicts += 1;
                if conflicts > CONFLICT_RETRIES {
                    bail!(
                        "the Hub kept answering that another operation on {owner}'s repos is in progress (409): wait a minute and deploy again"
                    );
                }
                interrupt::sleep(wait)?;
                wait *= 2;
                continue;
            }
            break (status, text);
        };
        match answer {
            (200 | 201, _) => Ok(Created::Created),
            (409, _) => Ok(Created::AlreadyExists),
            (402, _) => bail!(
                "the Hub refused to create {owner}/{name} (402 Payment Required): Docker Spaces need a \
                 paid plan or free credits for this account; create the Space at {}/new-space and deploy again",
                self.endpoint
            ),
            (status, body) => bail!("{}", unexpected("POST /api/repos/create", status, &body)),
        }
    }

    pub(crate) fn set_secret(&self, repo: &str, key: &str, value: &str) -> Result<()> {
        let path = format!("/api/spaces/{repo}/secrets");
        match self.call("POST", &path, Some(json!({ "key": key, "value": value })))? {
            (200 | 201 | 204, _) => Ok(()),
            (status, body) => {
                // An error body may quote the value it refused, in any encoding: it never
                // reaches the output.
                let body = super::secrets::redact(&body, value);
                bail!(
                    "cannot set the secret {key}: {}",
                    unexpected(&format!("POST {path}"), status, &body)
                )
            }
        }
    }

    pub(crate) fn runtime(&self, repo: &str) -> Result<Runtime> {
        let path = format!("/api/spaces/{repo}/runtime");
        match self.call("GET", &path, None)? {
            (200, body) => parse(&path, &body),
            (status, body) => bail!("{}", unexpected(&format!("GET {path}"), status, &body)),
        }
    }

    pub(crate) fn restart(&self, repo: &str) -> Result<()> {
        let path = format!("/api/spaces/{repo}/restart?factory=true");
        match self.call("POST", &path, None)? {
            (200 | 201 | 204, _) => Ok(()),
            (status, body) => bail!("{}", unexpected(&format!("POST {path}"), status, &body)),
        }
    }

    /// The `build` or `run` log as a server-sent-events stream. `read_for` caps how long the
    /// stream is read (it may never end); `None` reads until it ends or Ctrl-C.
    pub(crate) fn log_stream(
        &self,
        repo: &str,
        kind: &str,
        read_for: Option<Duration>,
    ) -> Result<impl BufRead + Send + use<>> {
        let url = format!("{}/api/spaces/{repo}/logs/{kind}", self.endpoint);
        let response = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {}", self.token.secret()))
            .header("Accept", "text/event-stream")
            .config()
            .timeout_global(read_for)
            .timeout_recv_response(Some(CALL_TIMEOUT))
            .build()
            .call()
            .map_err(|err| {
                // The HTTP client's errors may quote the answer (a Location header).
                let err = untrusted::line(&err.to_string());
                anyhow::anyhow!(
                    "cannot read the {kind} log of {repo} from {} ({err}): check HF_ENDPOINT and the network",
                    self.endpoint
                )
            })?;
        match response.status().as_u16() {
            200 => Ok(BufReader::new(response.into_body().into_reader())),
            404 => bail!(
                "the Hub has no {kind} log for {repo} (404): check the Space name; a Space that never built has no log"
            ),
            401 | 403 => bail!(
                "the token from {} may not read the {kind} log of {repo} (HTTP {}): use a token of the Space's owner",
                self.token.source,
                response.status().as_u16()
            ),
            status => bail!("cannot read the {kind} log of {repo}: HTTP {status}"),
        }
    }

    /// The last `lines` lines of the `build` or `run` log, read for at most a few seconds.
    pub(crate) fn log_tail(&self, repo: &str, kind: &str, lines: usize) -> Result<Vec<String>> {
        let stream = self.log_stream(repo, kind, Some(LOG_READ))?;
        let mut tail = std::collections::VecDeque::new();
        // The stream ends at the deadline with a timeout error: what arrived until then is the tail.
        for line in stream.lines().map_while(Result::ok) {
            for line in log_event(&line).into_iter().flatten() {
                // A log line is the Space's text: shown, never obeyed by the terminal.
                tail.push_back(untrusted::line(&line.text));
                if tail.len() > lines {
                    tail.pop_front();
                }
            }
        }
        Ok(tail.into())
    }

    /// Where the Hub redirects git's first request for `remote` (a renamed Space, say), when
    /// it does. git itself follows no redirect (its session, header included, would move to
    /// the new URL), so a failed clone asks here; one request, following nothing.
    pub(crate) fn git_redirect(&self, remote: &str) -> Option<String> {
        const REFS: &str = "/info/refs?service=git-upload-pack";
        let response = self
            .agent
            .get(format!("{remote}{REFS}"))
            .header("Authorization", format!("Bearer {}", self.token.secret()))
            .config()
            .max_redirects(0)
            .build()
            .call()
            .ok()?;
        if !response.status().is_redirection() {
            return None;
        }
        let location = response.headers().get("location")?.to_str().ok()?;
        let absolute = if location.starts_with('/') {
            format!("{}{location}", split_endpoint(&self.endpoint)?.0)
        } else {
            location.to_owned()
        };
        Some(absolute.strip_suffix(REFS).unwrap_or(&absolute).to_owned())
    }

    /// One authenticated call; `(status, body)`. 429 is retried with backoff.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.endpoint);
        let auth = format!("Bearer {}", self.token.secret());
        let mut wait = Duration::from_secs(1);
        let mut waited = Duration::ZERO;
        for attempt in 0..=RETRIES {
            interrupt::check()?;
            let sent = match (method, &body) {
                ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
                // A redirected POST would arrive as a GET without its body (or the token), and
                // its answer would say nothing about this request: a redirect is the answer.
                (_, Some(body)) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .config()
                    .max_redirects(0)
                    .build()
                    .send(body.to_string()),
                (_, None) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .config()
                    .max_redirects(0)
                    .build()
                    .send_empty(),
            };
            let mut response = sent.map_err(|err| {
                // The HTTP client's errors may quote the answer (a Location header).
                let err = untrusted::line(&err.to_string());
                anyhow::anyhow!(
                    "cannot reach the Hub at {} ({method} {path}: {err}): check HF_ENDPOINT and the network",
                    self.endpoint
                )
            })?;
            let status = response.status().as_u16();
            if status == 429 && attempt < RETRIES {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let asked = rate_limit_reset(header("ratelimit").as_deref())
                    .or_else(|| header("retry-after").and_then(|v| v.trim().parse().ok()))
                    .map(Duration::from_secs);
                let pause = asked.unwrap_or(wait);
                if waited + pause > RATE_LIMIT_BUDGET {
                    bail!(
                        "the Hub rate-limits this token (429 Too Many Requests to {method} {path}) and asks to wait {}s: \
                         try again after that (see your limits at {}/settings/billing)",
                        pause.as_secs(),
                        self.endpoint
                    );
                }
                interrupt::sleep(pause)?;
                waited += pause;
                wait *= 2;
                continue;
            }
            let text = response.body_mut().read_to_string().unwrap_or_default();
            return Ok((status, text));
        }
        bail!(
            "the Hub kept answering 429 Too Many Requests to {method} {path}: wait a minute and deploy again"
        )
    }
}

/// Seconds until the window resets, from the IETF draft header the Hub sends with a 429
/// (`RateLimit: "api";r=0;t=55`), when no request is left (`r=0`); plus one second, as
/// huggingface_hub waits, so the retry lands after the reset.
fn rate_limit_reset(header: Option<&str>) -> Option<u64> {
    let mut remaining = None;
    let mut reset = None;
    for part in header?.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        match key.trim() {
            "r" => remaining = value.trim().parse::<u64>().ok(),
            "t" => reset = value.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    match (remaining, reset) {
        (Some(0), Some(reset)) => Some(reset + 1),
        _ => None,
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T> {
    serde_json::from_str(body)
        .with_context(|| format!("the Hub's answer to {what} is not the expected JSON"))
}

/// A Hub answer nobody expected, its body shown escaped (it is the Hub's text) and short.
fn unexpected(what: &str, status: u16, body: &str) -> String {
    let body: String = body.trim().chars().take(300).collect();
    format!(
        "the Hub answered {what} with HTTP {status}: {}",
        untrusted::line(&body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = DEFAULT_ENDPOINT;

    #[test]
    fn hf_endpoint_is_https_unless_loopback() {
        assert_eq!(endpoint(None, DEFAULT).unwrap(), DEFAULT);
        assert_eq!(endpoint(Some("  "), DEFAULT).unwrap(), DEFAULT);
        for good in [
            "https://hf-mirror.com/",
            "https://hub.corp.example/hf",
            "http://127.0.0.1:4000",
            "http://localhost:4000",
            "http://[::1]:4000",
        ] {
            assert_eq!(
                endpoint(Some(good), DEFAULT).unwrap(),
                good.trim_end_matches('/')
            );
        }
        for (bad, why) in [
            ("http://huggingface.co", "plain http://"),
            ("http://0.0.0.0:4000", "plain http://"),
            ("http://127.0.0.1.attacker.example", "plain http://"),
            ("huggingface.co", "not a Hub URL"),
            ("https://user:pw@huggingface.co", "not a Hub URL"),
            ("https://huggingface.co/x?y", "not a Hub URL"),
            ("ftp://huggingface.co", "not a Hub URL"),
            ("https://hugging face.co", "not a Hub URL"),
        ] {
            let err = endpoint(Some(bad), DEFAULT).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("HF_ENDPOINT `{bad}`")) && err.contains(why),
                "{err}"
            );
        }
        let err = endpoint(Some("http://x\x1b[2J"), DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\x1b'), "{err}");
    }

    #[test]
    fn http_errors_quoting_the_hub_are_escaped() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        // A redirect whose Location holds CSI (U+009B, a C1 control) as UTF-8: the HTTP client
        // refuses it, quoting it in its error.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: /x\xc2\x9b2J\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        });
        let token = Token::find(&|key| (key == "HF_TOKEN").then(|| "hf_x".to_owned())).unwrap();
        let err = Hub::new(&endpoint, token).whoami().unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.contains("cannot reach the Hub"), "{err}");
        assert!(!err.contains('\u{9b}'), "{err:?}");
    }

    #[test]
    fn an_endpoint_given_by_ip_address_has_no_space_domain() {
        // `10.0.0.5` without its first label is no domain: `1.0.0.5` is not the Hub's.
        for (endpoint, reported) in [
            ("https://10.0.0.5", "https://1.0.0.5"),
            ("https://10.0.0.5:8443", "https://9.0.0.5"),
        ] {
            assert_eq!(trusted_space_host(endpoint, reported), None, "{endpoint}");
        }
        assert_eq!(
            trusted_space_host("https://hub.corp.example", "https://x.corp.example"),
            Some("https://x.corp.example".to_owned())
        );
    }

    #[test]
    fn unexpected_bodies_are_escaped_and_short() {
        let text = unexpected("GET /x", 500, &format!("\x1b[2J{}", "y".repeat(500)));
        assert!(
            text.contains("HTTP 500: \\x1b[2J") && !text.contains('\x1b'),
            "{text}"
        );
        assert!(text.chars().count() < 360, "{text}");
    }

    fn info(host: Option<&str>, subdomain: Option<&str>) -> SpaceInfo {
        SpaceInfo {
            host: host.map(Into::into),
            subdomain: subdomain.map(Into::into),
            ..SpaceInfo::default()
        }
    }

    #[test]
    fn the_space_url_is_the_reported_host_and_a_derived_one_is_called_a_guess() {
        let url = |host, subdomain| {
            space_url(None, "Alice_B", "my.bot", &info(host, subdomain), DEFAULT).unwrap()
        };
        let hub = url(Some("https://h.hf.space/"), None);
        assert_eq!(
            (hub.url.as_str(), hub.own.as_deref(), hub.warning),
            ("https://h.hf.space", Some("https://h.hf.space"), None)
        );
        assert_eq!(url(None, Some("sub")).url, "https://sub.hf.space");
        assert_eq!(url(Some(""), Some("sub")).url, "https://sub.hf.space");
        let derived = url(None, None);
        assert_eq!(derived.url, "https://alice-b-my-bot.hf.space");
        assert!(derived.own.is_none());
        assert!(derived.warning.unwrap().contains("a guess"));
        for garbage in [
            "h.hf.space",
            "https://h.hf.space/x y",
            "javascript:alert(1)",
        ] {
            let chosen = url(Some(garbage), Some("sub"));
            assert_eq!(chosen.url, "https://alice-b-my-bot.hf.space", "{garbage}");
            assert!(
                chosen
                    .warning
                    .unwrap()
                    .contains("not an https:// origin under .hf.space"),
                "{garbage}"
            );
        }
        let configured = space_url(
            Some("https://custom.dev"),
            "a",
            "b",
            &info(Some("https://h.hf.space"), None),
            DEFAULT,
        )
        .unwrap();
        assert_eq!(configured.url, "https://custom.dev");
        assert_eq!(configured.own.as_deref(), Some("https://h.hf.space"));
    }

    #[test]
    fn a_label_over_63_characters_is_never_derived() {
        let user = "a".repeat(40);
        let space = "b".repeat(30);
        let err = space_url(None, &user, &space, &info(None, None), DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("71 characters") && err.contains("--space-url"),
            "{err}"
        );
        // The Hub's host is used as it is, however long the names.
        let hub = space_url(
            None,
            &user,
            &space,
            &info(Some("https://short-1a2b.hf.space"), None),
            DEFAULT,
        )
        .unwrap();
        assert_eq!(hub.url, "https://short-1a2b.hf.space");
        // 63 characters exactly is a valid label.
        let ok = space_url(
            None,
            &"c".repeat(31),
            &"d".repeat(31),
            &info(None, None),
            DEFAULT,
        )
        .unwrap();
        assert_eq!(ok.url.len(), "https://".len() + 63 + ".hf.space".len());
    }

    #[test]
    fn the_rate_limit_header_gives_the_wait_only_when_nothing_is_left() {
        assert_eq!(rate_limit_reset(Some(r#""api";r=0;t=55"#)), Some(56));
        assert_eq!(rate_limit_reset(Some(r#""api"; r = 0 ; t = 3"#)), Some(4));
        assert_eq!(rate_limit_reset(Some(r#""api";r=12;t=55"#)), None);
        assert_eq!(rate_limit_reset(Some("garbage")), None);
        assert_eq!(rate_limit_reset(None), None);
    }

    #[test]
    fn log_events_are_split_into_lines_with_their_timestamp() {
        let event = r#"data: {"data":"one\ntwo\n","timestamp":"2026-01-01T00:00:00Z"}"#;
        let lines = log_event(event).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert!(lines.iter().all(|l| l.timestamp == "2026-01-01T00:00:00Z"));
        assert_eq!(log_event("data: not json").unwrap()[0].text, "not json");
        assert!(log_event(": keep-alive").is_none());
        assert!(log_event("").is_none());
    }

    #[test]
    fn the_source_commit_is_read_from_the_body() {
        let commit = Commit {
            id: "abc".into(),
            title: "Deploy RAG chatbot backend".into(),
            message:
                "Deploy RAG chatbot backend\n\nSource commit: 1234abcd-dirty\nDeployed with x.\n"
                    .into(),
            date: String::new(),
        };
        assert_eq!(commit.source_commit(), Some("1234abcd-dirty"));
        let initial = Commit {
            message: "initial commit".into(),
            ..commit
        };
        assert_eq!(initial.source_commit(), None);
    }
}
