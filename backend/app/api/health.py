"""GET /api/health: `status` plus one entry per service, 200 when every service is usable, 503 otherwise."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.services.runtime import Startup

router = APIRouter(prefix="/api", tags=["health"])


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
    # The services come from app.state directly, not through Depends: this is the hot path of
    # load balancers and uptime checks, and dependency resolution doubled its cost.
    # Until the services are open (see Startup), a 503 saying the server is starting.
    startup: Startup = request.app.state.startup
    report = await startup.health()
    return JSONResponse(report, status_code=200 if report["status"] == "healthy" else 503)
