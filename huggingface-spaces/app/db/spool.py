"""No acknowledged turn is lost: what PostgreSQL cannot take now waits in a local spool.

A turn (question and answer) that cannot be written — the server is down, frozen or unreachable —
goes to `DATA_DIR/history-spool.sqlite3` (fsynced: it survives an app crash), and a background
task writes the spooled turns to PostgreSQL in order once it answers again, each exactly once
(its key is recorded in the same transaction). While turns wait, new ones queue behind them, so
a conversation keeps its order; reads merge them into the history; `/api/health` counts them.
"""

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

from app.core.errors import ServiceUnavailable
from app.db.postgres import PostgresHistory, Turns
from app.db.sqlite import SqliteFile
from app.models.schemas import HistoryMessage, Source

T = TypeVar("T")

log = logging.getLogger(__name__)

RETRY_S = 1.0  # how often the spool tries PostgreSQL again while it does not answer
SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    turns TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spool_session ON spool (session_id, id);
"""


@dataclass
class Spooled:
    id: int
    key: UUID
    session_id: UUID
    turns: Turns
    created_at: datetime


def _entry(row: tuple[int, str, str, str, str]) -> Spooled:
    id_, key, session_id, turns, created_at = row
    return Spooled(
        id_,
        UUID(key),
        UUID(session_id),
        [
            (role, content, [Source(**s) for s in sources])
            for role, content, sources in json.loads(turns)
        ],
        datetime.fromisoformat(created_at),
    )


class Spool:
    """The spool file. `size` (turns waiting) is kept in memory: this process is its only writer."""

    def __init__(self, data_dir: str):
        # FULL: an acknowledged turn must survive a crash of the machine, not only of the app.
        self.file = SqliteFile(
            os.path.join(data_dir, "history-spool.sqlite3"), SCHEMA, synchronous="FULL"
        )
        self.size = 0

    async def _do(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.file.run(work)
        except (sqlite3.Error, OSError) as err:
            raise ServiceUnavailable(
                "postgres", f"the local spool at {self.file.path} failed: {err}"
            ) from err

    async def open(self) -> None:
        self.size = await self._do(
            lambda db: db.execute("SELECT count(*) FROM spool").fetchone()[0]
        )

    async def add(self, session_id: UUID, turns: Turns, created_at: datetime) -> None:
        encoded = json.dumps(
            [(role, content, [s.model_dump() for s in sources]) for role, content, sources in turns]
        )
        await self._do(
            lambda db: db.execute(
                "INSERT INTO spool (key, session_id, turns, created_at) VALUES (?, ?, ?, ?)",
                (str(uuid4()), str(session_id), encoded, created_at.isoformat()),
            )
        )
        self.size += 1

    async def oldest(self) -> Spooled | None:
        row = await self._do(
            lambda db: db.execute("SELECT * FROM spool ORDER BY id LIMIT 1").fetchone()
        )
        return None if row is None else _entry(row)

    async def remove(self, entry: Spooled) -> None:
        await self._do(lambda db: db.execute("DELETE FROM spool WHERE id = ?", (entry.id,)))
        self.size -= 1

    async def messages(self, session_id: UUID) -> list[HistoryMessage]:
        rows = await self._do(
            lambda db: db.execute(
                "SELECT * FROM spool WHERE session_id = ? ORDER BY id", (str(session_id),)
            ).fetchall()
        )
        return [
            # The role was validated when the turn was spooled; pydantic checks it again here.
            HistoryMessage(role=role, content=content, sources=sources, created_at=entry.created_at)  # type: ignore[arg-type]
            for entry in map(_entry, rows)
            for role, content, sources in entry.turns
        ]

    def close(self) -> None:
        self.file.close()


class SpooledHistory:
    """PostgresHistory with the spool in front: the HistoryStore used when DATABASE_URL is set."""

    def __init__(self, db: PostgresHistory, spool: Spool):
        self.db = db
        self.spool = spool
        self._wake = asyncio.Event()
        # A spooled turn moving to PostgreSQL is in both places, then in one: a read that overlaps a
        # move could see it twice or not at all. `_moves` is odd during a move (a sequence lock):
        # a read that saw it change reads again; after a few tries it waits for the move to end.
        self._moves = 0
        self._moving = asyncio.Lock()
        self._drainer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            await self.spool.open()
        except ServiceUnavailable as err:
            log.error("%s: turns that PostgreSQL cannot take will be lost", err.reason)
        await self.db.open()
        if self.spool.size:
            log.warning(
                "%d turns kept in the spool from an earlier run: writing them to PostgreSQL",
                self.spool.size,
            )
        self._drainer = asyncio.create_task(self._drain_forever())

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        try:
            await self.db.close()
        finally:
            self.spool.close()

    async def append(self, session_id: UUID, turns: Turns) -> None:
        created_at = datetime.now(UTC)
        # While turns wait (or the server is known to be down), new ones queue behind them.
        if not self.spool.size and not self.db.down:
            try:
                return await self.db.append(session_id, turns, created_at)
            except ServiceUnavailable as err:
                if not err.transient:
                    raise
        await self.spool.add(session_id, turns, created_at)
        reason = self.db.down or "earlier turns are still being written"
        log.warning("turn kept in the local spool (%d waiting): %s", self.spool.size, reason)
        self._wake.set()

    async def messages(
        self, session_id: UUID, limit: int | None = None
    ) -> list[HistoryMessage] | None:
        if not self.spool.size:
            return await self.db.messages(session_id, limit)
        # No lock while reading: the server may be down, and reads must not queue behind each other.
        for _ in range(3):
            before = self._moves
            stored = await self.db.messages(session_id, limit)
            spooled = await self.spool.messages(session_id)
            if before == self._moves and before % 2 == 0:
                break
        else:
            async with self._moving:
                stored = await self.db.messages(session_id, limit)
                spooled = await self.spool.messages(session_id)
        if stored is None and not spooled:
            return None
        merged = (stored or []) + spooled
        return merged[-limit:] if limit else merged

    async def probe(self) -> dict[str, str | int]:
        try:
            report = await self.db.probe()
        except ServiceUnavailable as err:
            if not self.spool.size:
                raise
            report = {"status": "error", "detail": err.reason}
        return {**report, "spooled_turns": self.spool.size} if self.spool.size else report

    async def _drain_forever(self) -> None:
        while True:
            if not self.spool.size:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._drain()
            except ServiceUnavailable:
                await asyncio.sleep(RETRY_S)

    async def _drain(self) -> None:
        """Writes spooled turns to PostgreSQL, oldest first, until none is left or it fails."""
        moved = 0
        while (entry := await self.spool.oldest()) is not None:
            async with self._moving:
                self._moves += 1
                try:
                    await self._move(entry)
                finally:
                    self._moves += 1
            moved += 1
        if moved:
            log.info("PostgreSQL is back: %d spooled turns written", moved)

    async def _move(self, entry: Spooled) -> None:
        try:
            await self.db.append(entry.session_id, entry.turns, entry.created_at, key=entry.key)
        except ServiceUnavailable as err:
            if err.transient:
                raise
            # The server refuses it and always will: keeping it would block every turn behind it.
            log.error(
                "a spooled turn of session %s was refused and dropped: %s",
                entry.session_id,
                err.reason,
            )
        await self.spool.remove(entry)
