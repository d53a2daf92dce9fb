"""`app.main:app` instrumented from inside, for bench/backend_inside.py (never used by the app).

Records the event loop's wake-up lateness (a task sleeping 1 ms again and again), each request's
time in the app, and each CPU job's thread CPU and wall time (the app's run_cpu and SQLite calls
wrapped); GET /inside returns them as JSON and starts a new sample. Environment:
INSIDE_WORKER_NICE=N sets the worker thread's nice value to N (0: the loop's own priority);
INSIDE_MODE=process-sim runs each retrieval job for real once per question, then answers it from
that result while a worker *process* burns the job's measured CPU time: what a process pool would
cost and save, without building one.
"""

import asyncio
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from app.core import workers
from app.db import sqlite
from app.main import app as inner

STATS: dict[str, Any] = {}
SAMPLES = ("lag", "health_ms", "chat_ms", "queue_wait")
CACHED_JOBS = ("HashingEmbedder.embed", "LexicalIndex.fuse", "OfflineWriter._write", "VectorStore._locked")


def reset() -> None:
    STATS.update({name: [] for name in SAMPLES}, jobs={})


def record_job(name: str, cpu_started: float, wall_started: float) -> None:
    STATS["jobs"].setdefault(name, []).append(
        ((time.thread_time() - cpu_started) * 1000, (time.perf_counter() - wall_started) * 1000))


async def timed_run_cpu(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    name = getattr(function, "__qualname__", "?")
    submitted = time.perf_counter()

    def job() -> Any:
        STATS["queue_wait"].append((time.perf_counter() - submitted) * 1000)
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            record_job(name, cpu, wall)

    return await asyncio.get_running_loop().run_in_executor(workers._POOL, job)


def burn(ms: float) -> None:
    """Runs in the simulated worker process."""
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


_cache: dict[tuple[str, Any], tuple[Any, float]] = {}
_process: ProcessPoolExecutor | None = None


def _question_key(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any] | None:
    name = getattr(function, "__qualname__", "?")
    if name not in CACHED_JOBS:
        return None
    if name == "VectorStore._locked":  # (method, args, kwargs): only searches repeat
        return (name, tuple(args[2]["query"][:8])) if args[0] == "query_points" else None
    return next(((name, a) for a in args if isinstance(a, str)), None)


async def simulated_run_cpu(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    global _process
    key = _question_key(function, args)
    if key is None or key not in _cache:
        result = await timed_run_cpu(function, *args, **kwargs)
        if key is not None:
            _cache[key] = (result, STATS["jobs"][key[0]][-1][0])
        return result
    result, cpu_ms = _cache[key]
    if _process is None:
        _process = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    await asyncio.get_running_loop().run_in_executor(_process, burn, cpu_ms)
    return result


def install() -> None:
    import app.db.qdrant
    import app.services.embedding
    import app.services.llm
    import app.services.rag_service
    import app.services.runtime

    run_cpu = simulated_run_cpu if os.environ.get("INSIDE_MODE") == "process-sim" else timed_run_cpu
    for module in (workers, app.services.embedding, app.services.llm, app.services.rag_service,
                   app.services.runtime, app.db.qdrant):
        module.run_cpu = run_cpu  # type: ignore[attr-defined]
    sqlite_run = sqlite.SqliteFile.run

    async def timed_sqlite(self: sqlite.SqliteFile, work: Callable[[Any], Any]) -> Any:
        def timed(db: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return work(db)
            finally:
                record_job("sqlite " + getattr(work, "__qualname__", "?"), cpu, wall)

        return await sqlite_run(self, timed)

    sqlite.SqliteFile.run = timed_sqlite  # type: ignore[method-assign]


async def lag_monitor() -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        STATS["lag"].append((time.perf_counter() - started - 0.001) * 1000)


def start() -> None:
    asyncio.get_running_loop().create_task(lag_monitor())
    STATS["loop"] = type(asyncio.get_running_loop()).__module__
    if "INSIDE_WORKER_NICE" in os.environ:
        nice = int(os.environ["INSIDE_WORKER_NICE"])
        workers._POOL.submit(
            lambda: os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)).result()


_started = False


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    global _started
    if not _started:
        _started = True
        start()
    if scope["type"] == "lifespan":
        try:
            return await inner(scope, receive, send)
        finally:  # the app has shut down: so does the simulated worker process
            if _process is not None:
                _process.shutdown(cancel_futures=True)
    if scope["type"] != "http":
        return await inner(scope, receive, send)
    if scope["path"] == "/inside":
        STATS["threads"] = {str(t.native_id): t.name for t in threading.enumerate()}
        body = json.dumps(STATS).encode()
        reset()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    started = time.perf_counter()
    try:
        await inner(scope, receive, send)
    finally:
        STATS["health_ms" if scope["path"] == "/api/health" else "chat_ms"].append(
            (time.perf_counter() - started) * 1000)


reset()
install()
