"""``/auth/session`` and ``/auth/logout``: the only places the HttpOnly session cookie is set.

A Reflex event cannot set an HttpOnly cookie, so the sign-in event sends the browser here with a
one-time code (``clinic_app.security.sessions``); this route swaps it for the session token, sets
the cookie and redirects into the app. The full page load that follows opens a new websocket
whose handshake carries the cookie.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.settings import get_settings
from clinic_app.timeutil import as_utc

logger = logging.getLogger(__name__)

# Where a finished sign-in may land, by session kind (never a URL from the query string).
LANDING = {"staff": "/worklist", "patient": "/portal"}
SIGN_IN_PAGE = {"staff": "/login", "patient": "/portal/login"}


def _secure() -> bool:
    return get_settings().effective_public_url.startswith("https://")


def _redirect(path: str) -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def complete_sign_in(request: Request) -> Response:
    code = request.query_params.get("code", "")
    kind = "patient" if request.query_params.get("kind") == "patient" else "staff"
    try:
        with session_scope() as session:
            token, row = sessions.complete(session, code=code)
            kind = row.kind
            max_age = int((as_utc(row.expires_at) - as_utc(row.last_seen_at)).total_seconds())
    except AppError:
        return _redirect(f"{SIGN_IN_PAGE[kind]}?expired=1")
    except SQLAlchemyError:
        logger.exception("could not complete sign-in")
        return _redirect(f"{SIGN_IN_PAGE[kind]}?unavailable=1")
    response = _redirect(LANDING[kind])
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=max(60, max_age),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(),
    )
    return response


async def sign_out(request: Request) -> Response:
    """Clear the cookie (the sign-out event already revoked the session in the database)."""
    kind = "patient" if request.query_params.get("kind") == "patient" else "staff"
    response = _redirect(SIGN_IN_PAGE[kind])
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response
