#!/usr/bin/env bash
# Times `cargo xtask deploy --rollback` against the local test Hub on 127.0.0.1, side by side
# with its baseline typed by hand: `git clone` + `git checkout REV -- .` + `git commit` +
# `git push` (the clone is part of both: `deploy` starts from nothing too). Also times
# `cargo xtask status` and `cargo xtask logs --build --tail 20`. One run, medians reported.
#
#   bench/rollback_bench.sh [ROUNDS]      (default 10)
#
# Target (issue 12): the rollback <= 1.5x the baseline. Rollbacks run with --no-verify: the
# baseline verifies nothing either.
set -euo pipefail
rounds=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/rollback-bench.XXXXXX")
hub_pid=
cleanup() {
    touch "$work/stop"
    [ -n "$hub_pid" ] && wait "$hub_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building xtask and the test Hub..." >&2
{ cargo build --quiet -p xtask && cargo test --quiet -p xtask --bench test_hub --no-run; } 2>"$work/build.log" ||
    { cat "$work/build.log" >&2; exit 1; }
xtask=$CARGO_TARGET_DIR/debug/xtask

# The test Hub (with a 200-line build log), in the background until $work/stop appears.
BENCH_HUB_DIR=$work cargo test --quiet -p xtask --bench test_hub -- rollback >/dev/null 2>&1 &
hub_pid=$!
for _ in $(seq 200); do [ -f "$work/hub.env" ] && break; sleep 0.05; done
[ -f "$work/hub.env" ] || { echo "the test Hub did not start" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/hub.env"
remote="$HF_ENDPOINT/spaces/$HF_USER/$HF_SPACE"
auth="Authorization: Basic $(printf '%s:%s' "$HF_USER" "$HF_TOKEN" | base64 -w0)"

# A copy of the monorepo as git sees it, committed.
repo=$work/repo
mkdir -p "$repo"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '^xtask/' | xargs -0 tar -cf -) | tar -xf - -C "$repo"
git -C "$repo" init --quiet --initial-branch=main
git -C "$repo" add --all && git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit --quiet -m monorepo

export HF_ENDPOINT HF_TOKEN GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
space_args=(--user "$HF_USER" --space "$HF_SPACE")
run() { (cd "$repo" && "$xtask" "$@" >"$work/out" 2>"$work/err") || { cat "$work/err" >&2; exit 1; }; }
deploy() { run deploy "${space_args[@]}" --frontend-url https://my-app.vercel.app --space-url "$SPACE_URL" --no-verify "$@"; }
# Two deploys, so there is a previous tree to go back to; each round then swaps between them.
deploy
echo "# bench edit" >> "$repo/backend/app/main.py"
git -C "$repo" commit --quiet -am "bench edit"
deploy
# By hand: the same rollback (the tree of the commit before the current one) as a new commit.
by_hand() {
    git -c "http.extraHeader=$auth" clone --quiet "$remote" "$work/hf-rollback"
    git -C "$work/hf-rollback" checkout --quiet HEAD~1 -- .
    git -C "$work/hf-rollback" commit --quiet -m "Roll back"
    git -C "$work/hf-rollback" -c "http.extraHeader=$auth" push --quiet
    rm -rf "$work/hf-rollback"
}
space_head() { git -c "http.extraHeader=$auth" ls-remote "$remote" HEAD | cut -f1; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

rollback=() hand=() status=() logs=()
for _ in $(seq "$rounds"); do
    before=$(space_head)
    t0=$(now); deploy --rollback; t1=$(now); rollback+=("$(ms "$t0" "$t1")")
    [ "$(space_head)" != "$before" ] || { echo "the rollback pushed nothing" >&2; exit 1; }
    before=$(space_head)
    t0=$(now); by_hand; t1=$(now); hand+=("$(ms "$t0" "$t1")")
    [ "$(space_head)" != "$before" ] || { echo "the by-hand rollback pushed nothing" >&2; exit 1; }
    t0=$(now); run status "${space_args[@]}"; t1=$(now); status+=("$(ms "$t0" "$t1")")
    grep -q "Stage:" "$work/out" || { echo "status printed no stage" >&2; exit 1; }
    t0=$(now); run logs "${space_args[@]}" --build --tail 20; t1=$(now); logs+=("$(ms "$t0" "$t1")")
    [ "$(wc -l <"$work/out")" -eq 20 ] || { echo "logs --tail 20 printed $(wc -l <"$work/out") lines" >&2; exit 1; }
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_roll=$(median "${rollback[@]}"); m_hand=$(median "${hand[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo "rollback benchmark: $rounds rounds against the test Hub at $HF_ENDPOINT (medians, ms)"
printf '  %-52s %6s ms   runs: %s\n' "by hand: git clone + checkout REV -- . + commit + push" "$m_hand" "${hand[*]}"
printf '  %-52s %6s ms   runs: %s   %sx baseline (target <= 1.5x)\n' "cargo xtask deploy --rollback --no-verify" "$m_roll" "${rollback[*]}" "$(ratio "$m_roll" "$m_hand")"
printf '  %-52s %6s ms   runs: %s\n' "cargo xtask status" "$(median "${status[@]}")" "${status[*]}"
printf '  %-52s %6s ms   runs: %s\n' "cargo xtask logs --build --tail 20 (200-line log)" "$(median "${logs[@]}")" "${logs[*]}"
