"""Conversation history in PostgreSQL (Neon in production) through a psycopg 3 async pool.

psycopg is imported when a PostgresHistory is made, not with this module: the embedded defaults
(no DATABASE_URL) must start within three seconds, and it costs 0.3 s of that.
"""

import asyncio
import json
import logging
from uuid import UUID

from app.core.errors import ServiceUnavailable
from app.models.schemas import HistoryMessage, Source

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
PROBE_TIMEOUT_S = 2.0
# Concurrent starts (several workers, a restart during a deploy) must not race on CREATE TABLE.
SCHEMA = """
SELECT pg_advisory_xact_lock(7860);
CREATE TABLE IF NOT EXISTS chat_sessions (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id bigserial PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('user', 'assistant')),
    content text NOT NULL,
    sources jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chat_messages_session ON chat_messages (session_id, id);
"""


class PostgresHistory:
    def __init__(self, params: dict[str, str]):
        """`params`: DATABASE_URL parsed into connection parameters (Settings.database), never the URL
        itself: libpq quotes what it cannot parse in its errors, password included."""
        import psycopg
        import psycopg.rows
        from psycopg_pool import AsyncConnectionPool

        self.psycopg = psycopg
        self.params = {**params, "connect_timeout": str(CONNECT_TIMEOUT_S)}
        self.pool = AsyncConnectionPool(
            "", min_size=1, max_size=5, open=False, timeout=PROBE_TIMEOUT_S,
            kwargs={**self.params, "autocommit": True},
        )
        self._migrated = False

    async def open(self) -> None:
        # Do not wait: an unreachable database must not stop the app from starting and reporting it.
        await self.pool.open(wait=False)
        try:
            await self._ready()
        except ServiceUnavailable as err:
            log.warning("PostgreSQL not ready at startup: %s", err.reason)

    async def close(self) -> None:
        await self.pool.close()

    async def _why_down(self) -> str:
        """The pool only says it timed out; one direct attempt tells the user the real cause."""
        try:
            conn = await self.psycopg.AsyncConnection.connect(**self.params)
            await conn.close()
            return "no connection available in time (pool exhausted or server slow)"
        except Exception as err:
            message = " ".join(str(err).split())
            hint = " (Neon needs `sslmode=require` in DATABASE_URL)" if "ssl" in message.lower() else ""
            return f"cannot connect to DATABASE_URL: {message}{hint}"

    async def _run(self, query: str, params: tuple = (), fetch: bool = False):
        try:
            async with self.pool.connection() as conn:
                async with conn.cursor(row_factory=self.psycopg.rows.dict_row) as cursor:
                    await cursor.execute(query, params)
                    return await cursor.fetchall() if fetch else None
        except self.psycopg.Error as err:
            raise await self._unavailable(err) from err

    async def _unavailable(self, err: Exception) -> ServiceUnavailable:
        """A lost or refused connection gets its real cause; any other error is the query's own."""
        if isinstance(err, self.psycopg.OperationalError) or "pool" in type(err).__module__:
            return ServiceUnavailable("postgres", await self._why_down())
        return ServiceUnavailable("postgres", f"query failed: {err}")

    async def _ready(self) -> None:
        if not self._migrated:
            await self._run(SCHEMA)
            self._migrated = True

    async def _session_exists(self, session_id: UUID) -> bool:
        await self._ready()
        rows = await self._run("SELECT 1 FROM chat_sessions WHERE id = %s", (session_id,), fetch=True)
        return bool(rows)

    async def append(self, session_id: UUID, turns: list[tuple[str, str, list[Source]]]) -> None:
        await self._ready()
        try:
            async with self.pool.connection() as conn:
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO chat_sessions (id) VALUES (%s) ON CONFLICT DO NOTHING", (session_id,)
                    )
                    async with conn.cursor() as cursor:
                        await cursor.executemany(
                            "INSERT INTO chat_messages (session_id, role, content, sources) VALUES (%s, %s, %s, %s)",
                            [
                                (session_id, role, content, json.dumps([s.model_dump() for s in sources]))
                                for role, content, sources in turns
                            ],
                        )
        except self.psycopg.Error as err:
            raise await self._unavailable(err) from err

    async def messages(self, session_id: UUID, limit: int | None = None) -> list[HistoryMessage] | None:
        if not await self._session_exists(session_id):
            return None
        rows = await self._run(
            "SELECT role, content, sources, created_at FROM ("
            " SELECT * FROM chat_messages WHERE session_id = %s ORDER BY id DESC LIMIT %s"
            ") recent ORDER BY id",
            (session_id, limit),
            fetch=True,
        )
        return [HistoryMessage(**row) for row in rows]

    async def probe(self) -> dict:
        try:
            await asyncio.wait_for(self._ready(), PROBE_TIMEOUT_S + CONNECT_TIMEOUT_S)
            await asyncio.wait_for(self._run("SELECT 1"), PROBE_TIMEOUT_S + CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ServiceUnavailable("postgres", "PostgreSQL did not answer in time: check DATABASE_URL") from None
        return {"status": "connected"}
