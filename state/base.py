"""The root app state: who is signed in, the one access check, the dependency banner.

Access is checked in exactly one way. Every event handler that touches clinic data starts with
``actor = self._require("resource:action")``; page ``on_load`` handlers use
``self._guard_page(page)``, which calls ``_require`` and turns a refused permission into the 403
view. ``_require`` reloads the user from the database on every event (``load_actor``: still
active, still a member, role from the membership row), checks the permission matrix and raises

* :class:`NotSignedIn` when there is no session or it is no longer valid,
* :class:`~clinic_app.errors.Forbidden` (an ``AppError``) when the role may not do this.

Handlers do not catch these. The app-wide ``handle_backend_exception`` (registered on ``rx.App``
in ``clinic_app.py``) turns them into events: back to ``/login`` for ``NotSignedIn``, a friendly
message for any ``AppError``, a generic message (and a server log line, never a stack trace in
the page) for anything else. Because the handler raised before it changed anything, a refused
call changes nothing.

The helpers start with an underscore on purpose: Reflex turns every public method of a state
into an event handler that a browser can call by name.

Sessions: the signed-in user is the server-side session of the HttpOnly ``clinic_session``
cookie, which the browser sends on the websocket handshake (``self.router.headers.cookie``);
``_require`` re-validates it on every event (expiry, revocation, role change). The tab keeps only
a fingerprint of the session it last served (``_session_key``, backend-only): when the cookie
changes under it (someone else signed in in this browser) the tab is wiped before anything shows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from clinic_app import audit, threads
from clinic_app.db import session_scope
from clinic_app.errors import AppError, Forbidden
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can
from clinic_app.services import auth
from clinic_app.services.auth import ROLE_LABELS, SessionProfile

logger = logging.getLogger("clinic_app.ui")

# The permission a page needs; the nav shows only the pages a role may open and every page's
# on_load checks the same permission on the server.
PAGE_PERMISSIONS: dict[str, str] = {
    "calendar": "appointment:read",
    "scheduling-setup": "availability:manage",
    "worklist": "appointment:read",
    "patients": "patient:list",
    "chart": "patient:read_phi",
    "scribe": "scribe:record",
    "reports": "report:read",
    "templates": "report_template:manage",
    "records": "patient:read_phi",
    "prescriptions": "prescription:read",
    "admin": "admin:access",
    "audit": "audit:read",
    "account": "account:self",
    "system": "system:read",
    "installation": "installation:manage",
}

HEALTH_INTERVAL_SECONDS = 15.0

DATABASE_DOWN = "The database is not reachable right now. Nothing was lost — please try again."
REDIS_DOWN = "Background jobs are unavailable right now (Redis down). Please try again shortly."
GENERIC_ERROR = "Something went wrong on our side. Please try again."

DEPENDENCY_MESSAGES = {
    "database": "The database is unavailable — pages may not load and changes can't be saved",
    "redis": "Background jobs are unavailable (Redis down) — exports will start when it is back",
    "storage": "File storage is unavailable — exports and downloads are paused",
}


def full_page_load(path: str) -> EventSpec:
    """Leave the single-page app for an HTTP route (sign-in/out set or clear the cookie there)."""
    return rx.call_script(f"window.location.assign({json.dumps(path)})")


class NotSignedIn(AppError):
    """No valid session: the UI goes back to the sign-in page."""

    def __init__(
        self, message: str = "Please sign in to continue.", sign_in_page: str = "/login"
    ) -> None:
        super().__init__("NOT_SIGNED_IN", message)
        self.sign_in_page = sign_in_page


def describe_health(report: dict[str, Any] | None) -> str:
    """The banner text for a ``check_dependencies()`` report ("" when everything is up)."""
    if not report or report.get("status") == "ok":
        return ""
    checks = report.get("checks") or {}
    down = [name for name, check in checks.items() if not (check or {}).get("ok")]
    if not down:
        return ""
    parts = [DEPENDENCY_MESSAGES.get(name, f"{name.capitalize()} is unavailable") for name in down]
    return ". ".join(parts) + "."


def _check_dependencies() -> dict[str, Any]:
    """Run the health check; a failure of the check itself counts as 'database down'."""
    try:
        from clinic_app.services.health import check_dependencies

        return dict(check_dependencies())
    except Exception:  # noqa: BLE001 - the banner must never crash the page
        logger.exception("dependency check failed")
        return {"status": "degraded", "checks": {"database": {"ok": False}}}


def friendly_message(exc: BaseException) -> str:
    """Text for a failure that reached the UI; never a stack trace."""
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, SQLAlchemyError):
        return DATABASE_DOWN
    try:
        from redis.exceptions import RedisError

        if isinstance(exc, RedisError):
            return REDIS_DOWN
    except ImportError:  # pragma: no cover
        pass
    return GENERIC_ERROR


class AppState(rx.State):
    """Session and shell data shared by every page."""

    # Backend-only (leading underscore): never sent to the browser.
    _session_key: str = ""

    # Shown in the shell.
    signed_in: rx.Field[bool] = rx.field(False)
    user_name: rx.Field[str] = rx.field("")
    user_email: rx.Field[str] = rx.field("")
    user_role: rx.Field[str] = rx.field("")
    role_label: rx.Field[str] = rx.field("")
    clinic_name: rx.Field[str] = rx.field("")
    clinic_timezone: rx.Field[str] = rx.field("")
    nav_pages: rx.Field[list[str]] = rx.field(default_factory=list)

    # Which page the last access decision was for, and the decision ("ok" | "forbidden").
    access_page: rx.Field[str] = rx.field("")
    access: rx.Field[str] = rx.field("")

    banner: rx.Field[str] = rx.field("")
    error_message: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")

    @rx.var
    def user_initials(self) -> str:
        parts = [p for p in self.user_name.replace("Dr.", "").split() if p[:1].isalpha()]
        if not parts:
            return "?"
        return (parts[0][0] + (parts[-1][0] if len(parts) > 1 else "")).upper()

    # ---- the one access check -------------------------------------------------------------

    def _session_token(self) -> str | None:
        """The session token from the cookie of this tab's websocket handshake."""
        return sessions.token_from_cookie_header(self.router.headers.cookie)

    def _require(self, permission: str | None = None) -> Actor:
        """Load the signed-in actor from the cookie's session and check ``permission``.

        Raises ``NotSignedIn`` (no/expired/revoked session) or ``Forbidden``; the app-wide
        exception handler turns both into a redirect or a friendly message. Call it first in
        every handler.
        """
        actor, key, profile = self._session_actor(first=not self._session_key)
        if profile is not None:
            self._session_key = key
            self._start_session(actor, profile)
        self._show_actor(actor)
        self._check_permission(actor, permission)
        return actor

    def _recheck(self, permission: str) -> Actor:
        """``_require`` that changes nothing in the state: a live loop checks the session
        without holding the tab's lock (a worker thread, between two refreshes)."""
        actor, _key, _profile = self._session_actor(first=False)
        self._check_permission(actor, permission)
        return actor

    def _session_actor(self, *, first: bool) -> tuple[Actor, str, SessionProfile | None]:
        """The session's actor, its key, and (``first``) the profile to start the tab with."""
        token = self._session_token()
        if not token:
            raise NotSignedIn()
        key = hashlib.sha256(token.encode()).hexdigest()[:16]
        if self._session_key and self._session_key != key:
            raise NotSignedIn("You signed in again in another tab. Please continue there.")
        try:
            with session_scope() as session:
                actor = auth.actor_for_token(session, token=token)
                profile = auth.session_profile(session, actor=actor) if first else None
        except AppError as exc:
            if exc.code == "SESSION_EXPIRED":
                raise NotSignedIn(exc.message) from None
            raise
        except SQLAlchemyError as exc:
            raise AppError("DATABASE_UNAVAILABLE", DATABASE_DOWN) from exc
        return actor, key, profile

    def _check_permission(self, actor: Actor, permission: str | None) -> None:
        if permission is not None and not can(actor, permission):
            self._audit_denied(actor, permission)
            raise Forbidden()

    def _audit_denied(self, actor: Actor, permission: str) -> None:
        """A refused call changes nothing but leaves a trace (crafted events show up here)."""
        handler = (self.router_data or {}).get("pathname", "")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                audit.record(
                    session,
                    action="access.denied",
                    actor_user_id=actor.user_id,
                    clinic_id=actor.clinic_id,
                    after={"permission": permission, "role": actor.role, "page": str(handler)[:80]},
                    ip=self.router.session.client_ip or None,
                )
        except SQLAlchemyError:
            logger.warning("could not audit a refused call", exc_info=True)

    def _step_up_then(
        self, actor: Actor, form: dict[str, Any], sign: Callable[[Session], object]
    ) -> AppError | None:
        """Signing's two steps, each in its own transaction: the password or authenticator
        code again (a recorded step-up), then ``sign``. Returns the refusal to show, if any."""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                auth.step_up(
                    session,
                    actor=actor,
                    password=str(form.get("password") or "")[:200],
                    code=str(form.get("code") or "").strip()[:12],
                    ip=self.router.session.client_ip or None,
                )
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                sign(session)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            return exc
        return None

    def _guard_page(self, page: str) -> Actor | None:
        """``_require`` for a page's on_load: a refused permission shows the 403 view."""
        permission = PAGE_PERMISSIONS.get(page, "admin:access")
        self._show_banner()
        try:
            actor = self._require(permission)
        except Forbidden:
            self._set_access(page, "forbidden")
            return None
        self._set_access(page, "ok")
        if self.error_message:
            self.error_message = ""
        return actor

    def _set_access(self, page: str, decision: str) -> None:
        if self.access_page != page:
            self.access_page = page
        if self.access != decision:
            self.access = decision

    def _show_actor(self, actor: Actor) -> None:
        """Keep the shell in step with the database (role changes show on the next event)."""
        if self.user_role != actor.role:
            self.user_role = actor.role
            self.role_label = ROLE_LABELS.get(actor.role, actor.role)
            self.nav_pages = [p for p, perm in PAGE_PERMISSIONS.items() if can(actor, perm)]
        if self.user_name != actor.full_name:
            self.user_name = actor.full_name

    # ---- session lifecycle ------------------------------------------------------------------

    def _start_session(self, actor: Actor, profile: SessionProfile) -> None:
        self.signed_in = True
        self.user_name = profile.user_name
        self.user_email = profile.email
        self.user_role = profile.role
        self.role_label = profile.role_label
        self.clinic_name = profile.clinic_name
        self.clinic_timezone = profile.clinic_timezone
        self.nav_pages = [p for p, perm in PAGE_PERMISSIONS.items() if can(actor, perm)]
        self.error_message = ""
        self.access_page = ""
        self.access = ""

    async def _forget_session(self, notice: str) -> None:
        """Sign this tab out and wipe every page's state (no data left for the next user)."""
        pending = list(type(self).get_substates())
        while pending:  # load every page state so the reset reaches them all
            substate_cls = pending.pop()
            await self.get_state(substate_cls)
            pending.extend(substate_cls.get_substates())
        banner = self.banner
        self.reset()
        self._session_key = ""
        self.banner = banner
        self.notice = notice[:200]

    @rx.event
    async def sign_out(self) -> EventSpec:
        """End this browser's session (revoked in the database, cookie cleared by the route)."""
        token = self._session_token()
        if token:
            try:
                with session_scope() as session:
                    actor = auth.actor_for_token(session, token=token)
                    auth.sign_out(session, actor=actor, ip=self.router.session.client_ip or None)
            except AppError:
                pass  # already expired or revoked: clearing the cookie is all that is left
            except SQLAlchemyError:
                logger.warning("could not record logout", exc_info=True)
        await self._forget_session("You have signed out.")
        return full_page_load("/auth/logout")

    @rx.event
    async def end_session(self, message: str = "") -> None:
        """Chained by the exception handler when the session is gone (own session only)."""
        await self._forget_session(str(message))

    @rx.event
    def show_error(self, message: str) -> None:
        """Chained by the exception handler: a friendly message in the page (own tab only)."""
        self.error_message = str(message)[:300]

    @rx.event
    def dismiss_error(self) -> None:
        self.error_message = ""

    @rx.event
    def go_home(self) -> EventSpec:
        """``/``: the worklist when signed in, else the sign-in page."""
        return rx.redirect("/worklist" if self.signed_in else "/login", replace=True)

    def _show_banner(self) -> None:
        """The process's newest dependency banner (``watch_dependencies``), no I/O."""
        if self.banner != _banner.text:
            self.banner = _banner.text


@dataclass
class _Banner:
    text: str = ""  # the newest banner text this process computed ("" while all is up)


_banner = _Banner()


async def watch_dependencies(app: Any) -> None:
    """Lifespan task: check the dependencies every 15 s; put a changed banner on every tab.

    Public: the banner says only which dependency is down (like ``/health/ready``), no clinic
    data. One check per process serves all its tabs: pages show the newest text when they load
    (``_guard_page``, the sign-in page), and a change is written to each tab this process serves
    at once. (A watcher per open page cost two state-lock cycles per page opened.)
    """
    while True:
        report = await threads.run("background", _check_dependencies)
        text = describe_health(report)
        if text != _banner.text:
            _banner.text = text
            await _push_banner(app, text)
        await asyncio.sleep(HEALTH_INTERVAL_SECONDS)


async def _push_banner(app: Any, text: str) -> None:
    """``text`` on every tab connected to this process (one state lock each)."""
    namespace = app.event_namespace
    tokens = list(namespace.token_to_sid) if namespace is not None else []
    for token in tokens:
        try:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=AppState)) as root:
                page = await root.get_state(AppState)
                if page.banner != text:
                    page.banner = text
        except Exception:  # noqa: BLE001 - Redis down or the tab gone: its next page load shows it
            logger.warning("dependency banner not delivered to a tab", exc_info=True)


def handle_backend_exception(exception: Exception) -> list[EventSpec]:
    """The app-wide exception handler: the other half of the one access check.

    ``NotSignedIn`` → clear the tab's session and go to ``/login``; any ``AppError`` (e.g.
    ``Forbidden``) → its friendly message; anything else → a generic message, logged here.
    """
    if isinstance(exception, NotSignedIn):
        return [
            AppState.end_session(exception.message),  # type: ignore[operator]  # rx.event
            rx.redirect(exception.sign_in_page),
        ]
    if isinstance(exception, AppError):
        logger.info("refused: %s %s", exception.code, exception.message)
    else:
        logger.error("unhandled error in an event handler", exc_info=exception)
    return [AppState.show_error(friendly_message(exception))]  # type: ignore[operator]
