"""HTTP routes of the chunked chart upload (``clinic_app/services/uploads.py``).

Authenticated by the HttpOnly session cookie, re-validated on every request; state-changing
requests must carry ``X-Requested-With: clinic`` (a header other sites cannot send without a
CORS preflight this server never grants). Errors are the usual JSON ``{code, message, …}``.

    POST /api/uploads                         {patient_id, filename, content_type, size, sha256}
    GET  /api/uploads/{id}                    → which chunks the server has (resume)
    PUT  /api/uploads/{id}/chunks/{index}     body = bytes, header X-Chunk-SHA256
    POST /api/uploads/{id}/complete           → verified, stored, on the chart
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from clinic_app.api.responses import app_error_response, error_response, new_correlation_id
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.observability import correlation_scope
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.services import auth, uploads

logger = logging.getLogger(__name__)
CSRF_HEADER = "x-requested-with"
MAX_BODY = uploads.MAX_CHUNK + 1024  # a chunk plus slack; the service checks the exact size


def _run(request: Request, work: Callable[[Session, Actor], Any], *, write: bool) -> Response:
    correlation_id = new_correlation_id()
    with correlation_scope(correlation_id):
        if write and request.headers.get(CSRF_HEADER) != "clinic":
            return error_response(
                "FORBIDDEN",
                "Missing X-Requested-With header.",
                status_code=403,
                correlation_id=correlation_id,
            )
        try:
            token = request.cookies.get(sessions.COOKIE_NAME)
            with session_scope() as session:
                actor = auth.actor_for_token(session, token=token)
            with session_scope(clinic_id=actor.clinic_id) as session:
                result = work(session, actor)
        except AppError as exc:
            if exc.code == "SESSION_EXPIRED":
                return error_response(
                    "NOT_SIGNED_IN", exc.message, status_code=401, correlation_id=correlation_id
                )
            return app_error_response(exc, correlation_id=correlation_id)
        except SQLAlchemyError:
            logger.exception("upload request failed")
            return error_response(
                "DATABASE_UNAVAILABLE",
                "The database is not reachable right now. Try again; nothing was lost.",
                status_code=503,
                correlation_id=correlation_id,
            )
        body = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise AppError("VALIDATION", "The request body must be JSON.") from None
    if not isinstance(data, dict):
        raise AppError("VALIDATION", "The request body must be a JSON object.")
    return data


async def start_upload(request: Request) -> Response:
    try:
        data = await _json(request)
        size = int(data.get("size") or 0)
        chunk_size = int(data.get("chunk_size") or 1024 * 1024)
    except (AppError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, AppError) else "size must be a number"
        return error_response(
            "VALIDATION", message, status_code=400, correlation_id=new_correlation_id()
        )
    return _run(
        request,
        lambda session, actor: uploads.start(
            session,
            actor=actor,
            patient_id=str(data.get("patient_id") or ""),
            filename=str(data.get("filename") or ""),
            content_type=str(data.get("content_type") or ""),
            size=size,
            sha256=str(data.get("sha256") or ""),
            chunk_size=chunk_size,
        ),
        write=True,
    )


async def upload_status(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    return _run(
        request,
        lambda session, actor: uploads.status(session, actor=actor, upload_id=upload_id),
        write=False,
    )


async def put_chunk(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    index = int(request.path_params["index"])
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        return error_response(
            "CHUNK_SIZE",
            "Chunks are at most 8 MiB.",
            status_code=413,
            correlation_id=new_correlation_id(),
        )
    data = await request.body()
    checksum = request.headers.get("x-chunk-sha256", "")
    return _run(
        request,
        lambda session, actor: uploads.put_chunk(
            session, actor=actor, upload_id=upload_id, index=index, data=data, sha256=checksum
        ),
        write=True,
    )


async def complete_upload(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    return _run(
        request,
        lambda session, actor: uploads.complete(session, actor=actor, upload_id=upload_id),
        write=True,
    )
