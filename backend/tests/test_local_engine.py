"""Embedded Qdrant and the offline retrieval run in a process of their own (app/db/local_engine.py):
health answers whatever that process does, a dead one is a clear 503 and is started again, it
runs below the event loop's priority, and it never outlives the server."""

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from app.core import workers
from app.db import local_engine
from app.db.local_engine import LocalEngine
from app.db.qdrant import VectorStore
from app.services.embedding import HashingEmbedder
from tests.conftest import KNOWLEDGE, make_settings, run_python, running
from tests.test_server import Uvicorn

QUESTION = {"message": "How do I deploy to Hugging Face Spaces?"}
EXPECTED = "knowledge/deploy.md#deploy-to-hugging-face-spaces"


def engine_of(client) -> LocalEngine:
    store = client.app.state.startup.services.store
    assert isinstance(store, LocalEngine)
    assert store.process is not None and store.process.poll() is None
    return store


async def test_health_answers_while_the_engine_is_stopped_in_the_middle_of_a_question(tmp_path):
    """The question waits in the stopped engine; health is answered by the server meanwhile.
    With the retrieval in the server's process, health waited for the question."""
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        engine = engine_of(client)
        os.kill(engine.process.pid, signal.SIGSTOP)
        try:
            chat = asyncio.create_task(client.post("/api/chat", json=QUESTION))
            await asyncio.sleep(0.2)
            health = await asyncio.wait_for(client.get("/api/health"), 5)
            question_still_held = not chat.done()
        finally:
            os.kill(engine.process.pid, signal.SIGCONT)
        answer = await asyncio.wait_for(chat, 30)
    assert health.status_code == 200, health.text
    assert question_still_held, "the question did not wait for the engine: was it there at all?"
    assert answer.status_code == 200
    assert answer.json()["sources"][0]["url_or_path"] == EXPECTED


async def test_a_killed_engine_is_a_clear_503_and_the_next_question_starts_it_again(tmp_path):
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        engine = engine_of(client)
        first = engine.process.pid
        chat = asyncio.create_task(client.post("/api/chat", json=QUESTION))
        os.kill(first, signal.SIGKILL)
        lost = await asyncio.wait_for(chat, 30)
        health = await client.get("/api/health")
        again = await client.post("/api/chat", json=QUESTION)
        second = engine.process.pid
    # The question sent as the engine died may have been answered before it died.
    if lost.status_code != 200:
        assert lost.status_code == 503
        assert lost.json()["service"] == "qdrant"
        assert lost.json()["detail"].startswith(
            "qdrant: the embedded Qdrant's process exited (signal 9; its error is in the log above)"
        )
        assert "Traceback" not in lost.text
    assert health.status_code == 200, health.text  # the probe started it again
    assert again.status_code == 200, again.text
    assert again.json()["sources"][0]["url_or_path"] == EXPECTED
    assert second != first


@pytest.mark.skipif(sys.platform != "linux", reason="process priorities as Linux ranks them")
async def test_the_engine_runs_below_the_event_loops_priority(tmp_path):
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        engine_nice = os.getpriority(os.PRIO_PROCESS, engine_of(client).process.pid)
        loop_nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert engine_nice == min(19, loop_nice + workers.WORKER_NICE)


def exited(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_engine_exits_with_the_server_even_a_killed_one_and_frees_the_store(tmp_path):
    server = Uvicorn(DATA_DIR=str(tmp_path), KNOWLEDGE_PATHS=str(KNOWLEDGE))
    try:
        status, _ = server.call("POST", "/api/chat", QUESTION)
        assert status == 200
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        (engine,) = [int(pid) for pid in children.read_text().split()]
    finally:
        server.process.kill()
        server.process.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while not exited(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not exited(engine):
        os.kill(engine, signal.SIGKILL)
        pytest.fail("the engine process outlived the killed server by 20 s")
    # Its collection is closed: the store opens in another process.
    script = (
        "import asyncio\n"
        "from app.core.config import Settings\n"
        "from app.db.qdrant import VectorStore\n"
        f"store = VectorStore(Settings(data_dir={str(tmp_path)!r}), {HashingEmbedder.name!r}, "
        f"{HashingEmbedder.dimensions})\n"
        "print(asyncio.run(store.count()))\n"
    )
    result = run_python(script)
    assert int(result.stdout.split()[-1]) > 30


async def test_a_store_in_use_elsewhere_is_reported_from_the_engine_with_its_reason(tmp_path):
    settings = make_settings(tmp_path)
    holder = VectorStore(settings, HashingEmbedder.name, HashingEmbedder.dimensions)
    try:
        async with running(settings) as client:
            health = await client.get("/api/health")
            chat = await client.post("/api/chat", json=QUESTION)
    finally:
        await holder.close()
    assert health.status_code == 503
    assert "is in use by another process" in health.json()["services"]["qdrant"]["detail"]
    assert chat.status_code == 503
    assert chat.json()["service"] == "qdrant"
    assert "is in use by another process" in chat.json()["detail"]


async def test_a_request_cancelled_while_the_engine_starts_leaves_the_start_to_the_others(
    tmp_path,
):
    """A client that leaves while the engine starts (e.g. the first question after a crash)
    must not cancel the start the requests behind it wait for."""
    settings = make_settings(tmp_path)
    engine = LocalEngine(settings, HashingEmbedder.name, HashingEmbedder.dimensions, hybrid=True)
    try:
        first = asyncio.create_task(engine.count())
        await asyncio.sleep(0)  # it has asked for the engine's start
        first.cancel()
        assert await asyncio.wait_for(engine.count(), 60) == 0
    finally:
        await engine.close()
    assert engine.process is not None and engine.process.returncode == 0


async def test_a_new_engines_requests_are_not_failed_by_the_end_of_the_old_one(
    tmp_path, monkeypatch
):
    """While the server still handles a dead engine's end (waiting for its exit status), a
    request starts a new engine: that request's answer is the new engine's to give, and the
    old engine's end is read from the old process."""
    settings = make_settings(tmp_path)
    engine = LocalEngine(settings, HashingEmbedder.name, HashingEmbedder.dimensions, hybrid=True)
    ended: list[int] = []  # the process each end was read from
    exit_status = local_engine._exit_status

    async def exit_status_once_a_new_request_waits(process):
        ended.append(process.pid)
        # The old engine's end is held until the request below waits for the new engine.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(ended) == 1 and not engine._pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return await exit_status(process)

    monkeypatch.setattr(local_engine, "_exit_status", exit_status_once_a_new_request_waits)
    try:
        assert await engine.count() == 0
        old = engine.process.pid
        engine.process.kill()
        deadline = asyncio.get_running_loop().time() + 30
        while not ended and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert ended, "the server did not see the old engine's end"
        assert await asyncio.wait_for(engine.count(), 60) == 0
        new = engine.process.pid
    finally:
        await engine.close()
    assert ended[0] == old and new != old
