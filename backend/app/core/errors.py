"""The one error the services raise when a dependency cannot answer, and the last resort for any other."""

import logging

from starlette.responses import JSONResponse

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


class UnexpectedErrors:
    """Answers an exception no handler took with a JSON 500, from inside the CORS middleware.

    Starlette's own 500 comes from its outermost layer, without CORS headers: a browser then sees
    a network failure, and the chat page would blame CORS instead of saying the server failed.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
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
