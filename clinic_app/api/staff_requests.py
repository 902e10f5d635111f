"""HTTP routes used by signed-in staff from page scripts (uploads, scribe audio).

Authenticated by the HttpOnly session cookie, re-validated on every request; state-changing
requests must carry ``X-Requested-With: clinic`` (a header other sites cannot send without a
CORS preflight this server never grants). Errors are the usual JSON ``{code, message, …}``.
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
from clinic_app.services import auth

logger = logging.getLogger(__name__)
CSRF_HEADER = "x-requested-with"


def run_as_staff(
    request: Request, work: Callable[[Session, Actor], Any], *, write: bool
) -> Response:
    """Run ``work`` for the staff member of the session cookie; errors become JSON responses."""
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
            # Writes take SQLite's write lock up front: a read-then-write transaction that
            # meets a worker's commit in between would otherwise fail at once ("busy").
            with session_scope(clinic_id=actor.clinic_id, immediate=write) as session:
                result = work(session, actor)
        except AppError as exc:
            if exc.code == "SESSION_EXPIRED":
                return error_response(
                    "NOT_SIGNED_IN", exc.message, status_code=401, correlation_id=correlation_id
                )
            return app_error_response(exc, correlation_id=correlation_id)
        except SQLAlchemyError:
            logger.exception("staff request failed")
            return error_response(
                "DATABASE_UNAVAILABLE",
                "The database is not reachable right now. Try again; nothing was lost.",
                status_code=503,
                correlation_id=correlation_id,
            )
        is_row = dataclasses.is_dataclass(result) and not isinstance(result, type)
        body = dataclasses.asdict(result) if is_row else result
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def read_json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise AppError("VALIDATION", "The request body must be JSON.") from None
    if not isinstance(data, dict):
        raise AppError("VALIDATION", "The request body must be a JSON object.")
    return data
