"""The event loop stays free: the server's CPU-bound work runs in a worker thread (retrieval in
the engine's process: tests/test_local_engine.py), and the socket opens before the slow imports
and ingestion (health says "starting", chat a 503, until they are done)."""

import asyncio
import gc
import os
import sys
import threading

import httpx
import pytest

from app.core import workers
from app.core.errors import ServiceUnavailable
from app.db.local_engine import LocalEngine
from app.main import create_app
from app.services.llm import OfflineWriter
from app.services.rag_service import RagService
from tests.conftest import (
    KNOWLEDGE,
    gemini_settings,
    make_settings,
    run_python,
    running,
    subprocess_env,
)
from tests.fakes import QDRANT_KEY

# The server's own CPU-bound work; the question's embedding, embedded Qdrant's search and the
# keyword ranking run in the engine's process (tests/test_local_engine.py).
CPU_BOUND = [
    (OfflineWriter, "_write"),  # choosing the quoted paragraphs
]


@pytest.mark.parametrize(
    ("owner", "method"), CPU_BOUND, ids=[f"{o.__name__}.{m}" for o, m in CPU_BOUND]
)
async def test_health_answers_while_a_question_is_worked_on(tmp_path, monkeypatch, owner, method):
    """A question stuck in CPU-bound work (held here until the test lets go) leaves health answering.
    Were the work on the event loop, health would only answer once the question was done."""
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        entered, release = threading.Event(), threading.Event()
        original = getattr(owner, method)

        def held(*args, **kwargs):
            entered.set()
            release.wait(20)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, method, held)
        chat = asyncio.create_task(
            client.post("/api/chat", json={"message": "How do I deploy to Hugging Face Spaces?"})
        )
        try:
            while not entered.is_set() and not chat.done():
                await asyncio.sleep(0.01)
            health = await client.get("/api/health")
            question_still_held = not chat.done()
        finally:
            release.set()
        answer = await chat
    assert health.status_code == 200
    assert question_still_held, (
        f"{owner.__name__}.{method} ran on the event loop: health waited for it"
    )
    assert answer.status_code == 200


async def test_an_offline_question_is_one_engine_request_and_one_worker_job(tmp_path, monkeypatch):
    """Each hand-off wakes the event loop when it ends: the local embedder, embedded Qdrant and
    the keyword ranking are one request to the engine's process, the offline answer one job of
    the server's worker thread."""
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        jobs: list[str] = []
        submit, call = workers._POOL.submit, LocalEngine._call

        def counted(function, /, *args, **kwargs):
            jobs.append(getattr(function, "func", function).__qualname__)
            return submit(function, *args, **kwargs)

        async def requested(self, op, *args, **kwargs):
            jobs.append(f"engine: {op}")
            return await call(self, op, *args, **kwargs)

        monkeypatch.setattr(workers._POOL, "submit", counted)
        monkeypatch.setattr(LocalEngine, "_call", requested)
        answer = await client.post("/api/chat", json={"message": "How do I deploy?"})
        per_question = list(jobs)  # closing the app runs jobs of its own
    assert answer.status_code == 200, answer.text
    assert answer.json()["sources"], "the question found no source: nothing was retrieved"
    assert per_question == ["engine: retrieve", "OfflineWriter._write"]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
async def test_the_event_loop_goes_before_the_cpu_work_for_a_core(tmp_path, monkeypatch):
    """The server's CPU work runs on a thread the scheduler ranks below the event loop's, so a
    busy machine hands a free core to the loop (health answers) before the worker."""
    seen: list[tuple[int, int]] = []  # (thread id, nice value) of each offline answer
    original = OfflineWriter._write

    def recorded(self, *args, **kwargs):
        thread = threading.get_native_id()
        seen.append((thread, os.getpriority(os.PRIO_PROCESS, thread)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OfflineWriter, "_write", recorded)
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        answer = await client.post("/api/chat", json={"message": "How do I deploy?"})
        loop_thread = threading.get_native_id()
        loop_nice = os.getpriority(os.PRIO_PROCESS, loop_thread)
    assert answer.status_code == 200
    ((worker_thread, worker_nice),) = seen  # one question, answered once
    assert worker_thread != loop_thread
    assert worker_nice > loop_nice


async def test_a_full_garbage_collection_after_startup_skips_what_startup_built(tmp_path):
    """The collector's full pass walks every object it tracks while holding the GIL, so the
    objects startup builds to keep (the services, the imported modules) would stop the event
    loop on each pass; startup hands them to the permanent generation, which it skips. (The
    engine's process does the same once its keyword index is built.)"""
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))) as client:
        services = await client.app.state.startup.ready()
        built = [services, services.rag, services.history, services.writer]
        assert all(gc.is_tracked(o) for o in built)
        walked = {id(o) for o in gc.get_objects()}  # every generation but the permanent one
    assert not {id(o) for o in built} & walked, "a full collection still walks the services"


def test_the_search_adds_no_hidden_threads_competing_with_the_event_loop():
    """numpy's BLAS would start a thread per core and keep it spinning after each matrix product
    (embedded Qdrant's search); the app keeps it to the caller's thread. Counted by the OS: every
    thread of the process is one Python knows of."""
    script = (
        "import os, threading, app.main, numpy\n"
        "numpy.ones((2000, 1024), numpy.float32) @ numpy.ones(1024, numpy.float32)\n"
        "print(len(os.listdir('/proc/self/task')), threading.active_count())"
    )
    env = {k: v for k, v in subprocess_env().items() if not k.endswith("_NUM_THREADS")}
    result = run_python(script, env)
    os_threads, python_threads = result.stdout.split()
    assert os_threads == python_threads


def test_importing_the_app_leaves_qdrant_client_for_after_the_socket_is_open():
    script = "import sys, app.main; print(sorted(m for m in ('qdrant_client', 'numpy', 'google.genai') if m in sys.modules))"
    result = run_python(script)
    assert result.stdout.strip() == "[]"


async def test_until_startup_is_done_health_says_starting_and_chat_is_a_clear_503(
    tmp_path, gemini, qdrant_cloud
):
    # A cluster waking up holds the startup's first Qdrant call, as long as the test wants.
    qdrant_cloud.answering.clear()
    settings = make_settings(
        tmp_path, qdrant_url=qdrant_cloud.url, qdrant_api_key=QDRANT_KEY, **gemini_settings(gemini)
    )
    app = create_app(settings, health_cache_s=0)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            starting = await client.get("/api/health")
            chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
            qdrant_cloud.answering.set()
            await app.state.startup.ready()
            ready = await client.get("/api/health")
    finally:
        qdrant_cloud.answering.set()
    assert starting.status_code == 503
    assert starting.json()["status"] == "starting"
    assert starting.json()["detail"].startswith("the server is starting: ")
    assert chat.status_code == 503
    assert chat.json()["service"] == "fastapi"
    assert chat.json()["detail"].startswith("fastapi: the server is starting (")
    assert chat.json()["detail"].endswith("): retry in a few seconds")
    assert ready.status_code == 200, ready.text


async def test_a_bug_during_startup_is_reported_by_health_and_chat_not_a_hang(
    tmp_path, monkeypatch
):
    async def broken(self, if_missing=False):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(RagService, "refresh_lexical", broken)
    app = create_app(make_settings(tmp_path), health_cache_s=0)
    async with app.router.lifespan_context(app):
        with pytest.raises(ServiceUnavailable):
            await app.state.startup.ready()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            health = await client.get("/api/health")
            chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert (
        health.json()["detail"]
        == "startup failed (RuntimeError): the traceback is in the server's log"
    )
    assert "index exploded" not in health.text  # the message stays in the log
    assert chat.status_code == 503
    assert (
        chat.json()["detail"]
        == "fastapi: startup failed (RuntimeError): the traceback is in the server's log"
    )
