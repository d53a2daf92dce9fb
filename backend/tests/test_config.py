"""Bad settings stop `uvicorn app.main:app` at startup with one clear line, before they cost an hour."""

import subprocess
import sys

import pytest

from app.core.config import Settings
from tests.conftest import BACKEND, subprocess_env


def start(**env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "0"]
    return subprocess.run(command, cwd=BACKEND, env=subprocess_env(**env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("GEMINI_API_KEY", "AIzaSecretValue ", "GEMINI_API_KEY has leading or trailing whitespace: remove it"),
        ("QDRANT_URL", " https://xyz.cloud.qdrant.io", "QDRANT_URL has leading or trailing whitespace"),
        ("QDRANT_URL", "xyz.cloud.qdrant.io:6333", "QDRANT_URL must be an http(s) URL"),
        ("DATABASE_URL", "postgresql://u:pw@ep-cool.neon.tech/db", "DATABASE_URL points at a remote host without `sslmode=require`"),
        ("DATABASE_URL", "mysql://u@localhost/db", "DATABASE_URL must start with postgresql://"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("QDRANT_API_KEY", "key-without-url", "QDRANT_API_KEY is set but QDRANT_URL is not"),
    ],
)
def test_a_bad_value_stops_startup_with_one_line_naming_it(name, value, expected):
    result = start(**{name: value})
    assert result.returncode != 0
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


@pytest.mark.parametrize("url", ["postgresql://postgres@localhost/db", "postgresql://postgres:@/postgres?host=/tmp/pg"])
def test_a_local_database_needs_no_sslmode(url):
    assert Settings(database_url=url).database_url == url
