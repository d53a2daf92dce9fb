"""What a route needs from the app, as `Annotated` dependency aliases.

This is where a request meets the services layer, so `app/services/` knows nothing of FastAPI.
"""

from typing import Annotated

from fastapi import Depends, Request

from app.services.runtime import Services, Startup


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function in its thread pool, a thread hop per request.
    startup: Startup = request.app.state.startup
    return startup.get()


ServicesDep = Annotated[Services, Depends(get_services)]
