"""Fixtures: a real PostgreSQL (pgserver), local fakes for Gemini and Qdrant Cloud, and the app
running in-process with its real lifespan against them."""

import itertools
import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from qdrant_client import AsyncQdrantClient, models

BACKEND = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BACKEND))

from app.core.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.services.embedding import GeminiEmbedder  # noqa: E402
from tests.fakes import GEMINI_KEY, FakeGemini, FakeQdrantCloud, NotFoundServer  # noqa: E402

KNOWLEDGE = BACKEND / "tests" / "data" / "knowledge"
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Tests see only the settings they pass, never the developer's own secrets."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


def subprocess_env(**settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(settings)
    return env


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
        "docs", vectors_config={embedder.name: models.VectorParams(size=embedder.dimensions, distance=models.Distance.COSINE)}
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
    return Settings(data_dir=str(tmp_path / "data"), allowed_origins="http://localhost:5173", **values)


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
