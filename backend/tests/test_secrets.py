"""No secret (DATABASE_URL's password, QDRANT_API_KEY, GEMINI_API_KEY) in any response or log line.

The passwords are the ones that used to leak: libpq quoted them in its URI parse errors, and a
`user:pass@` regex did not see those with `%`, `@` or spaces. Each is written into the URL as a
user pastes it, not percent-encoded.
"""

import json
import uuid
from urllib.parse import quote, quote_plus, unquote

import pytest
from pydantic import ValidationError

from app.core.config import Settings, describe_errors
from tests.conftest import (
    gemini_settings,
    make_settings,
    running,
    set_role_password,
    url_with_password,
)
from tests.fakes import unused_port
from tests.test_config import start
from tests.test_server import Uvicorn

PASSWORDS = ["Sup3r%zzSecret", "pa%00ss", "p@ss@host", "my secret pw"]
# Pieces that would betray part of a password (a libpq message quoting the host part of
# `p@ss@host`, the half of a password before a space).
PIECES = {
    "Sup3r%zzSecret": ["Sup3r", "zzSecret"],
    "pa%00ss": ["pa%00", "pa\x00", "pa\\u0000", "pa\\x00"],
    "p@ss@host": ["p@ss", "ss@host", "p%40ss"],
    "my secret pw": ["my secret", "secret pw"],
    "pa%2500ss": ["pa%00", "pa%25"],
}


def leaks(text: str, password: str) -> list[str]:
    """Every form of the password found in `text`: raw, decoded, encoded, JSON-escaped, or a piece."""
    forms = {password, unquote(password), quote(password, safe=""), quote_plus(password)}
    forms |= {json.dumps(f)[1:-1] for f in list(forms)} | set(PIECES[password])
    return sorted(f for f in forms if f in text)


async def exercise(client) -> dict:
    """What a user and a monitor see: health, a chat turn, its history and an unknown history."""
    health = await client.get("/api/health")
    chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
    session = chat.json().get("session_id", str(uuid.uuid4()))
    history = await client.get(f"/api/chat/history/{session}")
    unknown = await client.get(f"/api/chat/history/{uuid.uuid4()}")
    return {"health": health, "chat": chat, "history": history, "unknown": unknown}


@pytest.mark.parametrize("password", [p for p in PASSWORDS if p != "pa%00ss"])
async def test_a_database_that_is_down_never_shows_the_password(tmp_path, all_logs, password):
    url = f"postgresql://postgres:{password}@127.0.0.1:{unused_port()}/postgres"
    async with running(make_settings(tmp_path, database_url=url)) as client:
        answers = await exercise(client)
    assert answers["health"].status_code == 503
    assert "cannot connect" in answers["health"].json()["services"]["postgres"]["detail"]
    assert answers["chat"].status_code == 200
    assert (
        answers["unknown"].status_code == 503 and answers["unknown"].json()["service"] == "postgres"
    )
    for name, answer in answers.items():
        assert leaks(answer.text, password) == [], (name, answer.text)
    assert leaks(all_logs.text, password) == [], all_logs.text


@pytest.mark.parametrize("password", [p for p in PASSWORDS if p != "pa%00ss"] + ["pa%2500ss"])
async def test_a_database_that_is_up_is_reached_with_the_password_and_never_shows_it(
    tmp_path, all_logs, password_server, password
):
    # The server checks the password (SCRAM): a 200 proves it was read from the URL correctly.
    database = set_role_password(password_server, unquote(password))
    url = url_with_password(password_server, password, database)
    async with running(make_settings(tmp_path, database_url=url)) as client:
        answers = await exercise(client)
    assert answers["health"].status_code == 200, answers["health"].text
    assert answers["chat"].status_code == 200
    assert answers["history"].status_code == 200 and len(answers["history"].json()["messages"]) == 2
    assert answers["unknown"].status_code == 404
    for name, answer in answers.items():
        assert leaks(answer.text, password) == [], (name, answer.text)
    assert leaks(all_logs.text, password) == [], all_logs.text


async def test_a_wrong_password_is_reported_without_any_password(
    tmp_path, all_logs, password_server
):
    database = set_role_password(password_server, "the-right-one")
    url = url_with_password(password_server, "Sup3r%zzSecret", database)
    async with running(make_settings(tmp_path, database_url=url)) as client:
        answers = await exercise(client)
    detail = answers["health"].json()["services"]["postgres"]["detail"]
    assert answers["health"].status_code == 503 and "password authentication failed" in detail, (
        detail
    )
    for answer in answers.values():
        assert leaks(answer.text, "Sup3r%zzSecret") == [] and "the-right-one" not in answer.text
    assert leaks(all_logs.text, "Sup3r%zzSecret") == []


def test_a_password_that_decodes_to_a_nul_byte_is_refused_with_the_url_masked():
    url = "postgresql://postgres:pa%00ss@127.0.0.1:5432/postgres"
    with pytest.raises(ValidationError) as raised:
        Settings(database_url=url)
    message = describe_errors(raised.value)
    assert message.startswith("configuration error: DATABASE_URL"), message
    assert "postgresql://postgres:***@127.0.0.1:5432/postgres" in message
    assert "%25" in message  # how to write a literal `%`
    assert leaks(message, "pa%00ss") == [], message


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            "postgresql://u:Sup3r/zzSecret@ep-cool.neon.tech/db",
            "postgresql://u:***@ep-cool.neon.tech/db",
        ),
        ("postgresql://u:pa%00ss@h:99999/db", "postgresql://u:***@h:99999/db"),
        (
            "postgresql://u@h:5432x/db?sslmode=require&password=my secret pw",
            "postgresql://u@h:5432x/db?sslmode=require&password=***",
        ),
    ],
)
def test_an_unusable_database_url_stops_uvicorn_naming_it_with_the_password_masked(url, shown):
    result = start(DATABASE_URL=url)
    assert result.returncode == 1
    assert "configuration error: DATABASE_URL" in result.stderr and shown in result.stderr, (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    for piece in ("Sup3r", "zzSecret", "pa%00", "my secret", "secret pw"):
        assert piece not in result.stdout + result.stderr, result.stderr


async def test_api_keys_quoted_back_by_a_service_are_redacted(tmp_path, all_logs, gemini):
    # A proxy or an API that echoes the key it refused (in its error body) must not publish it.
    key = "AIzaSyEchoedKey-1234567890"
    settings = make_settings(tmp_path, **{**gemini_settings(gemini), "gemini_api_key": key})
    gemini.mode = "echo_key"
    async with running(settings) as client:
        health = await client.get("/api/health")
        chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
    assert health.status_code == 503 and chat.status_code == 503
    assert "***" in health.json()["services"]["gemini"]["detail"]
    for text in (health.text, chat.text, all_logs.text):
        assert key not in text and quote(key) not in text


def test_the_server_process_output_never_shows_the_password(tmp_path):
    # Everything the process prints: uvicorn's lines, the app's JSON lines, and psycopg's warnings
    # (which reach stderr through Python's last-resort handler).
    url = f"postgresql://postgres:Sup3r%zzSecret@127.0.0.1:{unused_port()}/postgres"
    server = Uvicorn(DATA_DIR=str(tmp_path), DATABASE_URL=url)
    try:
        health = server.call("GET", "/api/health")
        chat = server.call("POST", "/api/chat", {"message": "How do I deploy?"})
        history = server.call("GET", f"/api/chat/history/{chat[1]['session_id']}")
    finally:
        output = server.stop()
    assert health[0] == 503 and chat[0] == 200 and history[0] == 503
    assert "cannot connect" in output and "Traceback" not in output, output
    assert leaks(output + json.dumps([health, chat, history]), "Sup3r%zzSecret") == [], output
