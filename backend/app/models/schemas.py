"""Request and response bodies of the API: the shapes the frontend builds against."""

import re
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Documented in docs/backend.md ("Request limits").
MAX_MESSAGE_CHARS = 4000
# What `real_text` checks, in the schema's words: some character that is not whitespace, and no
# NUL anywhere (a lone surrogate cannot be written in a pattern; it is refused too).
MESSAGE_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The limits are enforced by `real_text` (with messages that say what to fix); the schema only
    # states them, so clients and Schemathesis know exactly what is accepted.
    message: str = Field(
        description=f"The question: 1 to {MAX_MESSAGE_CHARS} characters as sent, not only whitespace, "
        "no NUL and no lone UTF-16 surrogate; surrounding whitespace is removed",
        json_schema_extra={
            "minLength": 1,
            "maxLength": MAX_MESSAGE_CHARS,
            "pattern": MESSAGE_PATTERN,
        },
    )
    session_id: UUID | None = Field(
        None, description="Continue this conversation; omit to start one"
    )

    @field_validator("message", mode="before")
    @classmethod
    def real_text(cls, value: object) -> object:
        # Reject numbers, lists, ... rather than coercing them into a question.
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(f"is {len(value)} characters long; the limit is {MAX_MESSAGE_CHARS}")
        value = value.strip()
        if not value:
            raise ValueError("must not be empty or only whitespace")
        # JSON can escape both (`\ud800`, `\u0000`), but neither can be stored (UTF-8 in SQLite,
        # PostgreSQL text) nor sent to Gemini: refused up front, not after the answer was written.
        if "\x00" in value:
            raise ValueError("contains a NUL character (\\u0000): remove it")
        if _LONE_SURROGATE.search(value):
            raise ValueError(
                "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text: send valid Unicode"
            )
        return value


class Source(BaseModel):
    title: str
    url_or_path: str
    score: float
    snippet: str


class ChatResponse(BaseModel):
    answer: str
    sources: list[Source]
    session_id: UUID


# Who wrote a stored message; the history tables CHECK the same two words.
Role = Literal["user", "assistant"]


class HistoryMessage(BaseModel):
    role: Role
    content: str
    sources: list[Source]
    created_at: datetime


class HistoryResponse(BaseModel):
    session_id: UUID
    messages: list[HistoryMessage]


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong and what to do about it")
    service: str | None = Field(
        None, description="On a 503: the service that failed (qdrant, postgres, gemini)"
    )


class SourcesEvent(BaseModel):
    """`event: sources`, first: the conversation and the retrieved sections."""

    session_id: UUID
    sources: list[Source]


class DeltaEvent(BaseModel):
    """`event: delta`, repeated: the next piece of the answer."""

    text: str


class DoneEvent(ChatResponse):
    """`event: done`, last on success: the whole answer, as POST /api/chat answers it."""


class ErrorEvent(BaseModel):
    """`event: error`, last on failure after the stream started."""

    detail: str
    service: str


class Passage(BaseModel):
    """A retrieved chunk: what the answer writer reads and the source the user sees."""

    source: Source
    text: str
