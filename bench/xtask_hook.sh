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

# A change outside the checked folders (the hook's inputs are unchanged: cached pass)...
hyperfine --warmup 3 --runs "$runs" --export-json "$json" \
    --prepare 'echo "a small change" >> README.md && git add README.md' \
    -n "git commit --no-verify" "git commit -q --no-verify -m change" \
    -n "git commit (pre-commit hook)" "git commit -q -m change"
# ...and a backend change, regenerated and staged (new inputs: a full check).
backend_change="echo '# a small change' >> backend/app/main.py && $CARGO_TARGET_DIR/debug/xtask generate >/dev/null && git add backend huggingface-spaces"
hyperfine --warmup 3 --runs "$runs" --export-json "$json.backend" \
    --prepare "$backend_change" \
    -n "git commit --no-verify (backend change)" "git commit -q --no-verify -m change" \
    -n "git commit (pre-commit hook, backend change)" "git commit -q -m change"
cd "$root"
hyperfine --warmup 2 --runs 10 -n "cargo xtask check --staged (fallback)" "cargo xtask check --staged" \
    --export-json "$json.fallback"
python3 - "$json" "$json.backend" "$json.fallback" <<'PY'
import json, sys
for path, what in [(sys.argv[1], "README change"), (sys.argv[2], "backend change")]:
    plain, hook = json.load(open(path))["results"]
    print(f"{what}: git commit --no-verify median {plain['median'] * 1000:6.1f} ms, with the hook {hook['median'] * 1000:6.1f} ms (+{(hook['median'] - plain['median']) * 1000:.1f} ms)")
fallback = json.load(open(sys.argv[3]))["results"][0]
print(f"hook fallback (cargo xtask check --staged, warm) median {fallback['median'] * 1000:.1f} ms")
PY
rm -f "$json.fallback" "$json.backend"
