# Sourced by bench/deploy_bench.sh and bench/rollback_bench.sh (`. test_hub_setup.sh MODE`,
# MODE `deploy` or `rollback`): builds xtask and the local test Hub, starts the Hub in the
# background until $work/stop appears (removed with $work on exit), and copies the monorepo as
# git sees it into $work/repo, a new git repository with nothing committed yet. Sets root, work,
# xtask, remote, auth and repo, and reads the Hub's HF_* variables from $work/hub.env.
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/$1-bench.XXXXXX")
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

# The test Hub (for `rollback`, with a 200-line build log), in the background until
# $work/stop appears.
BENCH_HUB_DIR=$work cargo test --quiet -p xtask --bench test_hub -- "$1" >/dev/null 2>&1 &
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
