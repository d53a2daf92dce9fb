"""recall@5 of an embedder on the hand-written eval set: the share of questions whose answering
section is among the five passages retrieved. Shared by the test and bench/backend_recall.py."""

import json
from pathlib import Path

from app.core.config import Settings
from app.db.qdrant import VectorStore
from app.services.embedding import Embedder
from app.services.ingest import ingest_paths

DATA = Path(__file__).resolve().parent / "data"
KNOWLEDGE = DATA / "knowledge"
EVAL_SET = DATA / "eval.json"


async def recall_at_5(embedder: Embedder, data_dir: Path) -> tuple[float, list[str]]:
    """(recall@5, the questions missed) after ingesting the eval corpus into a fresh local Qdrant."""
    questions = json.loads(EVAL_SET.read_text())
    store = VectorStore(Settings(data_dir=str(data_dir)), embedder.name, embedder.dimensions)
    try:
        await ingest_paths([str(KNOWLEDGE)], embedder, store)
        missed = []
        for item in questions:
            hits = await store.search(await embedder.embed_query(item["question"]), 5)
            if item["answer"] not in [h.payload["url_or_path"] for h in hits]:
                missed.append(item["question"])
    finally:
        await store.close()
    return 1 - len(missed) / len(questions), missed
