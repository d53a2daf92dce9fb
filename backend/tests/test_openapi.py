"""The OpenAPI schema tells the truth: Schemathesis finds no difference between it and the app, and
every 4xx the app produces is JSON naming the problem."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.models.schemas import MAX_MESSAGE_CHARS
from tests.conftest import KNOWLEDGE, make_settings, running
from tests.test_server import Uvicorn

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = 60  # per operation and phase: the whole run stays well under a minute


def test_schemathesis_with_every_check_finds_no_difference_between_schema_and_app(tmp_path):
    server = Uvicorn(DATA_DIR=str(tmp_path), KNOWLEDGE_PATHS=str(KNOWLEDGE))
    command = [
        str(SCHEMATHESIS),
        "run",
        f"http://127.0.0.1:{server.port}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "7860",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    try:
        # Its home (hypothesis database, config) is the test's folder, never the repository.
        env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        log = server.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in log, log


async def test_the_schema_states_the_limits_and_every_error_answer(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        schema = (await client.get("/openapi.json")).json()
    request = schema["components"]["schemas"]["ChatRequest"]["properties"]["message"]
    assert (
        request["minLength"] == 1
        and request["maxLength"] == MAX_MESSAGE_CHARS
        and "pattern" in request
    )
    for path in ("/api/chat", "/api/chat/stream"):
        responses = schema["paths"][path]["post"]["responses"]
        for status in ("400", "404", "413", "422", "503"):
            content = responses[status]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorResponse"}, (
                path,
                status,
                content,
            )
    history = schema["paths"]["/api/chat/history/{session_id}"]["get"]["responses"]
    assert {"404", "422", "503"} <= set(history)
    stream = schema["paths"]["/api/chat/stream"]["post"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    for event in ("sources", "delta", "done", "error"):
        assert f"event: {event}" in schema["paths"]["/api/chat/stream"]["post"]["description"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"message": "caf\xe9"}', "the body is not valid UTF-8"),
        (b'{"message": ' + b"[" * 5000 + b"]" * 5000 + b"}", "JSON nested deeper than"),
        (b"[" * 40 + b"]" * 40, "JSON nested deeper than 32 levels"),
    ],
)
async def test_a_body_that_cannot_be_read_is_a_json_400_naming_the_problem(
    tmp_path, body, expected
):
    async with running(make_settings(tmp_path)) as client:
        for path in ("/api/chat", "/api/chat/stream"):
            response = await client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, response.text
            assert response.headers["content-type"] == "application/json"
            assert expected in response.json()["detail"], response.text


async def test_a_refused_cors_preflight_is_json_naming_the_origin(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        response = await client.options(
            "/api/chat",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        method = await client.options(
            "/api/chat",
            headers={"origin": "http://localhost:5173", "access-control-request-method": "DELETE"},
        )
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == "origin https://evil.example is not in ALLOWED_ORIGINS"
    assert method.status_code == 400 and "method DELETE is not allowed" in method.json()["detail"]


async def test_unknown_paths_and_methods_are_json_saying_what_exists(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        missing = await client.get("/api/nothing")
        wrong = await client.get("/api/chat")
    assert missing.status_code == 404 and "/docs" in missing.json()["detail"]
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert "GET is not allowed on /api/chat" in wrong.json()["detail"]


async def test_the_413_is_a_json_response(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        response = await client.post(
            "/api/chat", content=b"x" * 70_000, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413 and response.headers["content-type"] == "application/json"
