//! The Hub API subset `deploy` uses: whoami, Space info, create, secrets, runtime, logs, restart.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use super::token::Token;
use crate::frontend::Origin;
use crate::{interrupt, untrusted};

/// How long one API call may take; the runtime and health waits have their own deadlines.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the build/run log stream is read for its tail (the stream may never end).
const LOG_READ: Duration = Duration::from_secs(5);
/// 429 answers are retried this many times, honouring `Retry-After`.
const RETRIES: u32 = 4;

pub(crate) struct Hub {
    agent: ureq::Agent,
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

#[derive(Debug, Deserialize)]
pub(crate) struct SpaceInfo {
    /// The public URL, e.g. `https://user-space.hf.space`.
    pub(crate) host: Option<String>,
    /// `user-space`, the host's first label, when `host` is missing.
    pub(crate) subdomain: Option<String>,
    #[serde(default)]
    pub(crate) private: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Runtime {
    pub(crate) stage: String,
    #[serde(rename = "errorMessage")]
    pub(crate) error_message: Option<String>,
    /// The commit the runtime builds or runs, when the Hub reports it.
    pub(crate) sha: Option<String>,
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
/// another `HF_ENDPOINT` (its host without the first label, when it has three or more), or a
/// loopback origin for a loopback (test) Hub. `None` otherwise.
pub(crate) fn trusted_space_host(endpoint: &str, reported: &str) -> Option<String> {
    let url = reported.strip_suffix('/').unwrap_or(reported);
    let origin = Origin::parse(url)?;
    let (_, hub, _) = split_endpoint(endpoint)?;
    let trusted = if hub.is_loopback() {
        origin.is_loopback()
    } else if hub.host.eq_ignore_ascii_case("huggingface.co") {
        origin.https && origin.is_under("hf.space")
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
        let path = format!("/api/spaces/{repo}");
        match self.call("GET", &path, None)? {
            (200, body) => Ok(Some(parse(&path, &body)?)),
            (404, _) => Ok(None),
            (401 | 403, _) => bail!(
                "the token from {} may not read the Space {repo}: use a token of its owner",
                self.token.source
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
        match self.call("POST", "/api/repos/create", Some(body))? {
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

    /// The last `lines` lines of the `build` or `run` log: a server-sent-events stream of
    /// `data: {"data": ..., "timestamp": ...}` lines, read for at most a few seconds.
    pub(crate) fn log_tail(&self, repo: &str, kind: &str, lines: usize) -> Result<Vec<String>> {
        let url = format!("{}/api/spaces/{repo}/logs/{kind}", self.endpoint);
        let response = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {}", self.token.secret()))
            .header("Accept", "text/event-stream")
            .config()
            .timeout_global(Some(LOG_READ))
            .build()
            .call()
            .with_context(|| format!("cannot read the {kind} log of {repo}"))?;
        anyhow::ensure!(
            response.status() == 200,
            "cannot read the {kind} log of {repo}: HTTP {}",
            response.status()
        );
        let mut tail = std::collections::VecDeque::new();
        // The stream ends at the deadline with a timeout error: what arrived until then is the tail.
        for line in BufReader::new(response.into_body().into_reader())
            .lines()
            .map_while(Result::ok)
        {
            let Some(event) = line.strip_prefix("data:") else {
                continue;
            };
            let text = match serde_json::from_str::<serde_json::Value>(event.trim()) {
                Ok(value) => value["data"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| event.trim().to_owned()),
                Err(_) => event.trim().to_owned(),
            };
            for line in text.lines() {
                // A log line is the Space's text: shown, never obeyed by the terminal.
                tail.push_back(untrusted::line(line));
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
        for attempt in 0..=RETRIES {
            interrupt::check()?;
            let sent = match (method, &body) {
                ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
                (_, Some(body)) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
                (_, None) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .send_empty(),
            };
            let mut response = sent.map_err(|err| {
                anyhow::anyhow!(
                    "cannot reach the Hub at {} ({method} {path}: {err}): check HF_ENDPOINT and the network",
                    self.endpoint
                )
            })?;
            let status = response.status().as_u16();
            if status == 429 && attempt < RETRIES {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                interrupt::sleep(retry_after.unwrap_or(wait).min(Duration::from_secs(30)))?;
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

    const DEFAULT: &str = "https://huggingface.co";

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
    fn unexpected_bodies_are_escaped_and_short() {
        let text = unexpected("GET /x", 500, &format!("\x1b[2J{}", "y".repeat(500)));
        assert!(
            text.contains("HTTP 500: \\x1b[2J") && !text.contains('\x1b'),
            "{text}"
        );
        assert!(text.chars().count() < 360, "{text}");
    }
}
