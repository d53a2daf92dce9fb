"""`app.main:app` instrumented from inside, for bench/backend_inside.py (never used by the app).

Records the event loop's wake-up lateness (a task sleeping 1 ms again and again), each request's
time in the app, and each CPU job's thread CPU and wall time (the app's run_cpu and SQLite calls
wrapped); GET /inside returns them as JSON and starts a new sample. Environment:
INSIDE_WORKER_NICE=N sets the worker thread's nice value to N (0: the loop's own priority);
INSIDE_MODE=process-sim runs each retrieval job for real once per question, then answers it from
that result while a worker *process* burns the job's measured CPU time: what a process pool would
cost and save, without building one; INSIDE_MODE=pipe-sim does the same with a worker process the
event loop reaches through one socket it reads itself (no helper threads in the server), the
result pickled both ways and the process at the worker thread's nice +10. Each mode's first run of
a question, and every job that is not a question's, still runs in the worker thread.
The collector's passes are timed too, as jobs named `gc genN`.
"""

import asyncio
import gc
import itertools
import json
import multiprocessing
import os
import pickle
import socket
import struct
import subprocess
import sys
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
CACHED_JOBS = ("RagService._retrieve_local", "HashingEmbedder.embed", "LexicalIndex.fuse", "OfflineWriter._write", "VectorStore._locked")


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
    if os.environ.get("INSIDE_MODE") == "pipe-sim":
        return await PIPE.run(result, cpu_ms)
    if _process is None:
        _process = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    await asyncio.get_running_loop().run_in_executor(_process, burn, cpu_ms)
    return result


# The simulated worker process of pipe-sim: reads (job id, CPU µs, size) and a pickled result,
# burns the CPU time, sends the id and the same bytes back.
CHILD = f"""
import os, socket, struct, time
os.nice({workers.WORKER_NICE})
channel = socket.socket(fileno=int(os.environ["INSIDE_PIPE_FD"]))
read, write = channel.makefile("rb"), channel.makefile("wb", buffering=0)
while len(head := read.read(16)) == 16:
    job, cpu_us, size = struct.unpack("<QII", head)
    result = read.read(size)
    end = time.thread_time() + cpu_us / 1e6
    while time.thread_time() < end:
        pass
    write.write(struct.pack("<QI", job, size) + result)
"""


class PipeWorker:
    """A worker process whose answers the event loop reads from a socket: no thread in between."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.jobs = itertools.count()
        self.started: asyncio.Task[asyncio.StreamWriter] | None = None  # one start for concurrent jobs
        self.process: subprocess.Popen[bytes] | None = None

    async def _start(self) -> asyncio.StreamWriter:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "INSIDE_PIPE_FD": str(theirs.fileno())}
        self.process = subprocess.Popen([sys.executable, "-c", CHILD], pass_fds=[theirs.fileno()], env=env)
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        self.reader = asyncio.get_running_loop().create_task(self._answers(reader))
        return writer

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        while True:
            job, size = struct.unpack("<QI", await reader.readexactly(12))
            self.pending.pop(job).set_result(pickle.loads(await reader.readexactly(size)))

    async def run(self, result: Any, cpu_ms: float) -> Any:
        if self.started is None:
            self.started = asyncio.get_running_loop().create_task(self._start())
        writer = await self.started
        job = next(self.jobs)
        self.pending[job] = asyncio.get_running_loop().create_future()
        body = pickle.dumps(result)
        writer.write(struct.pack("<QII", job, int(cpu_ms * 1000), len(body)) + body)
        return await self.pending[job]

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


PIPE = PipeWorker()
_collecting = [0.0]


def time_collections(phase: str, info: dict[str, Any]) -> None:
    """gc.callbacks: each pass of the collector, as a job (its time is wall time, GIL held)."""
    if phase == "start":
        _collecting[0] = time.perf_counter()
    else:
        took = (time.perf_counter() - _collecting[0]) * 1000
        STATS["jobs"].setdefault(f"gc gen{info['generation']}", []).append((took, took))


def install() -> None:
    import app.db.qdrant
    import app.services.embedding
    import app.services.llm
    import app.services.rag_service
    import app.services.runtime

    simulated = os.environ.get("INSIDE_MODE") in ("process-sim", "pipe-sim")
    run_cpu = simulated_run_cpu if simulated else timed_run_cpu
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
    gc.callbacks.append(time_collections)
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
            PIPE.stop()
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
