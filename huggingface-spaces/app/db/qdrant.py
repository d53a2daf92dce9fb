"""The knowledge collection: Qdrant Cloud when QDRANT_URL is set, embedded Qdrant on disk otherwise.

Embedded Qdrant (qdrant-client's local mode) searches and writes in Python on the calling thread:
its calls run in a worker thread, one at a time (local mode is not thread-safe), so the event loop
keeps answering other requests. Qdrant Cloud goes through the async client.
Importing qdrant-client costs about 1.8 CPU seconds: the app imports this module after its socket
is open (app/services/runtime.py).
"""

import asyncio
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.core.workers import run_cpu
from app.db.local_engine import LocalEngine, embedded_path, embedded_report

log = logging.getLogger(__name__)

# The app's store: Qdrant Cloud in this process, or embedded Qdrant in its own (LocalEngine).
# This class's local mode is what that process runs, and what scripts and tests use in-process.
Store: TypeAlias = "VectorStore | LocalEngine"

PROBE_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 10
SUSPENDED_HINT = (
    "Qdrant answered 404 for the cluster: it may be suspended (free clusters sleep after inactivity); "
    "resume it at cloud.qdrant.io, or check QDRANT_URL"
)


@dataclass
class Hit:
    id: str
    score: float
    payload: models.Payload


def _hits(response: Any) -> list[Hit]:
    """A `query_points` answer's points, best first."""
    return [Hit(str(p.id), p.score, p.payload or {}) for p in response.points]


def _reason(err: Exception) -> str:
    if isinstance(err, UnexpectedResponse):
        if err.status_code == 404:
            return SUSPENDED_HINT
        if err.status_code in (401, 403):
            return f"Qdrant rejected the API key ({err.status_code}): check QDRANT_API_KEY"
        return f"Qdrant answered {err.status_code} {err.reason_phrase}"
    if isinstance(err, (asyncio.TimeoutError, httpx.TimeoutException)):
        return "Qdrant did not answer in time: check QDRANT_URL and that the cluster is running"
    if isinstance(err, (ResponseHandlingException, httpx.HTTPError, OSError)):
        cause = err.__cause__ or err
        return f"cannot reach Qdrant at QDRANT_URL: {cause}"
    return f"{type(err).__name__}: {err}"


class VectorStore:
    def __init__(self, settings: Settings, vector_name: str, dimensions: int):
        self.collection = settings.qdrant_collection
        self.vector_name = vector_name
        self.dimensions = dimensions
        self.local = not settings.qdrant_url
        self.client: AsyncQdrantClient | QdrantClient | None = None
        self._local_lock = threading.Lock()
        if self.local:
            self.path = embedded_path(settings.data_dir)
            try:
                self._open_local()
            except ServiceUnavailable as err:
                log.warning("%s", err)  # reported by /api/health; retried on every use
        else:
            self.client = AsyncQdrantClient(
                url=settings.qdrant_url,
                api_key=settings.qdrant_api_key or None,
                timeout=REQUEST_TIMEOUT_S,
                # The version check is a blocking request in the constructor; /api/health probes instead.
                check_compatibility=False,
            )
        self._ready = False

    def _open_local(self) -> None:
        try:
            self.client = QdrantClient(
                path=self.path, force_disable_check_same_thread=True
            )  # calls serialized by _local_lock
        except Exception as err:
            if isinstance(err, RuntimeError) and "already accessed" in str(err):
                reason = (
                    f"the embedded Qdrant at {self.path} is in use by another process (another app or ingest on "
                    "the same DATA_DIR): stop it first, or ingest at startup with KNOWLEDGE_PATHS"
                )
            else:  # a damaged meta.json or collection file
                reason = (
                    f"the embedded Qdrant at {self.path} cannot be opened ({type(err).__name__}: {err}): "
                    "move the folder away and ingest again (KNOWLEDGE_PATHS or python -m app.services.ingest)"
                )
            raise ServiceUnavailable("qdrant", reason) from None
        self._fast_local_commits()

    def _fast_local_commits(self) -> None:
        """Local mode commits and fsyncs SQLite once per point: 2,000 chunks took 50 s here.

        WAL with synchronous=NORMAL keeps each commit safe from an app crash (an OS crash may lose
        the last few, which re-running the idempotent ingest restores) and makes ingest ~50x faster.
        It reaches into qdrant-client's local storage (pinned version); if that changes, the
        defaults stay in place: slower, still correct.
        """
        local = getattr(self.client, "_client", None)
        for collection in getattr(local, "collections", {}).values():
            storage = getattr(getattr(collection, "storage", None), "storage", None)
            if storage is not None:
                storage.execute("PRAGMA journal_mode=WAL")
                storage.execute("PRAGMA synchronous=NORMAL")

    # `method` names any client method, so arguments and result are whatever that method takes
    # and returns: each caller knows which.
    def _locked(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._local_lock:
            return getattr(self.client, method)(*args, **kwargs)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`client.method(...)`: in a worker thread for local mode, awaited for Qdrant Cloud."""
        try:
            if self.local:
                return await run_cpu(self._locked, method, args, kwargs)
            return await getattr(self.client, method)(*args, **kwargs)
        except ServiceUnavailable:
            raise
        except Exception as err:
            raise ServiceUnavailable("qdrant", _reason(err)) from err

    async def ensure_collection(self) -> None:
        """Creates the collection if missing; refuses one built by another embedder. Retried until it works."""
        if self._ready:
            return
        if self.client is None:
            await run_cpu(self._open_local)  # loads every point into memory
        if not await self._call("collection_exists", self.collection):
            log.info("creating Qdrant collection %s", self.collection)
            await self._call(
                "create_collection",
                self.collection,
                vectors_config={
                    self.vector_name: models.VectorParams(
                        size=self.dimensions, distance=self._distance()
                    )
                },
            )
            if self.local:
                await run_cpu(self._locked_fast_commits)
            else:
                # Qdrant Cloud filters on unindexed payload slowly (or not at all in strict mode).
                await self._call(
                    "create_payload_index",
                    self.collection,
                    "origin",
                    models.PayloadSchemaType.KEYWORD,
                )
        else:
            vectors = (await self._call("get_collection", self.collection)).config.params.vectors
            found = vectors.get(self.vector_name) if isinstance(vectors, dict) else None
            if found is None or found.size != self.dimensions:
                built_with = (
                    ", ".join(vectors) if isinstance(vectors, dict) else "an unnamed vector"
                )
                raise ServiceUnavailable(
                    "qdrant",
                    f"collection {self.collection!r} was built by embedder {built_with}, but this configuration "
                    f"embeds with {self.vector_name}: set QDRANT_COLLECTION to a new name and re-ingest",
                )
        self._ready = True

    def _distance(self) -> models.Distance:
        """Cosine similarity, in both modes. Local mode computes a cosine collection's norms anew at
        every search (12.9 ms per search at 2,000 chunks here, against 3.3 ms for a dot product), so a
        local collection is a dot product over vectors this class normalizes itself. A local
        collection created before that stays cosine: slower, same scores."""
        return models.Distance.DOT if self.local else models.Distance.COSINE

    def _unit(self, vector: list[float]) -> list[float]:
        if not self.local:
            return vector  # Qdrant normalizes for cosine
        # In plain Python on the event loop: numpy would let go of the GIL and the loop wait to get
        # it back from the worker thread (see HashingEmbedder.embed). The local embedder's vectors
        # are unit already, so a question costs one norm.
        norm = math.hypot(*vector)
        if not norm or abs(norm - 1.0) < 1e-6:
            return vector
        return [x / norm for x in vector]

    async def search(self, vector: list[float], limit: int, with_payload: bool = True) -> list[Hit]:
        """The `limit` nearest chunks, best first; without payloads ({}) when the caller has them
        (local mode deep-copies each payload it returns)."""
        await self.ensure_collection()
        if self.local:
            return await run_cpu(self.search_local, vector, limit, with_payload)
        query = self._query(vector, limit, with_payload)
        return _hits(await self._call("query_points", self.collection, **query))

    def search_local(self, vector: list[float], limit: int, with_payload: bool = True) -> list[Hit]:
        """`search` in local mode, in the calling (worker) thread, once `ensure_collection` is done:
        a caller with more CPU work for the same question runs it all as one worker job."""
        query = self._query(vector, limit, with_payload)
        try:
            response = self._locked("query_points", (self.collection,), query)
        except Exception as err:
            raise ServiceUnavailable("qdrant", _reason(err)) from err
        return _hits(response)

    def _query(self, vector: list[float], limit: int, with_payload: bool) -> dict[str, Any]:
        """`query_points`' arguments after the collection, for both modes."""
        return {
            "query": self._unit(vector),
            "using": self.vector_name,
            "limit": limit,
            "with_payload": with_payload,
        }

    async def payloads(self, origin: str | None, fields: list[str]) -> dict[str, models.Payload]:
        """id → the payload `fields` of every chunk ingested from `origin` (None: every chunk)."""
        await self.ensure_collection()
        condition = (
            models.Filter(
                must=[models.FieldCondition(key="origin", match=models.MatchValue(value=origin))]
            )
            if origin is not None
            else None
        )
        found: dict[str, models.Payload] = {}
        offset = None
        while True:
            points, offset = await self._call(
                "scroll",
                self.collection,
                scroll_filter=condition,
                limit=1000,
                offset=offset,
                with_payload=fields,
                with_vectors=False,
            )
            found.update({str(p.id): p.payload or {} for p in points})
            if offset is None:
                return found

    async def hashes(self, origin: str) -> dict[str, str]:
        """id → content hash of every chunk ingested from `origin`."""
        return {i: p.get("hash", "") for i, p in (await self.payloads(origin, ["hash"])).items()}

    async def upsert(
        self, ids: list[str], vectors: list[list[float]], payloads: list[models.Payload]
    ) -> None:
        await self.ensure_collection()
        points = [
            models.PointStruct(id=i, vector={self.vector_name: self._unit(v)}, payload=p)
            for i, v, p in zip(ids, vectors, payloads, strict=True)
        ]
        for start in range(0, len(points), 256):
            await self._call("upsert", self.collection, points=points[start : start + 256])

    async def delete(self, ids: list[str]) -> None:
        if ids:
            points: list[models.ExtendedPointId] = list(ids)
            await self._call(
                "delete", self.collection, points_selector=models.PointIdsList(points=points)
            )

    async def count(self) -> int:
        await self.ensure_collection()
        result: models.CountResult = await self._call("count", self.collection, exact=True)
        return result.count

    async def probe(self) -> dict[str, str]:
        if self.local:
            await self.ensure_collection()
            return embedded_report(self.path)
        try:
            await asyncio.wait_for(self._call("get_collections"), PROBE_TIMEOUT_S)
            await asyncio.wait_for(self.ensure_collection(), PROBE_TIMEOUT_S)
        except TimeoutError:
            raise ServiceUnavailable("qdrant", _reason(TimeoutError())) from None
        return {"status": "connected"}

    def _locked_fast_commits(self) -> None:
        with self._local_lock:
            self._fast_local_commits()

    async def close(self) -> None:
        if self.client is None:
            return
        if isinstance(self.client, AsyncQdrantClient):
            await self.client.close()
        else:
            await run_cpu(self._locked, "close", (), {})
