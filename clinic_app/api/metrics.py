"""``GET /metrics``: Prometheus text format (no PHI; optionally behind a bearer token)."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from clinic_app.observability import render_metrics
from clinic_app.settings import get_settings


async def metrics(request: Request) -> Response:
    token = get_settings().metrics_token
    if token:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return PlainTextResponse("metrics token required\n", status_code=401)
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
