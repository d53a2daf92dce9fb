"""The one error the services raise when a dependency cannot answer, and the last resort for any other."""

import logging

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.secrets import redact

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error in the chatbot server: the traceback is in its log"


class ServiceUnavailable(Exception):
    """`service` (qdrant, postgres, gemini) is down or misconfigured; `reason` says why and what to do.

    The API turns it into a 503 naming the service, never a traceback. The reason often quotes a
    driver's or an API's message: any secret in it is replaced by `***` here, once for every use.
    `transient` is False when trying again cannot help (the server refused the statement itself).
    """

    def __init__(self, service: str, reason: str, transient: bool = True):
        reason = redact(reason)
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
        self.transient = transient

    def __reduce__(self) -> tuple[type["ServiceUnavailable"], tuple[str, str, bool]]:
        # Pickled by the embedded Qdrant's process (app/db/local_engine.py) with its arguments.
        return (type(self), (self.service, self.reason, self.transient))


class UnexpectedErrors:
    """Answers an exception no handler took with a JSON 500, from inside the CORS middleware.

    Starlette's own 500 comes from its outermost layer, without CORS headers: a browser then sees
    a network failure, and the chat page would blame CORS instead of saying the server failed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise  # too late for a 500: uvicorn closes the connection and logs it
            log.exception("500 on %s %s", scope["method"], scope["path"])
            await JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight with JSON that names what was
    refused (Starlette's is text/plain "Disallowed CORS origin"). An origin is public: quoting it
    is safe, clipped to a readable length."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        problems = []
        origin = request_headers["origin"][:120]
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            problems.append(f"origin {origin} is not in ALLOWED_ORIGINS")
        method = request_headers["access-control-request-method"][:40]
        if method not in self.allow_methods:
            problems.append(
                f"method {method} is not allowed (only {', '.join(self.allow_methods)})"
            )
        requested = request_headers.get("access-control-request-headers") or ""
        refused = [
            h.strip()
            for h in requested.lower().split(",")
            if h.strip() and h.strip() not in self.allow_headers
        ]
        if refused and not self.allow_all_headers:
            problems.append(f"request header {', '.join(refused)[:120]} is not allowed")
        if request_headers.get("access-control-request-private-network") is not None:
            problems.append("private network access is not allowed")
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
        }
        return JSONResponse({"detail": "; ".join(problems)}, status_code=400, headers=headers)


async def _http_error(request: Request, err: HTTPException) -> Response:
    """Starlette's own 404 and 405 say "Not Found" / "Method Not Allowed": say what exists instead."""
    detail = err.detail
    if err.status_code == 404 and detail == "Not Found":
        detail = f"no such path: {request.url.path[:120]}; the API is described at /docs"
    elif err.status_code == 405 and err.headers and "allow" in {k.lower() for k in err.headers}:
        allowed = next(v for k, v in err.headers.items() if k.lower() == "allow")
        detail = f"{request.method} is not allowed on {request.url.path[:120]}: use {allowed}"
    return JSONResponse({"detail": detail}, status_code=err.status_code, headers=err.headers)


def install_error_answers(app: FastAPI) -> None:
    """Every 4xx the framework produces itself is JSON whose detail names the problem."""
    # Starlette types a handler as taking any Exception; this one is registered for its own.
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
