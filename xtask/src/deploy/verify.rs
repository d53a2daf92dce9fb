//! Verify: wait for the Space to run the pushed commit, then for its health check, then check
//! CORS from the frontend's origin; every failure ends in the troubleshooting advice of docs/deploy.md.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::Value;

use super::hub::Hub;
use super::report::Progress;
use crate::process::{self, Every};
use crate::{interrupt, untrusted};

/// Stages that show the Space picked up a new commit.
const BUILD_STAGES: [&str; 4] = [
    "BUILDING",
    "RUNNING_BUILDING",
    "APP_STARTING",
    "RUNNING_APP_STARTING",
];
/// The longest wait for a build to start before suggesting (or, with --restart, doing) a factory restart.
const PICKUP_WAIT: Duration = Duration::from_secs(180);
/// Consecutive unhealthy answers (a JSON body that names failing services) before giving up:
/// a service that fails three times over several seconds needs a fix, not patience.
const UNHEALTHY_ANSWERS: u32 = 3;
/// How long one request to the Space may take; the health wait has its own deadline.
const SPACE_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Verification of one deploy.
pub(crate) struct Checks<'a> {
    pub(crate) hub: &'a Hub,
    pub(crate) repo: &'a str,
    /// The commit just pushed; `None` when the Space was already up to date.
    pub(crate) pushed: Option<&'a str>,
    pub(crate) space_url: &'a str,
    pub(crate) health_path: &'a str,
    pub(crate) frontend_url: &'a str,
    /// Factory-restart a Space that shows no build.
    pub(crate) restart: bool,
    pub(crate) deadline: Instant,
    /// How the Space's own host is reached (the token, for a private Space).
    pub(crate) access: SpaceAccess<'a>,
}

/// Whether the Space is private, and the token sent with health and CORS checks: only to the
/// Space's own host (the one the Hub reports) when it is private, never elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpaceAccess<'a> {
    pub(crate) private: bool,
    pub(crate) token: Option<&'a str>,
}

impl<'a> SpaceAccess<'a> {
    /// `space_url` gets the token only when the Space is private and the URL is its own host.
    pub(crate) fn new(
        private: bool,
        space_url: &str,
        own_url: Option<&str>,
        token: &'a str,
    ) -> Self {
        let own = own_url == Some(space_url);
        SpaceAccess {
            private,
            token: (private && own).then_some(token),
        }
    }

    pub(crate) fn authorize(&self, request: crate::http::Request) -> crate::http::Request {
        match self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }
}

impl Checks<'_> {
    /// The runtime runs the pushed commit, the health check answers 200, CORS allows the frontend.
    pub(crate) fn run(&self, progress: &Progress) -> Result<Health> {
        progress.step("verify: waiting for the Space to run the pushed commit");
        wait_for_runtime(
            self.hub,
            self.repo,
            self.pushed,
            self.restart,
            self.deadline,
            progress,
        )?;
        progress.step(format_args!(
            "verify: the Space is RUNNING; polling {}{}",
            self.space_url, self.health_path
        ));
        let health = poll_health(
            self.space_url,
            self.health_path,
            self.access,
            self.deadline,
            progress,
        )?;
        check_cors(self.space_url, self.frontend_url, self.access)?;
        Ok(health)
    }
}

/// Waits until the runtime is RUNNING the pushed commit. `pushed` is `None` when nothing was
/// pushed (then the current stage counts); a RUNNING or error stage seen before the new build
/// started is stale and ignored. Only a build stage shows the new build started: the
/// runtime's undocumented `sha` is not trusted to mean the running commit.
fn wait_for_runtime(
    hub: &Hub,
    repo: &str,
    pushed: Option<&str>,
    restart: bool,
    deadline: Instant,
    progress: &Progress,
) -> Result<()> {
    let started = Instant::now();
    let mut pickup_deadline = (started + PICKUP_WAIT).min(started + (deadline - started) / 2);
    let mut picked_up = pushed.is_none();
    let mut restarted = false;
    let mut shown = String::new();
    // After a restart the waits start short again: the new build shows within seconds.
    loop {
        let every = Every::growing(Duration::from_millis(500), 1.5, Duration::from_secs(5));
        let ended = process::poll(every, Some(deadline), || {
            let mut look = || -> Result<Option<Seen>> {
                interrupt::check()?;
                let runtime = hub.runtime(repo)?;
                let stage = runtime.stage.as_str();
                shown = untrusted::line(stage);
                if BUILD_STAGES.contains(&stage) {
                    picked_up = true;
                }
                match stage {
                    "RUNNING" | "SLEEPING" if picked_up => return Ok(Some(Seen::Running)),
                    "BUILD_ERROR" | "RUNTIME_ERROR" | "CONFIG_ERROR" | "NO_APP_FILE"
                        if picked_up =>
                    {
                        bail!("{}", runtime_failure(hub, repo, &runtime))
                    }
                    "PAUSED" | "STOPPED" | "DELETING" => bail!(
                        "the Space {repo} is {stage}: it will not build; restart it from {}/spaces/{repo}/settings and deploy again",
                        hub.endpoint()
                    ),
                    _ => {}
                }
                let now = Instant::now();
                if !picked_up && now >= pickup_deadline {
                    if restart && !restarted {
                        progress.step(format_args!(
                            "no build after {:.0}s: factory-restarting the Space (--restart)",
                            (now - started).as_secs_f64()
                        ));
                        hub.restart(repo)?;
                        restarted = true;
                        pickup_deadline = deadline;
                        return Ok(Some(Seen::Restarted));
                    } else if !restart {
                        bail!(
                            "the Space {repo} shows no build of the pushed commit after {:.0}s (stage {shown}): \
                             factory-restart it with `cargo xtask deploy --restart` (or Settings > Factory rebuild)",
                            (now - started).as_secs_f64()
                        );
                    }
                }
                progress.waiting(&format!(
                    "waiting for the Space to build: {shown}{}",
                    if picked_up { "" } else { " (previous build)" }
                ));
                Ok(None)
            };
            look().transpose()
        });
        match ended {
            Some(Ok(Seen::Running)) => return Ok(()),
            Some(Ok(Seen::Restarted)) => continue,
            Some(Err(err)) => return Err(err),
            None => bail!(
                "the Space {repo} did not reach RUNNING within the --timeout (stage {shown}): see its logs at {}/spaces/{repo}?logs=container, \
                 or wait longer with --timeout SECONDS",
                hub.endpoint()
            ),
        }
    }
}

/// What [`wait_for_runtime`] saw that ends one round of polling.
enum Seen {
    Running,
    Restarted,
}

/// The stage, the Hub's error message, the log tail and the next step.
fn runtime_failure(hub: &Hub, repo: &str, runtime: &super::hub::Runtime) -> String {
    let stage = runtime.stage.as_str();
    let mut out = format!("the Space {repo} failed: {}", untrusted::line(stage));
    if let Some(message) = &runtime.error_message {
        out.push_str(&format!(": {}", untrusted::line(message)));
    }
    let kind = if stage == "BUILD_ERROR" {
        "build"
    } else {
        "run"
    };
    match hub.log_tail(repo, kind, 20) {
        Ok(lines) if !lines.is_empty() => {
            out.push_str(&format!("\nlast lines of the {kind} log:\n"));
            for line in lines {
                out.push_str(&format!("  | {line}\n"));
            }
        }
        Ok(_) => {}
        Err(err) => out.push_str(&format!("\n(the {kind} log is unavailable: {err:#})\n")),
    }
    let next = match stage {
        "BUILD_ERROR" => {
            "fix the Dockerfile or requirements.txt problem above in backend/ or the generator settings, then deploy again"
        }
        "CONFIG_ERROR" => {
            "fix the README.md front matter (sdk: docker, app_port) via `cargo xtask generate`, then deploy again"
        }
        "NO_APP_FILE" => {
            "the Space has no Dockerfile: check that huggingface-spaces/ was generated, then deploy again"
        }
        _ => {
            "the app crashed on start: check the secrets (DATABASE_URL, QDRANT_URL, GEMINI_API_KEY) and the run log, then restart the Space"
        }
    };
    out.push_str(&format!("\nnext: {next}"));
    out
}

/// What the health check last said.
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) status: String,
}

/// Polls `{space_url}{health_path}` with backoff until it answers 200 or `deadline`.
pub(crate) fn wait_for_health(
    space_url: &str,
    health_path: &str,
    deadline: Instant,
    progress: &Progress,
) -> Result<Health> {
    poll_health(
        space_url,
        health_path,
        SpaceAccess::default(),
        deadline,
        progress,
    )
}

/// 404s in a row from a private Space before saying why (a private Space answers 404 to
/// requests without a token that may read it, however long one waits).
const PRIVATE_404S: u32 = 2;

fn poll_health(
    space_url: &str,
    health_path: &str,
    access: SpaceAccess<'_>,
    deadline: Instant,
    progress: &Progress,
) -> Result<Health> {
    let url = format!("{space_url}{health_path}");
    let agent = crate::http::agent(SPACE_CALL_TIMEOUT);
    let mut unhealthy = 0;
    let mut not_found = 0;
    let mut last = String::new();
    let every = Every::growing(Duration::from_millis(250), 2.0, Duration::from_secs(8));
    let ended = process::poll(every, Some(deadline), || {
        let mut look = || -> Result<Option<Health>> {
            interrupt::check()?;
            last = match access.authorize(agent.get(&url)).call() {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    let json: Option<Value> = serde_json::from_str(&body).ok();
                    not_found = if status == 404 { not_found + 1 } else { 0 };
                    if access.private && not_found >= PRIVATE_404S {
                        bail!("{}", private_404(&url, access));
                    }
                    match (status, json) {
                        (200, json) => {
                            let status = json
                                .as_ref()
                                .and_then(|j| j["status"].as_str())
                                .unwrap_or("healthy");
                            return Ok(Some(Health {
                                status: untrusted::line(status),
                            }));
                        }
                        (_, Some(json)) if json.get("services").is_some() => {
                            unhealthy += 1;
                            if unhealthy >= UNHEALTHY_ANSWERS {
                                bail!(
                                    "{url} answered {status}: the Space is unhealthy\n{}",
                                    troubleshoot(&json)
                                );
                            }
                            format!(
                                "HTTP {status}, {}",
                                untrusted::line(json["status"].as_str().unwrap_or("unhealthy"))
                            )
                        }
                        (_, _) => {
                            unhealthy = 0;
                            format!("HTTP {status}")
                        }
                    }
                }
                Err(err) => {
                    unhealthy = 0;
                    format!("no answer ({})", untrusted::line(&err.to_string()))
                }
            };
            progress.waiting(&format!("waiting for {health_path}: {last}"));
            Ok(None)
        };
        look().transpose()
    });
    match ended {
        Some(result) => result,
        None => bail!(
            "{url} did not answer 200 before the --timeout (last: {last}): the app may still be starting (cold start) or crashed; check the Space's logs and retry with a larger --timeout"
        ),
    }
}

/// Why a private Space keeps answering 404, and what to do.
fn private_404(url: &str, access: SpaceAccess<'_>) -> String {
    if access.token.is_some() {
        format!(
            "{url} answers 404 although the token was sent: the Space is private and this token may not read it; \
             use a token of the Space's owner, or make the Space public in its settings"
        )
    } else {
        format!(
            "{url} answers 404: the Space is private, and private Spaces answer 404 to requests without a token. \
             The token is only sent to the Space's own host as the Hub reports it, not to this URL; \
             make the Space public in its settings (browsers on the frontend need that too), \
             or drop --space-url/space-url so the Hub's host is checked"
        )
    }
}

/// The services a health answer names as failing, with what it said about each.
pub(crate) fn failing_services(health: &Value) -> Vec<(&str, &Value)> {
    let mut failing = Vec::new();
    for (service, details) in health["services"].as_object().into_iter().flatten() {
        let status = details
            .as_str()
            .or_else(|| details["status"].as_str())
            .unwrap_or_default();
        let bad = [
            "error",
            "fail",
            "disconnected",
            "unavailable",
            "unreachable",
            "down",
            "unhealthy",
        ]
        .iter()
        .any(|bad| status.to_ascii_lowercase().contains(bad));
        if bad {
            failing.push((service.as_str(), details));
        }
    }
    failing
}

/// The troubleshooting advice for each failing service in a health answer.
pub(crate) fn troubleshoot(health: &Value) -> String {
    let mut advice = Vec::new();
    for (service, details) in failing_services(health) {
        // JSON escapes C0 controls but not C1 ones or direction overrides.
        let said = untrusted::line(&details.to_string());
        let fix = match service {
            "qdrant" if said.contains("404") => {
                "Qdrant answered 404: the cluster is suspended (the free tier sleeps after inactivity). Fix: resume it at cloud.qdrant.io, then restart the Space"
            }
            "qdrant" => {
                "Qdrant is unreachable. Fix: check the QDRANT_URL (https, no trailing slash or space) and QDRANT_API_KEY secrets, then restart the Space"
            }
            "postgres" => {
                "PostgreSQL is unreachable. Fix: DATABASE_URL needs `?sslmode=require` (Neon) and no surrounding spaces; correct the secret, then restart the Space"
            }
            "gemini" => {
                "Gemini is failing. Fix: check the GEMINI_API_KEY secret (no surrounding spaces), then restart the Space"
            }
            _ => "Fix: see this service's error above, then restart the Space",
        };
        advice.push(format!("  {service}: {said}\n    {fix}"));
    }
    if advice.is_empty() {
        format!("  {}", untrusted::line(&health.to_string()))
    } else {
        advice.join("\n")
    }
}

/// A CORS preflight for `POST /api/chat` from the frontend's origin.
fn check_cors(space_url: &str, origin: &str, access: SpaceAccess<'_>) -> Result<()> {
    let url = format!("{space_url}/api/chat");
    let response = access
        .authorize(crate::http::agent(SPACE_CALL_TIMEOUT).options(&url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .call()
        .map_err(|err| {
            let err = untrusted::line(&err.to_string());
            anyhow::anyhow!("the CORS preflight to {url} got no answer: {err}")
        })?;
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if allowed != origin && allowed != "*" {
        let got = if allowed.is_empty() {
            "no Access-Control-Allow-Origin header".to_owned()
        } else {
            format!("`{allowed}`")
        };
        bail!(
            "CORS: a preflight from {origin} to {url} got {got} (HTTP {}), so browsers will block the frontend.\n  \
             Fix: add {origin} to the ALLOWED_ORIGINS secret (comma-separated), then restart the Space",
            response.status()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failing_service_gets_the_seeds_advice() {
        let health: Value = serde_json::json!({
            "status": "unhealthy",
            "services": {
                "fastapi": "ok",
                "qdrant": {"status": "error", "error": "Unexpected Response: 404 (Not Found)"},
                "postgres": {"status": "disconnected", "error": "SSL required"},
                "gemini": {"status": "ok"}
            }
        });
        let advice = troubleshoot(&health);
        assert!(
            advice.contains("cluster is suspended") && advice.contains("cloud.qdrant.io"),
            "{advice}"
        );
        assert!(advice.contains("sslmode=require"), "{advice}");
        assert!(
            !advice.contains("gemini") && !advice.contains("fastapi"),
            "{advice}"
        );
    }
}
