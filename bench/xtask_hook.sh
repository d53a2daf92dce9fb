#!/usr/bin/env bash
# What the pre-commit hook adds to `git commit` (warm build), in a temporary copy of the
# repository: `git commit` with the hook vs `git commit --no-verify`, same run. Also
# `cargo xtask check --staged` (the hook's fallback when the binary is older than its
# sources) in this worktree. Budget: <= 300 ms added.
#   bench/xtask_hook.sh [RUNS]     (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
runs="${1:-30}"
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null 2>&1 || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }; }
cargo build -p xtask --quiet
export CARGO_TARGET_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"

copy="$(mktemp -d /tmp/xtask-hook-bench.XXXXXX)"
json="$(mktemp /tmp/xtask-hook-bench.XXXXXX.json)"
trap 'rm -rf "$copy" "$json"' EXIT
# mtimes kept (cp -p) so the built binary is newer than the copied sources, as after a build.
git ls-files -z | xargs -0 cp -p --parents -t "$copy"
cd "$copy"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
git init -q && git add -A && git commit -q --no-verify -m copy
"$CARGO_TARGET_DIR/debug/xtask" install-hooks >/dev/null

hyperfine --warmup 3 --runs "$runs" --export-json "$json" \
    --prepare 'echo "a small change" >> README.md && git add README.md' \
    -n "git commit --no-verify" "git commit -q --no-verify -m change" \
    -n "git commit (pre-commit hook)" "git commit -q -m change"
cd "$root"
hyperfine --warmup 2 --runs 10 -n "cargo xtask check --staged (fallback)" "cargo xtask check --staged" \
    --export-json "$json.fallback"
python3 - "$json" "$json.fallback" <<'PY'
import json, sys
plain, hook = json.load(open(sys.argv[1]))["results"]
fallback = json.load(open(sys.argv[2]))["results"][0]
print(f"git commit --no-verify    median {plain['median'] * 1000:7.1f} ms")
print(f"git commit with the hook  median {hook['median'] * 1000:7.1f} ms  (+{(hook['median'] - plain['median']) * 1000:.1f} ms)")
print(f"hook fallback (cargo xtask check --staged) median {fallback['median'] * 1000:.1f} ms")
PY
rm -f "$json.fallback"
