//! `cargo xtask install-hooks` and the pre-commit hook it writes, driven by real `git commit`.

#[path = "support/repo.rs"]
mod repo;

use std::path::Path;
use std::process::Output;

use repo::Repo;

/// The target directory this test's xtask was built in: the hook runs that binary directly
/// when it is newer than the sources (mtimes are kept by the copy).
fn target_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_xtask"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// `git commit` with the hook enabled; a `cargo` that fails loudly is first on PATH, so a
/// hook that falls back to building xtask in the temporary copy is caught.
fn commit(repo: &Repo, message: &str) -> Output {
    let guard = repo.path(".no-cargo");
    std::fs::create_dir_all(&guard).unwrap();
    let fake = guard.join("cargo");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'the hook called cargo instead of the built xtask' >&2\nexit 101\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        guard.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    repo::git_command(&repo.dir, &["commit", "-m", message])
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap()
}

/// An empty repository with this workspace's Cargo.toml (its settings), nothing else.
fn repo_with_settings(name: &str) -> Repo {
    let repo = Repo::empty(name);
    std::fs::copy(
        repo::source_root().join("Cargo.toml"),
        repo.path("Cargo.toml"),
    )
    .unwrap();
    repo
}

fn head(repo: &Repo) -> String {
    repo.git(&["rev-parse", "HEAD"])
}

#[test]
fn the_hook_refuses_a_stale_commit_and_accepts_the_regenerated_one() {
    let repo = Repo::copy_of_this_repo("hook");
    repo.write(".git/info/exclude", ".no-cargo/\n");
    let run = repo.xtask_ok(&["install-hooks"]);
    assert!(run.stdout.contains("installed"), "{run}");
    let hook = repo.path(".git/hooks/pre-commit");
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("check --staged")
    );

    let before = head(&repo);
    repo.edit(
        "backend/app/api/health.py",
        "\n",
        "\n# A backend edit without regenerating.\n",
    );
    repo.git(&["add", "backend"]);
    let refused = commit(&repo, "backend edit");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "the commit should be refused:\n{stderr}"
    );
    assert!(
        stderr.contains("+++ huggingface-spaces/app/api/health.py (generated)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+# A backend edit without regenerating."),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `cargo xtask generate && git add huggingface-spaces`"),
        "{stderr}"
    );
    assert_eq!(head(&repo), before, "nothing was committed");

    repo.xtask_ok(&["generate"]);
    repo.git(&["add", "huggingface-spaces"]);
    let accepted = commit(&repo, "backend edit, regenerated");
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert_ne!(head(&repo), before);
    assert_eq!(
        repo.git(&[
            "status",
            "--porcelain",
            "--",
            "backend",
            "huggingface-spaces"
        ]),
        ""
    );
}

#[test]
fn a_foreign_hook_is_kept_unless_forced() {
    let repo = repo_with_settings("foreign-hook");
    let foreign = "#!/bin/sh\necho 'my own checks'\n";
    repo.write(".git/hooks/pre-commit", foreign);

    let run = repo.xtask_fails(&["install-hooks"]);
    assert!(
        run.stderr
            .contains("was not written by xtask: re-run with `cargo xtask install-hooks --force`"),
        "{run}"
    );
    assert_eq!(repo.read(".git/hooks/pre-commit"), foreign);

    let run = repo.xtask_ok(&["install-hooks", "--force"]);
    assert!(run.stdout.contains("moved the previous hook to"), "{run}");
    assert_eq!(repo.read(".git/hooks/pre-commit.xtask-backup"), foreign);
    assert!(
        repo.read(".git/hooks/pre-commit")
            .contains("xtask-managed pre-commit hook")
    );

    let run = repo.xtask_ok(&["install-hooks"]);
    assert!(
        run.stdout.contains("already installed and up to date"),
        "{run}"
    );
}

#[test]
fn a_foreign_hook_that_is_not_text_is_kept_too() {
    let repo = repo_with_settings("binary-hook");
    let foreign: &[u8] = b"\x7fELF\x02\x01\x01\0\xff\xfe not UTF-8";
    std::fs::write(repo.path(".git/hooks/pre-commit"), foreign).unwrap();

    let run = repo.xtask_fails(&["install-hooks"]);
    assert!(run.stderr.contains("was not written by xtask"), "{run}");
    assert_eq!(
        std::fs::read(repo.path(".git/hooks/pre-commit")).unwrap(),
        foreign
    );
}

#[test]
fn an_outdated_hook_of_ours_is_replaced_without_force() {
    let repo = repo_with_settings("own-hook");
    repo.write(".git/hooks/pre-commit", "#!/bin/sh\n# xtask-managed pre-commit hook (an older version)\nexec cargo xtask check --staged\n");
    let run = repo.xtask_ok(&["install-hooks"]);
    assert!(run.stdout.contains("installed"), "{run}");
    assert!(!repo.path(".git/hooks/pre-commit.xtask-backup").exists());
}
