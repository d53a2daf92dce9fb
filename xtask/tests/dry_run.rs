//! `deploy --dry-run` with no token: every step that needs no Hub runs (settings, generate,
//! lints, the frontend patch) and the report says what only the Hub could tell. It goes
//! through the same generate, so a hand edit is refused there too.

#[path = "support/repo.rs"]
mod repo;

use std::process::Command;

use repo::{Repo, Run};

/// `xtask ARGS` with no token anywhere: no token variable, and a HOME without a token file.
fn without_token(repo: &Repo, args: &[&str]) -> Run {
    let home = repo.path("target/empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .current_dir(&repo.dir)
        .envs(repo::git_env())
        .env("HOME", &home);
    for key in [
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HOME",
        "XDG_CACHE_HOME",
    ] {
        command.env_remove(key);
    }
    Run::from(command.output().unwrap())
}

const HEALTH: &str = "huggingface-spaces/app/api/health.py";

#[test]
fn a_dry_run_without_a_token_runs_the_local_steps_and_lists_what_it_could_not_check() {
    let repo = Repo::copy_of_this_repo("dry-run-no-token");
    // A generated file deleted by mistake: generate puts it back, and nothing needs a commit.
    repo.remove(HEALTH);
    let run = without_token(&repo, &["deploy", "--dry-run"]);
    assert!(run.success, "{run}");
    for step in [
        "no token, so this dry run does not ask the Hub",
        &format!("generate: put back the committed {HEALTH}"),
        "lint: the Space folder and the frontend pass every lint",
        "frontend: frontend/src/services/chatClient.ts:",
    ] {
        assert!(run.stderr.contains(step), "missing {step:?}:\n{run}");
    }
    assert!(
        !run.stderr.contains("commit them") && !run.stdout.contains("commit it"),
        "{run}"
    );
    for line in [
        "Space commit:  not compared with the Space's repo (no token)",
        "Not checked:   the token and its account: log in with `hf auth login` (or set HF_TOKEN), then re-run",
        "Not checked:   whether the Space ",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?}:\n{run}");
    }
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "{run}");
}

#[test]
fn a_deploy_refuses_a_hand_edit_until_force() {
    let repo = Repo::copy_of_this_repo("dry-run-hand-edit");
    repo.edit(
        HEALTH,
        "    return JSONResponse(",
        "    # hot fix\n    return JSONResponse(",
    );
    let run = without_token(&repo, &["deploy", "--dry-run"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.stderr
            .contains(&format!("these hand edits would be lost: {HEALTH}"))
            && run.stderr.contains("+    # hot fix")
            && run.stderr.contains("`--force`"),
        "{run}"
    );
    assert!(repo.read(HEALTH).contains("# hot fix"), "the edit is kept");

    let run = without_token(&repo, &["deploy", "--dry-run", "--force"]);
    assert!(run.success, "{run}");
    assert!(!repo.read(HEALTH).contains("# hot fix"));
}

#[test]
fn the_readme_names_the_login_command_the_errors_name() {
    let readme = std::fs::read_to_string(repo::source_root().join("README.md")).unwrap();
    assert!(
        readme.contains("hf auth login"),
        "README.md names `hf auth login`"
    );
    assert!(
        !readme.contains("huggingface-cli login"),
        "README.md names the old `huggingface-cli login`"
    );
}
