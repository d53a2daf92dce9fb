"""GET /api/health: the seed's JSON shape, 200 when every service is usable, 503 otherwise."""

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.services.runtime import Services, get_services

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", summary="Health of FastAPI, Qdrant, PostgreSQL and Gemini (200 healthy, 503 not)")
async def health(services: Services = Depends(get_services)) -> JSONResponse:
    report = await services.health()
    return JSONResponse(report, status_code=200 if report["status"] == "healthy" else 503)
