"""Conversation history: PostgreSQL (with a local spool for outages) when DATABASE_URL is set, a
SQLite file under DATA_DIR otherwise."""

from typing import Any, Protocol
from uuid import UUID

from app.core.config import Settings
from app.db.postgres import PostgresHistory
from app.db.spool import Spool, SpooledHistory
from app.db.sqlite import SqliteHistory
from app.models.schemas import HistoryMessage, Source


class HistoryStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, session_id: UUID, turns: list[tuple[str, str, list[Source]]]) -> None:
        """Stores (role, content, sources) turns in order, creating the session if it is new."""

    async def messages(
        self, session_id: UUID, limit: int | None = None
    ) -> list[HistoryMessage] | None:
        """The last `limit` messages (all when None), oldest first; None for an unknown session."""

    async def probe(self) -> dict[str, Any]: ...


def make_history(settings: Settings) -> HistoryStore:
    if settings.database_url:
        return SpooledHistory(PostgresHistory(settings.database), Spool(settings.data_dir))
    return SqliteHistory(settings.data_dir)
