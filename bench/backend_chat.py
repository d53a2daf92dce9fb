"""Offline /api/chat with 2,000 chunks indexed, ingest of those chunks, and the app's memory.

    target/xtask/venv/bin/python bench/backend_chat.py

Budgets: ingest of 2,000 chunks with the local embedder ≤ 30 s; /api/chat p50 ≤ 100 ms;
RSS with embedded defaults ≤ 400 MB. Baseline in the same run: a bare FastAPI app echoing the
question (same uvicorn, same client, same questions).
The corpus: the eval docs plus generated Markdown (seeded, words drawn from the eval docs),
40 files × 49 sections; the questions: the eval set, one client, one after another.
"""

import asyncio
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from backend_common import BACKEND, BENCH, Server, load, percentile, post_json

sys.path.insert(0, str(BACKEND))

from app.core.config import Settings  # noqa: E402
from app.db.qdrant import VectorStore  # noqa: E402
from app.services.embedding import HashingEmbedder  # noqa: E402
from app.services.ingest import ingest_paths  # noqa: E402

KNOWLEDGE = BACKEND / "tests" / "data" / "knowledge"
QUESTIONS = [q["question"] for q in json.loads((BACKEND / "tests" / "data" / "eval.json").read_text())]
FILES, SECTIONS, WORDS = 40, 49, 120
SECONDS, MAX_REQUESTS = 20.0, 400


def write_corpus(folder: Path) -> None:
    rng = random.Random(7860)
    vocabulary = re.findall(r"[A-Za-z]+", " ".join(p.read_text() for p in KNOWLEDGE.glob("*.md")))
    for f in range(FILES):
        sections = [f"# Generated guide {f}"]
        for s in range(SECTIONS):
            words = " ".join(rng.choice(vocabulary) for _ in range(WORDS))
            sections.append(f"## Topic {f}.{s} {rng.choice(vocabulary)}\n\n{words}.")
        (folder / f"guide{f:02}.md").write_text("\n\n".join(sections))
    for doc in KNOWLEDGE.glob("*.md"):
        (folder / doc.name).write_text(doc.read_text())


async def ingest(folder: Path, data: Path) -> tuple[int, float, float]:
    embedder = HashingEmbedder()
    store = VectorStore(Settings(data_dir=str(data)), embedder.name, embedder.dimensions)
    try:
        first = await ingest_paths([str(folder)], embedder, store)
        again = await ingest_paths([str(folder)], embedder, store)
    finally:
        await store.close()
    return first.chunks, first.seconds, again.seconds


def main() -> None:
    requests = [post_json("/api/chat", json.dumps({"message": q}).encode()) for q in QUESTIONS]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, data = Path(tmp) / "corpus", Path(tmp) / "data"
        corpus.mkdir()
        write_corpus(corpus)
        chunks, first, again = asyncio.run(ingest(corpus, data))
        print(f"ingest: {chunks} chunks in {first:.2f} s ({chunks / first:.0f} chunks/s); unchanged re-ingest {again:.2f} s")
        for label, target, app_dir in (
            ("baseline: bare FastAPI", "backend_baseline_app:app", BENCH),
            ("app, embedded defaults", "app.main:app", BACKEND),
        ):
            started = time.perf_counter()
            server = Server(target, app_dir, {"DATA_DIR": str(data)})
            try:
                asyncio.run(load(server.port, requests, 1, 2.0, 20))  # warm-up
                latencies, errors = asyncio.run(load(server.port, requests, 1, SECONDS, MAX_REQUESTS))
                rss = server.rss_mb()
            finally:
                server.stop()
            print(
                f"{label:<24} start {server.started_in:.2f} s  chat: {len(latencies)} ok {errors} errors  "
                f"p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms  RSS {rss:.0f} MB"
            )


if __name__ == "__main__":
    main()
