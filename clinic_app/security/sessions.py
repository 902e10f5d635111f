"""Server-side sign-in sessions bound to an HttpOnly cookie.

The browser holds a random token in the ``clinic_session`` cookie (HttpOnly, SameSite=Lax); the
database holds only its SHA-256. A Reflex event cannot set an HttpOnly cookie, so sign-in is two
steps: the event that proved the password (and TOTP) calls :func:`begin` and sends the browser to
``/auth/session?code=…``; that HTTP route calls :func:`complete`, which turns the one-time code
(valid 60 s) into the session token and sets the cookie. The websocket handshake that follows
carries the cookie, and every event re-validates it with :func:`resolve`.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from clinic_app.errors import AppError
from clinic_app.security.row_security import ALL_CLINICS
from clinic_app.settings import get_settings
from clinic_app.timeutil import as_utc
from models import UserSession
from models.base import utcnow

COOKIE_NAME = "clinic_session"
HANDOFF_SECONDS = 60
TOUCH_EVERY = timedelta(seconds=60)
SESSION_EXPIRED_MESSAGE = "Your session has ended. Please sign in again."


@dataclass(frozen=True)
class ActiveSession:
    id: uuid.UUID
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    kind: str
    mfa_verified: bool
    step_up_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_cookie_header(header: str | None) -> str | None:
    """The session token from a raw ``Cookie`` header (None when absent or malformed)."""
    if not header:
        return None
    try:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE_NAME)
    value = morsel.value if morsel else ""
    return value if 20 <= len(value) <= 128 else None


def begin(
    session: Session,
    *,
    user_id: uuid.UUID,
    clinic_id: uuid.UUID,
    kind: str = "staff",
    mfa_verified: bool = False,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Create a pending session; returns the one-time code the browser exchanges for a cookie."""
    code = secrets.token_urlsafe(32)
    now = utcnow()
    settings = get_settings()
    session.add(
        UserSession(
            user_id=user_id,
            clinic_id=clinic_id,
            kind=kind,
            handoff_hash=hash_token(code),
            handoff_expires_at=now + timedelta(seconds=HANDOFF_SECONDS),
            mfa_verified=mfa_verified,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            ip=ip,
            user_agent=user_agent[:400] if user_agent else None,
        )
    )
    session.flush()
    return code


def complete(session: Session, *, code: str) -> tuple[str, UserSession]:
    """Exchange a handoff code (once, within 60 s) for the session token that goes in the cookie."""
    if not code or len(code) > 128:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    row = session.exec(
        select(UserSession).where(UserSession.handoff_hash == hash_token(code)).with_for_update()
    ).first()
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.handoff_expires_at is None
        or as_utc(row.handoff_expires_at) < now
    ):
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    token = secrets.token_urlsafe(32)
    row.token_hash = hash_token(token)
    row.handoff_hash = None
    row.handoff_expires_at = None
    row.last_seen_at = now
    session.add(row)
    session.flush()
    return token, row


SESSION_BY_TOKEN = sa.select(
    col(UserSession.id),
    col(UserSession.user_id),
    col(UserSession.clinic_id),
    col(UserSession.kind),
    col(UserSession.mfa_verified),
    col(UserSession.step_up_at),
    col(UserSession.revoked_at),
    col(UserSession.expires_at),
    col(UserSession.last_seen_at),
).where(col(UserSession.token_hash) == sa.bindparam("token_hash"))
"""The session row of a cookie (``token_hash=hash_token(token)``). Callers that need more per
event join it onto this statement, so the whole check stays one round trip (``resolve_row``)."""


def resolve(session: Session, *, token: str | None, kind: str = "staff") -> ActiveSession:
    """The live session for a cookie token; ``SESSION_EXPIRED`` when gone, idle or revoked."""
    return resolve_row(session, token=token, kind=kind, statement=SESSION_BY_TOKEN)[0]


_HASH_PLACEHOLDER = "0" * 64
_CONTEXT_ALL = f"SELECT set_config('app.clinic_id', '{ALL_CLINICS}', true); "


def _session_row(session: Session, statement: sa.Executable, token_hash: str) -> Any:
    """The row of ``statement`` for ``token_hash``: every event and every live refresh runs this.

    On PostgreSQL it is one round trip: the row-level-security context and the query go as one
    simple-protocol message, which the server runs as one implicit transaction (no BEGIN, no
    COMMIT, so not the three round trips of a ``session_scope``). The token hash is a SHA-256 hex
    digest, checked as such before it is written into the SQL. Elsewhere, and when the session
    already holds a connection, the query runs in the session's transaction.
    """
    bind = session.get_bind()
    if (
        not isinstance(bind, sa.Engine)
        or bind.dialect.name != "postgresql"
        or session.in_transaction()
    ):
        return session.connection().execute(statement, {"token_hash": token_hash}).first()
    if len(token_hash) != 64 or token_hash.strip("0123456789abcdef"):
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    sql = _CONTEXT_ALL + _literal_sql(statement, bind.dialect).replace(
        _HASH_PLACEHOLDER, token_hash
    )
    error = bind.dialect.loaded_dbapi.Error
    raw = bind.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql)
        cursor.nextset()
        row = cursor.fetchone()
        cursor.close()
    except error as exc:
        raw.invalidate(exc)  # a broken connection must not go back to the pool
        raise sa.exc.DBAPIError.instance(sql, None, exc, error) from exc
    finally:
        raw.close()
    return row


@functools.cache
def _literal_sql(statement: sa.Executable, dialect: sa.Dialect) -> str:
    compiled = statement.params(token_hash=_HASH_PLACEHOLDER).compile(  # type: ignore[attr-defined]
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def resolve_row(
    session: Session, *, token: str | None, kind: str, statement: sa.Executable
) -> tuple[ActiveSession, Any]:
    """``resolve`` through ``statement`` (``SESSION_BY_TOKEN`` with more joined onto it), also
    returning the row so the caller reads its extra columns: one round trip per event."""
    if not token:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    row = _session_row(session, statement, hash_token(token))
    if row is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    sid, user_id, clinic_id, row_kind, mfa_verified, step_up_at, revoked, expires, seen = row[:9]
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if (
        row_kind != kind
        or revoked is not None
        or as_utc(expires) <= now
        or as_utc(seen) + idle <= now
    ):
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    if now - as_utc(seen) >= TOUCH_EVERY:
        # At most one write a minute per session keeps the idle clock without a write per click.
        session.exec(update(UserSession).where(col(UserSession.id) == sid).values(last_seen_at=now))
    active = ActiveSession(
        id=sid,
        user_id=user_id,
        clinic_id=clinic_id,
        kind=row_kind,
        mfa_verified=mfa_verified,
        step_up_at=as_utc(step_up_at) if step_up_at else None,
    )
    return active, row


def revoke(session: Session, *, session_id: uuid.UUID, reason: str) -> None:
    session.exec(
        update(UserSession)
        .where(col(UserSession.id) == session_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason[:60])
    )


def revoke_user_sessions(
    session: Session,
    *,
    user_id: uuid.UUID,
    reason: str,
    keep: uuid.UUID | None = None,
    clinic_id: uuid.UUID | None = None,
) -> int:
    """End every live session of a user (but ``keep``); returns how many ended."""
    conditions = [col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None)]
    if keep is not None:
        conditions.append(col(UserSession.id) != keep)
    if clinic_id is not None:
        conditions.append(col(UserSession.clinic_id) == clinic_id)
    result = session.exec(
        update(UserSession)
        .where(*conditions)
        .values(revoked_at=utcnow(), revoked_reason=reason[:60])
    )
    return int(result.rowcount or 0)


def mark_step_up(session: Session, *, session_id: uuid.UUID) -> None:
    session.exec(
        update(UserSession).where(col(UserSession.id) == session_id).values(step_up_at=utcnow())
    )


def require_recent_step_up(session: Session, *, session_id: uuid.UUID | None) -> None:
    """Signing needs a password/TOTP re-entered on this session within the last few minutes."""
    row = session.get(UserSession, session_id) if session_id else None
    window = timedelta(minutes=get_settings().step_up_minutes)
    if row is None or row.step_up_at is None or utcnow() - as_utc(row.step_up_at) > window:
        raise AppError(
            "STEP_UP_REQUIRED", "Please confirm it is you (password or authenticator code) to sign."
        )
