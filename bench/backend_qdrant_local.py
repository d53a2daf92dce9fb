"""Embedded Qdrant (qdrant-client local mode) search at 2,000 chunks: a cosine collection (the
baseline) against a dot-product one over the same unit vectors, which app/db/qdrant.py uses.

    target/xtask/venv/bin/python bench/backend_qdrant_local.py

Same scores either way (the vectors are normalized); local mode recomputes every stored vector's
norm at each cosine search. Bounded: SEARCHES searches per collection.
"""

import tempfile
import time

import numpy as np
from qdrant_client import QdrantClient, models

CHUNKS, DIMENSIONS, SEARCHES, LIMIT = 2000, 1024, 50, 30


def main() -> None:
    rng = np.random.default_rng(7860)
    vectors = rng.normal(size=(CHUNKS, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    payload = {"title": "Guide › Topic", "url_or_path": "docs/guide.md#topic", "text": "words " * 150}
    for distance in (models.Distance.COSINE, models.Distance.DOT):
        with tempfile.TemporaryDirectory() as data:
            client = QdrantClient(path=data)
            client.create_collection("bench", vectors_config={"v": models.VectorParams(size=DIMENSIONS, distance=distance)})
            client.upsert("bench", points=[
                models.PointStruct(id=i, vector={"v": vectors[i].tolist()}, payload=payload) for i in range(CHUNKS)
            ])
            started = time.perf_counter()
            for query in vectors[:SEARCHES]:
                best = client.query_points("bench", query=query.tolist(), using="v", limit=LIMIT, with_payload=True).points[0]
            elapsed = (time.perf_counter() - started) / SEARCHES * 1000
            print(f"{distance.value:<7} {elapsed:6.2f} ms per search (top {LIMIT} with payloads); best score {best.score:.4f}")
            client.close()


if __name__ == "__main__":
    main()
