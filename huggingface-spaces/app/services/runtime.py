"""The app's live services: built from Settings after the socket is open, probed by /api/health.

uvicorn opens its socket only once the lifespan's startup returns, so the lifespan only starts
`Startup`: importing qdrant-client (about 1.8 CPU seconds), opening the stores and ingesting the
knowledge run behind an open socket, and until they are done /api/health answers 503
`"status": "starting"` and chat a 503 saying the server is starting.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.core.secrets import redact
from app.core.workers import freeze_long_lived_objects, run_cpu

if TYPE_CHECKING:
    from app.db.history import HistoryStore
    from app.db.qdrant import Store

log = logging.getLogger(__name__)

# The Space ships its documentation here, next to app/ (`cargo xtask generate` copies it); it is
# ingested at startup when it exists and KNOWLEDGE_PATHS is not set.
KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"

# A burst of health checks (load balancers, dashboards) costs one round of probes per second
# instead of one per request: Gemini and Neon are metered, and the answer is as fresh as needed.
HEALTH_CACHE_S = 1.0
# Up to this age a report is served while the next round of probes runs in the background, so
# callers never queue behind a slow probe; an older one is never served.
HEALTH_STALE_S = 10.0
# Safety net above the per-service timeouts, so /api/health always answers.
PROBE_DEADLINE_S = 8.0


def knowledge_sources(
    settings: Settings, knowledge_dir: Path = KNOWLEDGE_DIR
) -> tuple[list[str], bool]:
    """What to ingest at startup: (paths, paths shown relative to the folder itself).

    KNOWLEDGE_PATHS when set (`README.md`, `docs/…` relative to each path's parent); otherwise
    the `knowledge/` folder next to app/ when it exists (paths relative to it, so the Space's
    `knowledge/docs/deploy.md` is cited as `docs/deploy.md`). Never both: the same documents under
    two origins would be stored twice.
    """
    if settings.knowledge:
        return settings.knowledge, False
    if knowledge_dir.is_dir():
        return [str(knowledge_dir)], True
    return [], False


class Services:
    """Built in a worker thread: with Qdrant Cloud it imports qdrant-client; embedded Qdrant is
    imported and loaded by its own process (app/db/local_engine.py), started on first use."""

    def __init__(self, settings: Settings, health_cache_s: float = HEALTH_CACHE_S):
        from app.db.history import make_history
        from app.services.embedding import make_embedder
        from app.services.llm import make_writer
        from app.services.rag_service import RagService

        self.settings = settings
        self.embedder = make_embedder(settings)
        # Keyword ranking fused in for the local embedder only: Gemini's embeddings understand
        # paraphrases, and a remote collection may be written by other processes.
        hybrid = not settings.gemini_api_key
        self.store: Store
        if settings.qdrant_url:
            from app.db.qdrant import VectorStore

            self.store = VectorStore(settings, self.embedder.name, self.embedder.dimensions)
        else:  # embedded Qdrant, and the retrieval next to it, in a process of their own
            from app.db.local_engine import LocalEngine

            self.store = LocalEngine(settings, self.embedder.name, self.embedder.dimensions, hybrid)
        self.history: HistoryStore = make_history(settings)
        self.writer = make_writer(settings)
        self.rag = RagService(self.embedder, self.store, self.history, self.writer, hybrid=hybrid)
        self._health_cache_s = health_cache_s
        self._health: tuple[float, dict[str, Any]] | None = None
        self._health_lock = asyncio.Lock()
        self._refresh: asyncio.Task[Any] | None = None

    async def open(self) -> None:
        await self.history.open()
        try:
            await self.store.ensure_collection()
        except ServiceUnavailable as err:
            # Start anyway: /api/health reports it and every use retries.
            log.warning("Qdrant not ready at startup: %s", err.reason)
        paths, inside = knowledge_sources(self.settings)
        if paths:
            from app.services.ingest import ingest_paths

            try:
                report = await ingest_paths(
                    paths, self.embedder, self.store, relative_to_self=inside
                )
                log.info("knowledge ingested at startup: %s", report.summary())
            except (ServiceUnavailable, ValueError) as err:
                log.error("%s not ingested: %s", "knowledge/" if inside else "KNOWLEDGE_PATHS", err)
        try:
            await self.rag.refresh_lexical()
        except ServiceUnavailable as err:
            log.warning(
                "keyword index not built at startup (retried on the first question): %s", err.reason
            )

    async def close(self) -> None:
        if self._refresh is not None:
            # A probe round still running would use the stores while they close.
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        try:
            await self.history.close()
        finally:
            await self.store.close()

    async def _probe(
        self, name: str, probe: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(probe(), PROBE_DEADLINE_S)
        except ServiceUnavailable as err:
            return {"status": "error", "detail": err.reason}
        except TimeoutError:
            return {
                "status": "error",
                "detail": f"{name} did not answer within {PROBE_DEADLINE_S:.0f} s",
            }
        except Exception as err:  # an unforeseen failure is still a report, not a 500
            log.exception("%s probe failed", name)
            return {"status": "error", "detail": redact(f"{type(err).__name__}: {err}")}

    async def _probe_all(self) -> dict[str, Any]:
        async with self._health_lock:  # one round of probes at a time, however many callers
            if self._health and time.monotonic() - self._health[0] < self._health_cache_s:
                return self._health[1]
            qdrant, postgres, gemini = await asyncio.gather(
                self._probe("qdrant", self.store.probe),
                self._probe("postgres", self.history.probe),
                self._probe("gemini", self.writer.probe),
            )
            healthy = all(s["status"] != "error" for s in (qdrant, postgres, gemini))
            report = {
                "status": "healthy" if healthy else "unhealthy",
                "services": {
                    "fastapi": "ok",
                    "qdrant": qdrant,
                    "postgres": postgres,
                    "gemini": gemini,
                },
            }
            self._health = (time.monotonic(), report)
            return report

    async def health(self) -> dict[str, Any]:
        """The last report if it is fresh; a slightly stale one while a refresh runs; else a new one."""
        if self._health:
            age = time.monotonic() - self._health[0]
            if age < self._health_cache_s:
                return self._health[1]
            if age < HEALTH_STALE_S and self._health_cache_s > 0:
                if self._refresh is None or self._refresh.done():
                    self._refresh = asyncio.create_task(self._probe_all())
                return self._health[1]
        return await self._probe_all()


class Startup:
    """Opens the services in the background; until then health and chat say the server is starting."""

    def __init__(self, settings: Settings, health_cache_s: float):
        self.settings = settings
        self.health_cache_s = health_cache_s
        self.services: Services | None = None
        self.doing = "loading the services"
        self.failure: str | None = None
        self.task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        started = time.perf_counter()
        try:
            services = await run_cpu(Services, self.settings, self.health_cache_s)
            self.doing = "opening the stores and ingesting the knowledge"
            try:
                await services.open()
            except BaseException:
                await services.close()
                raise
        except Exception as err:  # a bug: say so on every request instead of a silent hang
            log.exception("startup failed")
            # The exception's type only: health is public, and a message may quote a setting.
            self.failure = (
                f"startup failed ({type(err).__name__}): the traceback is in the server's log"
            )
            return
        await run_cpu(freeze_long_lived_objects)
        self.services = services
        log.info(
            "ready in %.2f s: qdrant=%s history=%s answers=%s",
            time.perf_counter() - started,
            "local" if services.store.local else "cloud",
            type(services.history).__name__,
            type(services.writer).__name__,
        )

    async def ready(self) -> Services:
        """Waits for the end of startup (tests; scripts); raises like the routes' services dependency (app/api/deps.py) if it failed."""
        if self.task is not None:
            await asyncio.shield(self.task)
        return self.get()

    def get(self) -> Services:
        if self.services is not None:
            return self.services
        if self.failure is not None:
            raise ServiceUnavailable("fastapi", self.failure)
        raise ServiceUnavailable(
            "fastapi", f"the server is starting ({self.doing}): retry in a few seconds"
        )

    async def health(self) -> dict[str, Any]:
        if self.services is not None:
            return await self.services.health()
        if self.failure is not None:
            down = {"status": "error", "detail": "not opened: the server failed to start"}
            return {
                "status": "unhealthy",
                "detail": self.failure,
                "services": {
                    "fastapi": {"status": "error", "detail": self.failure},
                    "qdrant": down,
                    "postgres": down,
                    "gemini": down,
                },
            }
        starting = {"status": "starting"}
        return {
            "status": "starting",
            "detail": f"the server is starting: {self.doing}",
            "services": {
                "fastapi": "ok",
                "qdrant": starting,
                "postgres": starting,
                "gemini": starting,
            },
        }

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.services is not None:
            await self.services.close()
