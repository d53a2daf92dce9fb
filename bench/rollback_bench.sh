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
# shellcheck source=bench/test_hub_setup.sh
. "$(dirname "$0")/test_hub_setup.sh" rollback
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
