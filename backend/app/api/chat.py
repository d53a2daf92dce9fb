"""Chat endpoints: one answer, a streamed answer (server-sent events), and a conversation's history."""

import json
import logging
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse

from app.core.errors import INTERNAL_ERROR, ServiceUnavailable
from app.models.schemas import ChatRequest, ChatResponse, ErrorResponse, HistoryResponse
from app.services.rag_service import UnknownSession
from app.services.runtime import Services, get_services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/chat", tags=["chat"])

ERRORS = {
    404: {"model": ErrorResponse, "description": "Unknown session_id"},
    422: {"model": ErrorResponse, "description": "Invalid request body"},
    503: {"model": ErrorResponse, "description": "Qdrant, PostgreSQL or Gemini is unavailable"},
}


@router.post("", response_model=ChatResponse, responses=ERRORS, summary="Ask a question; answered from the docs with sources")
async def chat(request: ChatRequest, services: Services = Depends(get_services)) -> ChatResponse:
    try:
        return await services.rag.chat(request)
    except UnknownSession as err:
        raise HTTPException(404, str(err)) from None


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@router.post("/stream", responses=ERRORS, summary="Ask a question; the answer streams as server-sent events")
async def chat_stream(request: ChatRequest, services: Services = Depends(get_services)) -> StreamingResponse:
    # Retrieval happens before the response starts, so its failures are ordinary 4xx/503 answers.
    try:
        prepared = await services.rag.prepare(request)
    except UnknownSession as err:
        raise HTTPException(404, str(err)) from None
    sources = [s.model_dump() for s in prepared.sources]

    async def events():
        yield _event("sources", {"session_id": str(prepared.session_id), "sources": sources})
        pieces = []
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
        yield _event("done", {"answer": "".join(pieces), "sources": sources, "session_id": str(prepared.session_id)})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/history/{session_id}", response_model=HistoryResponse, responses=ERRORS, summary="The messages of a conversation, oldest first")
async def history(session_id: UUID, services: Services = Depends(get_services)) -> HistoryResponse:
    messages = await services.history.messages(session_id)
    if messages is None:
        raise HTTPException(404, f"session {session_id} not found: it has no stored messages")
    return HistoryResponse(session_id=session_id, messages=messages)
