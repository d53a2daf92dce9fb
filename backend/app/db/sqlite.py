"""Conversation history in a SQLite file under DATA_DIR: the embedded default when DATABASE_URL is unset.

Same tables as PostgreSQL, in a SqliteFile (also the PostgreSQL spool's storage).
"""

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from app.core.errors import ServiceUnavailable
from app.models.schemas import HistoryMessage, Role, Source

T = TypeVar("T")

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_messages_session ON chat_messages (session_id, id);
"""


class SqliteFile:
    """One SQLite file used from worker threads, so the event loop never blocks on disk: one
    connection behind a lock, opened on first use (and again after opening failed)."""

    def __init__(self, path: str, schema: str, synchronous: str = "NORMAL"):
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(self._schema)
        except BaseException:
            db.close()
            raise
        db.isolation_level = "DEFERRED"  # back to implicit transactions, committed by `with db`
        return db

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` in one transaction, in a worker thread; raises sqlite3.Error or OSError."""

        def locked() -> T:
            with self._lock:
                if self._db is None:
                    self._db = self._connect()  # at startup, or again after it failed there
                with self._db:
                    return work(self._db)

        return await asyncio.to_thread(locked)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class SqliteHistory:
    def __init__(self, data_dir: str):
        self.file = SqliteFile(os.path.join(data_dir, "history.sqlite3"), SCHEMA)
        self.path = self.file.path

    async def _do(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.file.run(work)
        except (sqlite3.Error, OSError) as err:
            damaged = type(err) is sqlite3.DatabaseError  # "file is not a database", "malformed"
            hint = (
                ": the file is damaged; move it away and a new, empty history is created"
                if damaged
                else ""
            )
            raise ServiceUnavailable(
                "postgres", f"local SQLite history at {self.path} failed: {err}{hint}"
            ) from err

    async def open(self) -> None:
        try:
            await self._do(lambda db: None)
        except ServiceUnavailable as err:
            # Like PostgreSQL: start anyway, /api/health reports it and every use retries.
            log.warning("SQLite history not ready at startup: %s", err.reason)

    async def close(self) -> None:
        self.file.close()

    async def append(self, session_id: UUID, turns: list[tuple[str, str, list[Source]]]) -> None:
        now = datetime.now(UTC).isoformat()

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO chat_sessions (id, created_at) VALUES (?, ?)",
                (str(session_id), now),
            )
            db.executemany(
                "INSERT INTO chat_messages (session_id, role, content, sources, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        str(session_id),
                        role,
                        content,
                        json.dumps([s.model_dump() for s in sources]),
                        now,
                    )
                    for role, content, sources in turns
                ],
            )

        await self._do(insert)

    async def messages(
        self, session_id: UUID, limit: int | None = None
    ) -> list[HistoryMessage] | None:
        # (role, content, sources as JSON, created_at): the table's CHECK keeps `role` a Role.
        def select(db: sqlite3.Connection) -> list[tuple[Role, str, str, str]] | None:
            if (
                db.execute(
                    "SELECT 1 FROM chat_sessions WHERE id = ?", (str(session_id),)
                ).fetchone()
                is None
            ):
                return None
            return db.execute(
                "SELECT role, content, sources, created_at FROM ("
                " SELECT * FROM chat_messages WHERE session_id = ? ORDER BY id DESC LIMIT ?"
                ") ORDER BY id",
                (str(session_id), -1 if limit is None else limit),
            ).fetchall()

        rows = await self._do(select)
        if rows is None:
            return None
        return [
            HistoryMessage(
                role=r, content=c, sources=json.loads(s), created_at=datetime.fromisoformat(t)
            )
            for r, c, s, t in rows
        ]

    async def probe(self) -> dict[str, str]:
        await self._do(lambda db: db.execute("SELECT 1").fetchone())
        return {
            "status": "local",
            "detail": f"SQLite history at {self.path} (DATABASE_URL not set)",
        }
