"""Request and response bodies of the API: the shapes the frontend builds against."""

import re
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Documented in docs/backend.md ("Request limits").
MAX_MESSAGE_CHARS = 4000
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description=f"The question, 1 to {MAX_MESSAGE_CHARS} characters")
    session_id: UUID | None = Field(None, description="Continue this conversation; omit to start one")

    @field_validator("message", mode="before")
    @classmethod
    def real_text(cls, value: object) -> object:
        # Reject numbers, lists, ... rather than coercing them into a question.
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip()
        if not value:
            raise ValueError("must not be empty or only whitespace")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(f"is {len(value)} characters long; the limit is {MAX_MESSAGE_CHARS}")
        # JSON can escape both (`\ud800`, `\u0000`), but neither can be stored (UTF-8 in SQLite,
        # PostgreSQL text) nor sent to Gemini: refused up front, not after the answer was written.
        if "\x00" in value:
            raise ValueError("contains a NUL character (\\u0000): remove it")
        if _LONE_SURROGATE.search(value):
            raise ValueError("contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text: send valid Unicode")
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


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    sources: list[Source]
    created_at: datetime


class HistoryResponse(BaseModel):
    session_id: UUID
    messages: list[HistoryMessage]


class ErrorResponse(BaseModel):
    detail: str


class Passage(BaseModel):
    """A retrieved chunk: what the answer writer reads and the source the user sees."""

    source: Source
    text: str
