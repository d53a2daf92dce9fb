"""Conversation history in PostgreSQL (Neon in production) through a psycopg 3 async pool.

psycopg is imported when a PostgresHistory is made, not with this module: the embedded defaults
(no DATABASE_URL) must start within three seconds, and it costs 0.3 s of that.

Every operation (a connection from the pool plus its statements) has a deadline, so a frozen or
unreachable server costs a request seconds, not minutes; a failure says what is true (cannot
connect, timed out, lost the connection, the query's own error). Turns that cannot be written
are kept by app.db.spool, which this module knows nothing about.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.core.errors import ServiceUnavailable
from app.models.schemas import HistoryMessage, Source

if TYPE_CHECKING:  # imported for real when a PostgresHistory is made (see above)
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow, TupleRow

log = logging.getLogger(__name__)

# libpq's minimum: a server that accepts the socket but never answers (frozen) fails after this.
CONNECT_TIMEOUT_S = 2
# One operation from start to answer: waiting for a pooled connection, checking it, the statements.
STATEMENT_TIMEOUT_S = 3.0
# Within that, the wait for a pooled connection, so a failed connection is reported as such.
POOL_TIMEOUT_S = 2.0
# psycopg_pool retries a failed connection with a doubling delay (1, 2, 4 … 64 s) for this long,
# so after a long outage the next attempt could be a minute away while the server is back. Cut
# short here; the next request that finds no connection starts a new attempt at once.
RECONNECT_TIMEOUT_S = 3.0
POOL_SIZE = 5
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
CREATE TABLE IF NOT EXISTS chat_spool_applied (
    key uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""

Turns = list[tuple[str, str, list[Source]]]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class PostgresHistory:
    def __init__(self, params: dict[str, str]):
        """`params`: DATABASE_URL parsed into connection parameters (Settings.database), never the URL
        itself: libpq quotes what it cannot parse in its errors, password included."""
        import psycopg
        import psycopg.rows
        import psycopg_pool

        self.psycopg = psycopg
        self.pool_timeout = psycopg_pool.PoolTimeout
        # Why the last connection attempt failed: the pool itself only says it timed out.
        self._connect_error: str | None = None
        # Set while PostgreSQL cannot be reached (the reason), cleared by the next success.
        self.down: str | None = None
        self._abandoned: set[asyncio.Task[Any]] = set()
        history = self

        class Connection(psycopg.AsyncConnection):
            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> "Connection":
                try:
                    conn = await super().connect(*args, **kwargs)
                except psycopg.Error as err:
                    history._connect_error = _one_line(err)
                    raise
                history._connect_error = None
                return conn

        self.pool = psycopg_pool.AsyncConnectionPool(
            "",
            connection_class=Connection,
            kwargs={**params, "connect_timeout": str(CONNECT_TIMEOUT_S), "autocommit": True},
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            timeout=POOL_TIMEOUT_S,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
            # A connection that died with the server (restart, failover) is replaced, not handed out.
            check=psycopg_pool.AsyncConnectionPool.check_connection,
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
        await self.pool.close(timeout=1.0)

    async def _op(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """`work(connection)` within STATEMENT_TIMEOUT_S; any failure is a ServiceUnavailable saying why."""
        acquired = asyncio.Event()
        task = asyncio.ensure_future(self._with_connection(work, acquired))
        try:
            done, _ = await asyncio.wait({task}, timeout=STATEMENT_TIMEOUT_S)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            # Cancelling makes psycopg ask the server to cancel the statement and wait for it (up to
            # 10 s when the server is frozen): that happens behind this request, not in it.
            task.cancel()
            self._abandoned.add(task)
            task.add_done_callback(_forget(self._abandoned))
            if not acquired.is_set() and self._connect_error:
                raise self._cannot_connect()
            raise self._failed(
                f"timed out: PostgreSQL did not answer within {STATEMENT_TIMEOUT_S:.0f} s"
            )
        result = task.result()  # raises the ServiceUnavailable of _with_connection
        self.down = None
        return result

    async def _with_connection(
        self, work: Callable[[Any], Awaitable[Any]], acquired: asyncio.Event
    ) -> Any:
        try:
            async with self.pool.connection() as conn:
                acquired.set()
                return await work(conn)
        except self.pool_timeout:
            if self._connect_error:
                raise self._cannot_connect() from None
            stats = self.pool.get_stats()
            if stats.get("pool_size", 0) >= POOL_SIZE and not stats.get("pool_available", 0):
                raise self._failed(
                    f"all {POOL_SIZE} connections were busy for {POOL_TIMEOUT_S:.0f} s"
                ) from None
            raise self._failed(
                f"timed out: no connection to PostgreSQL within {POOL_TIMEOUT_S:.0f} s"
            ) from None
        except self.psycopg.OperationalError as err:
            raise self._failed(f"lost the connection to PostgreSQL: {_one_line(err)}") from None
        except self.psycopg.Error as err:
            # The server answered: the statement itself was refused. Retrying would not help.
            raise ServiceUnavailable(
                "postgres", f"query failed: {_one_line(err)}", transient=False
            ) from None

    def _cannot_connect(self) -> ServiceUnavailable:
        return self._failed(f"cannot connect to DATABASE_URL: {self._connect_error}{self._hint()}")

    def _hint(self) -> str:
        return (
            " (Neon needs `sslmode=require` in DATABASE_URL)"
            if "ssl" in (self._connect_error or "").lower()
            else ""
        )

    def _failed(self, reason: str) -> ServiceUnavailable:
        self.down = reason
        return ServiceUnavailable("postgres", reason)

    async def _ready(self) -> None:
        if not self._migrated:
            await self._op(lambda conn: conn.execute(SCHEMA))
            self._migrated = True

    async def append(
        self,
        session_id: UUID,
        turns: Turns,
        created_at: datetime | None = None,
        key: UUID | None = None,
    ) -> None:
        """Stores the turns in one transaction. `key` makes it idempotent: turns carried by the spool
        are written once even if the app stopped between writing them and forgetting them."""
        await self._ready()
        created_at = created_at or datetime.now(UTC)
        rows = [
            (session_id, role, content, json.dumps([s.model_dump() for s in sources]), created_at)
            for role, content, sources in turns
        ]

        async def insert(conn: "AsyncConnection[TupleRow]") -> None:
            async with conn.transaction():
                if key is not None:
                    cursor = await conn.execute(
                        "INSERT INTO chat_spool_applied (key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING key",
                        (key,),
                    )
                    if await cursor.fetchone() is None:
                        return  # written before
                await conn.execute(
                    "INSERT INTO chat_sessions (id) VALUES (%s) ON CONFLICT DO NOTHING",
                    (session_id,),
                )
                async with conn.cursor() as cursor:
                    await cursor.executemany(
                        "INSERT INTO chat_messages (session_id, role, content, sources, created_at)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        rows,
                    )

        await self._op(insert)

    async def messages(
        self, session_id: UUID, limit: int | None = None
    ) -> list[HistoryMessage] | None:
        await self._ready()

        async def select(conn: "AsyncConnection[TupleRow]") -> "list[DictRow] | None":
            async with conn.cursor(row_factory=self.psycopg.rows.dict_row) as cursor:
                await cursor.execute("SELECT 1 FROM chat_sessions WHERE id = %s", (session_id,))
                if await cursor.fetchone() is None:
                    return None
                await cursor.execute(
                    "SELECT role, content, sources, created_at FROM ("
                    " SELECT * FROM chat_messages WHERE session_id = %s ORDER BY id DESC LIMIT %s"
                    ") recent ORDER BY id",
                    (session_id, limit),
                )
                return await cursor.fetchall()

        rows = await self._op(select)
        return None if rows is None else [HistoryMessage(**row) for row in rows]

    async def probe(self) -> dict[str, str | int]:
        await self._ready()
        await self._op(lambda conn: conn.execute("SELECT 1"))
        return {"status": "connected"}


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    """A done-callback that drops a finished task from `tasks` and retrieves its outcome, so an
    abandoned statement's error is never reported as never retrieved."""

    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()

    return done
