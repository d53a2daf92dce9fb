"""Answer writers: Gemini with a grounded prompt, or an offline answer quoted from the passages."""

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.core.gemini import make_client, unavailable
from app.core.workers import run_cpu
from app.models.schemas import HistoryMessage, Passage
from app.services.embedding import terms
from app.services.markdown import clip, paragraphs

if TYPE_CHECKING:  # imported for real when a GeminiWriter is made (see app/core/gemini.py)
    from google.genai import types

PROBE_TIMEOUT_S = 3.0
OFFLINE_LABEL = "Offline answer (GEMINI_API_KEY is not set, so this quotes the documentation instead of writing a reply):"
EXCERPT_CHARS = 900

SYSTEM_PROMPT = """You answer questions about a software project using only the numbered context passages.
Cite the passages you use as [1], [2], ... right after the sentence they support.
If the passages do not contain the answer, say that the documentation does not cover it; never invent commands, flags or URLs.
Keep answers short and practical; show commands in code blocks."""


class AnswerWriter(Protocol):
    async def write(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> str: ...

    def stream(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> AsyncIterator[str]: ...

    async def probe(self) -> dict[str, str]: ...


def grounded_prompt(question: str, passages: list[Passage]) -> str:
    context = "\n\n".join(
        f"[{n}] {p.source.title} ({p.source.url_or_path})\n{p.text}"
        for n, p in enumerate(passages, 1)
    )
    return f"Context passages:\n\n{context or '(none found)'}\n\nQuestion: {question}"


class GeminiWriter:
    def __init__(self, settings: Settings):
        self.model = settings.gemini_model
        self.client = make_client(settings)
        from google.genai import types  # lazily: see app/core/gemini.py

        self.types = types
        self.config = types.GenerateContentConfig(system_instruction=SYSTEM_PROMPT, temperature=0.2)

    def _contents(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> "list[types.Content]":
        types = self.types
        turns = [
            types.Content(
                role="user" if m.role == "user" else "model", parts=[types.Part(text=m.content)]
            )
            for m in history
        ]
        turns.append(
            types.Content(role="user", parts=[types.Part(text=grounded_prompt(question, passages))])
        )
        return turns

    async def write(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> str:
        try:
            response = await self.client.aio.models.generate_content(
                model=self.model,
                contents=self._contents(question, passages, history),
                config=self.config,
            )
        except Exception as err:
            raise unavailable(err) from err
        if not response.text:
            raise _no_text(response)
        return response.text

    async def stream(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> AsyncIterator[str]:
        wrote, last = False, None
        try:
            chunks = await self.client.aio.models.generate_content_stream(
                model=self.model,
                contents=self._contents(question, passages, history),
                config=self.config,
            )
            async for last in chunks:
                if last.text:
                    wrote = True
                    yield last.text
        except Exception as err:
            raise unavailable(err) from err
        # As in write(): an empty answer (blocked, say) is an error, not a turn stored without text.
        if not wrote:
            raise _no_text(last)

    async def probe(self) -> dict[str, str]:
        try:
            await asyncio.wait_for(self.client.aio.models.get(model=self.model), PROBE_TIMEOUT_S)
        except TimeoutError:
            raise unavailable(TimeoutError("the API did not answer in time")) from None
        except Exception as err:
            raise unavailable(err) from err
        return {"status": "ok"}


def _no_text(response: "types.GenerateContentResponse | None") -> ServiceUnavailable:
    candidates = (response.candidates if response is not None else None) or []
    reason = str(candidates[0].finish_reason) if candidates else "no candidates"
    return unavailable(ValueError(f"the model returned no text (finish reason: {reason})"))


def excerpt(text: str, question: str, limit: int = EXCERPT_CHARS) -> str:
    """The paragraphs of `text` that share most words with `question`, in their original order."""
    blocks = paragraphs(text)
    wanted = set(terms(question))
    ranked = sorted(range(len(blocks)), key=lambda i: (-len(wanted & set(terms(blocks[i]))), i))
    chosen, used = set(), 0
    for i in ranked:
        if used and used + len(blocks[i]) > limit:
            continue
        chosen.add(i)
        used += len(blocks[i])
    body = "\n\n".join(blocks[i] for i in sorted(chosen))
    return clip(body, limit)


class OfflineWriter:
    async def write(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> str:
        # Choosing the excerpt is pure Python: in a worker thread, off the event loop.
        return await run_cpu(self._write, question, passages)

    def _write(self, question: str, passages: list[Passage]) -> str:
        if not passages:
            return (
                f"{OFFLINE_LABEL}\n\nNothing in the ingested documentation matches this question. If nothing "
                "was ingested yet, set KNOWLEDGE_PATHS or run `python -m app.services.ingest PATH...`."
            )
        best, others = passages[0], passages[1:]
        parts = [
            OFFLINE_LABEL,
            f"From **{best.source.title}** ({best.source.url_or_path}):",
            excerpt(best.text, question),
        ]
        if others:
            parts.append(
                "Also relevant: "
                + "; ".join(f"{p.source.title} ({p.source.url_or_path})" for p in others)
            )
        return "\n\n".join(parts)

    async def stream(
        self, question: str, passages: list[Passage], history: list[HistoryMessage]
    ) -> AsyncIterator[str]:
        answer = await self.write(question, passages, history)
        for n, paragraph in enumerate(answer.split("\n\n")):
            yield paragraph if n == 0 else "\n\n" + paragraph

    async def probe(self) -> dict[str, str]:
        return {
            "status": "local",
            "detail": "GEMINI_API_KEY not set: local hashing embedder, offline answers quoted from the docs",
        }


def make_writer(settings: Settings) -> AnswerWriter:
    return GeminiWriter(settings) if settings.gemini_api_key else OfflineWriter()
