"""Embedded Qdrant in a process of its own, with the offline retrieval (local embedder, search,
keyword ranking) that runs next to it.

That work is pure Python and holds the GIL for about 1.3 ms per question: in the server's own
process the event loop waited for the GIL behind it, and `/api/health` with it (docs/backend.md,
*The engine process*). Here it runs on the other core, below the event loop's priority, and the
event loop reads the answers from one socket itself: no thread in between.

The server talks to it through `LocalEngine`, which offers VectorStore's methods plus `retrieve`
and `refresh_lexical`; the child (`python -m app.db.local_engine FD`) runs the in-process
VectorStore and RagService on them. The child is started on first use, exits when the server
closes its socket (also when the server is killed), and is started again by the next request if
it died. Messages are pickled (the child is this app, started by it, on a socketpair).
"""

import asyncio
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.core.workers import WORKER_NICE, run_cpu

if TYPE_CHECKING:
    from app.db.qdrant import Hit
    from app.models.schemas import Passage

log = logging.getLogger(__name__)

HEADER = struct.Struct("<QI")  # job number, size of the pickled message that follows
APP_ROOT = Path(__file__).resolve().parents[2]  # the folder holding app/
CLOSE_WAIT_S = 10.0  # for the child to close its collection after the server closed the socket


def embedded_path(data_dir: str) -> str:
    """Where embedded Qdrant keeps its collections, under DATA_DIR."""
    return os.path.join(data_dir, "qdrant")


def embedded_report(path: str) -> dict[str, str]:
    """Health's entry for embedded Qdrant once its collection is ready."""
    return {"status": "local", "detail": f"embedded Qdrant at {path} (QDRANT_URL not set)"}


class LocalEngine:
    """VectorStore's interface for embedded Qdrant, served by the engine process."""

    local = True

    def __init__(self, settings: Settings, vector_name: str, dimensions: int, hybrid: bool):
        data_dir = os.path.abspath(settings.data_dir)
        self.path = embedded_path(data_dir)
        # What the child needs, and nothing else of the settings (no key, no database URL).
        self._start_with = (
            {"data_dir": data_dir, "qdrant_collection": settings.qdrant_collection},
            settings.log_level,
            vector_name,
            dimensions,
            hybrid,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._started: asyncio.Task[asyncio.StreamWriter] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._jobs = itertools.count()
        self._ready = False

    async def _start(self) -> asyncio.StreamWriter:
        ours, theirs = socket.socketpair()
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(APP_ROOT), path]))}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.db.local_engine", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except OSError as err:
            ours.close()
            self._started = None  # the next request tries again
            reason = f"cannot start the embedded Qdrant's process: {err}"
            raise ServiceUnavailable("qdrant", reason) from None
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        self._reader = asyncio.create_task(self._answers(reader, writer, self.process))
        writer.write(_frame(0, self._start_with))
        return writer

    async def _answers(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        process: "subprocess.Popen[bytes]",
    ) -> None:
        try:
            while True:
                job, size = HEADER.unpack(await reader.readexactly(HEADER.size))
                ok, value = pickle.loads(await reader.readexactly(size))
                future = self._pending.pop(job, None)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # Before any await: a request from now on starts a new engine, and its answers
            # are not this one's to fail.
            writer.close()
            self._started, self._ready = None, False
            pending, self._pending = self._pending, {}
            gone = ServiceUnavailable(
                "qdrant",
                f"the embedded Qdrant's process exited ({await _exit_status(process)}; its error is "
                "in the log above): the next request starts it again",
            )
            for future in pending.values():
                if not future.done():
                    future.set_exception(gone)

    async def _call(self, op: str, *args: Any, large: bool = False) -> Any:
        """`op` in the engine process; `large` messages (a batch of vectors) are pickled in the
        worker thread instead of on the event loop."""
        if self._started is None:
            self._started = asyncio.create_task(self._start())
        # Shielded: a request cancelled while the engine starts (its client left) must not
        # cancel the start for the requests waiting with it.
        writer = await asyncio.shield(self._started)
        job = next(self._jobs)
        message = (op, args)
        frame = await run_cpu(_frame, job, message) if large else _frame(job, message)
        if writer.is_closing():  # the engine exited meanwhile: no answer would come
            raise ServiceUnavailable(
                "qdrant", "the embedded Qdrant's process exited: the next request starts it again"
            )
        future = asyncio.get_running_loop().create_future()
        self._pending[job] = future
        writer.write(frame)
        return await future

    async def ensure_collection(self) -> None:
        if not self._ready:
            await self._call("ensure_collection")
            self._ready = True

    async def search(
        self, vector: list[float], limit: int, with_payload: bool = True
    ) -> "list[Hit]":
        hits: list[Hit] = await self._call("search", vector, limit, with_payload)
        return hits

    async def payloads(self, origin: str | None, fields: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("payloads", origin, fields)
        return found

    async def hashes(self, origin: str) -> dict[str, str]:
        hashes: dict[str, str] = await self._call("hashes", origin)
        return hashes

    async def upsert(self, ids: list[str], vectors: list[list[float]], payloads: list[Any]) -> None:
        await self._call("upsert", ids, vectors, payloads, large=True)

    async def delete(self, ids: list[str]) -> None:
        if ids:
            await self._call("delete", ids)

    async def count(self) -> int:
        count: int = await self._call("count")
        return count

    async def probe(self) -> dict[str, str]:
        """Like the in-process store's: once the collection is ready, no round trip (a long
        ingest in the engine does not hold health up); a dead engine is found by `_answers`."""
        await self.ensure_collection()
        return embedded_report(self.path)

    async def retrieve(self, question: str, limit: int) -> "list[Passage]":
        """The local embedder's retrieval (RagService.retrieve), in the engine process."""
        passages: list[Passage] = await self._call("retrieve", question, limit)
        return passages

    async def refresh_lexical(self, if_missing: bool = False) -> None:
        await self._call("refresh_lexical", if_missing)

    async def close(self) -> None:
        """Closes the socket: the engine closes its collection and exits."""
        started, self._started = self._started, None
        if started is not None:
            try:
                writer = await started
            except ServiceUnavailable:
                return  # it never started
            writer.close()
            await asyncio.gather(self._reader, return_exceptions=True)
        process = self.process
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, CLOSE_WAIT_S)
            except subprocess.TimeoutExpired:
                log.warning(
                    "the embedded Qdrant's process did not exit in %.0f s: killed", CLOSE_WAIT_S
                )
                process.kill()
                await asyncio.to_thread(process.wait)


async def _exit_status(process: "subprocess.Popen[bytes]") -> str:
    """How an engine whose socket closed ended (it may still be running a moment)."""
    try:
        code = await asyncio.to_thread(process.wait, CLOSE_WAIT_S)
    except subprocess.TimeoutExpired:
        return "it closed its socket but still runs"
    return f"signal {-code}" if code < 0 else f"code {code}"


def _frame(job: int, message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(job, len(body)) + body


def _answer(job: int, ok: bool, value: Any) -> bytes:
    try:
        return _frame(job, (ok, value))
    except Exception:  # an exception that cannot be pickled: its type and message
        return _frame(job, (False, RuntimeError(f"{type(value).__name__}: {value}")))


async def serve(channel: socket.socket) -> None:
    """The engine process: answers requests concurrently until the server closes the socket."""
    from app.core import logging as app_logging
    from app.core.workers import freeze_long_lived_objects
    from app.db.qdrant import VectorStore
    from app.services.embedding import HashingEmbedder
    from app.services.rag_service import RagService

    reader, writer = await asyncio.open_connection(sock=channel)
    try:
        _, size = HEADER.unpack(await reader.readexactly(HEADER.size))
        start_with = pickle.loads(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the server closed the socket before it asked anything
    fields, log_level, vector_name, dimensions, hybrid = start_with
    app_logging.configure(log_level)
    store = VectorStore(Settings.model_construct(**fields), vector_name, dimensions)
    # Retrieval only: the server keeps the history and writes the answers.
    rag = RagService(HashingEmbedder(), store, None, None, hybrid)  # type: ignore[arg-type]

    async def refresh_lexical(if_missing: bool) -> None:
        await rag.refresh_lexical(if_missing)
        await run_cpu(freeze_long_lived_objects)  # the index lives as long as the process

    operations: dict[str, Callable[..., Awaitable[Any]]] = {
        "ensure_collection": store.ensure_collection,
        "search": store.search,
        "payloads": store.payloads,
        "hashes": store.hashes,
        "upsert": store.upsert,
        "delete": store.delete,
        "count": store.count,
        "retrieve": rag.retrieve,
        "refresh_lexical": refresh_lexical,
    }
    running: set[asyncio.Task[None]] = set()

    async def run(job: int, op: str, args: tuple[Any, ...]) -> None:
        try:
            answer = _answer(job, True, await operations[op](*args))
        except Exception as err:
            answer = _answer(job, False, err)
        writer.write(answer)

    try:
        while True:
            job, size = HEADER.unpack(await reader.readexactly(HEADER.size))
            op, args = pickle.loads(await reader.readexactly(size))
            task = asyncio.create_task(run(job, op, args))
            running.add(task)
            task.add_done_callback(running.discard)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the server closed the socket, or exited
    finally:
        await asyncio.gather(*running, return_exceptions=True)
        await store.close()


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the server shuts down and closes the
    # socket, which ends this process after its collection is closed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICE)  # below the event loop, like the server's worker thread
    except OSError as err:
        log.warning("the embedded Qdrant's process keeps the server's priority: %s", err)
    from app.core.workers import configure_process

    configure_process()
    asyncio.run(serve(socket.socket(fileno=int(sys.argv[1]))))


if __name__ == "__main__":
    main()
