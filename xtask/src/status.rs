//! `cargo xtask status`: what the Space is doing now, and whether `huggingface-spaces/` is what
//! it has; `--history`: its recent deploys.
//!
//! Read-only: four Hub API calls (Space info with blob ids, runtime, commits) and, when the
//! Space runs, one `GET /api/health` (a sleeping or paused Space is not woken up).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::deploy::git::{Change, GitEnv, source_commit, worktree_files};
use crate::deploy::hub::{self, Commit, Hub, SpaceInfo};
use crate::deploy::verify::{self, SpaceAccess};
use crate::settings::{self, Env, HfSpace, SPACE_DIR};
use crate::untrusted::line as shown;
use crate::{Project, flags, interrupt};

/// How long the one health request may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How many deploys `--history` lists at most.
const HISTORY: usize = 20;

impl flags::Status {
    pub(crate) fn run(self, project: &Project, env: &Env) -> Result<()> {
        interrupt::install()?;
        let (user, space) = space_id(self.user, self.space, &project.settings)?;
        let repo = format!("{user}/{space}");
        let hub = Hub::from_env(env)?;
        if self.history {
            let deploys: Vec<Deploy> = hub
                .commits(&repo)?
                .iter()
                .take(HISTORY)
                .map(Deploy::from)
                .collect();
            if self.json {
                println!("{}", serde_json::to_string_pretty(&deploys)?);
            } else {
                print!("{}", render_history(&repo, &deploys));
            }
            return Ok(());
        }
        let status = read(project, &hub, &user, &space)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", status.render());
        }
        Ok(())
    }
}

/// `user` and `space` from the flags, else `[workspace.metadata.hf-space]`; one error names
/// every missing value and how to give it.
pub(crate) fn space_id(
    user: Option<String>,
    space: Option<String>,
    settings: &HfSpace,
) -> Result<(String, String)> {
    let pick = |flag: Option<String>, configured: &Option<String>| {
        flag.or_else(|| configured.clone())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (user, space) = (pick(user, &settings.user), pick(space, &settings.space));
    let mut missing = Vec::new();
    for (key, value, example) in [
        ("user", &user, "YOUR_NAME"),
        ("space", &space, "YOUR_SPACE"),
    ] {
        if value.is_none() {
            missing.push(format!(
                "  {key}: pass `--{key} {example}` or add `{key} = \"{example}\"` to [workspace.metadata.hf-space] in Cargo.toml"
            ));
        }
    }
    let (Some(user), Some(space)) = (user, space) else {
        bail!("which Space? missing:\n{}", missing.join("\n"));
    };
    settings::validate_repo_name("user", &user)?;
    settings::validate_repo_name("space", &space)?;
    Ok((user, space))
}

/// One deploy (a commit of the Space repo), as `--history` and `status` show it.
#[derive(Debug, Serialize)]
pub(crate) struct Deploy {
    commit: String,
    date: String,
    title: String,
    /// The monorepo commit the deploy recorded (`Source commit:` in the body).
    source_commit: Option<String>,
}

impl From<&Commit> for Deploy {
    fn from(commit: &Commit) -> Deploy {
        Deploy {
            commit: shown(&commit.id),
            date: shown(&commit.date),
            title: shown(&commit.title),
            source_commit: commit.source_commit().map(shown),
        }
    }
}

fn render_history(repo: &str, deploys: &[Deploy]) -> String {
    let mut out = format!("Recent commits of the Space {repo} (newest first):\n");
    for deploy in deploys {
        out.push_str(&format!(
            "  {}  {}  {}{}\n",
            short(&deploy.commit),
            deploy.date,
            deploy.title,
            deploy
                .source_commit
                .as_deref()
                .map(|s| format!("  (source {})", short(s)))
                .unwrap_or_default()
        ));
    }
    out.push_str("Roll back with `cargo xtask deploy --rollback COMMIT`.\n");
    out
}

/// The first 12 characters of a commit id, keeping a `-dirty` suffix.
fn short(sha: &str) -> String {
    let (id, dirty) = match sha.strip_suffix("-dirty") {
        Some(id) => (id, "-dirty"),
        None => (sha, ""),
    };
    format!("{}{dirty}", id.chars().take(12).collect::<String>())
}

#[derive(Debug, Serialize)]
struct Status {
    space: String,
    private: bool,
    stage: String,
    hardware: Option<String>,
    error_message: Option<String>,
    /// The Space repo's newest commit.
    space_commit: Option<Deploy>,
    /// `huggingface-spaces/` compared with the Space's files.
    local: Local,
    health: HealthSummary,
    space_url: String,
    docs_url: String,
    health_url: String,
    page_url: String,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Local {
    /// The source commit a deploy from this worktree would record (`<sha>[-dirty]`).
    source_commit: String,
    /// Whether a deploy would push nothing.
    up_to_date: bool,
    /// What a deploy would change (as `deploy --dry-run` lists it).
    changes: Vec<Change>,
}

#[derive(Debug, Serialize)]
struct HealthSummary {
    /// The HTTP status, when the Space answered.
    http_status: Option<u16>,
    /// `healthy`, `unhealthy`, `not checked (...)`, `no answer (...)`...
    summary: String,
    /// The services the answer names as failing.
    failing: Vec<String>,
}

fn read(project: &Project, hub: &Hub, user: &str, space: &str) -> Result<Status> {
    let repo = format!("{user}/{space}");
    let Some(info) = hub.space_files(&repo)? else {
        bail!(
            "the Space {repo} does not exist (or this token may not read it): create it with `cargo xtask deploy --create`"
        );
    };
    let runtime = hub.runtime(&repo)?;
    let commits = hub.commits(&repo)?;
    let chosen = hub::space_url(
        project.settings.space_url.as_deref(),
        user,
        space,
        &info,
        hub.endpoint(),
    )?;
    let access = SpaceAccess::new(
        info.private,
        &chosen.url,
        chosen.own.as_deref(),
        hub.token().secret(),
    );
    let stage = shown(&runtime.stage);
    let health = if stage.starts_with("RUNNING") {
        check_health(&chosen.url, &project.settings.generator.health_path, access)
    } else {
        HealthSummary {
            http_status: None,
            summary: format!("not checked (the Space is {stage})"),
            failing: Vec::new(),
        }
    };
    let hardware = runtime.hardware.as_ref().and_then(|h| {
        match (h.current.as_deref(), h.requested.as_deref()) {
            (Some(current), _) => Some(shown(current)),
            (None, Some(requested)) => Some(format!("{} (requested)", shown(requested))),
            (None, None) => None,
        }
    });
    let space_url = chosen.url.clone();
    Ok(Status {
        space: repo.clone(),
        private: info.private,
        stage,
        hardware,
        error_message: runtime.error_message.as_deref().map(shown),
        space_commit: commits.first().map(Deploy::from),
        local: compare(&project.root, &info)?,
        health,
        docs_url: format!("{space_url}/docs"),
        health_url: format!("{space_url}{}", project.settings.generator.health_path),
        page_url: format!("{}/spaces/{repo}", hub.endpoint()),
        space_url,
        warnings: chosen.warning.into_iter().collect(),
    })
}

/// `huggingface-spaces/` against the Space's files, by git blob id: what a deploy would push.
/// `.gitattributes` stays on the Space unless the folder brings its own (as `deploy` mirrors).
fn compare(root: &camino::Utf8Path, info: &SpaceInfo) -> Result<Local> {
    let files = worktree_files(root, SPACE_DIR)?;
    let mut local = BTreeMap::new();
    if !files.is_empty() {
        let mut args = vec!["hash-object", "--no-filters", "--"];
        let paths: Vec<String> = files.iter().map(|f| format!("{SPACE_DIR}/{f}")).collect();
        args.extend(paths.iter().map(String::as_str));
        let ids = GitEnv::user().git(root, &args)?;
        for (file, id) in files.iter().zip(ids.lines()) {
            local.insert(file.to_string(), id.trim().to_owned());
        }
    }
    let remote: BTreeMap<&str, Option<&str>> = info
        .siblings
        .iter()
        .map(|s| (s.rfilename.as_str(), s.blob_id.as_deref()))
        .collect();
    let mut changes = Vec::new();
    for (file, id) in &local {
        match remote.get(file.as_str()) {
            None => changes.push(("added", file.clone())),
            Some(remote_id) if *remote_id != Some(id.as_str()) => {
                changes.push(("modified", file.clone()))
            }
            Some(_) => {}
        }
    }
    for file in remote.keys() {
        if !local.contains_key(*file) && *file != ".gitattributes" {
            changes.push(("deleted", shown(file)));
        }
    }
    changes.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Local {
        source_commit: source_commit(root)?,
        up_to_date: changes.is_empty(),
        changes: changes
            .into_iter()
            .map(|(status, path)| Change { status, path })
            .collect(),
    })
}

/// One `GET /api/health`, summarized.
fn check_health(space_url: &str, health_path: &str, access: SpaceAccess<'_>) -> HealthSummary {
    let url = format!("{space_url}{health_path}");
    let request = access.authorize(crate::http::agent(HEALTH_TIMEOUT).get(&url));
    let mut response = match request.call() {
        Ok(response) => response,
        Err(err) => {
            return HealthSummary {
                http_status: None,
                summary: format!("no answer ({})", shown(&err.to_string())),
                failing: Vec::new(),
            };
        }
    };
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let json: Option<Value> = serde_json::from_str(&body).ok();
    let failing: Vec<String> = json
        .as_ref()
        .map(|json| {
            verify::failing_services(json)
                .into_iter()
                .map(|(service, details)| {
                    format!("{}: {}", shown(service), shown(&details.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let said = json.as_ref().and_then(|j| j["status"].as_str()).map(shown);
    let summary = match (status, said) {
        (404, _) if access.private && access.token.is_none() => {
            "404: the Space is private, and this URL is not its own host on the Hub, so no token was sent".to_owned()
        }
        (200, said) => said.unwrap_or_else(|| "healthy".to_owned()),
        (_, Some(said)) => said,
        (_, None) => "not the app's answer (starting, or a proxy page)".to_owned(),
    };
    HealthSummary {
        http_status: Some(status),
        summary,
        failing,
    }
}

impl Status {
    fn render(&self) -> String {
        let mut out = format!(
            "Space {} ({})\n",
            self.space,
            if self.private { "private" } else { "public" }
        );
        let hardware = self
            .hardware
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        out.push_str(&format!("  Stage:         {}{hardware}\n", self.stage));
        if let Some(message) = &self.error_message {
            out.push_str(&format!("  Error:         {message}\n"));
        }
        match &self.space_commit {
            Some(c) => out.push_str(&format!(
                "  Space commit:  {} \"{}\" {}{}\n",
                short(&c.commit),
                c.title,
                c.date,
                c.source_commit
                    .as_deref()
                    .map(|s| format!(" (source {})", short(s)))
                    .unwrap_or_default()
            )),
            None => out.push_str("  Space commit:  none\n"),
        }
        let local = format!("{SPACE_DIR}/ (source {})", short(&self.local.source_commit));
        if self.local.up_to_date {
            out.push_str(&format!(
                "  Local:         {local} is up to date with the Space\n"
            ));
        } else {
            let changes: Vec<String> = self
                .local
                .changes
                .iter()
                .map(|c| format!("{} {}", c.status, c.path))
                .collect();
            out.push_str(&format!(
                "  Local:         {local} differs from the Space ({}): `cargo xtask deploy` pushes it\n",
                changes.join(", ")
            ));
        }
        let code = self
            .health
            .http_status
            .map(|c| format!("HTTP {c}, "))
            .unwrap_or_default();
        out.push_str(&format!("  Health:        {code}{}\n", self.health.summary));
        for failing in &self.health.failing {
            out.push_str(&format!("    failing: {failing}\n"));
        }
        out.push_str(&format!("  HF Spaces URL: {}\n", self.space_url));
        out.push_str(&format!("  API Docs:      {}\n", self.docs_url));
        out.push_str(&format!("  Health Check:  {}\n", self.health_url));
        out.push_str(&format!("  Space page:    {}\n", self.page_url));
        out.push_str("  Logs:          `cargo xtask logs` (run), `cargo xtask logs --build`\n");
        for warning in &self.warnings {
            out.push_str(&format!("  Warning: {warning}\n"));
        }
        out
    }
}
