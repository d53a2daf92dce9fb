"""Fixtures: a real PostgreSQL (pgserver), local fakes for Gemini and Qdrant Cloud, and the app
running in-process with its real lifespan against them."""

import itertools
import json
import logging
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import psycopg.sql
import pytest
from qdrant_client import AsyncQdrantClient, models

from app.core.config import Settings
from app.core.logging import JsonFormatter
from app.main import create_app
from app.services.embedding import GeminiEmbedder
from tests.fakes import GEMINI_KEY, FakeGemini, FakeQdrantCloud, NotFoundServer
from tests.own_postgres import OwnPostgres

BACKEND = Path(__file__).resolve().parent.parent

KNOWLEDGE = BACKEND / "tests" / "data" / "knowledge"
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Tests see only the settings they pass, never the developer's own secrets."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


def uvicorn_command(port: int) -> list[str]:
    """The app served by uvicorn on 127.0.0.1 (port 0: any free one), as the Space runs it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def subprocess_env(**settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(settings)
    return env


def run_python(script: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -c script` in the backend folder, in a clean environment; fails on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BACKEND,
        env=subprocess_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("pgdata")), cleanup_mode="stop")
    yield server
    server.cleanup()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the real server, so each test proves the migration too."""
    base = pg_server.get_uri()
    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="session")
def gemini():
    server = FakeGemini()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def gemini_reset(request):
    if "gemini" in request.fixturenames:
        gemini = request.getfixturevalue("gemini")
        gemini.mode = "ok"
        gemini.requests.clear()


def gemini_settings(gemini: FakeGemini) -> dict:
    return {"gemini_api_key": GEMINI_KEY, "gemini_base_url": gemini.url}


@pytest.fixture
async def qdrant_cloud():
    """A healthy cluster whose collection was built by the Gemini embedder, as real Qdrant describes it."""
    embedder = GeminiEmbedder(Settings(gemini_api_key=GEMINI_KEY))
    local = AsyncQdrantClient(":memory:")
    await local.create_collection(
        "docs",
        vectors_config={
            embedder.name: models.VectorParams(
                size=embedder.dimensions, distance=models.Distance.COSINE
            )
        },
    )
    info = json.loads((await local.get_collection("docs")).model_dump_json(exclude_none=True))
    await local.close()
    server = FakeQdrantCloud("docs", info)
    yield server
    server.close()


@pytest.fixture
def suspended_qdrant():
    server = NotFoundServer()
    yield server
    server.close()


def make_settings(tmp_path: Path, **values) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"), allowed_origins="http://localhost:5173", **values
    )


@asynccontextmanager
async def started(app):
    """The app's real lifespan, once its background startup (imports, stores, ingestion) is done."""
    async with app.router.lifespan_context(app):
        await app.state.startup.ready()
        yield


@asynccontextmanager
async def running(settings: Settings):
    """The app with its real lifespan, and an HTTP client talking to it in-process."""
    app = create_app(settings, health_cache_s=0)
    async with started(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app
            yield client


PASSWORD_ROLE = "chat_user"


@pytest.fixture(scope="session")
def password_server(pg_server):
    """The test server with one role, `chat_user`, that must log in with its password (SCRAM).

    Every other role keeps pgserver's trust authentication, so other tests are unaffected.
    """
    hba = Path(pg_server.pgdata) / "pg_hba.conf"
    rule = f"local all {PASSWORD_ROLE} scram-sha-256\n"
    if rule not in hba.read_text():
        hba.write_text(rule + hba.read_text())
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        if not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)
        ).fetchone():
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN")
    # pg_reload_conf() only signals the server: wait (bounded) until a wrong password is refused,
    # so no test runs against trust authentication by accident.
    database = set_role_password(pg_server, "the-fixture-one")
    wrong = url_with_password(pg_server, "not-the-password", database)
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(wrong, connect_timeout=2).close()
        except psycopg.OperationalError as err:
            if "password authentication failed" in str(err):
                return pg_server
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{hba}: the server still lets {PASSWORD_ROLE} in without its password"
            )
        time.sleep(0.1)


def url_with_password(pg_server, password: str, database: str) -> str:
    """A DATABASE_URL for `chat_user` with `password` written into it as given (not encoded)."""
    socket_dir = pg_server.get_uri().split("host=", 1)[1]
    return f"postgresql://{PASSWORD_ROLE}:{password}@/{database}?host={socket_dir}"


def set_role_password(pg_server, password: str) -> str:
    """Gives `chat_user` this password and a fresh database it owns; returns the database's name."""
    name = f"pw_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(PASSWORD_ROLE), psycopg.sql.Literal(password)
            )
        )
        conn.execute(f"CREATE DATABASE {name} OWNER {PASSWORD_ROLE}")
    return name


class LogCapture(logging.Handler):
    """Every log record of the process (the app's, uvicorn's, psycopg's), formatted as the app writes them."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def all_logs():
    capture = LogCapture()
    loggers = [logging.getLogger(), logging.getLogger("app"), logging.getLogger("psycopg")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
        logger.setLevel(logging.DEBUG)
    yield capture
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(capture)
        logger.setLevel(level)


@pytest.fixture
def own_pg(tmp_path):
    server = OwnPostgres(tmp_path / "pg")
    yield server
    try:
        server.thaw()
    except Exception:
        pass  # stopped
    server.server.cleanup()
