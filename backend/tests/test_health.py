"""GET /api/health: seed shape, honest local states, and the failing service's reason."""

import asyncio

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.health import HealthFastPath
from app.core.config import Settings
from app.db.qdrant import VectorStore
from app.main import create_app
from tests.conftest import gemini_settings, make_settings, running, started
from tests.fakes import QDRANT_KEY, unused_port


async def failing_service(settings: Settings, service: str) -> tuple[str, str]:
    """Health with `settings`: a 503 with `service` in error; its detail and the whole answer."""
    async with running(settings) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503, response.text
    state = response.json()["services"][service]
    assert state["status"] == "error", state
    return state["detail"], response.text


async def test_all_production_services_up_answer_the_seed_shape(
    tmp_path, pg_url, gemini, qdrant_cloud
):
    settings = make_settings(
        tmp_path,
        qdrant_url=qdrant_cloud.url,
        qdrant_api_key=QDRANT_KEY,
        database_url=pg_url,
        **gemini_settings(gemini),
    )
    async with running(settings) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "healthy",
        "services": {
            "fastapi": "ok",
            "qdrant": {"status": "connected"},
            "postgres": {"status": "connected"},
            "gemini": {"status": "ok"},
        },
    }
    assert any(path == "/v1beta/models/gemini-2.5-flash" for _, path, _, _ in gemini.requests)


async def test_embedded_defaults_are_healthy_and_say_they_are_local(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["services"]["fastapi"] == "ok"
    for service, fallback in (
        ("qdrant", "embedded Qdrant"),
        ("postgres", "SQLite"),
        ("gemini", "GEMINI_API_KEY not set"),
    ):
        assert body["services"][service]["status"] == "local", body
        assert fallback in body["services"][service]["detail"]


async def test_suspended_qdrant_answers_503_with_the_suspension_hint(tmp_path, suspended_qdrant):
    settings = make_settings(tmp_path, qdrant_url=suspended_qdrant.url, qdrant_api_key=QDRANT_KEY)
    async with running(settings) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["services"]["qdrant"]["status"] == "error"
    assert "suspended" in body["services"]["qdrant"]["detail"]
    assert "cloud.qdrant.io" in body["services"]["qdrant"]["detail"]
    assert body["services"]["postgres"]["status"] == "local"


async def test_postgres_down_answers_503_naming_the_cause(tmp_path):
    url = f"postgresql://postgres:secret-pw@127.0.0.1:{unused_port()}/postgres"
    detail, answer = await failing_service(make_settings(tmp_path, database_url=url), "postgres")
    assert "cannot connect to DATABASE_URL" in detail
    assert "secret-pw" not in answer


async def test_postgres_stopped_while_running_turns_health_503(tmp_path, pg_server, pg_url):
    from urllib.parse import urlsplit

    import psycopg

    async with running(make_settings(tmp_path, database_url=pg_url)) as client:
        assert (await client.get("/api/health")).status_code == 200
        name = urlsplit(pg_url).path.lstrip("/")
        # Dropping the database is an outage the pool sees on its next connection.
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["services"]["postgres"]["status"] == "error"


async def test_rejected_gemini_key_answers_503_naming_gemini(tmp_path, gemini):
    settings = make_settings(tmp_path, gemini_api_key="wrong-key", gemini_base_url=gemini.url)
    detail, answer = await failing_service(settings, "gemini")
    assert "GEMINI_API_KEY" in detail
    assert "wrong-key" not in answer


async def test_a_burst_of_health_checks_costs_one_round_of_probes(tmp_path, gemini):
    app = create_app(make_settings(tmp_path, **gemini_settings(gemini)), health_cache_s=60)
    async with started(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            answers = [await client.get("/api/health") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len([r for r in gemini.requests if r[1] == "/v1beta/models/gemini-2.5-flash"]) == 1


async def test_a_local_qdrant_held_by_another_process_is_503_until_released(tmp_path):
    settings = make_settings(tmp_path)
    holder = VectorStore(settings, "other", 4)  # e.g. an ingest run on the same DATA_DIR
    async with running(settings) as client:
        held = await client.get("/api/health")
        await holder.close()
        released = await client.get("/api/health")
    assert held.status_code == 503
    assert "in use by another process" in held.json()["services"]["qdrant"]["detail"]
    assert released.status_code == 200


async def test_a_recent_report_is_served_while_fresh_probes_run_in_the_background(tmp_path, gemini):
    app = create_app(make_settings(tmp_path, **gemini_settings(gemini)), health_cache_s=0.001)
    async with started(app):
        services = app.state.startup.services
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            assert (await client.get("/api/health")).status_code == 200
            gemini.mode = "down"
            await asyncio.sleep(0.01)
            # Served at once from the last report; the probe round that sees Gemini down runs behind it.
            assert (await client.get("/api/health")).status_code == 200
            await services._refresh
            await asyncio.sleep(0.01)
            after = await client.get("/api/health")
    assert after.status_code == 503
    assert after.json()["services"]["gemini"]["status"] == "error"


async def test_unreachable_qdrant_answers_503_saying_so(tmp_path):
    settings = make_settings(
        tmp_path, qdrant_url=f"http://127.0.0.1:{unused_port()}", qdrant_api_key=QDRANT_KEY
    )
    async with running(settings) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["services"]["qdrant"]["detail"].startswith(
        "cannot reach Qdrant at QDRANT_URL"
    )
    assert QDRANT_KEY not in response.text


async def test_a_damaged_local_history_file_is_503_saying_so_until_moved_away(tmp_path):
    settings = make_settings(tmp_path)
    history_file = tmp_path / "data" / "history.sqlite3"
    history_file.parent.mkdir(parents=True)
    history_file.write_bytes(b"not a database " * 400)
    async with running(settings) as client:
        damaged = await client.get("/api/health")
        chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
        history_file.rename(tmp_path / "damaged.sqlite3")
        repaired = await client.get("/api/health")
    assert damaged.status_code == 503
    assert "the file is damaged; move it away" in damaged.json()["services"]["postgres"]["detail"]
    assert chat.status_code == 200  # the answer is not lost to the history store
    assert repaired.status_code == 200, repaired.text


async def test_a_damaged_local_qdrant_folder_is_503_saying_so_not_a_startup_traceback(tmp_path):
    settings = make_settings(tmp_path)
    meta = tmp_path / "data" / "qdrant" / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text("{ truncated")
    async with running(settings) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    assert "cannot be opened" in response.json()["services"]["qdrant"]["detail"]
    assert (
        "move the folder away and ingest again" in response.json()["services"]["qdrant"]["detail"]
    )


def routed_only(app: FastAPI) -> ASGIApp:
    """`app` without HealthFastPath (same state and services): health through FastAPI's routing."""
    kept = app.user_middleware
    app.user_middleware = [m for m in kept if m.cls is not HealthFastPath]
    stack = app.build_middleware_stack()
    app.user_middleware = kept

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # as Starlette.__call__ does before its middleware
        await stack(scope, receive, send)

    return routed


def answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    return response.status_code, response.content, sorted(response.headers.items())


async def test_the_fast_path_answers_health_exactly_as_the_route_does(
    tmp_path, gemini, qdrant_cloud
):
    qdrant_cloud.answering.clear()  # startup waits for the cluster: health says "starting"
    settings = make_settings(
        tmp_path, qdrant_url=qdrant_cloud.url, qdrant_api_key=QDRANT_KEY, **gemini_settings(gemini)
    )
    app = create_app(settings, health_cache_s=0)
    browser = {"Origin": "http://localhost:5173"}
    answers: dict[str, list[httpx.Response]] = {}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as fast,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=routed_only(app)), base_url="http://t"
            ) as routed,
        ):

            async def both(state: str, **headers: str) -> None:
                answers[state] = [
                    await c.get("/api/health", headers=headers) for c in (fast, routed)
                ]

            await both("starting")
            await both("starting, from a browser", **browser)
            qdrant_cloud.answering.set()
            await app.state.startup.ready()
            await both("healthy")
            await both("healthy, from a browser", **browser)
            await both("healthy, from a refused origin", Origin="http://elsewhere.example")
            gemini.mode = "down"
            await both("unhealthy")
    finally:
        qdrant_cloud.answering.set()
    for state, (via_fast_path, via_route) in answers.items():
        assert answer(via_fast_path) == answer(via_route), state
    assert [answers[s][0].status_code for s in answers] == [503, 503, 200, 200, 200, 503]
    assert answers["starting"][0].json()["status"] == "starting"
    assert answers["healthy, from a browser"][0].headers["access-control-allow-origin"] == (
        "http://localhost:5173"
    )
    assert "access-control-allow-origin" not in answers["healthy, from a refused origin"][0].headers
    assert answers["unhealthy"][0].json()["services"]["gemini"]["status"] == "error"


async def test_health_is_answered_before_routing_and_other_methods_are_routed(
    tmp_path, monkeypatch
):
    app = create_app(make_settings(tmp_path), health_cache_s=0)
    async with started(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            posted = await client.post("/api/health", json={})
            routed: list[str] = []
            route = app.router.middleware_stack

            async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
                routed.append(f"{scope['method']} {scope['path']}")
                await route(scope, receive, send)

            monkeypatch.setattr(app.router, "middleware_stack", recorded)
            fast = await client.get("/api/health?verbose=1")
            head = await client.head("/api/health")
    assert posted.status_code == 405
    assert posted.json()["detail"] == "POST is not allowed on /api/health: use GET"
    assert fast.status_code == 200, fast.text
    assert fast.json()["services"]["fastapi"] == "ok"
    assert head.status_code == 405  # as before: the route answers GET only
    assert routed == ["HEAD /api/health"]
