#!/usr/bin/env bash
# Cold `cargo build -p xtask` against its baseline, side by side in one run.
#
# The baseline is a throw-away crate that depends only on the crates the design names for the
# tool (anyhow, xshell, serde_json with serde's derive, similar, regex, camino) plus xflags and
# toml, each with xtask's features, locked to the same versions as xtask (its Cargo.lock is
# copied), built with the workspace's `[profile.*]` sections (copied from the root Cargo.toml)
# and the same cargo flags (`--offline --timings`). Each build gets a fresh CARGO_TARGET_DIR;
# crates are downloaded before the clock starts. Runs alternate baseline, xtask, baseline,
# xtask... so a change in the machine's load hits both.
#
#   bench/xtask_cold_build.sh [RUNS]     (default 1; the goal is xtask <= 1.6 x baseline)
#
# Prints wall and CPU (user+sys) seconds of each build, their ratios and the median ratios,
# xtask's slowest units and the units only xtask builds (from `cargo build --timings`).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1}"
root="$PWD"
for tool in python3 bc; do
    command -v "$tool" >/dev/null || { echo "$tool is needed by this script" >&2; exit 1; }
done
cargo fetch --locked >/dev/null  # the network is not part of the build time

work="$(mktemp -d /tmp/xtask-cold-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# The baseline crate, with xtask's versions of the crates it shares.
mkdir -p "$work/baseline/src"
cat >"$work/baseline/Cargo.toml" <<'TOML'
[package]
name = "xtask-baseline"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
anyhow = "1"
camino = { version = "1", features = ["serde1"] }
regex = { version = "1", default-features = false, features = ["std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
similar = "2"
toml = { version = "1", default-features = false, features = ["std", "serde", "parse"] }
xflags = "0.3"
xshell = "0.2"

TOML
# The workspace's own profiles (root Cargo.toml), so both builds compile with the same settings.
awk '/^\[/ { keep = ($0 ~ /^\[profile[.]/) } keep' Cargo.toml >>"$work/baseline/Cargo.toml"
grep -q '^\[profile\.' "$work/baseline/Cargo.toml" || { echo "no [profile.*] in Cargo.toml" >&2; exit 1; }
cat >"$work/baseline/src/main.rs" <<'RS'
//! Uses each dependency once, so each is compiled and linked as in a real tool.
#[derive(serde::Deserialize, serde::Serialize)]
struct Settings {
    name: String,
}
xflags::xflags! {
    cmd baseline {
        optional --name name: String
    }
}
fn main() -> anyhow::Result<()> {
    let flags = Baseline::from_env_or_exit();
    let settings: Settings = toml::from_str(&format!("name = {:?}", flags.name.unwrap_or_default()))?;
    let json = serde_json::to_string(&settings)?;
    let word = regex::Regex::new(r"[a-z]+")?;
    let path = camino::Utf8PathBuf::from(word.find(&json).map_or("", |m| m.as_str()));
    let sh = xshell::Shell::new()?;
    let echoed = xshell::cmd!(sh, "echo {json}").read()?;
    print!("{path}{}", similar::TextDiff::from_lines(&json, &echoed).unified_diff());
    Ok(())
}
RS
cp Cargo.lock "$work/baseline/Cargo.lock"

echo "machine: $(nproc) cores; $(cargo --version)"
# Builds one crate cold; sets `wall` and `cpu` (seconds). $1: label, $2: crate dir, then cargo args.
cold_build() {
    local label="$1" dir="$2"
    shift 2
    local target="$work/target-$label"
    rm -rf "$target"
    local times
    TIMEFORMAT="%R %U %S"
    times="$( { time (cd "$dir" && CARGO_TARGET_DIR="$target" cargo build --quiet "$@" 2>"$work/$label.log") ; } 2>&1 )" \
        || { cat "$work/$label.log" >&2; exit 1; }
    read -r wall user sys <<<"$times"
    cpu="$(echo "$user + $sys" | bc -l)"
}

for run in $(seq "$runs"); do
    cold_build baseline "$work/baseline" --offline --timings
    base_wall="$wall" base_cpu="$cpu"
    cold_build xtask "$root" -p xtask --locked --offline --timings
    xtask_wall="$wall" xtask_cpu="$cpu"
    printf 'run %s: baseline %.1f s wall, %.1f s CPU | xtask %.1f s wall, %.1f s CPU | xtask/baseline: %.2f x wall, %.2f x CPU | load average %s\n' \
        "$run" "$base_wall" "$base_cpu" "$xtask_wall" "$xtask_cpu" \
        "$(echo "$xtask_wall / $base_wall" | bc -l)" "$(echo "$xtask_cpu / $base_cpu" | bc -l)" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$(echo "$xtask_wall / $base_wall" | bc -l) $(echo "$xtask_cpu / $base_cpu" | bc -l)" >>"$work/ratios"
done

# The last run's `--timings` reports: the median ratios, xtask's slowest units, and the units
# the baseline does not build (what xtask adds: its own crate and its extra dependencies).
python3 - "$work/ratios" "$work"/target-{xtask,baseline}/cargo-timings/cargo-timing.html <<'PY'
import json, re, statistics, sys
ratios = [line.split() for line in open(sys.argv[1])]
wall, cpu = (statistics.median(float(r[i]) for r in ratios) for i in (0, 1))
print(f"median of {len(ratios)} runs: xtask/baseline {wall:.2f} x wall, {cpu:.2f} x CPU")
def units(report):
    html = open(report).read()
    data = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
    return sorted(data, key=lambda u: u["duration"], reverse=True)
xtask, baseline = units(sys.argv[2]), units(sys.argv[3])
name = lambda u: f"{u['name']} {u['version']} {u.get('target', '').strip()}"
print("xtask's slowest units (seconds, compiled in parallel on the available cores):")
for u in xtask[:10]:
    print(f"  {u['duration']:6.2f}  {name(u)}")
shared = {(u["name"], u.get("target")) for u in baseline}
print("units the baseline does not build:")
for u in xtask:
    if (u["name"], u.get("target")) not in shared:
        print(f"  {u['duration']:6.2f}  {name(u)}")
PY
