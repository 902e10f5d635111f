"""One JSON error shape for every HTTP route: ``{code, message, details, correlationId}``.

The correlation id is also sent as ``X-Correlation-ID`` and written to logs/audit rows, so a user
can quote it and an operator can find the request; no stack trace ever reaches the client.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse

from clinic_app.errors import AppError

CORRELATION_HEADER = "X-Correlation-ID"

STATUS_BY_CODE: dict[str, int] = {
    "LINK_INVALID": 403,
    "LINK_EXPIRED": 403,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "STORAGE_NOT_FOUND": 404,
    "STORAGE_UNAVAILABLE": 503,
    "DATABASE_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
    "UPLOAD_TOO_LARGE": 413,
    "UPLOAD_TYPE": 415,
    "UPLOAD_INCOMPLETE": 409,
    "CHUNK_CONFLICT": 409,
    "CHUNKS_MISSING": 409,
    "CONSENT_REQUIRED": 409,
    "CHUNK_SIZE": 413,
    "RECORDING_TOO_LONG": 413,
    "VERSION_CONFLICT": 409,
    "REPORT_SIGNED": 409,
    "REPORT_DRAFTING": 409,
}

# Details of these codes name internal things (storage keys, backend reasons): keep them in logs.
_PRIVATE_DETAILS = frozenset({"STORAGE_NOT_FOUND", "STORAGE_UNAVAILABLE", "STORAGE_BAD_KEY"})


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def error_response(
    code: str,
    message: str,
    *,
    status_code: int,
    correlation_id: str,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    """The JSON error body with the correlation id in body and header; never cached."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "details": details or {},
            "correlationId": correlation_id,
        },
        status_code=status_code,
        headers={CORRELATION_HEADER: correlation_id, "Cache-Control": "no-store"},
    )


def app_error_response(exc: AppError, *, correlation_id: str) -> JSONResponse:
    """Map an AppError to its HTTP status (unknown codes are the client's fault: 400)."""
    details = {} if exc.code in _PRIVATE_DETAILS else exc.details
    return error_response(
        exc.code,
        exc.message,
        status_code=STATUS_BY_CODE.get(exc.code, 400),
        correlation_id=correlation_id,
        details=details,
    )
