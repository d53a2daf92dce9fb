"""Chat endpoints: one answer, a streamed answer (server-sent events), and a conversation's history."""

import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.api.deps import ServicesDep
from app.core.errors import INTERNAL_ERROR, ServiceUnavailable
from app.core.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_body_problem
from app.models.schemas import (
    ChatRequest,
    ChatResponse,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    ErrorResponse,
    HistoryResponse,
    SourcesEvent,
)
from app.services.rag_service import UnknownSession

log = logging.getLogger(__name__)


class CheckedJsonRoute(APIRoute):
    """Refuses a body that is not UTF-8 or is nested too deep with a 400 saying so, before FastAPI
    parses it (its own answer is "There was an error parsing the body")."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.method == "POST" and (problem := json_body_problem(await request.body())):
                return JSONResponse({"detail": problem}, status_code=400)
            return await handler(request)

        return checked


router = APIRouter(prefix="/api/chat", tags=["chat"], route_class=CheckedJsonRoute)


# FastAPI's `responses` entries are dict[str, Any] (OpenAPI fields: a model, a description...).
def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


UNAVAILABLE = _error("Qdrant, PostgreSQL or Gemini is unavailable; `service` names it")
UNKNOWN_SESSION = _error("Unknown session_id")
QUESTION_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error(
        f"The body is not valid UTF-8, or its JSON is nested deeper than {MAX_JSON_DEPTH} levels"
    ),
    404: UNKNOWN_SESSION,
    413: _error(f"The body is larger than {MAX_BODY_BYTES} bytes"),
    422: _error("The body is not a valid question (the detail names the field and the problem)"),
    503: UNAVAILABLE,
}
HISTORY_ERRORS: dict[int | str, dict[str, Any]] = {
    404: UNKNOWN_SESSION,
    422: _error("session_id is not a UUID"),
    503: UNAVAILABLE,
}
# The stream's route answers text/event-stream, under which FastAPI would file a `model`: its errors
# name their JSON content explicitly (ErrorResponse is in the components through the other routes).
STREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": error["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for status, error in QUESTION_ERRORS.items()
}
# The answer's session_id continues the conversation and reads its history (Schemathesis follows it).
HISTORY_LINK = {
    "links": {
        "history": {
            "operationId": "chat_history",
            "parameters": {"session_id": "$response.body#/session_id"},
        },
    }
}


@router.post(
    "",
    response_model=ChatResponse,
    responses={**QUESTION_ERRORS, 200: HISTORY_LINK},
    summary="Ask a question; answered from the docs with sources",
)
async def chat(request: ChatRequest, services: ServicesDep) -> ChatResponse:
    try:
        return await services.rag.chat(request)
    except UnknownSession as err:
        raise HTTPException(404, str(err)) from None


def _event(name: str, data: dict[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _event_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # Source is in the components already (ChatResponse)
    return schema


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


STREAM_DESCRIPTION = """Validates and retrieves before the response starts, so bad input and an unavailable
service get the same JSON errors as POST /api/chat. Then `text/event-stream`, each event a
`data:` line holding one JSON object:

- `event: sources` first: `{"session_id", "sources"}`
- `event: delta`, repeated: `{"text"}`, the next piece of the answer
- `event: done` last on success: `{"answer", "sources", "session_id"}`, as POST /api/chat answers
- `event: error` last on a failure after the start: `{"detail", "service"}`

The 200 response's schema describes one event (`event`, and `data` with its JSON's schema);
`x-events` gives each event's payload schema by name."""
EVENTS = {
    name: _event_schema(model)
    for name, model in (
        ("sources", SourcesEvent),
        ("delta", DeltaEvent),
        ("done", DoneEvent),
        ("error", ErrorEvent),
    )
}
STREAM_OK = {
    "description": "Server-sent events: sources, delta…, then done or error",
    "content": {
        "text/event-stream": {
            # An event as Schemathesis and SSE parsers see it; `data` holds the JSON payload.
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": list(EVENTS)},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"anyOf": list(EVENTS.values())},
                    },
                },
            },
            "x-events": EVENTS,
        }
    },
}


@router.post(
    "/stream",
    response_class=EventStream,
    responses={**STREAM_ERRORS, 200: STREAM_OK},
    summary="Ask a question; the answer streams as server-sent events",
    description=STREAM_DESCRIPTION,
)
async def chat_stream(request: ChatRequest, services: ServicesDep) -> StreamingResponse:
    # Retrieval happens before the response starts, so its failures are ordinary 4xx/503 answers.
    try:
        prepared = await services.rag.prepare(request)
    except UnknownSession as err:
        raise HTTPException(404, str(err)) from None
    sources = [s.model_dump() for s in prepared.sources]

    async def events() -> AsyncIterator[str]:
        yield _event("sources", {"session_id": str(prepared.session_id), "sources": sources})
        pieces: list[str] = []
        try:
            async for piece in services.rag.stream(request, prepared):
                pieces.append(piece)
                yield _event("delta", {"text": piece})
        except ServiceUnavailable as err:
            yield _event("error", {"detail": str(err), "service": err.service})
            return
        except Exception:
            # The 200 is already sent, so UnexpectedErrors cannot answer 500: end the stream with
            # an error event rather than a cut connection the page would report as a network break.
            log.exception("stream failed after it started")
            yield _event("error", {"detail": INTERNAL_ERROR, "service": "fastapi"})
            return
        yield _event(
            "done",
            {"answer": "".join(pieces), "sources": sources, "session_id": str(prepared.session_id)},
        )

    return EventStream(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get(
    "/history/{session_id}",
    response_model=HistoryResponse,
    responses=HISTORY_ERRORS,
    summary="The messages of a conversation, oldest first",
    operation_id="chat_history",
)
async def history(session_id: UUID, services: ServicesDep) -> HistoryResponse:
    messages = await services.history.messages(session_id)
    if messages is None:
        raise HTTPException(404, f"session {session_id} not found: it has no stored messages")
    return HistoryResponse(session_id=session_id, messages=messages)
