//! `cargo xtask check` and `check --staged` in temporary copies of the repository: drift is
//! shown as diffs and lists and fixed by `generate`; each lint fails on its own fixture.

#[path = "support/repo.rs"]
mod repo;

use repo::Repo;

/// The last line of a failed check: the fix.
fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

/// `generate` is the fix; a hand edit (a stray file, an edited generated file) needs
/// `generate --force`, since plain generate refuses to lose it (tests/hand_edits.rs).
fn assert_fixed_by_generate(repo: &Repo, generate: &[&str]) {
    let run = repo.xtask_fails(&["check"]);
    assert_eq!(
        last_line(&run.stderr),
        "error: huggingface-spaces/ is stale (1 file(s)): run `cargo xtask generate`",
        "{run}"
    );
    repo.xtask_ok(generate);
    let run = repo.xtask_ok(&["check"]);
    assert_eq!(
        run.stdout,
        "huggingface-spaces/ is up to date and every lint passes (worktree)\n"
    );
}

/// The four drift cases of the issue, on one repository.
fn drift_is_shown_and_fixed_by_generate(repo: &Repo) {
    repo.xtask_ok(&["check"]);

    // A backend edit: the stale copy is named and its diff shown.
    repo.edit(
        "backend/app/api/health.py",
        "\n",
        "\n# A comment the Space does not have yet.\n",
    );
    let run = repo.xtask_fails(&["check"]);
    assert!(run.stderr.contains("--- huggingface-spaces/app/api/health.py (worktree)\n+++ huggingface-spaces/app/api/health.py (generated)\n@@ "), "{run}");
    assert!(
        run.stderr
            .contains("\n+# A comment the Space does not have yet.\n"),
        "{run}"
    );
    assert_fixed_by_generate(repo, &["generate"]);

    // An extra file.
    repo.write("huggingface-spaces/notes.txt", "hand-written\n");
    let run = repo.xtask_fails(&["check"]);
    assert!(
        run.stderr
            .contains("extra file: huggingface-spaces/notes.txt (generate does not write it)\n"),
        "{run}"
    );
    assert_fixed_by_generate(repo, &["generate", "--force"]);
    assert!(!repo.path("huggingface-spaces/notes.txt").exists());

    // A deleted generated file.
    repo.remove("huggingface-spaces/app/db/qdrant.py");
    let run = repo.xtask_fails(&["check"]);
    assert!(
        run.stderr
            .contains("missing file: huggingface-spaces/app/db/qdrant.py\n"),
        "{run}"
    );
    assert_fixed_by_generate(repo, &["generate"]);

    // A hand edit of the generated Dockerfile: a diff, and the lint it breaks.
    repo.edit(
        "huggingface-spaces/Dockerfile",
        "COPY --chown=user . .",
        "COPY . .",
    );
    let run = repo.xtask_fails(&["check"]);
    assert!(
        run.stderr.contains("-COPY . .\n+COPY --chown=user . .\n"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("huggingface-spaces/Dockerfile:19: copy-chown: COPY without `--chown=user`"),
        "{run}"
    );
    assert_fixed_by_generate(repo, &["generate", "--force"]);
}

#[test]
fn drift_in_a_copy_of_this_repository() {
    drift_is_shown_and_fixed_by_generate(&Repo::copy_of_this_repo("drift"));
}

#[test]
fn drift_with_the_fixture_backend() {
    drift_is_shown_and_fixed_by_generate(&Repo::with_fixture_backend("drift-fixture"));
}

#[test]
fn an_import_of_a_missing_module_names_file_and_line() {
    let repo = Repo::copy_of_this_repo("missing-import");
    let text = repo.read("backend/app/api/health.py");
    let line = text
        .lines()
        .position(|l| l.starts_with("from ") || l.starts_with("import "))
        .unwrap()
        + 1;
    let first_import = text.lines().nth(line - 1).unwrap();
    repo.edit(
        "backend/app/api/health.py",
        first_import,
        &format!("from app.services.vanished import probe\n{first_import}"),
    );
    let expected = format!(
        "backend/app/api/health.py:{line}: import of `app.services.vanished` resolves to nothing: there is no backend/app/services/vanished.py or backend/app/services/vanished/__init__.py; add the module or fix the import"
    );
    for command in ["check", "generate"] {
        let run = repo.xtask_fails(&[command]);
        assert!(
            run.stderr.contains(&expected),
            "{command}: expected {expected:?}\n{run}"
        );
    }
    let run = repo.xtask_fails(&["check"]);
    assert_eq!(
        last_line(&run.stderr),
        "error: huggingface-spaces/ cannot be generated from the worktree: fix the error above (then `cargo xtask generate`)"
    );
}

#[test]
fn staged_checks_read_the_index_not_the_worktree() {
    let repo = Repo::with_fixture_backend("staged");
    repo.xtask_ok(&["check", "--staged"]);

    // An unstaged backend edit does not concern the commit being made.
    repo.edit("backend/app/api/chat.py", "\n", "\n# edited\n");
    repo.xtask_ok(&["check", "--staged"]);
    repo.xtask_fails(&["check"]);

    // Staged, it does.
    repo.git(&["add", "backend"]);
    let run = repo.xtask_fails(&["check", "--staged"]);
    assert!(run.stderr.contains("--- huggingface-spaces/app/api/chat.py (index)\n+++ huggingface-spaces/app/api/chat.py (generated)\n"), "{run}");
    assert_eq!(
        last_line(&run.stderr),
        "error: the staged huggingface-spaces/ is stale (1 file(s)): run `cargo xtask generate && git add huggingface-spaces`"
    );

    // Regenerated but not staged: the worktree is right, the index is not yet.
    repo.xtask_ok(&["generate"]);
    repo.xtask_ok(&["check"]);
    repo.xtask_fails(&["check", "--staged"]);
    repo.git(&["add", "huggingface-spaces"]);
    let run = repo.xtask_ok(&["check", "--staged"]);
    assert_eq!(
        run.stdout,
        "huggingface-spaces/ is up to date and every lint passes (index)\n"
    );
}

const CLIENT: &str = "frontend/src/services/chatClient.ts";

fn client(url: &str) -> String {
    format!(
        "export class ChatClient {{\n  private baseUrl: string;\n\n  constructor() {{\n    const isProduction = typeof window !== 'undefined' &&\n      !window.location.hostname.includes('localhost');\n\n    this.baseUrl = isProduction\n      ? '{url}'\n      : 'http://localhost:8000';\n  }}\n}}\n"
    )
}

/// The fixture backend plus a frontend whose client points at the configured Space.
fn lint_repo() -> Repo {
    let repo = Repo::with_fixture_backend("lint");
    repo.write(CLIENT, &client("https://anusha-soh-rag-chatbot.hf.space"));
    repo.write("frontend/src/main.ts", "import { ChatClient } from './services/chatClient';\n// process.env is not available here\nnew ChatClient();\n");
    repo.write("frontend/src/main.test.ts", "const ci = process.env.CI;\n");
    repo.commit_all("frontend");
    repo.xtask_ok(&["check"]);
    repo
}

#[test]
fn each_lint_fails_on_its_fixture_with_file_line_and_rule() {
    // (file, text to replace, replacement, regenerate afterwards?, expected failure line)
    let cases: &[(&str, &str, &str, bool, &str)] = &[
        (
            "huggingface-spaces/Dockerfile",
            "EXPOSE 7860",
            "EXPOSE 8000",
            false,
            "huggingface-spaces/Dockerfile:25: port: EXPOSE uses port 8000 but README.md says app_port 7860: Spaces route traffic to app_port, so both must agree",
        ),
        (
            "huggingface-spaces/README.md",
            "app_port: 7860",
            "app_port: 8000",
            false,
            "huggingface-spaces/Dockerfile:25: port: EXPOSE uses port 7860 but README.md says app_port 8000",
        ),
        (
            "huggingface-spaces/Dockerfile",
            "useradd -m -u 1000 user",
            "useradd -m -u 1001 user",
            false,
            "huggingface-spaces/Dockerfile:9: user-uid: user `user` is created with UID 1001: the app must run as UID 1000 (uid in Cargo.toml; Spaces run UID 1000): write `useradd -u 1000 user`",
        ),
        (
            "huggingface-spaces/Dockerfile",
            "USER user\n",
            "",
            false,
            "huggingface-spaces/Dockerfile:1: user-uid: no USER instruction: Spaces run the app as UID 1000",
        ),
        (
            "huggingface-spaces/Dockerfile",
            "COPY --chown=user requirements.txt .",
            "COPY requirements.txt .",
            false,
            "huggingface-spaces/Dockerfile:15: copy-chown: COPY without `--chown=user`",
        ),
        (
            "huggingface-spaces/Dockerfile",
            "HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \\\n    CMD curl -f http://localhost:7860/api/health || exit 1\n",
            "",
            false,
            "huggingface-spaces/Dockerfile:1: healthcheck: no HEALTHCHECK: add one that curls the health endpoint",
        ),
        (
            "huggingface-spaces/README.md",
            "colorFrom: blue",
            "colorFrom: orange",
            false,
            "huggingface-spaces/README.md:4: front-matter: colorFrom `orange` is not a Spaces color: use one of red, yellow, green, blue, indigo, purple, pink, gray",
        ),
        (
            "huggingface-spaces/README.md",
            "sdk: docker",
            "sdk: gradio",
            false,
            "huggingface-spaces/README.md:6: front-matter: sdk is `gradio`: this Space is built from its Dockerfile, so it must be `docker`",
        ),
        (
            "huggingface-spaces/requirements.txt",
            "fastapi==0.115.0\n",
            "fastapi==0.115.0\npytest_asyncio>=0.2\n",
            false,
            "huggingface-spaces/requirements.txt:4: test-packages: `pytest_asyncio` is a test package",
        ),
        (
            CLIENT,
            "https://anusha-soh-rag-chatbot.hf.space",
            "https://USERNAME-SPACE_NAME.hf.space",
            false,
            "frontend/src/services/chatClient.ts:9: frontend-base-url: the production baseUrl is 'https://USERNAME-SPACE_NAME.hf.space' but the configured Space URL is 'https://anusha-soh-rag-chatbot.hf.space'",
        ),
        (
            "frontend/src/main.ts",
            "new ChatClient();",
            "new ChatClient();\nconsole.log(process.env.API_URL);",
            false,
            "frontend/src/main.ts:4: process-env: `process.env` in browser code throws \"process is not defined\"",
        ),
        (
            "backend/app/core/config.py",
            "settings = Settings()",
            "HUB_TOKEN = \"hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567\"\nsettings = Settings()",
            true,
            "huggingface-spaces/app/core/config.py:23: secret: contains a Hugging Face token (hf_…): remove it and revoke it",
        ),
        (
            "backend/app/core/config.py",
            "settings = Settings()",
            "KEY = 'AIzaSyA1234567890abcdefghijklmnopqrstuv'\nsettings = Settings()",
            true,
            "huggingface-spaces/app/core/config.py:23: secret: contains a Google API key (AIza…)",
        ),
        (
            "backend/app/core/config.py",
            "settings = Settings()",
            "URL = 'postgresql://neon:n0tAPlaceholder@ep-cool.neon.tech/db'\nsettings = Settings()",
            true,
            "huggingface-spaces/app/core/config.py:23: secret: contains a URL with a password",
        ),
    ];
    for (file, from, to, regenerate, expected) in cases {
        let repo = lint_repo();
        repo.edit(file, from, to);
        if *regenerate {
            repo.xtask_ok(&["generate"]);
        }
        let run = repo.xtask_fails(&["check"]);
        assert!(
            run.stderr.contains(expected),
            "expected {expected:?}:\n{run}"
        );
        for secret in ["hf_aBcDeFgHiJk", "AIzaSyA123", "n0tAPlaceholder"] {
            assert!(
                !run.stderr.contains(secret) && !run.stdout.contains(secret),
                "a secret was printed:\n{run}"
            );
        }
    }
}

#[test]
fn a_dotenv_file_in_the_space_is_a_secret_and_extra() {
    let repo = lint_repo();
    repo.write("huggingface-spaces/.env", "GEMINI_API_KEY=x\n");
    let run = repo.xtask_fails(&["check"]);
    assert!(
        run.stderr.contains("extra file: huggingface-spaces/.env"),
        "{run}"
    );
    assert!(
        run.stderr.contains(
            "huggingface-spaces/.env:1: secret: .env files hold secrets and must never be pushed"
        ),
        "{run}"
    );
}

#[test]
fn lint_failures_alone_end_with_what_to_do() {
    let repo = lint_repo();
    repo.write(
        "frontend/src/extra.ts",
        "export const url = process.env.URL;\n",
    );
    let run = repo.xtask_fails(&["check"]);
    assert_eq!(
        run.stderr.lines().next(),
        Some(
            "frontend/src/extra.ts:1: process-env: `process.env` in browser code throws \"process is not defined\": detect production from window.location.hostname instead"
        )
    );
    assert_eq!(
        last_line(&run.stderr),
        "error: 1 lint failure(s) above (file:line: rule: message): fix them and re-run `cargo xtask check`"
    );
}
