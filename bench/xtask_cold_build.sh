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
    trap 'rm -rf "$target"' EXIT
    start=$(date +%s.%N)
    CARGO_TARGET_DIR="$target" cargo build -p xtask --locked --timings --quiet
    end=$(date +%s.%N)
    printf 'run %s: cold build %.1f s\n' "$run" "$(echo "$end - $start" | bc -l)"
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
    rm -rf "$target"
    trap - EXIT
done
