"""PostgreSQL stopped, restarted and frozen (SIGSTOP) under a running app: no acknowledged turn is
lost, requests stay bounded, and the 503 says what is true."""

import asyncio
import time
import uuid
from datetime import UTC, datetime

from app.core.config import database_parameters
from app.db.postgres import PostgresHistory
from app.db.spool import Spool, SpooledHistory
from tests.conftest import KNOWLEDGE, make_settings, running
from tests.fakes import unused_port

QUESTIONS = ["How do I deploy?", "And the secrets?", "How do I see the logs?"]


async def until(check, what: str, seconds: float = 60.0):
    """Polls `check()` (bounded) until it returns something truthy; returns that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


async def history_when_complete(client, session_id: str, count: int):
    async def complete():
        response = await client.get(f"/api/chat/history/{session_id}")
        return (
            response.status_code == 200
            and len(response.json()["messages"]) == count
            and response.json()
        )

    return await until(complete, f"history of {count} messages")


async def ask(client, session_id: str | None, question: str) -> dict:
    body = {"message": question, **({"session_id": session_id} if session_id else {})}
    response = await client.post("/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


async def test_turns_answered_while_postgres_is_stopped_are_kept_and_written_in_order_when_it_is_back(
    tmp_path, own_pg
):
    settings = make_settings(tmp_path, database_url=own_pg.url, knowledge_paths=str(KNOWLEDGE))
    async with running(settings) as client:
        first = await ask(client, None, "What is this?")
        session = first["session_id"]
        own_pg.stop()
        answers = [await ask(client, session, q) for q in QUESTIONS]
        during = await client.get(f"/api/chat/history/{session}")
        health = (await client.get("/api/health")).json()["services"]["postgres"]
        own_pg.start()
        history = await history_when_complete(client, session, 8)  # merged while the spool drains

        async def drained():
            postgres = (await client.get("/api/health")).json()["services"]["postgres"]
            return "spooled_turns" not in postgres and postgres

        after = await until(drained, "the spool written to PostgreSQL")
        stored = await client.get(f"/api/chat/history/{session}")
    assert during.status_code == 503 and during.json()["service"] == "postgres"
    assert (
        "cannot connect" in during.json()["detail"]
        or "lost the connection" in during.json()["detail"]
    ), during.text
    assert "pool exhausted" not in during.text
    assert health["status"] == "error" and health["spooled_turns"] == 3, health
    assert after == {"status": "connected"}
    expected = ["What is this?", first["answer"]]
    for question, answer in zip(QUESTIONS, answers, strict=True):
        expected += [question, answer["answer"]]
    assert [m["content"] for m in history["messages"]] == expected
    assert stored.json() == history


async def test_spooled_turns_survive_an_app_restart_and_are_written_once(tmp_path, own_pg):
    settings = make_settings(tmp_path, database_url=own_pg.url)
    async with running(settings) as client:
        first = await ask(client, None, "What is this?")
        own_pg.stop()
        second = await ask(client, first["session_id"], "And then?")
    own_pg.start()
    async with running(settings) as client:
        history = await history_when_complete(client, first["session_id"], 4)
        await asyncio.sleep(1.5)  # a second pass of the spool must not write them again
        again = (await client.get(f"/api/chat/history/{first['session_id']}")).json()
    assert [m["content"] for m in history["messages"]][2:] == ["And then?", second["answer"]]
    assert again == history


async def test_a_frozen_server_costs_a_request_seconds_and_the_503_says_it_timed_out(
    tmp_path, own_pg
):
    settings = make_settings(tmp_path, database_url=own_pg.url)
    async with running(settings) as client:
        first = await ask(client, None, "What is this?")
        own_pg.freeze()
        try:
            # The client gives up long before a frozen driver would: the app must answer on its own.
            second = await ask(client, first["session_id"], "Still there?")
            history = await client.get(f"/api/chat/history/{first['session_id']}", timeout=30)
            health = (await client.get("/api/health", timeout=30)).json()["services"]["postgres"]
        finally:
            own_pg.thaw()
        after = await history_when_complete(client, first["session_id"], 4)
    assert history.status_code == 503 and (
        "timed out" in history.text or "timeout expired" in history.text
    ), history.text
    assert (
        health["status"] == "error" and "time" in health["detail"] and health["spooled_turns"] == 1
    ), health
    assert [m["content"] for m in after["messages"]][2:] == ["Still there?", second["answer"]]


async def test_history_reads_merge_the_turns_still_in_the_spool(tmp_path, pg_url):
    # Its parts are opened, not the whole: nothing moves the spooled turn, so the read must merge it.
    history = SpooledHistory(PostgresHistory(database_parameters(pg_url)), Spool(str(tmp_path)))
    stored, spooled_only = uuid.uuid4(), uuid.uuid4()
    await history.db.open()
    await history.spool.open()
    try:
        await history.db.append(
            stored, [("user", "stored question", []), ("assistant", "stored answer", [])]
        )
        now = datetime.now(UTC)
        await history.spool.add(
            stored, [("user", "spooled question", []), ("assistant", "spooled answer", [])], now
        )
        await history.spool.add(spooled_only, [("user", "only here", [])], now)
        merged = await history.messages(stored)
        last_two = await history.messages(stored, limit=2)
        new_session = await history.messages(spooled_only)
        unknown = await history.messages(uuid.uuid4())
    finally:
        await history.close()
    contents = [m.content for m in merged]
    assert contents == ["stored question", "stored answer", "spooled question", "spooled answer"]
    assert [m.content for m in last_two] == ["spooled question", "spooled answer"]
    assert [m.content for m in new_session] == ["only here"]
    assert unknown is None


async def test_a_database_down_from_the_start_keeps_the_turn_and_says_cannot_connect(tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{unused_port()}/postgres"
    async with running(make_settings(tmp_path, database_url=url)) as client:
        chat = await client.post("/api/chat", json={"message": "hi"}, timeout=30)
        history = await client.get(f"/api/chat/history/{chat.json()['session_id']}")
        health = (await client.get("/api/health")).json()["services"]["postgres"]
    assert chat.status_code == 200
    assert (
        history.status_code == 503 and "cannot connect to DATABASE_URL" in history.json()["detail"]
    )
    assert health["spooled_turns"] == 1
