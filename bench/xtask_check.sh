#!/usr/bin/env bash
# `cargo xtask check` (and `check --staged`) with the binary already built, against its
# baseline `git status --porcelain`, in the same hyperfine run. Budget: median <= 20 ms and
# <= 3x git status. Also a check whose inputs changed since the last pass (its cache of
# passing fingerprints removed before each run), which is what a commit touching backend/
# or huggingface-spaces/ pays.
#   bench/xtask_check.sh [RUNS]     (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100}"
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null 2>&1 || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }; }
cargo build -p xtask --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/xtask"
"$bin" check >/dev/null  # the benchmark is meaningless if check fails
json="$(mktemp /tmp/xtask-check-bench.XXXXXX.json)"
hyperfine --warmup 10 --runs "$runs" -N --export-json "$json" \
    "git status --porcelain" "$bin check" "$bin check --staged"
# Inputs changed: the cache of passing fingerprints is removed before each run (of both
# commands, so the baseline pays the same preparation); no shell around either (-N).
hyperfine --warmup 3 --runs "$runs" -N --export-json "$json.miss" \
    --prepare "rm -f target/xtask/check-passed" \
    -n "git status --porcelain (same run)" "git status --porcelain" \
    -n "$bin check (inputs changed)" "$bin check"
# The worst case: no remembered per-file results either (a new build, a fresh clone).
hyperfine --warmup 3 --runs "$runs" -N --export-json "$json.cold" \
    --prepare "rm -f target/xtask/check-passed target/xtask/memo" \
    -n "git status --porcelain (same run) " "git status --porcelain" \
    -n "$bin check (inputs changed, no memo)" "$bin check"
# A real backend edit: before each run a comment line is appended to a backend module and to
# its Space copy (new content every run, so neither is remembered); both are restored after.
edited="backend/app/api/health.py huggingface-spaces/app/api/health.py"
backup="$(mktemp -d /tmp/xtask-check-bench-backup.XXXXXX)"
for f in $edited; do mkdir -p "$backup/$(dirname "$f")"; cp -p "$f" "$backup/$f"; done
trap 'for f in $edited; do cp -p "$backup/$f" "$f"; done; rm -rf "$backup" "$json" "$json.miss" "$json.cold" "$json.edit"' EXIT
cat >"$backup/edit.sh" <<SH
#!/bin/sh
n=\$(date +%s%N)
for f in $edited; do echo "# bench edit \$n" >> "\$f"; done
rm -f target/xtask/check-passed
SH
chmod +x "$backup/edit.sh"
"$bin" check >/dev/null  # remember the unedited tree, as a developer's last check did
hyperfine --warmup 3 --runs "$runs" -N --export-json "$json.edit" \
    --prepare "$backup/edit.sh" --prepare "$backup/edit.sh" \
    -n "git status --porcelain (same run)  " "git status --porcelain" \
    -n "$bin check (after a backend edit)" "$bin check"
python3 - "$json" <<'PY'
import json, sys
for path in (sys.argv[1], sys.argv[1] + ".miss", sys.argv[1] + ".cold", sys.argv[1] + ".edit"):
    results = json.load(open(path))["results"]
    base = results[0]["median"]
    for r in results:
        print(f"{r['command']:<42} median {r['median'] * 1000:6.2f} ms  ({r['median'] / base:4.2f}x git status)")
PY
