"""My account: two-step verification set-up and signing out other sessions (any staff role)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services import auth
from state.base import AppState


class AccountState(AppState):
    mfa_enabled: rx.Field[bool] = rx.field(False)
    other_sessions: rx.Field[int] = rx.field(0)
    enrol_qr: rx.Field[str] = rx.field("")
    enrol_secret: rx.Field[str] = rx.field("")
    recovery_codes: rx.Field[list[str]] = rx.field(default_factory=list)
    account_error: rx.Field[str] = rx.field("")
    account_notice: rx.Field[str] = rx.field("")

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("account")
        if actor is None:
            return
        self.account_error = ""
        with session_scope(clinic_id=actor.clinic_id) as session:
            status = auth.account_status(session, actor=actor)
        self.mfa_enabled = status.mfa_enabled
        self.other_sessions = status.other_sessions

    @rx.event
    def start_mfa(self) -> None:
        actor = self._require("account:self")
        self.account_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                enrolment = auth.start_enrolment(session, actor=actor)
        except AppError as exc:
            self.account_error = exc.message
            return
        self.enrol_qr = enrolment.qr_data_uri
        self.enrol_secret = enrolment.secret

    @rx.event
    def confirm_mfa(self, form_data: dict[str, Any]) -> None:
        actor = self._require("account:self")
        self.account_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                codes = auth.confirm_enrolment(
                    session, actor=actor, code=str(form_data.get("code") or "")[:32]
                )
        except AppError as exc:
            self.account_error = exc.message
            return
        self.recovery_codes = codes
        self.enrol_qr = ""
        self.enrol_secret = ""
        self.mfa_enabled = True

    @rx.event
    def done_with_codes(self) -> None:
        self._require("account:self")
        self.recovery_codes = []

    @rx.event
    def sign_out_others(self) -> None:
        actor = self._require("account:self")
        with session_scope(clinic_id=actor.clinic_id) as session:
            ended = auth.sign_out_other_sessions(session, actor=actor)
        self.other_sessions = 0
        self.account_notice = f"Signed out {ended} other session{'s' if ended != 1 else ''}."
