#!/usr/bin/env bash
# Cold `cargo build -p xtask` in a fresh target directory (dependencies already downloaded),
# and the crates that dominate it (from `cargo build --timings`).
#   bench/xtask_cold_build.sh [RUNS]     (default 1; the issue's budget is 30 s on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1}"
command -v python3 >/dev/null || { echo "python3 is needed to read the --timings report" >&2; exit 1; }
cargo fetch --locked >/dev/null  # the network is not part of the build time
echo "machine: $(nproc) cores; $(cargo --version)"
for run in $(seq "$runs"); do
    target="$(mktemp -d /tmp/xtask-cold-build.XXXXXX)"
    trap 'rm -rf "$target" "$target.log"' EXIT
    # Wall time, and CPU time: on a machine shared with other work the wall time grows with
    # the load; CPU time / cores is what the build needs on idle cores.
    TIMEFORMAT="%R %U %S"
    times="$( { time CARGO_TARGET_DIR="$target" cargo build -p xtask --locked --timings --quiet 2>"$target.log" ; } 2>&1 )" \
        || { cat "$target.log" >&2; exit 1; }
    read -r real user sys <<<"$times"
    printf 'run %s: cold build %.1f s wall, %.1f s CPU (user+sys) = %.1f s per core on %s cores; load average %s\n' \
        "$run" "$real" "$(echo "$user + $sys" | bc -l)" "$(echo "($user + $sys) / $(nproc)" | bc -l)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    report="$(ls "$target"/cargo-timings/cargo-timing-*.html | head -n 1)"
    python3 - "$report" <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
units.sort(key=lambda u: u["duration"], reverse=True)
print("slowest units (seconds, compiled in parallel on the available cores):")
for u in units[:8]:
    print(f"  {u['duration']:6.2f}  {u['name']} {u['version']} {u.get('target', '').strip()}")
PY
    rm -rf "$target" "$target.log"
    trap - EXIT
done
