"""Sign-in page state: password, then TOTP (or TOTP enrolment when the clinic requires it).

The password step proves who it is; the pending sign-in (backend-only vars, 5 minutes) waits for
the second factor. A finished sign-in gets a one-time code from ``sessions.begin`` and leaves for
``/auth/session``, which sets the HttpOnly cookie (``clinic_app/api/sessions.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from clinic_app import threads
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.services import auth
from state.base import DATABASE_DOWN, AppState, full_page_load

PENDING_SECONDS = 300
PENDING_EXPIRED = "The sign-in took too long. Please enter your password again."


class LoginState(AppState):
    # "password" | "totp" | "enrol" | "recovery"
    step: rx.Field[str] = rx.field("password")
    signing_in: rx.Field[bool] = rx.field(False)
    login_error: rx.Field[str] = rx.field("")
    enrol_qr: rx.Field[str] = rx.field("")
    enrol_secret: rx.Field[str] = rx.field("")
    recovery_codes: rx.Field[list[str]] = rx.field(default_factory=list)

    # The password step passed; the second factor is still due. Never sent to the browser.
    _pending_user_id: str = ""
    _pending_clinic_id: str = ""
    _pending_role: str = ""
    _pending_name: str = ""
    _pending_email: str = ""
    _pending_until: float = 0.0

    @rx.event
    def load(self) -> EventSpec | None:
        """Public page; a browser with a live session goes straight to the worklist."""
        self.signing_in = False
        self.login_error = ""
        self._show_banner()
        if self.router.page.params.get("expired"):
            self.login_error = "That sign-in link has expired. Please sign in again."
        token = self._session_token()
        if token:
            try:
                with session_scope() as session:
                    auth.actor_for_token(session, token=token)
                return rx.redirect("/worklist", replace=True)
            except (AppError, SQLAlchemyError):
                pass
        if self.step != "password" and time.time() > self._pending_until:
            self._clear_pending()
        return None

    def _clear_pending(self) -> None:
        self.step = "password"
        self.enrol_qr = ""
        self.enrol_secret = ""
        self.recovery_codes = []
        self._pending_user_id = ""
        self._pending_clinic_id = ""
        self._pending_role = ""
        self._pending_name = ""
        self._pending_email = ""
        self._pending_until = 0.0

    def _pending_actor(self) -> Actor:
        if not self._pending_user_id or time.time() > self._pending_until:
            self._clear_pending()
            raise AppError("PENDING_EXPIRED", PENDING_EXPIRED)
        return Actor(
            user_id=uuid.UUID(self._pending_user_id),
            clinic_id=uuid.UUID(self._pending_clinic_id),
            role=self._pending_role,
            full_name=self._pending_name,
            email=self._pending_email,
        )

    def _client(self) -> tuple[str | None, str | None]:
        return self.router.session.client_ip or None, self.router.headers.user_agent or None

    async def _finish(self, actor: Actor, *, mfa_verified: bool) -> EventSpec:
        """Create the session and hand it to the cookie route (a full page load follows)."""
        ip, user_agent = self._client()
        code = await threads.run("handler", _begin_session, actor, mfa_verified, ip, user_agent)
        # A new session starts from clean page states, whoever used this tab before.
        root = await self.get_state(AppState)
        await root._forget_session("")
        self._clear_pending()
        return full_page_load(f"/auth/session?code={code}")

    @rx.event
    async def sign_in(self, form_data: dict[str, Any]) -> AsyncIterator[EventSpec | None]:
        """Check the password; the form keeps what was typed when it fails."""
        email = str(form_data.get("email") or "").strip()[:254]
        password = str(form_data.get("password") or "")[:1024]
        if not email or not password:
            self.login_error = "Enter your email and password."
            return
        self.signing_in = True
        self.login_error = ""
        yield None
        ip, user_agent = self._client()
        actor: Actor | None = None
        enrolment: auth.Enrolment | None = None
        try:
            actor, need, enrolment, error = await threads.run(
                "handler", _password_step, email, password, ip, user_agent
            )
            self.login_error = error
            if actor is not None and need is None:
                yield await self._finish(actor, mfa_verified=False)
                return
        except SQLAlchemyError:
            self.login_error = DATABASE_DOWN
            actor = None
        finally:
            self.signing_in = False
        if actor is None:
            return
        self._pending_user_id = str(actor.user_id)
        self._pending_clinic_id = str(actor.clinic_id)
        self._pending_role = actor.role
        self._pending_name = actor.full_name
        self._pending_email = actor.email
        self._pending_until = time.time() + PENDING_SECONDS
        if enrolment is not None:
            self.enrol_qr = enrolment.qr_data_uri
            self.enrol_secret = enrolment.secret
            self.step = "enrol"
        else:
            self.step = "totp"

    @rx.event
    async def verify_code(self, form_data: dict[str, Any]) -> AsyncIterator[EventSpec | None]:
        """Second step: a TOTP code (or a recovery code) for the pending sign-in."""
        code = str(form_data.get("code") or "").strip()[:32]
        if not code:
            self.login_error = "Enter the 6-digit code from your authenticator app."
            return
        self.signing_in = True
        self.login_error = ""
        yield None
        try:
            actor = self._pending_actor()
            ip, _ = self._client()
            failure = await threads.run("handler", _second_factor, actor, code, ip)
            ok = failure is None
            if failure is not None:
                self.login_error = failure.message
                if failure.code == "MFA_LOCKED":
                    self._clear_pending()
            if ok:
                yield await self._finish(actor, mfa_verified=True)
        except AppError as exc:
            self.login_error = exc.message
        except SQLAlchemyError:
            self.login_error = DATABASE_DOWN
        finally:
            self.signing_in = False

    @rx.event
    def confirm_enrolment(self, form_data: dict[str, Any]) -> None:
        """First code from the newly scanned secret: turns TOTP on and shows recovery codes."""
        code = str(form_data.get("code") or "").strip()[:32]
        if not code:
            self.login_error = "Enter the 6-digit code your app shows after scanning."
            return
        self.login_error = ""
        try:
            actor = self._pending_actor()
            with session_scope() as session:
                codes = auth.confirm_enrolment(session, actor=actor, code=code)
        except AppError as exc:
            self.login_error = exc.message
            return
        except SQLAlchemyError:
            self.login_error = DATABASE_DOWN
            return
        self.recovery_codes = codes
        self.enrol_qr = ""
        self.enrol_secret = ""
        self.step = "recovery"

    @rx.event
    async def finish_enrolment(self) -> EventSpec | None:
        """The user has kept the recovery codes: sign in."""
        try:
            actor = self._pending_actor()
            return await self._finish(actor, mfa_verified=True)
        except AppError as exc:
            self.login_error = exc.message
        except SQLAlchemyError:
            self.login_error = DATABASE_DOWN
        return None

    @rx.event
    def cancel_sign_in(self) -> None:
        self._clear_pending()
        self.login_error = ""


# ---- the blocking parts, run in a worker thread (Argon2 and the database) --------------------


def _password_step(
    email: str, password: str, ip: str | None, user_agent: str | None
) -> tuple[Actor | None, str | None, auth.Enrolment | None, str]:
    """(actor, MFA still needed, TOTP enrolment, error message) of one password attempt.

    The audit row of a failed attempt must be committed too, so the AppError is caught inside
    the transaction boundary.
    """
    with session_scope() as session:
        try:
            actor = auth.authenticate(
                session, email=email, password=password, ip=ip, user_agent=user_agent
            )
        except AppError as exc:
            return None, None, None, exc.message
        need = auth.mfa_requirement(session, actor=actor)
        enrolment = auth.start_enrolment(session, actor=actor) if need == "enrol" else None
        return actor, need, enrolment, ""


def _second_factor(actor: Actor, code: str, ip: str | None) -> AppError | None:
    """None when the TOTP or recovery code is right; the refusal otherwise (kept, audited)."""
    with session_scope() as session:
        try:
            auth.verify_second_factor(session, user_id=actor.user_id, code=code, ip=ip)
        except AppError as exc:
            return exc
    return None


def _begin_session(actor: Actor, mfa_verified: bool, ip: str | None, user_agent: str | None) -> str:
    """The one-time code the cookie route swaps for the new session."""
    with session_scope() as session:
        return sessions.begin(
            session,
            user_id=actor.user_id,
            clinic_id=actor.clinic_id,
            mfa_verified=mfa_verified,
            ip=ip,
            user_agent=user_agent,
        )
