//! Operating the Space after a deploy: `status`, `logs`, `deploy --rollback`, and the Hub's
//! real behaviour (private Spaces, OAuth logins, 409 conflicts, rate limits, derived URLs).
//! The real binary, in a temporary copy of this monorepo, against the local test Hub.

mod hub;
#[path = "support/process.rs"]
mod process;
#[path = "support/repo.rs"]
mod repo;

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hub::{FRONTEND, LogScript, SPACE, Setup, TOKEN, USER, git_out};
use repo::Run;

impl Setup {
    fn env(&self) -> Vec<(&str, &str)> {
        vec![("HF_ENDPOINT", self.hub.url.as_str()), ("HF_TOKEN", TOKEN)]
    }

    /// `cargo xtask COMMAND --user alice --space bot ARGS` with the token.
    fn xtask(&self, command: &str, args: &[&str]) -> Run {
        self.xtask_with(command, args, &self.env())
    }

    fn xtask_with(&self, command: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut full = vec![command, "--user", USER, "--space", SPACE];
        if command == "deploy" {
            full.extend(["--frontend-url", FRONTEND]);
            if !args.contains(&"--timeout") {
                full.extend(["--timeout", "20"]);
            }
        }
        full.extend_from_slice(args);
        self.sandbox.run(&full, env)
    }

    fn head(&self) -> String {
        git_out(&self.hub.bare(SPACE), &["rev-parse", "HEAD"])
    }

    fn tree(&self, rev: &str) -> String {
        git_out(
            &self.hub.bare(SPACE),
            &["rev-parse", &format!("{rev}^{{tree}}")],
        )
    }

    /// A backend edit, committed, so the next deploy pushes a new tree.
    fn edit_backend(&self, marker: &str) {
        let main = self.sandbox.read("backend/app/main.py");
        self.sandbox
            .write("backend/app/main.py", &format!("{main}\n# {marker}\n"));
        self.sandbox.commit_all(marker);
    }

    fn json(run: &Run) -> serde_json::Value {
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{run}"))
    }

    /// Requests to the fake Space host that carried an Authorization header.
    fn space_requests_with_auth(&self) -> usize {
        self.hub
            .state()
            .seen
            .iter()
            .filter(|s| s.server == "space")
            .filter(|s| {
                s.headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            })
            .count()
    }
}

#[test]
fn status_shows_each_stage_and_whether_the_space_has_the_local_tree() {
    let s = Setup::with_space();
    let deployed_source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    let deployed = s.xtask("deploy", &["--no-verify"]);
    assert!(deployed.success, "{deployed}");
    // The deploy pointed the frontend at the Space: committed, as a user would.
    s.sandbox.commit_all("point the frontend at the Space");
    let source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    s.hub.state().runtime = ["RUNNING".to_owned()].into();

    let run = s.xtask("status", &[]);
    assert!(run.success, "{run}");
    for expected in [
        "Space alice/bot (public)".to_owned(),
        "Stage:         RUNNING on cpu-basic".to_owned(),
        format!(
            "Space commit:  {} \"Deploy RAG chatbot backend\"",
            &s.head()[..12]
        ),
        format!("(source {})", &deployed_source[..12]),
        format!(
            "Local:         huggingface-spaces/ (source {}) is up to date with the Space",
            &source[..12]
        ),
        "Health:        HTTP 200, healthy".to_owned(),
        format!("HF Spaces URL: {}", s.hub.space_url),
        format!("Space page:    {}/spaces/alice/bot", s.hub.url),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "missing {expected:?}\n{run}"
        );
    }

    // Each stage as the Hub reports it; only a running Space gets a health request.
    for stage in [
        "BUILDING",
        "APP_STARTING",
        "RUNNING_BUILDING",
        "BUILD_ERROR",
        "RUNTIME_ERROR",
        "SLEEPING",
        "PAUSED",
        "STOPPED",
    ] {
        {
            let mut state = s.hub.state();
            state.runtime = [stage.to_owned()].into();
            state.error_message = Some("Build failed with exit code: 1".into());
        }
        let health_before = s.hub.count("space GET /api/health");
        let run = s.xtask("status", &["--json"]);
        assert!(run.success, "{run}");
        let status = Setup::json(&run);
        assert_eq!(status["stage"], stage, "{run}");
        assert_eq!(status["hardware"], "cpu-basic", "{run}");
        assert_eq!(status["local"]["up_to_date"], true, "{run}");
        let checked = s.hub.count("space GET /api/health") > health_before;
        assert_eq!(checked, stage.starts_with("RUNNING"), "{stage}: {run}");
        if stage.ends_with("_ERROR") {
            assert_eq!(status["error_message"], "Build failed with exit code: 1");
        }
        if !checked {
            assert!(
                status["health"]["summary"]
                    .as_str()
                    .unwrap()
                    .starts_with("not checked"),
                "{run}"
            );
        }
    }

    // A change not deployed yet: the same command says what a deploy would push.
    s.hub.state().runtime = ["RUNNING".to_owned()].into();
    let main = s.sandbox.read("backend/app/main.py");
    s.sandbox.write(
        "backend/app/main.py",
        &format!("{main}\n# not deployed yet\n"),
    );
    assert!(s.sandbox.run(&["generate"], &[]).success);
    let run = s.xtask("status", &[]);
    assert!(run.success, "{run}");
    assert!(
        run.stdout.contains(&format!(
            "huggingface-spaces/ (source {}-dirty) differs from the Space (modified app/main.py)",
            &source[..12]
        )),
        "{run}"
    );
    let status = Setup::json(&s.xtask("status", &["--json"]));
    assert_eq!(status["local"]["up_to_date"], false);
    assert_eq!(status["local"]["source_commit"], format!("{source}-dirty"));
    assert_eq!(
        status["local"]["changes"],
        serde_json::json!([{"status": "modified", "path": "app/main.py"}])
    );
    assert_eq!(status["space_url"], s.hub.space_url.as_str());
}

#[test]
fn status_history_lists_the_deploys_with_their_source_commits() {
    let s = Setup::with_space();
    assert!(s.xtask("deploy", &["--no-verify"]).success);
    let first_source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    s.edit_backend("second deploy");
    assert!(s.xtask("deploy", &["--no-verify"]).success);
    let second_source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);

    let run = s.xtask("status", &["--history"]);
    assert!(run.success, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[1].contains(&s.head()[..12]), "{run}");
    assert!(lines[1].contains(&second_source[..12]), "{run}");
    assert!(lines[2].contains(&first_source[..12]), "{run}");
    assert!(lines[3].contains("initial commit"), "{run}");

    let history = Setup::json(&s.xtask("status", &["--history", "--json"]));
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["commit"], s.head().as_str());
    let source = |i: usize| {
        history[i]["source_commit"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(source(0).starts_with(&second_source), "{history:#?}");
    assert!(source(1).starts_with(&first_source), "{history:#?}");
    assert_eq!(history[2]["source_commit"], serde_json::Value::Null);
    assert!(history[0]["date"].as_str().unwrap().starts_with("20"));
}

/// A build that fails, as the Hub streams its log: several events, each with a timestamp.
fn failing_build_log(s: &Setup) -> Vec<String> {
    let lines: Vec<String> = vec![
        "Step 1/9 : FROM python:3.11-slim".into(),
        "Step 5/9 : RUN pip install -r requirements.txt".into(),
        "\x1b[31mERROR: No matching distribution found for qdrant-clientt\x1b[0m".into(),
        "forged\rline \u{202e}txt.exe".into(),
        "Build failed with exit code: 1".into(),
    ];
    s.hub.state().build_log = lines.clone();
    lines
}

#[test]
fn logs_print_a_failed_build_with_escapes_visible_and_tail_the_last_lines() {
    let s = Setup::with_space();
    failing_build_log(&s);
    let run = s.xtask("logs", &["--build"]);
    assert!(run.success, "{run}");
    assert!(
        !run.stdout.contains('\x1b')
            && !run.stdout.contains('\r')
            && !run.stdout.contains('\u{202e}'),
        "a control character reached the terminal:\n{run}"
    );
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "2026-01-01T00:00:00Z Step 1/9 : FROM python:3.11-slim",
            "2026-01-01T00:00:01Z Step 5/9 : RUN pip install -r requirements.txt",
            "2026-01-01T00:00:02Z \\x1b[31mERROR: No matching distribution found for qdrant-clientt\\x1b[0m",
            "2026-01-01T00:00:03Z forged\\rline \\u{202e}txt.exe",
            "2026-01-01T00:00:04Z Build failed with exit code: 1",
        ],
        "{run}"
    );
    // The token went as a header, to the Hub's log endpoint of this Space.
    let log = s.hub.log();
    assert!(
        log.iter()
            .any(|l| l == "hub GET /api/spaces/alice/bot/logs/build"),
        "{log:#?}"
    );

    let tail = s.xtask("logs", &["--build", "--tail", "2"]);
    assert!(tail.success, "{tail}");
    assert_eq!(tail.stdout.lines().count(), 2, "{tail}");
    assert!(
        tail.stdout.starts_with("2026-01-01T00:00:03Z forged"),
        "{tail}"
    );

    // The run log is another stream.
    s.hub.state().run_log = Some(vec![
        "INFO:     Uvicorn running on http://0.0.0.0:7860".into(),
    ]);
    let run_log = s.xtask("logs", &[]);
    assert!(run_log.success, "{run_log}");
    assert_eq!(
        run_log.stdout,
        "2026-01-01T00:00:00Z INFO:     Uvicorn running on http://0.0.0.0:7860\n"
    );
    let both = s.xtask("logs", &["--build", "--run"]);
    assert!(!both.success && both.stderr.contains("pick one"), "{both}");
}

#[test]
fn a_log_stream_cut_mid_way_is_said_and_follow_reconnects_without_repeating_lines() {
    let s = Setup::with_space();
    let lines = failing_build_log(&s);
    s.hub.state().log_scripts = [LogScript {
        cut_after: Some(2),
        hold: false,
    }]
    .into();
    let run = s.xtask("logs", &["--build"]);
    assert!(!run.success, "{run}");
    assert_eq!(
        run.stdout.lines().count(),
        2,
        "what arrived is printed\n{run}"
    );
    assert!(
        run.stderr.contains("cut before it ended") && run.stderr.contains("--follow"),
        "{run}"
    );

    // --follow: cut after two events, reopened, the stream then stays open; Ctrl-C stops it.
    s.hub.state().log_scripts = [
        LogScript {
            cut_after: Some(2),
            hold: false,
        },
        LogScript {
            cut_after: None,
            hold: true,
        },
    ]
    .into();
    let mut args = vec![
        "logs", "--user", USER, "--space", SPACE, "--build", "--follow",
    ];
    args.extend(["--tail", "100"]);
    let mut child = s
        .sandbox
        .command(&args, &s.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let printed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = child.stdout.take().unwrap();
    let collector = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                printed.lock().unwrap().push(line);
            }
        })
    };
    process::poll(Duration::from_millis(50), Duration::from_secs(60), || {
        (printed.lock().unwrap().len() >= lines.len()).then_some(())
    });
    // Still following: nothing more comes, and the process waits.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "--follow returned");
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    collector.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let printed = printed.lock().unwrap().clone();
    assert_eq!(
        printed.len(),
        lines.len(),
        "each line once: {printed:#?}\n{stderr}"
    );
    assert!(
        printed[4].ends_with("Build failed with exit code: 1"),
        "{printed:#?}"
    );
    assert!(stderr.contains("reopening"), "{stderr}");
    // Reading a log leaves nothing behind, so the line claims no cleanup.
    assert_eq!(
        stderr.lines().last(),
        Some("interrupted (Ctrl-C)"),
        "{stderr}"
    );
    assert_eq!(s.hub.count("GET /api/spaces/alice/bot/logs/build"), 3);
}

#[test]
fn rollback_pushes_an_earlier_tree_as_a_new_commit_without_rewriting_history() {
    let s = Setup::with_space();
    let initial = s.head();
    assert!(s.xtask("deploy", &["--no-verify"]).success);
    let first = s.head();
    let first_source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    s.edit_backend("second deploy");
    assert!(s.xtask("deploy", &["--no-verify"]).success);
    let second = s.head();
    assert_ne!(s.tree(&first), s.tree(&second));

    // Default: the commit before the current one; verified like a deploy.
    let run = s.xtask("deploy", &["--rollback"]);
    assert!(run.success, "{run}");
    let third = s.head();
    assert_eq!(
        git_out(&s.hub.bare(SPACE), &["rev-parse", "HEAD~1"]),
        second
    );
    assert_eq!(
        s.tree(&third),
        s.tree(&first),
        "the tree of the previous deploy"
    );
    let body = git_out(&s.hub.bare(SPACE), &["log", "-1", "--format=%B"]);
    assert!(
        body.starts_with(&format!("Roll back to {}", &first[..12])),
        "{body}"
    );
    assert!(body.contains(&format!("Rolled back to: {first}")), "{body}");
    assert!(
        body.contains(&format!("Source commit: {first_source}")),
        "{body}"
    );
    assert!(run.stdout.contains("Rolled back alice/bot"), "{run}");
    assert!(run.stdout.contains("(healthy)"), "verified\n{run}");
    assert!(
        run.stderr.contains("verify: /api/health says healthy"),
        "{run}"
    );

    // A named commit (abbreviated), as `status --history` lists them.
    let run = s.xtask(
        "deploy",
        &["--rollback", &initial[..12], "--no-verify", "--json"],
    );
    assert!(run.success, "{run}");
    let report = Setup::json(&run);
    assert_eq!(report["rolled_back_to"], initial.as_str());
    assert_eq!(report["commit"], s.head().as_str());
    assert_eq!(s.tree("HEAD"), s.tree(&initial));
    for earlier in [&initial, &first, &second, &third] {
        assert!(
            std::process::Command::new("git")
                .current_dir(s.hub.bare(SPACE))
                .args(["merge-base", "--is-ancestor", earlier, "HEAD"])
                .status()
                .unwrap()
                .success(),
            "{earlier} is no longer in the history"
        );
    }

    // Rolling back to the tree it already has pushes nothing.
    let pushes = s.hub.count("git-receive-pack");
    let head = s.head();
    let run = s.xtask("deploy", &["--rollback", &initial, "--no-verify"]);
    assert!(
        run.success && run.stdout.contains("already up to date"),
        "{run}"
    );
    assert_eq!(
        (s.head(), s.hub.count("git-receive-pack")),
        (head.clone(), pushes)
    );

    // A commit the Space does not have, and a REV without --rollback.
    let run = s.xtask("deploy", &["--rollback", "0123456789ab", "--no-verify"]);
    assert!(
        !run.success && run.stderr.contains("status --history"),
        "{run}"
    );
    let run = s.xtask("deploy", &[&initial[..12]]);
    assert!(!run.success && run.stderr.contains("--rollback"), "{run}");
    assert_eq!(s.head(), head);
}

#[test]
fn a_private_space_gets_the_token_on_its_own_host_only_and_its_404_is_explained() {
    let s = Setup::with_space();
    s.hub.state().private = true;
    let run = s.xtask("deploy", &[]);
    assert!(run.success, "{run}");
    assert!(
        run.stderr
            .contains("warning: the Space alice/bot is private"),
        "{run}"
    );
    assert!(s.space_requests_with_auth() > 0, "{run}");
    assert_eq!(
        s.space_requests_with_auth(),
        s.hub.count("space "),
        "every request to the Space's own host carried the token"
    );

    // The same Space behind a URL that is not the host the Hub reports: no token goes there,
    // and its 404 is explained at once instead of after the whole --timeout.
    s.hub.state().space_host = Some("https://alice-bot.hf.space".into());
    let with_auth = s.space_requests_with_auth();
    let health_before = s.hub.count("space GET /api/health");
    let space_url = s.hub.space_url.clone();
    s.edit_backend("private again");
    let run = s.xtask("deploy", &["--space-url", &space_url, "--timeout", "600"]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr
            .contains("the Space is private, and private Spaces answer 404")
            && !run.stderr.contains("--timeout"),
        "{run}"
    );
    assert_eq!(
        s.space_requests_with_auth(),
        with_auth,
        "the token went to another host"
    );
    assert!(s.hub.count("space GET /api/health") - health_before <= 3);

    // A public Space never gets it.
    let s = Setup::with_space();
    assert!(s.xtask("deploy", &[]).success);
    assert!(s.hub.count("space GET /api/health") > 0);
    assert_eq!(s.space_requests_with_auth(), 0);
}

/// The token file and `stored_tokens` as `hf auth login` writes them for an OAuth login.
fn oauth_login(s: &Setup, token: &str, expires_at: u64, refresh: bool) {
    let dir = s.sandbox.home.join(".cache/huggingface");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), token).unwrap();
    let refresh = if refresh {
        "refresh_token = hf_oauth_refresh\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("stored_tokens"),
        format!("[hf_oauth]\nhf_token = {token}\n{refresh}expires_at = {expires_at}\n\n"),
    )
    .unwrap();
}

#[test]
fn an_expired_oauth_login_says_to_log_in_again_before_any_request() {
    let s = Setup::with_space();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    oauth_login(&s, "hf_oauth_expired", now - 7200, true);
    let env = [("HF_ENDPOINT", s.hub.url.as_str())];
    let run = s.xtask_with("deploy", &["--no-verify"], &env);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("expired 2 hours ago")
            && run.stderr.contains("hf auth login")
            && run.stderr.contains("hf auth whoami"),
        "{run}"
    );
    assert!(s.hub.log().is_empty(), "{:#?}", s.hub.log());
    let status = s.xtask_with("status", &[], &env);
    assert!(
        !status.success && status.stderr.contains("hf auth login"),
        "{status}"
    );

    // Not expired by its date, yet refused by the Hub (revoked): the same advice, not
    // "create a write token".
    oauth_login(&s, "hf_oauth_revoked", now + 3600, false);
    let run = s.xtask_with("deploy", &["--no-verify"], &env);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("run `hf auth login` again")
            && !run.stderr.contains("hf_oauth_revoked"),
        "{run}"
    );

    // The legacy variable is read when HF_TOKEN is unset.
    let run = s.xtask_with(
        "deploy",
        &["--no-verify"],
        &[
            ("HF_ENDPOINT", s.hub.url.as_str()),
            ("HUGGING_FACE_HUB_TOKEN", TOKEN),
        ],
    );
    assert!(run.success, "{run}");
    assert!(
        run.stderr.contains("token from HUGGING_FACE_HUB_TOKEN"),
        "{run}"
    );
}

#[test]
fn a_conflicting_create_is_retried_and_an_existing_space_is_not() {
    let s = Setup::new();
    s.hub.state().create_conflicts = 2;
    let run = s.xtask("deploy", &["--create", "--no-verify"]);
    assert!(run.success, "{run}");
    assert_eq!(s.hub.count("POST /api/repos/create"), 3, "{run}");
    assert!(s.hub.bare(SPACE).exists());

    // Exists: one create, answered 409 "already created", and the deploy goes on.
    let run = s.xtask("deploy", &["--create", "--no-verify"]);
    assert!(run.success, "{run}");
}

#[test]
fn a_429_honours_the_ratelimit_header_and_a_long_wait_is_said_not_waited() {
    let s = Setup::with_space();
    {
        let mut state = s.hub.state();
        state.throttle = 1;
        state.throttle_header = Some(("RateLimit".into(), r#""api";r=0;t=1"#.into()));
    }
    let run = s.xtask("deploy", &["--no-verify"]);
    assert!(run.success, "{run}");
    assert_eq!(s.hub.count("GET /api/whoami-v2"), 2, "{run}");

    {
        let mut state = s.hub.state();
        state.throttle = 1;
        state.throttle_header = Some(("RateLimit".into(), r#""api";r=0;t=3600"#.into()));
    }
    let whoami = s.hub.count("GET /api/whoami-v2");
    let run = s.xtask("deploy", &["--no-verify"]);
    assert!(!run.success, "{run}");
    assert!(run.stderr.contains("asks to wait 3601s"), "{run}");
    assert_eq!(s.hub.count("GET /api/whoami-v2"), whoami + 1, "not retried");
}

#[test]
fn a_url_derived_without_the_hubs_host_is_called_a_guess() {
    let s = Setup::with_space();
    s.hub.state().space_host = Some(String::new());
    let run = s.xtask("deploy", &["--no-verify"]);
    assert!(run.success, "{run}");
    assert!(
        run.stderr
            .contains("using https://alice-bot.hf.space, derived by the subdomain rule: a guess"),
        "{run}"
    );
    assert!(
        run.stdout.contains("Warning: the Hub reported no host"),
        "{run}"
    );
}
