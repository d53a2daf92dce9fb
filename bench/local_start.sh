#!/usr/bin/env bash
# `cargo xtask deploy --local` from a warm venv to a healthy Space, next to its baseline: the
# bare `uvicorn app.main:app` of the same tree, with the same venv, to its first 200 on
# /api/health. One run measures both, alternating, so machine load hits them alike.
#
#   bench/local_start.sh [RUNS]        (default 5)
#
# `cargo xtask deploy --local --detach` is timed from invocation to exit: it returns after the pipeline
# has pushed to the local bare repo, started the Space (Space venv check, PostgreSQL, uvicorn),
# seen /api/health answer 200 and asked one real /api/chat question. The baseline gets the
# same knowledge files and an already-warm index, and no PostgreSQL (the backend then keeps
# history in SQLite): it is the least a person types to serve the tree. Uses the configured
# Space port (7860 by default): a local Space already running there is stopped first.
set -euo pipefail

runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$root/target/xtask/local
port=$(sed -n '/^\[workspace.metadata.hf-space.generator\]/,/^\[/s/^port *= *\([0-9]*\).*/\1/p' Cargo.toml)
[ -n "$port" ] || { echo "no generator port in Cargo.toml" >&2; exit 1; }

now() { date +%s.%N; }
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health")" = 200 ]; }

cargo build -q -p xtask
cargo -q xtask deploy --local --stop >/dev/null
echo "warm-up: Space venv, PostgreSQL data, knowledge index (not timed)" >&2
cargo -q xtask deploy --local --detach >"$state/bench-warmup.log" 2>&1 || { cat "$state/bench-warmup.log" >&2; exit 1; }
cargo -q xtask deploy --local --stop >/dev/null

venv=$(ls -d "$state"/venv-* | head -n 1)
tree=$state/tree
[ -x "$venv/bin/uvicorn" ] && [ -f "$tree/app/main.py" ] || { echo "no warm venv or exported tree under $state" >&2; exit 1; }
baseline_data=$(mktemp -d)
trap 'rm -rf "$baseline_data"' EXIT
knowledge="$root/README.md"
[ -d "$root/docs" ] && knowledge="$knowledge,$root/docs"

bare_uvicorn() {
    (cd "$tree" && exec env -i PATH="$venv/bin:/usr/bin:/bin" HOME="$baseline_data" DATA_DIR="$baseline_data" \
        KNOWLEDGE_PATHS="$knowledge" "$venv/bin/uvicorn" app.main:app --host 127.0.0.1 --port "$port") \
        >"$baseline_data/uvicorn.log" 2>&1 &
    local pid=$!
    local deadline=$((SECONDS + 120))
    until healthy; do
        kill -0 "$pid" 2>/dev/null || { cat "$baseline_data/uvicorn.log" >&2; exit 1; }
        [ $SECONDS -lt $deadline ] || { echo "baseline not healthy in 120 s" >&2; kill "$pid"; exit 1; }
        sleep 0.02
    done
    kill -TERM "$pid"
    wait "$pid" || true
}

bare_uvicorn # warm its index too (not timed)
ours=()
runtime=()
bare=()
for i in $(seq "$runs"); do
    start=$(now)
    cargo -q xtask deploy --local --detach >"$state/bench-run.log" 2>&1 || { cat "$state/bench-run.log" >&2; exit 1; }
    ours+=("$(echo "$(now) - $start" | bc)")
    # The pipeline's progress lines give the local runtime's share: start to first healthy.
    started=$(sed -n 's/^\[ *\([0-9.]*\)s\] local: starting.*/\1/p' "$state/bench-run.log")
    healthy=$(sed -n 's/^\[ *\([0-9.]*\)s\] verify: \/api\/health says.*/\1/p' "$state/bench-run.log")
    [ -n "$started" ] && [ -n "$healthy" ] && runtime+=("$(echo "$healthy - $started" | bc)")
    cargo -q xtask deploy --local --stop >/dev/null

    start=$(now)
    bare_uvicorn
    bare+=("$(echo "$(now) - $start" | bc)")
done

stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "median %6.2f s   min %6.2f s   max %6.2f s", v[int((NR+1)/2)], v[1], v[NR]}'; }
echo
echo "$runs runs each, port $port, $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "deploy --local --detach (warm venv) to healthy + one chat answer: $(stats "${ours[@]}")"
[ ${#runtime[@]} -gt 0 ] && echo "  of which local::start to first healthy /api/health:         $(stats "${runtime[@]}")"
echo "baseline: bare uvicorn app.main:app to first 200 /api/health:    $(stats "${bare[@]}")"
