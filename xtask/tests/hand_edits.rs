//! `generate` never destroys work: a file in `huggingface-spaces/` whose content git cannot
//! give back (not what generate writes, not committed, not staged) is refused with its diff
//! and `--force` named; everything git holds is regenerated as before.

#[path = "support/repo.rs"]
mod repo;

use repo::Repo;

const HEALTH: &str = "huggingface-spaces/app/api/health.py";

#[test]
fn a_hand_edit_is_refused_with_its_diff_and_kept() {
    let repo = Repo::with_fixture_backend("hand-edit");
    repo.edit(HEALTH, "return {", "# tuned on the Space\n    return {");
    let edited = repo.read(HEALTH);

    let run = repo.xtask_fails(&["generate"]);
    assert!(
        run.stderr.contains(&format!(
            "these hand edits would be lost: {HEALTH}\n--- {HEALTH} (committed)\n+++ {HEALTH} (worktree)\n"
        )),
        "{run}"
    );
    assert!(
        run.stderr.contains("+    # tuned on the Space\n") && run.stderr.contains("`--force`"),
        "{run}"
    );
    assert_eq!(repo.read(HEALTH), edited, "the edit is kept");

    let run = repo.xtask_ok(&["generate", "--force"]);
    assert!(run.stdout.contains(&format!("wrote {HEALTH}")), "{run}");
    assert_eq!(repo.read(HEALTH), repo.read("backend/app/api/health.py"));
}

#[test]
fn a_stray_file_is_refused_and_kept() {
    let repo = Repo::with_fixture_backend("stray");
    repo.write("huggingface-spaces/notes.txt", "remember the secrets\n");

    let run = repo.xtask_fails(&["generate"]);
    assert!(
        run.stderr
            .contains("--- /dev/null (not in git)\n+++ huggingface-spaces/notes.txt (worktree)\n")
            && run.stderr.contains("+remember the secrets\n"),
        "{run}"
    );
    assert!(repo.path("huggingface-spaces/notes.txt").exists());

    repo.xtask_ok(&["generate", "--force"]);
    assert!(!repo.path("huggingface-spaces/notes.txt").exists());
}

#[test]
fn what_git_holds_is_regenerated_without_asking() {
    let repo = Repo::with_fixture_backend("git-holds");
    // Staged: git keeps the edit, so overwriting the worktree copy loses nothing.
    repo.edit(HEALTH, "return {", "# staged\n    return {");
    repo.git(&["add", HEALTH]);
    // Committed but stale: the backend changed after it was generated.
    repo.edit(
        "backend/app/main.py",
        "app = FastAPI(",
        "# a backend change\napp = FastAPI(",
    );
    let run = repo.xtask_ok(&["generate"]);
    assert!(
        run.stdout.contains(&format!("wrote {HEALTH}"))
            && run.stdout.contains("wrote huggingface-spaces/app/main.py"),
        "{run}"
    );
    repo.xtask_ok(&["check"]);
}

#[test]
fn generate_over_its_own_unstaged_output_needs_no_force() {
    let repo = Repo::with_fixture_backend("regenerate");
    // Two backend edits in a row, each followed by generate, nothing staged in between: the
    // Space copy generate wrote the first time is its own output, not a hand edit.
    for (step, marker) in ["# first edit", "# second edit"].iter().enumerate() {
        repo.edit(
            "backend/app/api/health.py",
            "return {",
            &format!("{marker}\n    return {{"),
        );
        let run = repo.xtask_ok(&["generate"]);
        assert!(
            run.stdout.contains(&format!("wrote {HEALTH}")),
            "edit {step}: {run}"
        );
    }
    assert_eq!(repo.read(HEALTH), repo.read("backend/app/api/health.py"));
    // A hand edit on top of generate's own output is still refused.
    repo.edit(HEALTH, "return {", "# by hand\n    return {");
    repo.edit(
        "backend/app/api/health.py",
        "return {",
        "# third edit\n    return {",
    );
    let run = repo.xtask_fails(&["generate"]);
    assert!(run.stderr.contains("+    # by hand\n"), "{run}");
}
