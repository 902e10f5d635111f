"""Health endpoints for load balancers, orchestrators and uptime monitors.

``/health/live`` answers as long as the process serves requests (restart me if not);
``/health/ready`` checks the database, Redis and storage (send me traffic only if 200).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from clinic_app.services.health import check_dependencies

_NO_STORE = {"Cache-Control": "no-store"}


async def live(request: Request) -> JSONResponse:
    """Process is up; touches no dependency so a database outage never triggers restarts."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def ready(request: Request) -> JSONResponse:
    """200 when every dependency answers, 503 naming the ones that do not."""
    result = await run_in_threadpool(check_dependencies)
    status_code = 200 if result["status"] == "ok" else 503
    return JSONResponse(result, status_code=status_code, headers=_NO_STORE)
