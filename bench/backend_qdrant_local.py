"""The embedded vector engines at 2,000 chunks: qdrant-client's local mode (pure Python over numpy)
with a cosine collection (the baseline) and with the dot-product one app/db/qdrant.py creates over
unit vectors, against qdrant-edge-py (Qdrant's engine in-process, Rust) when it is installed.

    target/xtask/venv/bin/python bench/backend_qdrant_local.py   # local mode only (the app's venv)
    bash bench/backend_qdrant_local.sh                             # also qdrant-edge-py, in a bench venv

For each engine, in a fresh process (so RSS is its own): ingest time (upserts of 256 points),
reopening the stored collection (what a restart costs), search latency (top 30 with payloads),
RSS, and how late an event loop in the same process wakes while a thread searches back to back
(the loop sleeps 1 ms again and again: what /api/health waits on top of its own work; near the
idle figure only if the engine lets go of the GIL). Bounded: SEARCHES searches, LOOP_S seconds.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from lateness import loop_lateness

CHUNKS, DIMENSIONS, SEARCHES, LIMIT, BATCH, LOOP_S, SLEEP_S = 2000, 1024, 200, 30, 256, 3.0, 0.001
PAYLOAD = {"title": "Guide › Topic", "url_or_path": "docs/guide.md#topic", "text": "words " * 150}
ENGINES = ("local-cosine", "local-dot", "edge-dot")


class Engine(Protocol):
    def upsert(self, ids: list[int], vectors: np.ndarray) -> None: ...
    def search(self, vector: np.ndarray) -> tuple[int, float]: ...
    def close(self) -> None: ...


class Local:
    def __init__(self, path: str, distance: str, create: bool):
        from qdrant_client import QdrantClient, models

        self.models = models
        self.client = QdrantClient(path=path)
        if create:
            self.client.create_collection("bench", vectors_config={
                "v": models.VectorParams(size=DIMENSIONS, distance=models.Distance[distance.upper()])})
        # The app's WAL setting for local mode (app/db/qdrant.py: VectorStore._fast_local_commits).
        for collection in self.client._client.collections.values():
            collection.storage.storage.execute("PRAGMA journal_mode=WAL")
            collection.storage.storage.execute("PRAGMA synchronous=NORMAL")

    def upsert(self, ids: list[int], vectors: np.ndarray) -> None:
        points = [self.models.PointStruct(id=i, vector={"v": v.tolist()}, payload=PAYLOAD) for i, v in zip(ids, vectors)]
        self.client.upsert("bench", points=points)

    def search(self, vector: np.ndarray) -> tuple[int, float]:
        best = self.client.query_points("bench", query=vector.tolist(), using="v", limit=LIMIT, with_payload=True).points[0]
        return int(best.id), best.score

    def close(self) -> None:
        self.client.close()


class Edge:
    def __init__(self, path: str, distance: str, create: bool):
        import qdrant_edge as q

        self.q = q
        config = q.EdgeConfig(vectors={"v": q.EdgeVectorParams(size=DIMENSIONS, distance=q.Distance.Dot)},
                              max_search_threads=1)  # one core for search, as the app's worker
        self.shard = q.EdgeShard.create(path, config) if create else q.EdgeShard.load(path)

    def upsert(self, ids: list[int], vectors: np.ndarray) -> None:
        q = self.q
        self.shard.update(q.UpdateOperation.upsert_points(
            [q.Point(i, {"v": v.tolist()}, PAYLOAD) for i, v in zip(ids, vectors)]))

    def search(self, vector: np.ndarray) -> tuple[int, float]:
        q = self.q
        best = self.shard.query(q.QueryRequest(limit=LIMIT, query=q.Query.Nearest(vector.tolist(), using="v"), with_payload=True))[0]
        return int(best.id), best.score

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()


def open_engine(name: str, path: str, create: bool) -> Engine:
    kind, distance = name.split("-")
    return (Local if kind == "local" else Edge)(path, distance, create)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure(name: str) -> dict[str, Any]:
    sys.setswitchinterval(0.001)  # the app's (app/core/workers.py)
    rng = np.random.default_rng(7860)
    vectors = rng.normal(size=(CHUNKS, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    result: dict[str, Any] = {"engine": name, "rss_start_mb": rss_mb()}
    with tempfile.TemporaryDirectory() as data:
        path = os.path.join(data, "store")
        started = time.perf_counter()
        engine = open_engine(name, path, create=True)
        for start in range(0, CHUNKS, BATCH):
            engine.upsert(list(range(start, min(start + BATCH, CHUNKS))), vectors[start:start + BATCH])
        engine.close()
        result["ingest_s"] = time.perf_counter() - started
        started = time.perf_counter()
        engine = open_engine(name, path, create=False)
        result["reopen_s"] = time.perf_counter() - started
        timings = []
        for n in range(SEARCHES):
            started = time.perf_counter()
            found, score = engine.search(vectors[n % CHUNKS])
            timings.append((time.perf_counter() - started) * 1000)
            assert found == n % CHUNKS and score > 0.99, (name, n, found, score)
        result["search_p50_ms"], result["search_p99_ms"] = p(timings, 50), p(timings, 99)
        result["rss_mb"] = rss_mb()
        result["idle_late_p99_ms"] = p(asyncio.run(loop_lateness(LOOP_S, SLEEP_S)), 99)
        stop = threading.Event()

        def search_until_stopped() -> None:
            n = 0
            while not stop.is_set():
                engine.search(vectors[n % CHUNKS])
                n += 1

        searcher = threading.Thread(target=search_until_stopped)
        searcher.start()
        try:
            late = asyncio.run(loop_lateness(LOOP_S, SLEEP_S))
        finally:
            stop.set()
            searcher.join()
        result["busy_late_p50_ms"], result["busy_late_p99_ms"] = p(late, 50), p(late, 99)
        engine.close()
    return result


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--engine":
        print(json.dumps(measure(sys.argv[2])))
        return
    try:
        import qdrant_edge  # noqa: F401
        engines = ENGINES
    except ImportError:
        engines = ENGINES[:2]
        print("qdrant-edge-py is not installed here: `bash bench/backend_qdrant_local.sh` measures it too")
    print(f"{CHUNKS} chunks of {DIMENSIONS} dimensions; load average {os.getloadavg()[0]:.2f}")
    print(f"{'engine':<13} {'ingest':>8} {'reopen':>8} {'search p50':>11} {'p99':>8} {'RSS':>8} "
          f"{'loop late idle p99':>19} {'while searching p50':>20} {'p99':>8}")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as the app runs (app/core/workers.py)
    for name in engines:
        child = subprocess.run([sys.executable, __file__, "--engine", name], capture_output=True,
                               text=True, timeout=600, check=False, env=env)
        if child.returncode:
            sys.exit(f"{name} failed:\n{child.stderr}")
        r = json.loads(child.stdout)
        print(f"{name:<13} {r['ingest_s']:7.2f}s {r['reopen_s']:7.2f}s {r['search_p50_ms']:8.2f} ms "
              f"{r['search_p99_ms']:5.2f} ms {r['rss_mb']:5.0f} MB {r['idle_late_p99_ms']:16.2f} ms "
              f"{r['busy_late_p50_ms']:17.2f} ms {r['busy_late_p99_ms']:5.2f} ms")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
