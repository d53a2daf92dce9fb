"""The FastAPI app: `uvicorn app.main:app`, run from the folder that holds `app/`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api import chat, health
from app.api.health import HealthFastPath
from app.core import logging as app_logging
from app.core.config import Settings, load_settings
from app.core.errors import (
    JsonCORSMiddleware,
    ServiceUnavailable,
    UnexpectedErrors,
    install_error_answers,
)
from app.core.limits import BodySizeLimit
from app.core.workers import configure_process
from app.services.runtime import HEALTH_CACHE_S, Startup

log = logging.getLogger("app.main")


def _validation_detail(err: RequestValidationError) -> str:
    """FastAPI's error list as one readable line: `message: must not be empty or only whitespace`."""
    parts = []
    for error in err.errors():
        where = ".".join(str(p) for p in error["loc"] if p not in ("body", "path")) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            where = "body"
            message = f"is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')}): send a JSON object"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def create_app(settings: Settings, health_cache_s: float = HEALTH_CACHE_S) -> FastAPI:
    app_logging.configure(settings.log_level)
    configure_process()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uvicorn opens the socket when this yields: the slow part runs behind it (app/services/runtime.py).
        startup = Startup(settings, health_cache_s)
        app.state.startup = startup
        startup.start()
        try:
            yield
        finally:
            await startup.close()

    app = FastAPI(
        title="RAG Chatbot Backend",
        description="Answers questions from the project's documentation (Qdrant retrieval, Gemini answers).",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit)
    app.add_middleware(HealthFastPath)  # GET /api/health without routing (app/api/health.py)
    app.add_middleware(UnexpectedErrors)  # outside the body limit, which answers its own 413s
    # Outermost, so error answers carry CORS headers too and the browser can show them.
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type"],
    )

    install_error_answers(app)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(err)}, status_code=422)

    @app.exception_handler(ServiceUnavailable)
    async def dependency_down(request: Request, err: ServiceUnavailable) -> JSONResponse:
        log.warning("503 on %s: %s", request.url.path, err)
        return JSONResponse({"detail": str(err), "service": err.service}, status_code=503)

    @app.get("/", summary="Links to the API documentation and the health check")
    async def root() -> dict[str, Any]:
        return {"name": "RAG Chatbot Backend", "docs": "/docs", "health": "/api/health"}

    app.include_router(health.router)
    app.include_router(chat.router)
    return app


app = create_app(load_settings())
