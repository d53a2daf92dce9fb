"""Bad settings stop `uvicorn app.main:app` at startup with one clear line, before they cost an hour."""

import subprocess

import pytest
from pydantic import ValidationError

from app.core.config import Settings, describe_errors
from tests.conftest import BACKEND, subprocess_env, uvicorn_command


def start(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        uvicorn_command(0),
        cwd=BACKEND,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


BAD_VALUES = [
    (
        "GEMINI_API_KEY",
        "AIzaSecretValue ",
        "GEMINI_API_KEY has leading or trailing whitespace: remove it",
    ),
    ("QDRANT_URL", " https://xyz.cloud.qdrant.io", "QDRANT_URL has leading or trailing whitespace"),
    ("QDRANT_URL", "xyz.cloud.qdrant.io:6333", "QDRANT_URL must be an http(s) URL"),
    (
        "DATABASE_URL",
        "postgresql://u:pw@ep-cool.neon.tech/db",
        "DATABASE_URL points at a remote host without `sslmode=require`",
    ),
    ("DATABASE_URL", "mysql://u@localhost/db", "DATABASE_URL must start with postgresql://"),
    (
        "DATABASE_URL",
        "postgresql://u:SecretValue/x@ep-cool.neon.tech/db",
        "DATABASE_URL is not a valid URL (bad host or port)",
    ),
    ("QDRANT_URL", "https://", "QDRANT_URL must be an http(s) URL with a host"),
    (
        "QDRANT_URL",
        "https://xyz.cloud.qdrant.io:99999",
        "QDRANT_URL is not a valid URL (bad host or port)",
    ),
    ("QDRANT_URL", "http://[::1", "QDRANT_URL is not a valid URL"),
    ("QDRANT_COLLECTION", "", "QDRANT_COLLECTION must be a non-empty name"),
    ("QDRANT_COLLECTION", "team/docs", "QDRANT_COLLECTION must be a non-empty name without"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
    (
        "ALLOWED_ORIGINS",
        "http://localhost:5173,my-app.vercel.app",
        "ALLOWED_ORIGINS entry 'my-app.vercel.app' is not an origin",
    ),
    (
        "ALLOWED_ORIGINS",
        "https://my-app.vercel.app/chat",
        "write scheme and host only, such as https://my-app.vercel.app",
    ),
    ("QDRANT_API_KEY", "key-without-url", "QDRANT_API_KEY is set but QDRANT_URL is not"),
    (
        "DATA_DIR",
        "/proc/version/data",
        "DATA_DIR '/proc/version/data' cannot be created or written",
    ),
]


@pytest.mark.parametrize("name, value, expected", BAD_VALUES)
def test_a_bad_value_is_described_in_one_line_naming_it(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    message = describe_errors(raised.value)
    assert message.count("\n") == 0 and expected in message, message
    assert "SecretValue" not in message and "pw@" not in message


@pytest.mark.parametrize("name, value, expected", [BAD_VALUES[0], BAD_VALUES[3]])
def test_a_bad_value_stops_uvicorn_without_a_traceback(name, value, expected):
    result = start(**{name: value})
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "SecretValue" not in result.stderr and "pw@" not in result.stderr


def test_good_production_values_are_accepted_as_given():
    settings = Settings(
        qdrant_url="https://xyz.cloud.qdrant.io:6333/",
        database_url="postgresql://u:pw@ep-cool.neon.tech/db?sslmode=require",
        allowed_origins="https://my-app.vercel.app/, http://localhost:5173",
        log_level="debug",
    )
    assert settings.qdrant_url == "https://xyz.cloud.qdrant.io:6333"
    assert settings.origins == ["https://my-app.vercel.app", "http://localhost:5173"]
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@localhost/db", "postgresql://postgres:@/postgres?host=/tmp/pg"]
)
def test_a_local_database_needs_no_sslmode(url):
    assert Settings(database_url=url).database_url == url
