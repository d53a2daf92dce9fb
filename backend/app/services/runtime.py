"""The app's live services: built from Settings, opened and closed by the lifespan, probed by /api/health."""

import asyncio
import logging
import time

from fastapi import Request

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.db.history import HistoryStore, make_history
from app.db.qdrant import VectorStore
from app.services.embedding import make_embedder
from app.services.ingest import ingest_paths
from app.services.llm import make_writer
from app.services.rag_service import RagService

log = logging.getLogger(__name__)

# A burst of health checks (load balancers, dashboards) costs one round of probes per second
# instead of one per request: Gemini and Neon are metered, and the answer is as fresh as needed.
HEALTH_CACHE_S = 1.0
# Up to this age a report is served while the next round of probes runs in the background, so
# callers never queue behind a slow probe; an older one is never served.
HEALTH_STALE_S = 10.0
# Safety net above the per-service timeouts, so /api/health always answers.
PROBE_DEADLINE_S = 8.0


class Services:
    def __init__(self, settings: Settings, health_cache_s: float = HEALTH_CACHE_S):
        self.settings = settings
        self.embedder = make_embedder(settings)
        self.store = VectorStore(settings, self.embedder.name, self.embedder.dimensions)
        self.history: HistoryStore = make_history(settings)
        self.writer = make_writer(settings)
        self.rag = RagService(self.embedder, self.store, self.history, self.writer)
        self._health_cache_s = health_cache_s
        self._health: tuple[float, dict] | None = None
        self._health_lock = asyncio.Lock()
        self._refresh: asyncio.Task | None = None

    async def open(self) -> None:
        await self.history.open()
        try:
            await self.store.ensure_collection()
        except ServiceUnavailable as err:
            # Start anyway: /api/health reports it and every use retries.
            log.warning("Qdrant not ready at startup: %s", err.reason)
        if self.settings.knowledge:
            try:
                report = await ingest_paths(self.settings.knowledge, self.embedder, self.store)
                log.info("knowledge ingested at startup: %s", report.summary())
            except (ServiceUnavailable, ValueError) as err:
                log.error("KNOWLEDGE_PATHS not ingested: %s", err)

    async def close(self) -> None:
        if self._refresh is not None:
            # A probe round still running would use the stores while they close.
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        try:
            await self.history.close()
        finally:
            await self.store.close()

    async def _probe(self, name: str, probe) -> dict:
        try:
            return await asyncio.wait_for(probe(), PROBE_DEADLINE_S)
        except ServiceUnavailable as err:
            return {"status": "error", "detail": err.reason}
        except asyncio.TimeoutError:
            return {"status": "error", "detail": f"{name} did not answer within {PROBE_DEADLINE_S:.0f} s"}
        except Exception as err:  # an unforeseen failure is still a report, not a 500
            log.exception("%s probe failed", name)
            return {"status": "error", "detail": f"{type(err).__name__}: {err}"}

    async def _probe_all(self) -> dict:
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
                "services": {"fastapi": "ok", "qdrant": qdrant, "postgres": postgres, "gemini": gemini},
            }
            self._health = (time.monotonic(), report)
            return report

    async def health(self) -> dict:
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


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function in its thread pool, a thread hop per request.
    return request.app.state.services
