#!/usr/bin/env bash
# Times `cargo xtask deploy` against the local test Hub on 127.0.0.1, side by side with its
# baseline: the plain git commands a person types for the same tree (the recipe's publish step:
# `git clone` + copy + `git commit` + `git push`). One run, ROUNDS rounds, medians reported.
#
#   bench/deploy_bench.sh [ROUNDS]      (default 5)
#   XTASK_BEFORE=/path/to/an/earlier/xtask bench/deploy_bench.sh [ROUNDS]
#
# With XTASK_BEFORE, each round also times that binary's real and no-op deploy (built from
# another commit, e.g. main's), so a change to xtask is compared with what it replaces in the
# same run.
#
# Targets (issue 5): a no-op deploy <= 1.5x and a real deploy <= 2x the baseline. Deploys run
# with --no-verify: the baseline verifies nothing either (the test Hub's build stages would
# only add its polling interval).
set -euo pipefail
rounds=${1:-5}
# shellcheck source=bench/test_hub_setup.sh
. "$(dirname "$0")/test_hub_setup.sh" deploy
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit --quiet --allow-empty -m init
git -C "$repo" add --all && git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit --quiet -m monorepo

export HF_ENDPOINT HF_TOKEN GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
before=${XTASK_BEFORE:-}
deploy() { (cd "$repo" && "${bin:-$xtask}" deploy --user "$HF_USER" --space "$HF_SPACE" --frontend-url https://my-app.vercel.app \
    --space-url "$SPACE_URL" --no-verify >/dev/null 2>"$work/deploy.err") || { cat "$work/deploy.err" >&2; exit 1; }; }
# The seed's step 6, as typed (with the token as a header instead of a password prompt).
by_hand() {
    git -c "http.extraHeader=$auth" clone --quiet "$remote" "$work/hf-deploy-temp"
    cp -r "$repo/huggingface-spaces/." "$work/hf-deploy-temp/"
    git -C "$work/hf-deploy-temp" add .
    git -C "$work/hf-deploy-temp" commit --quiet -m "Deploy RAG chatbot backend"
    git -C "$work/hf-deploy-temp" -c "http.extraHeader=$auth" push --quiet
    rm -rf "$work/hf-deploy-temp"
}
edit_backend() { echo "# bench edit $1" >> "$repo/backend/app/main.py"; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

deploy # the first deploy pushes the whole tree; the rounds measure the steady state
real=() noop=() hand=() real_before=() noop_before=()
for i in $(seq "$rounds"); do
    edit_backend "$i-deploy"
    t0=$(now); deploy; t1=$(now); real+=("$(ms "$t0" "$t1")")
    t0=$(now); deploy; t1=$(now); noop+=("$(ms "$t0" "$t1")")
    grep -q "already up to date" "$work/deploy.err" || { echo "the second deploy was not a no-op" >&2; exit 1; }
    if [ -n "$before" ]; then
        edit_backend "$i-before"
        t0=$(now); bin=$before deploy; t1=$(now); real_before+=("$(ms "$t0" "$t1")")
        t0=$(now); bin=$before deploy; t1=$(now); noop_before+=("$(ms "$t0" "$t1")")
        grep -q "already up to date" "$work/deploy.err" || { echo "the second deploy was not a no-op" >&2; exit 1; }
    fi
    edit_backend "$i-by-hand"
    (cd "$repo" && "$xtask" generate >/dev/null)  # the same kind of tree, generated outside the timing
    t0=$(now); by_hand; t1=$(now); hand+=("$(ms "$t0" "$t1")")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_real=$(median "${real[@]}"); m_noop=$(median "${noop[@]}"); m_hand=$(median "${hand[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo "deploy benchmark: $rounds rounds against the test Hub at $HF_ENDPOINT (medians, ms)"
printf '  %-44s %6s ms   runs: %s\n' "by hand: git clone + cp + git commit + git push" "$m_hand" "${hand[*]}"
printf '  %-44s %6s ms   runs: %s   %sx baseline (target <= 2.0x)\n' "cargo xtask deploy --no-verify (real change)" "$m_real" "${real[*]}" "$(ratio "$m_real" "$m_hand")"
printf '  %-44s %6s ms   runs: %s   %sx baseline (target <= 1.5x)\n' "cargo xtask deploy --no-verify (no-op)" "$m_noop" "${noop[*]}" "$(ratio "$m_noop" "$m_hand")"
if [ -n "$before" ]; then
    m_rb=$(median "${real_before[@]}"); m_nb=$(median "${noop_before[@]}")
    printf '  %-44s %6s ms   runs: %s   %sx baseline\n' "XTASK_BEFORE deploy --no-verify (real change)" "$m_rb" "${real_before[*]}" "$(ratio "$m_rb" "$m_hand")"
    printf '  %-44s %6s ms   runs: %s   %sx baseline\n' "XTASK_BEFORE deploy --no-verify (no-op)" "$m_nb" "${noop_before[*]}" "$(ratio "$m_nb" "$m_hand")"
fi
