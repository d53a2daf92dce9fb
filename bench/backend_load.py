"""/api/health while 20 chat clients run, and chat throughput at 1, 4 and 20 clients (offline, 2,000 chunks).

    target/xtask/venv/bin/python bench/backend_load.py [BACKEND_DIR ...]

Goal: /api/health p99 with 20 chat clients ≤ 3× its p99 idle (nothing CPU-bound blocks the event
loop). The baseline is the same app idle, in the same run; pass other backend folders (e.g. an
older checkout: `git archive main backend | tar -x -C /tmp/before`, then `/tmp/before/backend`)
to measure them side by side on the same corpus.
Health is asked by one client, one request every 20 ms, so it measures waiting, not queueing; the
chat clients run in their own process, so the health client's timings do not include the time its
own event loop spends reading chat answers (in one process that alone put tens of ms in the p99).
Bounded: each phase stops after PHASE_S seconds or its request cap.
"""

import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from backend_chat import QUESTIONS, ingest, write_corpus
from backend_common import BACKEND, Server, get, load, percentile, post_json

PHASE_S, MAX_CHAT, MAX_HEALTH, HEALTH_GAP_S = 8.0, 4000, 400, 0.02
CHAT = [post_json("/api/chat", json.dumps({"message": q}).encode()) for q in QUESTIONS]


async def health_probe(port: int, seconds: float) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) < MAX_HEALTH:
        started = time.perf_counter()
        writer.write(get("/api/health"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(HEALTH_GAP_S)
    writer.close()
    return latencies


def chat_load(port: int, clients: int) -> int:
    """Answered chats: run in a child process."""
    return len(asyncio.run(load(port, CHAT, clients, PHASE_S, MAX_CHAT))[0])


async def health_under_chat(port: int, clients: int) -> tuple[list[float], int]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(int).result()  # the child is up before the clock starts
        chat = asyncio.get_running_loop().run_in_executor(pool, chat_load, port, clients)
        await asyncio.sleep(0.5)  # let the chat clients get going
        latencies = await health_probe(port, PHASE_S - 1.0)
        return latencies, await chat


def figures(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 50):6.1f} ms  p99 {percentile(latencies, 99):6.1f} ms  max {max(latencies):6.1f} ms"


def measure(label: str, app_dir: Path, data: Path) -> None:
    server = Server("app.main:app", app_dir, {"DATA_DIR": str(data)})
    try:
        asyncio.run(load(server.port, CHAT, 1, 2.0, 20))  # warm-up
        idle = asyncio.run(health_probe(server.port, PHASE_S - 1.0))
        loaded, chats = asyncio.run(health_under_chat(server.port, 20))
        print(f"{label}")
        print(f"  /api/health idle             {figures(idle)}")
        print(f"  /api/health, 20 chat clients {figures(loaded)}  ({chats / PHASE_S:.0f} chats/s meanwhile)")
        print(f"  p99 loaded / idle: {percentile(loaded, 99) / percentile(idle, 99):.1f}x (goal ≤ 3x)")
        for clients in (1, 4, 20):
            latencies, errors = asyncio.run(load(server.port, CHAT, clients, PHASE_S, MAX_CHAT))
            print(f"  chat, {clients:>2} clients: {len(latencies) / PHASE_S:6.1f} req/s  {figures(latencies)}  {errors} errors")
    finally:
        server.stop()


def main() -> None:
    app_dirs = [Path(a).resolve() for a in sys.argv[1:]] or [BACKEND]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus)
        for n, app_dir in enumerate(app_dirs):
            data = Path(tmp) / f"data{n}"
            chunks, _, _ = asyncio.run(ingest(corpus, data))
            measure(f"{app_dir} ({chunks} chunks)", app_dir, data)


if __name__ == "__main__":
    main()
