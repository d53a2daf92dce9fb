"""Retrieval-augmented answers: embed the question, search the collection, write, remember."""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from app.core.errors import ServiceUnavailable
from app.core.workers import run_cpu
from app.db.local_engine import LocalEngine
from app.models.schemas import ChatRequest, ChatResponse, HistoryMessage, Passage, Source
from app.services.embedding import HashingEmbedder
from app.services.markdown import clip

if TYPE_CHECKING:  # qdrant-client is imported after the socket is open (app/services/runtime.py)
    from app.db.history import HistoryStore
    from app.db.qdrant import Hit, Store, VectorStore
    from app.services.embedding import Embedder
    from app.services.lexical import LexicalIndex
    from app.services.llm import AnswerWriter

log = logging.getLogger(__name__)

TOP_K = 5
HISTORY_TURNS = 6  # messages of the conversation sent back to the model for follow-up questions
SNIPPET_CHARS = 240


class UnknownSession(Exception):
    def __init__(self, session_id: UUID):
        super().__init__(
            f"session {session_id} not found: omit session_id to start a new conversation"
        )


@dataclass
class Prepared:
    session_id: UUID
    history: list[HistoryMessage]
    passages: list[Passage]

    @property
    def sources(self) -> list[Source]:
        return [p.source for p in self.passages]


def _snippet(text: str) -> str:
    return clip(" ".join(text.split()), SNIPPET_CHARS)


def _passages(hits: "list[Hit]") -> list[Passage]:
    return [
        Passage(
            source=Source(
                title=h.payload.get("title", ""),
                url_or_path=h.payload.get("url_or_path", ""),
                score=round(h.score, 4),
                snippet=_snippet(h.payload.get("text", "")),
            ),
            text=h.payload.get("text", ""),
        )
        # Not even one shared word (the local embedder on "???" or a question in another
        # script): no source is more honest than five arbitrary ones at score 0.
        for h in hits
        if h.score > 0
    ]


class RagService:
    def __init__(
        self,
        embedder: "Embedder",
        store: "Store",
        history: "HistoryStore",
        writer: "AnswerWriter",
        hybrid: bool = False,
    ):
        self.embedder = embedder
        self.store = store
        # With the local embedder and embedded Qdrant, the whole retrieval and its keyword index
        # are in the engine's process (app/db/local_engine.py), next to the collection.
        self.engine = (
            store
            if isinstance(store, LocalEngine) and isinstance(embedder, HashingEmbedder)
            else None
        )
        self.history = history
        self.writer = writer
        # hybrid: keyword ranking fused with the embedder's (app/services/lexical.py), from an
        # index of the collection built at startup and after each ingest.
        self.hybrid = hybrid
        self.lexical: LexicalIndex | None = None
        self._lexical_lock = asyncio.Lock()

    async def refresh_lexical(self, if_missing: bool = False) -> None:
        """(Re)builds the keyword index from the collection's payloads (no-op unless hybrid)."""
        if not self.hybrid:
            return
        if self.engine is not None:
            return await self.engine.refresh_lexical(if_missing)
        from app.services.lexical import INDEXED_FIELDS, LexicalIndex

        async with self._lexical_lock:
            if if_missing and self.lexical is not None:
                return  # built by a concurrent request while this one waited
            payloads = await self.store.payloads(None, INDEXED_FIELDS)
            self.lexical = await run_cpu(LexicalIndex, payloads)

    async def retrieve(self, question: str, limit: int = TOP_K) -> list[Passage]:
        if self.engine is not None:
            await self.engine.ensure_collection()
            return await self.engine.retrieve(question, limit)
        if self.hybrid and self.lexical is None:  # Qdrant was down at startup
            await self.refresh_lexical(if_missing=True)
        lexical, store = self.lexical, self.store
        local = not isinstance(store, LocalEngine) and store.local
        if local and isinstance(self.embedder, HashingEmbedder):
            # All of it is CPU work in this process (the engine's, or a script's): one worker
            # job, so the event loop is woken once per question instead of once per stage.
            await store.ensure_collection()
            return await run_cpu(
                self._retrieve_local, store, self.embedder, question, lexical, limit
            )
        vector = await self.embedder.embed_query(question)
        if lexical is None:
            hits = await self.store.search(vector, limit)
        else:
            dense = await self.store.search(vector, lexical.candidates, with_payload=False)
            hits = await run_cpu(lexical.fuse, question, dense, limit)
        return _passages(hits)

    def _retrieve_local(
        self,
        store: "VectorStore",
        embedder: "HashingEmbedder",
        question: str,
        lexical: "LexicalIndex | None",
        limit: int,
    ) -> list[Passage]:
        """`retrieve` with the local embedder and embedded Qdrant, in the worker thread."""
        vector = embedder.embed(question)
        if lexical is None:
            return _passages(store.search_local(vector, limit))
        dense = store.search_local(vector, lexical.candidates, with_payload=False)
        return _passages(lexical.fuse(question, dense, limit))

    async def prepare(self, request: ChatRequest) -> Prepared:
        """Everything before writing. A history outage is logged and tolerated: the answer matters more."""
        history: list[HistoryMessage] = []
        session_id = request.session_id or uuid4()
        if request.session_id:
            try:
                found = await self.history.messages(request.session_id, HISTORY_TURNS)
            except ServiceUnavailable as err:
                log.warning("answering without history: %s", err)
                found = []
            if found is None:
                raise UnknownSession(request.session_id)
            history = found
        return Prepared(session_id, history, await self.retrieve(request.message))

    async def remember(self, prepared: Prepared, question: str, answer: str) -> None:
        try:
            await self.history.append(
                prepared.session_id,
                [("user", question, []), ("assistant", answer, prepared.sources)],
            )
        except ServiceUnavailable as err:
            log.warning("answer returned but not saved to history: %s", err)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        prepared = await self.prepare(request)
        answer = await self.writer.write(request.message, prepared.passages, prepared.history)
        await self.remember(prepared, request.message, answer)
        return ChatResponse(answer=answer, sources=prepared.sources, session_id=prepared.session_id)

    async def stream(self, request: ChatRequest, prepared: Prepared) -> AsyncIterator[str]:
        """The answer's text pieces; the full answer is remembered once the stream completes."""
        pieces = []
        async for piece in self.writer.stream(request.message, prepared.passages, prepared.history):
            pieces.append(piece)
            yield piece
        await self.remember(prepared, request.message, "".join(pieces))
