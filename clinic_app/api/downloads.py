"""Authorised file downloads: the only way stored bytes reach a browser.

The app mints a short-lived signed link (``make_download_url``) after it has checked the user's
permission; the route verifies the link, loads the file scoped by the clinic in the token, writes
an audit row, then streams local bytes or redirects to a presigned S3 URL valid ≤ 5 minutes.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clinic_app import audit
from clinic_app.api.responses import (
    CORRELATION_HEADER,
    app_error_response,
    error_response,
    new_correlation_id,
)
from clinic_app.db import session_scope
from clinic_app.errors import AppError, NotFound
from clinic_app.security import signing
from clinic_app.settings import get_settings
from clinic_app.storage import attachment_disposition, get_storage
from models import StoredFile

logger = logging.getLogger(__name__)

DOWNLOAD_PURPOSE = "file-download"
MAX_LINK_SECONDS = 300
# type/subtype with optional simple parameters, ASCII only: anything else is served as bytes.
_CONTENT_TYPE = re.compile(
    r"[\w!#$&^.+-]+/[\w!#$&^.+-]+( *; *[\w!#$&^.+-]+=[\w!#$&^.+\"-]+)*", re.ASCII
)


def link_ttl_seconds() -> int:
    return min(get_settings().download_url_ttl_seconds, MAX_LINK_SECONDS)


def make_download_url(stored_file: StoredFile, *, user_id: uuid.UUID) -> str:
    """A relative link to download ``stored_file`` for ``user_id``, valid ≤ 5 minutes.

    The caller must already have checked that the user may read this file; the token binds the
    file, its clinic and the user so the route needs no session and the audit row names the user.
    """
    if stored_file.deleted_at is not None:
        raise NotFound("File")
    token = signing.sign(
        DOWNLOAD_PURPOSE,
        {
            "file_id": str(stored_file.id),
            "clinic_id": str(stored_file.clinic_id),
            "user_id": str(user_id),
        },
        link_ttl_seconds(),
    )
    return f"/api/files/{stored_file.id}/download?token={token}"


def _claim_uuid(claims: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError):
        raise AppError("LINK_INVALID", "This link is not valid.") from None


def _safe_content_type(value: str) -> str:
    return value if _CONTENT_TYPE.fullmatch(value) else "application/octet-stream"


def _serve(request: Request, correlation_id: str) -> Response:
    claims = signing.verify(DOWNLOAD_PURPOSE, request.query_params.get("token", ""))
    file_id = _claim_uuid(claims, "file_id")
    clinic_id = _claim_uuid(claims, "clinic_id")
    user_id = _claim_uuid(claims, "user_id")
    if request.path_params["file_id"].lower() != str(file_id):
        raise AppError("LINK_INVALID", "This link is not valid.")

    storage = get_storage()
    # Immediate: this reads, then writes its audit row; on SQLite a worker's commit in between
    # would otherwise fail the download at once ("busy") instead of waiting its turn.
    with session_scope(clinic_id=clinic_id, immediate=True) as session:
        stored = session.exec(
            select(StoredFile).where(
                StoredFile.id == file_id,
                StoredFile.clinic_id == clinic_id,
                col(StoredFile.deleted_at).is_(None),
            )
        ).first()
        if stored is None:
            raise NotFound("File")
        audit.record(
            session,
            action="file.download",
            actor_user_id=user_id,
            clinic_id=clinic_id,
            entity_type="file",
            entity_id=stored.id,
            ip=request.client.host if request.client else None,
            user_agent=(request.headers.get("user-agent") or "")[:400] or None,
            correlation_id=correlation_id,
        )
        content_type = _safe_content_type(stored.content_type)
        # Fetch inside the transaction: a missing object or outage rolls the audit row back.
        url = storage.presigned_url(
            stored.storage_key,
            filename=stored.filename,
            content_type=content_type,
            expires_in=link_ttl_seconds(),
        )
        data = b""
        if url is None:
            data = storage.get(stored.storage_key)
        elif not storage.exists(stored.storage_key):
            raise AppError("STORAGE_NOT_FOUND", "The stored file is missing.")
        filename = stored.filename

    if url is not None:
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    return Response(
        data,
        media_type=content_type,
        headers={
            "Content-Disposition": attachment_disposition(filename),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def download_file(request: Request) -> Response:
    """``GET /api/files/{file_id}/download?token=…`` (sync: Starlette runs it in a thread)."""
    correlation_id = new_correlation_id()
    try:
        response = _serve(request, correlation_id)
    except AppError as exc:
        if exc.code.startswith("STORAGE_"):
            logger.warning("download %s failed: %s %s", correlation_id, exc.code, exc.details or "")
        return app_error_response(exc, correlation_id=correlation_id)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        logger.warning("download %s: database unavailable", correlation_id, exc_info=True)
        return error_response(
            "DATABASE_UNAVAILABLE",
            "The database is unavailable. Try again in a moment.",
            status_code=503,
            correlation_id=correlation_id,
        )
    except Exception:
        logger.exception("download %s failed", correlation_id)
        return error_response(
            "INTERNAL_ERROR",
            "Something went wrong. Quote the reference when you report it.",
            status_code=500,
            correlation_id=correlation_id,
        )
    response.headers[CORRELATION_HEADER] = correlation_id
    return response
