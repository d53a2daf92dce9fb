"""GET /api/health: `status` plus one entry per service, 200 when every service is usable, 503 otherwise.

Load balancers and uptime checks call it while chats run, so it is answered by `HealthFastPath`,
a layer in front of FastAPI's routing; the route below describes it in the OpenAPI document and
answers the same way when the app runs without that layer.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.services.runtime import Startup

router = APIRouter(prefix="/api", tags=["health"])


async def health_response(startup: Startup) -> JSONResponse:
    """The cached probe's report (see Startup), 503 unless healthy: until the services are open,
    a 503 saying the server is starting."""
    report = await startup.health()
    return JSONResponse(report, status_code=200 if report["status"] == "healthy" else 503)


@router.get(
    "/health",
    summary="Health of FastAPI, Qdrant, PostgreSQL and Gemini (200 healthy, 503 not)",
    responses={
        503: {
            "description": "A service is down: the same JSON, with `status` unhealthy and the failing service's `detail`"
        }
    },
)
async def health(request: Request) -> JSONResponse:
    return await health_response(request.app.state.startup)


PATH = router.url_path_for("health")  # /api/health


class HealthFastPath:
    """Answers `GET /api/health` without FastAPI's routing, request object and dependency
    machinery (a tenth of a millisecond of event-loop time each, bench/backend_load.py); every
    other request goes on to the app. Placed inside the CORS and error layers, so a browser's
    request gets the same CORS headers and a bug the same JSON 500 as on any route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            # Starlette puts the app in the scope before its middleware runs.
            response = await health_response(scope["app"].state.startup)
            return await response(scope, receive, send)
        await self.app(scope, receive, send)
