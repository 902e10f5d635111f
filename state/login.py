"""Sign-in page state: the form's busy flag and its one generic error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services.auth import SessionProfile, authenticate, session_profile
from state.base import DATABASE_DOWN, AppState


class LoginState(AppState):
    signing_in: rx.Field[bool] = rx.field(False)
    login_error: rx.Field[str] = rx.field("")

    @rx.event
    def load(self) -> EventSpec | None:
        """Public page; a signed-in tab goes straight to the worklist."""
        self.signing_in = False
        self.login_error = ""
        if self.signed_in:
            return rx.redirect("/worklist", replace=True)
        return None

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
        result: tuple[Actor, SessionProfile] | None = None
        failure = ""
        try:
            # The audit row of a failed attempt must be committed too, so the AppError is
            # caught inside the transaction boundary.
            with session_scope() as session:
                try:
                    actor = authenticate(
                        session,
                        email=email,
                        password=password,
                        ip=self.router.session.client_ip or None,
                        user_agent=self.router.headers.user_agent or None,
                    )
                    result = (actor, session_profile(session, actor=actor))
                except AppError as exc:
                    failure = exc.message
        except SQLAlchemyError:
            failure = DATABASE_DOWN
        finally:
            self.signing_in = False
        if result is None:
            self.login_error = failure or "Sign-in failed. Please try again."
            return
        # A new session starts from clean page states, whoever used this tab before.
        root = await self.get_state(AppState)
        await root._forget_session("")
        self._start_session(*result)
        yield rx.redirect("/worklist")
