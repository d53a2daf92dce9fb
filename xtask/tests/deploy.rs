//! `cargo xtask deploy` end to end: the real binary, in a temporary copy of this monorepo,
//! against the local test Hub (real git over HTTP, the Hub API subset, a fake Space host).

mod hub;
#[path = "support/process.rs"]
mod process;
#[path = "support/repo.rs"]
mod repo;

/// The generator's settings table in Cargo.toml, after which a test sets a value.
const GENERATOR_TABLE: &str = "[workspace.metadata.hf-space.generator]\n";

use hub::sandbox::Sandbox;
use hub::{FRONTEND, SPACE, Setup, TOKEN, USER, git_out};
use repo::Run;

const CLIENT: &str = "frontend/src/services/chatClient.ts";

impl Setup {
    /// `deploy --user alice --space bot --frontend-url ... ARGS` against the test Hub.
    fn deploy(&self, args: &[&str]) -> Run {
        self.deploy_with(args, &[("HF_TOKEN", TOKEN)])
    }

    fn deploy_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut full = vec![
            "deploy",
            "--user",
            USER,
            "--space",
            SPACE,
            "--frontend-url",
            FRONTEND,
        ];
        if !args.contains(&"--timeout") {
            full.extend(["--timeout", "20"]);
        }
        full.extend_from_slice(args);
        let mut vars = vec![("HF_ENDPOINT", self.hub.url.as_str())];
        vars.extend_from_slice(env);
        self.sandbox.run(&full, &vars)
    }

    fn remote_files(&self) -> Vec<String> {
        let bare = self.hub.bare(SPACE);
        let mut files: Vec<String> = git_out(&bare, &["ls-tree", "-r", "--name-only", "HEAD"])
            .lines()
            .map(str::to_owned)
            .collect();
        files.sort();
        files
    }

    fn remote_head(&self) -> String {
        git_out(&self.hub.bare(SPACE), &["rev-parse", "HEAD"])
    }

    fn space_files(&self) -> Vec<String> {
        let mut files: Vec<String> = git_out(
            &self.sandbox.repo,
            &[
                "ls-files",
                "--cached",
                "--others",
                "--exclude-standard",
                "huggingface-spaces",
            ],
        )
        .lines()
        .map(|f| f.strip_prefix("huggingface-spaces/").unwrap().to_owned())
        .collect();
        files.sort();
        files
    }

    /// Nothing was pushed: no receive-pack request reached the Hub.
    fn assert_nothing_pushed(&self, run: &Run) {
        assert_eq!(
            self.hub.count("git-receive-pack"),
            0,
            "something was pushed:\n{run}\n{:#?}",
            self.hub.log()
        );
    }

    fn assert_clean(&self, run: &Run) {
        assert!(
            self.sandbox.leftovers().is_empty(),
            "temporary files left: {:?}\n{run}",
            self.sandbox.leftovers()
        );
        assert!(
            !self.sandbox.repo.join("target/xtask/deploy.lock").exists(),
            "the lock was left behind\n{run}"
        );
    }
}

#[test]
fn first_deploy_pushes_exactly_the_generated_files_and_the_second_is_a_no_op() {
    let s = Setup::with_space();
    let run = s.deploy(&["--space-url", &s.hub.space_url.clone()]);
    assert!(run.success, "{run}");

    let mut expected = s.space_files();
    expected.push(".gitattributes".to_owned());
    expected.sort();
    assert_eq!(s.remote_files(), expected, "{run}");
    let bare = s.hub.bare(SPACE);
    assert_eq!(
        git_out(&bare, &["log", "-1", "--format=%s"]),
        "Deploy RAG chatbot backend"
    );
    let source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    let body = git_out(&bare, &["log", "-1", "--format=%b"]);
    assert!(body.contains(&format!("Source commit: {source}")), "{body}");
    assert!(git_out(&bare, &["show", "HEAD:.gitattributes"]).contains("filter=lfs"));
    assert_eq!(
        git_out(&bare, &["show", "HEAD:Dockerfile"]),
        s.sandbox.read("huggingface-spaces/Dockerfile").trim_end()
    );

    // The report (the seed's "Output") and the patched frontend.
    let space_url = &s.hub.space_url;
    for expected in [
        format!("HF Spaces URL: {space_url}"),
        format!("{space_url}/docs"),
        format!("{space_url}/api/health (healthy)"),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "missing {expected:?}\n{run}"
        );
    }
    assert!(
        s.sandbox.read(CLIENT).contains(&format!("'{space_url}'")),
        "{run}"
    );
    assert!(
        run.stderr.contains("s] git: pushed"),
        "progress lines carry the elapsed time\n{run}"
    );
    s.assert_clean(&run);

    let head = s.remote_head();
    let pushes = s.hub.count("POST /spaces/alice/bot/git-receive-pack");
    let again = s.deploy(&["--space-url", &s.hub.space_url.clone()]);
    assert!(again.success, "{again}");
    assert!(again.stdout.contains("already up to date"), "{again}");
    assert!(again.stdout.contains("already points at"), "{again}");
    assert_eq!(s.remote_head(), head);
    assert_eq!(
        s.hub.count("POST /spaces/alice/bot/git-receive-pack"),
        pushes,
        "the no-op deploy pushed"
    );
    s.assert_clean(&again);
}

#[test]
fn a_removed_backend_module_disappears_from_the_space() {
    let s = Setup::with_space();
    let main = s.sandbox.read("backend/app/main.py");
    s.sandbox
        .write("backend/app/services/extra.py", "ANSWER = 42\n");
    s.sandbox.write(
        "backend/app/main.py",
        &format!("{main}\nfrom app.services import extra  # noqa: E402,F401\n"),
    );
    s.sandbox.commit_all("add a module");
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    assert!(
        s.remote_files()
            .contains(&"app/services/extra.py".to_owned()),
        "{run}"
    );

    std::fs::remove_file(s.sandbox.repo.join("backend/app/services/extra.py")).unwrap();
    s.sandbox.write("backend/app/main.py", &main);
    s.sandbox.commit_all("remove it");
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    let files = s.remote_files();
    assert!(
        !files.contains(&"app/services/extra.py".to_owned()),
        "{files:?}\n{run}"
    );
    assert!(files.contains(&".gitattributes".to_owned()));
    assert!(
        run.stdout
            .contains("huggingface-spaces/app/services/extra.py")
            || run.stderr.contains("extra.py"),
        "the regenerated files are named\n{run}"
    );
}

#[test]
fn a_wrong_token_fails_first_and_leaks_nowhere() {
    let s = Setup::with_space();
    let client_before = s.sandbox.read(CLIENT);
    let wrong = concat!("hf_", "WrongTokenAbcdefghijklmnopqrstuvwx");
    let run = s.deploy_with(&[], &[("HF_TOKEN", wrong)]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("the token from HF_TOKEN is invalid")
            && run.stderr.contains("/settings/tokens"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);
    assert_eq!(
        s.hub.count("/spaces/alice/bot/info/refs"),
        0,
        "it cloned with a bad token"
    );
    assert_eq!(
        s.sandbox.read(CLIENT),
        client_before,
        "the frontend was touched"
    );
    s.assert_clean(&run);
    assert_no_token(&s, wrong, &run);
}

#[test]
fn the_token_reaches_no_output_url_file_or_credential_store() {
    let s = Setup::with_space();
    // A user whose git stores every credential it is given.
    std::fs::write(
        s.sandbox.home.join(".gitconfig"),
        "[credential]\n\thelper = store\n",
    )
    .unwrap();
    std::fs::write(
        s.sandbox.dir.join("secrets.env"),
        "LOG_LEVEL=INFO\nALLOWED_ORIGINS=https://my-app.vercel.app\n",
    )
    .unwrap();
    let secrets = s.sandbox.dir.join("secrets.env");
    let run = s.deploy(&["--secrets-file", secrets.to_str().unwrap(), "--json"]);
    assert!(run.success, "{run}");
    assert!(
        !s.sandbox.home.join(".git-credentials").exists(),
        "git stored the token"
    );
    assert_no_token(&s, TOKEN, &run);
    // The token did reach the Hub, but only in Authorization headers.
    let authorized = s
        .hub
        .state()
        .seen
        .iter()
        .filter(|r| {
            r.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .count();
    assert!(authorized > 0);
}

/// A program git runs on its own inside the monorepo (an fsmonitor; filters and hooks are
/// alike) inherits git's environment: what it saw, in every git that `deploy` ran there with
/// the token in `variable`. The backend is changed first, so `generate` rewrites the Space
/// and asks git whether its files were edited by hand.
fn environment_of_monorepo_git_programs(variable: &str) -> String {
    let s = Setup::with_space();
    let dump = s.sandbox.dir.join("monorepo-git-env");
    let program = s.sandbox.dir.join("fsmonitor");
    std::fs::write(
        &program,
        format!("#!/bin/sh\nenv >> '{}'\nexit 1\n", dump.display()),
    )
    .unwrap();
    make_executable(&program);
    git_out(
        &s.sandbox.repo,
        &["config", "core.fsmonitor", program.to_str().unwrap()],
    );
    let main = "backend/app/main.py";
    let changed = format!(
        "{}\n# A change, so the Space is generated anew.\n",
        s.sandbox.copy.read(main)
    );
    s.sandbox.copy.write(main, &changed);
    let run = s.deploy_with(&["--no-verify"], &[(variable, TOKEN)]);
    assert!(run.success, "{run}");
    assert!(
        !run.stderr
            .contains("generate: huggingface-spaces is up to date"),
        "the Space was not generated anew, so this test proves less than it says\n{run}"
    );
    let seen = std::fs::read_to_string(&dump).unwrap_or_default();
    assert!(
        seen.contains("GIT_DIR") || seen.contains("PATH="),
        "the fsmonitor never ran, so this test proves nothing\n{run}"
    );
    seen
}

#[test]
fn the_monorepos_own_git_programs_never_see_the_credentials() {
    for variable in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        let seen = environment_of_monorepo_git_programs(variable);
        assert!(
            !seen.to_ascii_lowercase().contains("authorization"),
            "the Space's credentials reached a monorepo git program:\n{seen}"
        );
        assert!(
            !seen.contains(TOKEN) && !seen.contains(variable),
            "{variable} reached a git program:\n{seen}"
        );
    }
}

/// The token is in no output, no file under the sandbox (repo, HOME, TMPDIR, Hub repos) and
/// no request URL or body the servers saw.
fn assert_no_token(s: &Setup, token: &str, run: &Run) {
    assert!(!run.printed(token), "the token is in the output\n{run}");
    for file in s.sandbox.all_files() {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in {}",
            file.display()
        );
    }
    for seen in &s.hub.state().seen {
        assert!(
            !seen.url.contains(token),
            "the token is in a request URL: {}",
            seen.url
        );
        assert!(
            !seen
                .body
                .windows(token.len())
                .any(|w| w == token.as_bytes()),
            "the token is in a request body to {}",
            seen.url
        );
    }
}

#[test]
fn a_read_only_token_is_refused_before_pushing() {
    let s = Setup::with_space();
    s.hub.state().role = "read".into();
    let run = s.deploy(&[]);
    assert!(!run.success && run.stderr.contains("read-only"), "{run}");
    s.assert_nothing_pushed(&run);
}

#[test]
fn create_makes_a_docker_space_and_explains_402() {
    let s = Setup::new();
    let run = s.deploy(&["--no-verify"]);
    assert!(
        !run.success && run.stderr.contains("does not exist") && run.stderr.contains("--create"),
        "{run}"
    );

    s.hub.state().create_status = Some(402);
    let run = s.deploy(&["--create", "--no-verify"]);
    assert!(
        !run.success && run.stderr.contains("402") && run.stderr.contains("paid"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);

    s.hub.state().create_status = None;
    let run = s.deploy(&["--create", "--no-verify"]);
    assert!(run.success, "{run}");
    assert!(s.remote_files().contains(&"Dockerfile".to_owned()));
    let create = s
        .hub
        .state()
        .seen
        .iter()
        .find(|r| r.url == "/api/repos/create" && r.body.starts_with(b"{"))
        .map(|r| r.body.clone())
        .unwrap();
    let create: serde_json::Value = serde_json::from_slice(&create).unwrap();
    assert_eq!(
        (
            create["type"].as_str(),
            create["sdk"].as_str(),
            create["name"].as_str()
        ),
        (Some("space"), Some("docker"), Some(SPACE))
    );

    // 409 (it exists now) is fine.
    let run = s.deploy(&["--create", "--no-verify"]);
    assert!(run.success, "{run}");
}

#[test]
fn each_invalid_secret_is_refused_before_any_request() {
    let s = Setup::with_space();
    for (line, complaint) in [
        ("GEMINI_API_KEY=abc ", "surrounding whitespace"),
        (
            "DATABASE_URL=postgresql://u:p@ep-1.neon.tech/db",
            "sslmode=require",
        ),
        ("QDRANT_URL=http://x.cloud.qdrant.io", "https://"),
        ("QDRANT_URL=https://x.cloud.qdrant.io/", "trailing"),
        (
            "ALLOWED_ORIGINS=https://elsewhere.app",
            "must contain the frontend URL",
        ),
    ] {
        let path = s.sandbox.dir.join("secrets.env");
        std::fs::write(&path, format!("LOG_LEVEL=INFO\n{line}\n")).unwrap();
        let run = s.deploy(&["--secrets-file", path.to_str().unwrap()]);
        assert!(!run.success, "{line}: {run}");
        assert!(
            run.stderr.contains(&format!(
                "secrets.env:2: {}",
                line.split('=').next().unwrap()
            )) && run.stderr.contains(complaint),
            "{line}: {run}"
        );
        assert!(
            s.hub.log().is_empty(),
            "{line}: requests were sent: {:?}",
            s.hub.log()
        );
    }

    let path = s.sandbox.dir.join("secrets.env");
    std::fs::write(&path, "QDRANT_URL=https://x.cloud.qdrant.io\nDATABASE_URL=postgresql://u:p@ep-1.neon.tech/db?sslmode=require\nALLOWED_ORIGINS=https://my-app.vercel.app\n").unwrap();
    let run = s.deploy(&["--secrets-file", path.to_str().unwrap(), "--no-verify"]);
    assert!(run.success, "{run}");
    let set = s.hub.state().secrets.clone();
    assert_eq!(
        set.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["QDRANT_URL", "DATABASE_URL", "ALLOWED_ORIGINS"]
    );
    assert!(
        !run.stdout.contains("sslmode=require") && !run.stderr.contains("ep-1.neon.tech/db"),
        "a secret value was printed\n{run}"
    );
}

#[test]
fn a_refused_secret_is_reported_without_its_value() {
    let s = Setup::with_space();
    s.hub.state().refuse_secrets = true;
    let value = "postgresql://u:s3cr3t-pw@ep-1.neon.tech/db?sslmode=require";
    let path = s.sandbox.dir.join("secrets.env");
    std::fs::write(&path, format!("DATABASE_URL={value}\n")).unwrap();
    let run = s.deploy(&["--secrets-file", path.to_str().unwrap(), "--no-verify"]);
    assert!(
        !run.success
            && run.stderr.contains("cannot set the secret DATABASE_URL")
            && run.stderr.contains("422"),
        "{run}"
    );
    assert!(
        !run.printed("s3cr3t"),
        "the secret's value is in the output\n{run}"
    );
    // The Hub's JSON error body escapes `"` and `\`: the value is still found.
    std::fs::write(&path, "GEMINI_API_KEY=AIza\"s3cr3t\\key\n").unwrap();
    let run = s.deploy(&["--secrets-file", path.to_str().unwrap(), "--no-verify"]);
    assert!(!run.success && run.stderr.contains("<the value>"), "{run}");
    assert!(
        !run.printed("s3cr3t"),
        "the JSON-escaped value is in the output\n{run}"
    );
}

#[test]
fn a_redirected_secret_is_not_reported_as_set() {
    let s = Setup::new();
    s.hub.add_space(SPACE);
    // The secrets endpoint redirects to another host that answers 200 to anything it is asked.
    let elsewhere = format!("{}/api/health", s.hub.space_url);
    s.hub.state().git_redirect = Some(("/api/spaces/alice/bot/secrets".into(), elsewhere));
    let path = s.sandbox.dir.join("secrets.env");
    std::fs::write(&path, "LOG_LEVEL=INFO\n").unwrap();
    let run = s.deploy(&["--secrets-file", path.to_str().unwrap(), "--no-verify"]);
    assert!(s.hub.state().secrets.is_empty());
    assert!(
        !run.success && run.stderr.contains("cannot set the secret LOG_LEVEL"),
        "a secret the Hub never stored was reported as set\n{run}"
    );
    assert!(
        !run.stderr.contains("secrets: set"),
        "a secret the Hub never stored was reported as set\n{run}"
    );
}

#[test]
fn without_a_secrets_file_the_table_is_printed() {
    let s = Setup::with_space();
    // The descriptions are the backend's own, as the Space README's are.
    let config = s.sandbox.read("backend/app/core/config.py");
    let described = "Qdrant collection holding the knowledge chunks";
    assert!(config.contains(described));
    s.sandbox.write(
        "backend/app/core/config.py",
        &config.replace(described, "Where the chunks live"),
    );
    s.sandbox.commit_all("describe the collection");
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    assert!(
        run.stderr
            .contains("| `QDRANT_COLLECTION` | Where the chunks live |"),
        "{run}"
    );
    for key in [
        "GEMINI_API_KEY",
        "QDRANT_URL",
        "DATABASE_URL",
        "ALLOWED_ORIGINS",
        "LOG_LEVEL",
    ] {
        assert!(run.stderr.contains(&format!("`{key}`")), "{key}\n{run}");
    }
    assert_eq!(s.hub.count("/secrets"), 0);
}

#[test]
fn a_running_stage_from_before_the_build_is_not_trusted() {
    let s = Setup::with_space();
    s.hub.state().after_push = ["RUNNING", "RUNNING", "RUNNING", "BUILDING", "RUNNING"]
        .map(String::from)
        .to_vec();
    let run = s.deploy(&["--space-url", &s.hub.space_url.clone()]);
    assert!(run.success, "{run}");
    let log = s.hub.log();
    let runtime_calls: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, l)| l.ends_with("/runtime"))
        .map(|(i, _)| i)
        .collect();
    let first_health = log.iter().position(|l| l.contains("/api/health")).unwrap();
    assert!(runtime_calls.len() >= 5, "{log:#?}");
    assert!(
        first_health > runtime_calls[4],
        "health was polled before the new build ran:\n{log:#?}"
    );
}

#[test]
fn a_build_error_shows_the_stage_message_and_log_tail() {
    let s = Setup::with_space();
    {
        let mut state = s.hub.state();
        state.after_push = vec!["BUILDING".into(), "BUILD_ERROR".into()];
        state.error_message = Some("Build failed with exit code: 1".into());
        state.build_log = (1..=30).map(|i| format!("step {i}")).collect();
        state
            .build_log
            .push("ERROR: No matching distribution found for qdrant-clientt".into());
    }
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    for expected in [
        "BUILD_ERROR",
        "Build failed with exit code: 1",
        "No matching distribution found",
        "step 30",
        "next:",
    ] {
        assert!(run.stderr.contains(expected), "missing {expected:?}\n{run}");
    }
    assert!(
        !run.stderr.contains("step 5\n"),
        "only the tail is shown\n{run}"
    );
    s.assert_clean(&run);
}

#[test]
fn a_space_that_never_builds_gets_the_factory_restart_advice_or_restart() {
    let s = Setup::with_space();
    s.hub.state().after_push = vec!["RUNNING".into()];
    let run = s.deploy(&["--timeout", "3"]);
    assert!(
        !run.success && run.stderr.contains("--restart") && run.stderr.contains("no build"),
        "{run}"
    );
    assert_eq!(s.hub.state().restarts, 0);

    s.sandbox.write("backend/app/services/extra.py", "X = 1\n");
    let main = s.sandbox.read("backend/app/main.py");
    s.sandbox.write(
        "backend/app/main.py",
        &format!("{main}\nfrom app.services import extra  # noqa: E402,F401\n"),
    );
    let run = s.deploy(&["--timeout", "10", "--restart"]);
    assert!(run.success, "{run}");
    assert_eq!(s.hub.state().restarts, 1, "{run}");
    // Deployed from an uncommitted backend edit: the Space commit says so.
    let source = git_out(&s.sandbox.repo, &["rev-parse", "HEAD"]);
    let body = git_out(&s.hub.bare(SPACE), &["log", "-1", "--format=%b"]);
    assert!(
        body.contains(&format!("Source commit: {source}-dirty")),
        "{body}"
    );
}

#[test]
fn an_unhealthy_qdrant_maps_to_the_suspended_cluster_advice() {
    let s = Setup::with_space();
    s.hub.state().health = (
        503,
        r#"{"status":"unhealthy","services":{"fastapi":"ok","qdrant":{"status":"error","error":"Unexpected Response: 404 (Not Found)"},"postgres":{"status":"connected"},"gemini":{"status":"ok"}}}"#.into(),
    );
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("cluster is suspended") && run.stderr.contains("cloud.qdrant.io"),
        "{run}"
    );
    assert!(
        !run.stderr.contains("postgres:"),
        "healthy services get no advice\n{run}"
    );
}

#[test]
fn a_missing_cors_origin_says_to_add_it_to_allowed_origins() {
    let s = Setup::with_space();
    s.hub.state().cors_origins = vec!["http://localhost:5173".into()];
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("ALLOWED_ORIGINS")
            && run.stderr.contains(FRONTEND)
            && run.stderr.contains("restart"),
        "{run}"
    );
}

#[test]
fn a_push_rejected_by_a_pre_receive_hook_quotes_the_reason() {
    let s = Setup::new();
    let bare = s.hub.add_space(SPACE);
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'Your push was rejected because it contains files larger than 10 MiB.'\nexit 1\n").unwrap();
    make_executable(&hook);
    let head = s.remote_head();
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains(
            "remote: Your push was rejected because it contains files larger than 10 MiB."
        ),
        "{run}"
    );
    assert!(run.stderr.contains("pre-receive hook declined"), "{run}");
    assert_eq!(s.remote_head(), head);
    s.assert_clean(&run);
}

#[test]
fn a_push_that_lost_a_race_says_to_deploy_again() {
    let s = Setup::with_space();
    s.hub.state().race_push = true;
    let run = s.deploy(&["--no-verify"]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("[rejected] (fetch first)")
            && run
                .stderr
                .contains("someone pushed to the Space while this deploy ran"),
        "{run}"
    );
    assert_eq!(
        git_out(&s.hub.bare(SPACE), &["log", "-1", "--format=%s"]),
        "someone else's change"
    );
    s.assert_clean(&run);
    let again = s.deploy(&["--no-verify"]);
    assert!(again.success, "{again}");
    assert!(
        !s.remote_files().contains(&"ELSEWHERE.md".to_owned()),
        "the mirror removes what the Space folder lacks"
    );
}

#[test]
fn a_file_over_10_mib_is_refused_before_pushing() {
    let s = Setup::with_space();
    let main = s.sandbox.read("backend/app/main.py");
    let table: String = (0..240_000)
        .map(|i| format!("# row {i:08} of a generated table..........\n"))
        .collect();
    assert!(table.len() > 10 * 1024 * 1024);
    s.sandbox.write("backend/app/services/table.py", &table);
    s.sandbox.write(
        "backend/app/main.py",
        &format!("{main}\nfrom app.services import table  # noqa: E402,F401\n"),
    );
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("app/services/table.py") && run.stderr.contains("10 MiB"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);
    s.assert_clean(&run);
}

#[test]
fn ctrl_c_mid_push_cleans_up() {
    let s = Setup::with_space();
    s.hub.state().hang_push = Some(std::time::Duration::from_secs(20));
    let head = s.remote_head();
    let mut args = vec![
        "deploy",
        "--user",
        USER,
        "--space",
        SPACE,
        "--frontend-url",
        FRONTEND,
    ];
    args.push("--no-verify");
    let child = s
        .sandbox
        .command(
            &args,
            &[("HF_ENDPOINT", s.hub.url.as_str()), ("HF_TOKEN", TOKEN)],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pushing = process::poll(
        std::time::Duration::from_millis(20),
        std::time::Duration::from_secs(60),
        || (s.hub.count("POST /spaces/alice/bot/git-receive-pack") > 0).then_some(()),
    );
    assert!(
        pushing.is_some(),
        "the push never started: {:#?}",
        s.hub.log()
    );
    assert!(
        s.sandbox.leftovers().len() == 2,
        "the clone (and the empty hooks directory) are in TMPDIR while pushing: {:?}",
        s.sandbox.leftovers()
    );
    // The clone as git has it mid-push (its .git/config included) holds no token.
    for file in s
        .sandbox
        .all_files()
        .iter()
        .filter(|f| f.starts_with(&s.sandbox.tmp))
    {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {}",
            file.display()
        );
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(
        run.stderr.lines().last(),
        Some("interrupted (Ctrl-C); no temporary clone or process it started was left behind"),
        "{run}"
    );
    assert_eq!(
        run.code,
        Some(130),
        "Ctrl-C exits as shells expect (128 + SIGINT)\n{run}"
    );
    s.assert_clean(&run);
    assert_eq!(s.remote_head(), head);
    assert_eq!(
        s.sandbox.read(CLIENT),
        git_out(&s.sandbox.repo, &["show", &format!("HEAD:{CLIENT}")]) + "\n"
    );
}

#[test]
fn dry_run_pushes_patches_and_sets_nothing() {
    let s = Setup::with_space();
    let client = s.sandbox.read(CLIENT);
    let path = s.sandbox.dir.join("secrets.env");
    std::fs::write(&path, "LOG_LEVEL=INFO\n").unwrap();
    let run = s.deploy(&[
        "--dry-run",
        "--secrets-file",
        path.to_str().unwrap(),
        "--space-url",
        &s.hub.space_url.clone(),
    ]);
    assert!(run.success, "{run}");
    assert!(run.stderr.contains("would push added Dockerfile"), "{run}");
    assert!(run.stderr.contains("would set LOG_LEVEL"), "{run}");
    assert!(run.stdout.contains("would point at"), "{run}");
    s.assert_nothing_pushed(&run);
    assert_eq!(s.hub.count("/secrets"), 0);
    assert_eq!(s.sandbox.read(CLIENT), client);
    s.assert_clean(&run);
}

/// Behind a company proxy `HTTPS_PROXY` is set; the test Hub on 127.0.0.1 is still reached
/// directly (the proxy here is a port where nothing listens: going through it would fail).
#[test]
fn a_proxy_in_the_environment_is_not_used_for_loopback() {
    let s = Setup::with_space();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let space_url = s.hub.space_url.clone();
    let run = s.deploy_with(
        &["--dry-run", "--space-url", &space_url],
        &[("HF_TOKEN", TOKEN), ("HTTPS_PROXY", &proxy)],
    );
    assert!(run.success, "{run}");
    assert!(s.hub.count("/api/whoami-v2") > 0, "{run}");
}

#[test]
fn json_reports_the_urls_the_commit_and_the_patch() {
    let s = Setup::with_space();
    let run = s.deploy(&["--json"]);
    assert!(run.success, "{run}");
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    let url = &s.hub.space_url; // the host the Hub reports, used without --space-url
    assert_eq!(report["space_url"], url.as_str());
    assert_eq!(report["docs_url"], format!("{url}/docs"));
    assert_eq!(report["health_url"], format!("{url}/api/health"));
    assert_eq!(report["commit"], s.remote_head().as_str());
    assert_eq!(report["health"], "healthy");
    assert_eq!(report["frontend"]["file"], CLIENT);
    assert_eq!(report["frontend"]["new_url"], url.as_str());
}

#[test]
fn a_second_deploy_in_the_same_repo_is_refused_while_one_runs() {
    let s = Setup::with_space();
    std::fs::create_dir_all(s.sandbox.repo.join("target/xtask")).unwrap();
    // A live process holds the lock: this test itself.
    std::fs::write(
        s.sandbox.repo.join("target/xtask/deploy.lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let run = s.deploy(&[]);
    assert!(
        !run.success && run.stderr.contains("another `cargo xtask deploy`"),
        "{run}"
    );
    assert!(s.hub.log().is_empty());
    // A lock whose process is gone is taken over.
    std::fs::write(
        s.sandbox.repo.join("target/xtask/deploy.lock"),
        "999999999\n",
    )
    .unwrap();
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
}

#[test]
fn push_frontend_commits_the_new_url_and_pushes_the_branch() {
    let s = Setup::with_space();
    let run = s.deploy(&["--push-frontend", "--space-url", &s.hub.space_url.clone()]);
    assert!(run.success, "{run}");
    let origin = &s.sandbox.origin;
    assert_eq!(
        git_out(origin, &["log", "-1", "--format=%s", "main"]),
        "Update API URL for HF Spaces backend"
    );
    assert_eq!(
        git_out(origin, &["diff", "--name-only", "main~1", "main"]),
        CLIENT
    );
    assert!(git_out(origin, &["show", &format!("main:{CLIENT}")]).contains(&s.hub.space_url));
}

#[test]
fn the_frontend_patch_needs_exactly_one_match_and_no_process_env() {
    let s = Setup::with_space();
    let client = s.sandbox.read(CLIENT);
    let (line, _) = client
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("hf.space"))
        .expect("the production literal");

    // 0 matches.
    s.sandbox.write(
        CLIENT,
        &client.replace("'http://localhost:8000'", "'http://127.0.0.1:8000/api'"),
    );
    let run = s.deploy(&[]);
    assert!(
        !run.success
            && run.stderr.contains(&format!("{CLIENT}:"))
            && run.stderr.contains("baseUrl"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);

    // 2 matches.
    s.sandbox.write(CLIENT, &format!("{client}\nconst other = isProduction ? 'https://a.hf.space' : 'http://localhost:8000';\n"));
    let run = s.deploy(&[]);
    assert!(
        !run.success
            && run.stderr.contains(&format!("{CLIENT}:{}", line + 1))
            && run.stderr.contains("2 times"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);

    // process.env in browser code.
    s.sandbox.write(
        CLIENT,
        &format!("{client}\nexport const key = process.env.API_KEY;\n"),
    );
    let run = s.deploy(&[]);
    assert!(
        !run.success && run.stderr.contains("process.env") || run.stderr.contains("process-env"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(&format!("{CLIENT}:{}", client.lines().count() + 2)),
        "{run}"
    );
    s.assert_nothing_pushed(&run);
    assert!(
        s.sandbox
            .read(CLIENT)
            .contains("https://anusha-soh-rag-chatbot.hf.space"),
        "nothing was patched"
    );

    // Already patched: nothing to write.
    s.sandbox.write(CLIENT, &client);
    assert!(s.deploy(&["--no-verify"]).success);
    let patched = s.sandbox.read(CLIENT);
    let run = s.deploy(&["--no-verify"]);
    assert!(
        run.success && run.stdout.contains("already points at"),
        "{run}"
    );
    assert_eq!(s.sandbox.read(CLIENT), patched);
}

#[test]
fn rate_limited_calls_are_retried() {
    let s = Setup::with_space();
    s.hub.state().throttle = 2;
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    assert_eq!(s.hub.count("GET /api/whoami-v2"), 3);
}

#[test]
fn a_private_space_with_a_public_frontend_is_warned_about() {
    let s = Setup::with_space();
    s.hub.state().private = true;
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success && run.stdout.contains("is private"), "{run}");
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `deploy --local`: the same publish code into a bare repo under target/, the pushed tree
/// run for real (venv, PostgreSQL, uvicorn), healthy, one real chat answer; then `--stop`.
/// The Space port is moved to a free one (the copy's settings) so the test never collides
/// with a Space running on 7860; the venvs of this repository's own `deploy --local` are
/// linked in, so a warm machine does not reinstall them.
#[test]
fn deploy_local_runs_the_pushed_tree_and_stops() {
    let sandbox = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sandbox.copy.edit(
        "Cargo.toml",
        GENERATOR_TABLE,
        &format!("{GENERATOR_TABLE}port = {port}\n"),
    );
    let warm = Sandbox::source_state().join("local");
    let state = sandbox.repo.join("target/xtask/local");
    std::fs::create_dir_all(&state).unwrap();
    for entry in std::fs::read_dir(&warm).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("venv-") || name == "tools" {
            std::os::unix::fs::symlink(entry.path(), state.join(&name)).unwrap();
        }
    }
    let client = sandbox.read(CLIENT);

    let run = sandbox.run(&["deploy", "--local", "--detach", "--json"], &[]);
    let stop = sandbox.run(&["deploy", "--local", "--stop"], &[]);
    assert!(run.success, "{run}");
    assert!(stop.success && stop.stdout.contains("stopped"), "{stop}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON report");
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(report["space_url"], url.as_str());
    assert_eq!(report["health"], "healthy");
    assert!(
        report["chat_answer"]
            .as_str()
            .is_some_and(|a| a.contains("sources:")),
        "{run}"
    );
    assert_eq!(report["frontend"]["written"], false);
    assert_eq!(
        sandbox.read(CLIENT),
        client,
        "a local deploy rewrote the committed frontend"
    );
    let bare = state.join("space.git");
    assert_eq!(
        git_out(&bare, &["log", "-1", "--format=%s", "main"]),
        "Deploy RAG chatbot backend"
    );
    assert_eq!(
        report["commit"],
        git_out(&bare, &["rev-parse", "main"]).as_str()
    );
    assert!(state.join("tree/app/main.py").is_file() && !state.join("tree/.git").exists());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "--stop left the Space listening"
    );
    assert!(sandbox.leftovers().is_empty(), "{:?}", sandbox.leftovers());
}

/// A second `deploy --local` while the port is taken (a detached Space, or anything else)
/// says how to stop it and leaves the running tree alone.
#[test]
fn deploy_local_leaves_a_running_space_alone() {
    let sandbox = Sandbox::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    sandbox.copy.edit(
        "Cargo.toml",
        GENERATOR_TABLE,
        &format!("{GENERATOR_TABLE}port = {port}\n"),
    );
    let tree = sandbox.repo.join("target/xtask/local/tree");
    std::fs::create_dir_all(tree.join("app")).unwrap();
    std::fs::write(tree.join("app/main.py"), "# the running Space\n").unwrap();
    let run = sandbox.run(&["deploy", "--local"], &[]);
    assert!(
        !run.success && run.stderr.contains(&format!("port {port} is in use")),
        "{run}"
    );
    assert!(
        !sandbox.repo.join("target/xtask/local/space.git").exists(),
        "it published before checking\n{run}"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("app/main.py")).unwrap(),
        "# the running Space\n"
    );
    assert!(sandbox.leftovers().is_empty());
    drop(listener);
}

/// On a terminal: missing settings are asked for, and a spinner shows while waiting.
/// (`script` gives the binary a pseudo-terminal.)
#[test]
fn on_a_terminal_it_prompts_for_missing_settings_and_spins() {
    use std::io::Write;
    let s = Setup::with_space();
    for key in [
        "user = \"anusha-soh\"\n",
        "space = \"rag-chatbot\"\n",
        "frontend-url = \"https://my-app.vercel.app\"\n",
    ] {
        s.sandbox.copy.edit("Cargo.toml", key, "");
    }
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{xtask} deploy --timeout 20"), "/dev/null"])
        .current_dir(&s.sandbox.repo)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", &s.sandbox.home)
        .env("TMPDIR", &s.sandbox.tmp)
        .env("TERM", "dumb")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HF_ENDPOINT", &s.hub.url)
        .env("HF_TOKEN", TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{USER}\n{SPACE}\n{FRONTEND}\n").as_bytes())
        .unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    drop(stdin);
    assert!(run.success, "{run}");
    for expected in [
        "Hugging Face user or organisation (e.g. YOUR_NAME): ",
        "Space name (e.g. rag-chatbot): ",
        "Frontend URL (e.g. https://my-app.vercel.app): ",
        "Deployed alice/bot",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?}\n{run}");
    }
    assert!(
        run.stdout.contains("\r\x1b[K| ["),
        "no spinner line while waiting\n{run}"
    );
    assert!(s.remote_files().contains(&"Dockerfile".to_owned()));
}

/// `git lfs install` for the sandbox's user, as anyone with Git LFS has it; fails the test
/// (rather than passing vacuously) when git-lfs is missing (`cargo xtask ci` installs it).
fn install_git_lfs(s: &Setup) {
    let status = std::process::Command::new("git")
        .args(["lfs", "install", "--skip-repo"])
        .env("HOME", &s.sandbox.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        status.status.success(),
        "git-lfs is required by this test: install it (apt-get install git-lfs)\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Hooks, an fsmonitor, a commit-signing program and a filter (for `*.md` and `*.py`, through
/// the user's own attributes file) in the user's global git config that append their
/// environment to a file; returns that file. `git` itself is checked to run them, so the test
/// can fail.
fn hooks_that_dump_their_environment(s: &Setup) -> std::path::PathBuf {
    let dump = s.sandbox.dir.join("hook-env");
    let hooks = s.sandbox.dir.join("global-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"== $0\" >> '{0}'\nenv >> '{0}'\nexit 0\n",
        dump.display()
    );
    for hook in [
        "post-checkout",
        "reference-transaction",
        "pre-commit",
        "prepare-commit-msg",
        "commit-msg",
        "post-commit",
        "pre-push",
        "post-index-change",
        "pre-auto-gc",
    ] {
        std::fs::write(hooks.join(hook), &script).unwrap();
        make_executable(&hooks.join(hook));
    }
    let fsmonitor = s.sandbox.dir.join("fsmonitor-global");
    std::fs::write(&fsmonitor, format!("{script}exit 1\n")).unwrap();
    make_executable(&fsmonitor);
    // gpg's protocol as git speaks it: the signature on stdout, the status on stderr.
    let gpg = s.sandbox.dir.join("gpg-global");
    std::fs::write(
        &gpg,
        format!(
            "{}cat >/dev/null\nprintf '\\n[GNUPG:] SIG_CREATED D 1 8 00 1 X\\n' >&2\n\
             printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nx\\n-----END PGP SIGNATURE-----\\n'\n",
            script.trim_end_matches("exit 0\n")
        ),
    )
    .unwrap();
    make_executable(&gpg);
    let filter = s.sandbox.dir.join("filter-global");
    std::fs::write(
        &filter,
        format!("{}exec cat\n", script.trim_end_matches("exit 0\n")),
    )
    .unwrap();
    make_executable(&filter);
    let attributes = s.sandbox.dir.join("global-attributes");
    std::fs::write(&attributes, "*.md filter=dumpenv\n*.py filter=dumpenv\n").unwrap();
    let config = s.sandbox.home.join(".gitconfig");
    let before = std::fs::read_to_string(&config).unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "{before}[core]\n\thooksPath = {}\n\tfsmonitor = {}\n\tattributesFile = {}\n\
             [commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {}\n\
             [filter \"dumpenv\"]\n\tclean = {4}\n\tsmudge = {4}\n",
            hooks.display(),
            fsmonitor.display(),
            attributes.display(),
            gpg.display(),
            filter.display(),
        ),
    )
    .unwrap();
    // The setup works: a plain commit under this HOME runs the hooks.
    let scratch = s.sandbox.dir.join("scratch");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(&scratch)
            .args(args)
            .env("HOME", &s.sandbox.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    std::fs::create_dir_all(&scratch).unwrap();
    git(&["init", "--quiet"]);
    std::fs::write(scratch.join("a.md"), "# a\n").unwrap();
    git(&["add", "a.md"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "--quiet",
        "-m",
        "x",
    ]);
    let ran = std::fs::read_to_string(&dump).unwrap_or_default();
    for program in ["post-commit", "gpg-global", "filter-global"] {
        assert!(
            ran.contains(&format!("/{program}\n")),
            "{program} does not run, so this test would prove nothing:\n{ran}"
        );
    }
    std::fs::remove_file(&dump).unwrap();
    dump
}

/// What must never carry the token: the basic credential git would send, in base64.
fn basic_credential(user: &str) -> String {
    use std::fmt::Write;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{TOKEN}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = write!(
                out,
                "{}",
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            );
        }
    }
    out
}

#[test]
fn a_git_redirect_to_another_host_gets_no_token_and_stops_the_deploy() {
    let s = Setup::with_space();
    let elsewhere = s.hub.elsewhere_url.clone();
    s.hub.state().git_redirect = Some(("/spaces/".into(), format!("{elsewhere}/spaces/")));
    let run = s.deploy(&["--no-verify"]);
    assert!(
        s.hub.token_seen_by("elsewhere").is_empty(),
        "the token reached another host: {:#?}\n{run}",
        s.hub.token_seen_by("elsewhere")
    );
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("redirected git") && run.stderr.contains(&elsewhere),
        "{run}"
    );
    s.assert_nothing_pushed(&run);
    s.assert_clean(&run);
}

#[test]
fn a_git_redirect_within_the_hub_is_followed() {
    let s = Setup::with_space();
    let renamed = s.hub.add_space("bot-renamed");
    let hub_url = s.hub.url.clone();
    s.hub.state().git_redirect = Some((
        "/spaces/alice/bot/".into(),
        format!("{hub_url}/spaces/alice/bot-renamed/"),
    ));
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    assert_eq!(
        git_out(&renamed, &["log", "-1", "--format=%s"]),
        "Deploy RAG chatbot backend",
        "{run}"
    );
    assert!(s.hub.token_seen_by("elsewhere").is_empty());
}

#[test]
fn neither_a_space_repos_lfsconfig_nor_the_users_hooks_see_the_token() {
    let s = Setup::new();
    install_git_lfs(&s);
    let dump = hooks_that_dump_their_environment(&s);
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 12\n",
        "4".repeat(64)
    );
    let lfsconfig = format!("[lfs]\n\turl = {}/lfs\n", s.hub.elsewhere_url);
    s.hub.add_space_with(
        SPACE,
        &[
            (".lfsconfig", lfsconfig.as_bytes()),
            ("model.bin", pointer.as_bytes()),
        ],
    );
    let run = s.deploy(&["--no-verify"]);
    let seen = std::fs::read_to_string(&dump).unwrap_or_default();
    for secret in [TOKEN.to_owned(), basic_credential(USER)] {
        assert!(!seen.contains(&secret), "a hook saw the token:\n{seen}");
    }
    assert!(
        !seen.to_ascii_lowercase().contains("authorization"),
        "a hook saw the credential:\n{seen}"
    );
    assert!(
        s.hub.token_seen_by("elsewhere").is_empty(),
        "the token reached the .lfsconfig host: {:#?}\n{run}",
        s.hub.token_seen_by("elsewhere")
    );
    assert!(run.success, "{run}");
    assert!(!s.remote_files().contains(&".lfsconfig".to_owned()));
    assert_no_token(&s, TOKEN, &run);
}

#[test]
fn hf_endpoint_over_plain_http_is_refused_before_any_request() {
    let s = Setup::with_space();
    // 0.0.0.0 reaches this machine's test Hub, but is not a loopback name: refused.
    let port = s.hub.url.rsplit(':').next().unwrap().to_owned();
    for endpoint in [
        format!("http://0.0.0.0:{port}"),
        "http://hub.example.test".into(),
    ] {
        let run = s.deploy_with(&[], &[("HF_TOKEN", TOKEN), ("HF_ENDPOINT", &endpoint)]);
        assert!(!run.success, "{run}");
        assert!(
            run.stderr.contains("HF_ENDPOINT") && run.stderr.contains("https://"),
            "{run}"
        );
        assert!(
            s.hub.log().is_empty(),
            "a request was sent: {:#?}",
            s.hub.log()
        );
    }
}

#[test]
fn hub_text_with_terminal_escapes_is_shown_escaped() {
    let s = Setup::with_space();
    let hostile = "\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 bell\x07 boom\rFAKE";
    {
        let mut state = s.hub.state();
        state.whoami_name = format!("alice{hostile}");
        state.space_host = Some(format!("https://h.hf.space{hostile}"));
        state.after_push = vec!["BUILDING".into(), "BUILD_ERROR".into()];
        state.error_message = Some(format!("Build failed {hostile}"));
        state.build_log = vec![format!("log line {hostile}")];
    }
    let run = s.deploy(&[]);
    assert!(!run.success, "{run}");
    let escaped = |run: &Run| {
        for output in [&run.stdout, &run.stderr] {
            assert!(
                !output.contains(['\x1b', '\x07', '\r']),
                "a terminal control byte reached the output:\n{output:?}"
            );
        }
    };
    escaped(&run);
    for expected in [
        "Build failed \\x1b[2J",
        "log line \\x1b[2J",
        "boom\\rFAKE",
        "as alice\\x1b",
    ] {
        assert!(run.stderr.contains(expected), "missing {expected:?}\n{run}");
    }

    // A Hub error body.
    let s = Setup::new();
    {
        let mut state = s.hub.state();
        state.create_status = Some(500);
        state.create_body = hostile.to_owned();
    }
    let run = s.deploy(&["--create"]);
    assert!(!run.success && run.stderr.contains("HTTP 500"), "{run}");
    escaped(&run);
    assert!(
        run.stderr.contains("\\x1b]8;;https://evil.example"),
        "{run}"
    );
}

#[test]
fn file_names_from_the_space_repo_are_shown_escaped() {
    let s = Setup::new();
    // A collaborator's file that the deploy deletes; its name is terminal commands.
    s.hub
        .add_space_with(SPACE, &[("notes\x1b[2J\x1b]8;;evil\x07.md", b"x")]);
    let run = s.deploy(&["--dry-run"]);
    assert!(run.success, "{run}");
    for output in [&run.stdout, &run.stderr] {
        assert!(
            !output.contains(['\x1b', '\x07']),
            "a terminal control byte reached the output:\n{output:?}"
        );
    }
    assert!(
        run.stderr
            .contains("would push deleted notes\\x1b[2J\\x1b]8;;evil\\x07.md"),
        "{run}"
    );
}

#[test]
fn a_space_host_outside_the_allowed_domains_leaves_the_frontend_alone() {
    let s = Setup::with_space();
    for host in [
        "https://attacker.example",
        "https://x.hf.space\x1b[2J",
        "javascript:alert(1)//.hf.space",
    ] {
        s.hub.state().space_host = Some(host.to_owned());
        let run = s.deploy(&["--no-verify"]);
        assert!(run.success, "{run}");
        let client = s.sandbox.read(CLIENT);
        assert!(
            !client.contains("attacker")
                && !client.contains('\x1b')
                && !client.contains("javascript"),
            "{client}"
        );
        assert!(client.contains("'https://alice-bot.hf.space'"), "{run}");
        assert!(
            run.stdout.contains("as the Space's host") && run.stdout.contains("ignored"),
            "{run}"
        );
        assert!(!run.printed("\x1b"), "{run}");
    }
}

/// A Space whose .gitattributes routes images and the backend's data module to LFS, and a
/// backend with that module; returns the module's text.
fn lfs_routed_data_module(s: &Setup) -> String {
    s.hub.add_space_with(
        SPACE,
        &[(
            ".gitattributes",
            b"*.png filter=lfs diff=lfs merge=lfs -text\napp/services/table.py filter=lfs diff=lfs merge=lfs -text\n",
        )],
    );
    let main = s.sandbox.read("backend/app/main.py");
    let table: String = (0..2000).map(|i| format!("ROW_{i} = {i}\n")).collect();
    s.sandbox.write("backend/app/services/table.py", &table);
    s.sandbox.write(
        "backend/app/main.py",
        &format!("{main}\nfrom app.services import table  # noqa: E402,F401\n"),
    );
    s.sandbox.commit_all("a data module");
    table
}

#[test]
fn lfs_routed_files_are_uploaded_to_storage_and_storage_never_sees_the_token() {
    let s = Setup::new();
    let table = lfs_routed_data_module(&s);

    // git-lfs's filters are not configured for this user: said, with the fix, nothing pushed.
    let run = s.deploy(&["--no-verify"]);
    assert!(!run.success, "{run}");
    assert!(
        run.stderr.contains("app/services/table.py") && run.stderr.contains("git lfs install"),
        "{run}"
    );
    s.assert_nothing_pushed(&run);

    install_git_lfs(&s);
    let run = s.deploy(&["--no-verify"]);
    assert!(run.success, "{run}");
    let objects = s.hub.state().lfs_objects.clone();
    assert_eq!(objects.len(), 1, "{objects:?}\n{run}");
    assert_eq!(objects[0].1, table.as_bytes(), "the object's bytes");
    let pushed = git_out(&s.hub.bare(SPACE), &["show", "HEAD:app/services/table.py"]);
    assert!(
        pushed.starts_with("version https://git-lfs.github.com/spec/v1")
            && pushed.contains(&format!("oid sha256:{}", objects[0].0)),
        "the pushed file is not an LFS pointer:\n{pushed}"
    );
    assert!(
        s.hub.token_seen_by("elsewhere").is_empty(),
        "the storage saw the token: {:#?}",
        s.hub.token_seen_by("elsewhere")
    );
    assert!(
        s.hub
            .count("hub POST /spaces/alice/bot.git/info/lfs/objects/batch")
            >= 1,
        "{:#?}",
        s.hub.log()
    );
    assert_no_token(&s, TOKEN, &run);
}

#[test]
fn git_tracing_and_an_lfs_api_redirect_never_expose_the_token() {
    let s = Setup::new();
    lfs_routed_data_module(&s);
    install_git_lfs(&s);
    // The LFS batch API answers with a redirect to another host.
    let elsewhere = s.hub.elsewhere_url.clone();
    s.hub.state().git_redirect = Some((
        "/spaces/alice/bot.git/info/lfs/".into(),
        format!("{elsewhere}/lfs/"),
    ));
    // The tracing switches of git and git-lfs a user may have set, with their redaction off:
    // to a file, then to stderr (which a failed upload shows).
    let trace = s.sandbox.dir.join("git-trace");
    let trace = trace.to_str().unwrap();
    let basic = basic_credential(USER);
    for tracing in [
        [("GIT_TRACE_CURL", trace), ("GIT_TRACE", trace)],
        [("GIT_CURL_VERBOSE", "1"), ("GIT_TRACE_PACKET", "1")],
    ] {
        let mut env = vec![
            ("HF_TOKEN", TOKEN),
            ("GIT_TRACE_REDACT", "0"),
            ("LFS_DEBUG_HTTP", "1"),
        ];
        env.extend(tracing);
        let run = s.deploy_with(&["--no-verify"], &env);
        assert!(!run.success, "{run}");
        assert!(
            run.stderr.contains("cannot upload the Git LFS objects"),
            "{run}"
        );
        s.assert_nothing_pushed(&run);
        assert!(
            s.hub.token_seen_by("elsewhere").is_empty(),
            "the token followed the LFS redirect: {:#?}\n{run}",
            s.hub.token_seen_by("elsewhere")
        );
        assert!(
            !run.stdout.contains(&basic) && !run.stderr.contains(&basic),
            "the credential is in the output\n{run}"
        );
        for file in s.sandbox.all_files() {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&basic),
                "the credential is in {}",
                file.display()
            );
        }
        assert_no_token(&s, TOKEN, &run);
    }
    assert!(
        std::fs::read_to_string(trace).is_ok_and(|t| t.contains("Authorization: Basic")),
        "git traced no request header, so this test proves nothing"
    );
}
