#!/usr/bin/env bash
# The embedded vector engines (bench/backend_qdrant_local.py), qdrant-edge-py included, in a venv
# that has it beside the app's packages (the app itself does not depend on it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/xtask/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$root/backend/requirements.txt" \
    qdrant-edge-py==0.9.0
"$venv/bin/python" "$root/bench/backend_qdrant_local.py"
