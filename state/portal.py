"""Patient portal: one-time-code sign-in and the patient's own record.

A portal session is a ``patient`` session of the same HttpOnly cookie; ``_require_patient``
re-validates it on every event and everything shown is scoped by the session's patient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require as require_permission
from clinic_app.services import auth, portal, prescriptions, reports
from state.base import DATABASE_DOWN, AppState, NotSignedIn, full_page_load


class PortalState(AppState):
    code_sent: rx.Field[bool] = rx.field(False)
    portal_email: rx.Field[str] = rx.field("")
    portal_message: rx.Field[str] = rx.field("")
    portal_error: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)
    patient_name: rx.Field[str] = rx.field("")
    mrn: rx.Field[str] = rx.field("")
    patient_clinic: rx.Field[str] = rx.field("")
    upcoming: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    past: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    active_prescriptions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    past_prescriptions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    prescription: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    prescription_open: rx.Field[bool] = rx.field(False)
    prescription_error: rx.Field[str] = rx.field("")
    shared_reports: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    report_error: rx.Field[str] = rx.field("")
    _prescription_id: str = ""

    def _require_patient(self) -> Actor:
        """The signed-in patient of this browser (portal session cookie) or NotSignedIn."""
        try:
            with session_scope() as session:
                actor = portal.actor_for_token(session, token=self._session_token())
        except AppError as exc:
            if exc.code == "SESSION_EXPIRED":
                raise NotSignedIn(exc.message, sign_in_page="/portal/login") from None
            raise
        except SQLAlchemyError as exc:
            raise AppError("DATABASE_UNAVAILABLE", DATABASE_DOWN) from exc
        require_permission(actor, "portal:self")
        return actor

    @rx.event
    def load_login(self) -> EventSpec | None:
        """Public page; a browser already signed in to the portal goes to its record."""
        self.busy = False
        self.portal_error = ""
        if self._session_token():
            try:
                with session_scope() as session:
                    portal.actor_for_token(session, token=self._session_token())
                return rx.redirect("/portal", replace=True)
            except (AppError, SQLAlchemyError):
                pass
        return None

    @rx.event
    def request_code(self, form_data: dict[str, Any]) -> None:
        email = str(form_data.get("email") or "").strip()[:254]
        self.portal_error = ""
        try:
            with session_scope() as session:
                self.portal_message = portal.request_code(
                    session, email=email, ip=self.router.session.client_ip or None
                )
        except AppError as exc:
            self.portal_error = exc.message
            return
        except SQLAlchemyError:
            self.portal_error = DATABASE_DOWN
            return
        self.portal_email = email
        self.code_sent = True

    @rx.event
    def use_other_email(self) -> None:
        self.code_sent = False
        self.portal_message = ""
        self.portal_error = ""

    @rx.event
    async def verify_code(self, form_data: dict[str, Any]) -> AsyncIterator[EventSpec | None]:
        code = str(form_data.get("code") or "").strip()[:16]
        self.portal_error = ""
        self.busy = True
        yield None
        try:
            with session_scope() as session:
                try:
                    actor = portal.verify_code(
                        session,
                        email=self.portal_email,
                        code=code,
                        ip=self.router.session.client_ip or None,
                    )
                    handoff = sessions.begin(
                        session,
                        user_id=actor.user_id,
                        clinic_id=actor.clinic_id,
                        kind="patient",
                        ip=self.router.session.client_ip or None,
                        user_agent=self.router.headers.user_agent or None,
                    )
                except AppError as exc:
                    self.portal_error = exc.message
                    return
        except SQLAlchemyError:
            self.portal_error = DATABASE_DOWN
            return
        finally:
            self.busy = False
        self.code_sent = False
        self.portal_message = ""
        yield full_page_load(f"/auth/session?code={handoff}")

    @rx.event
    def load(self) -> None:
        actor = self._require_patient()
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            view = portal.overview(session, actor=actor)
        self.patient_name = view.patient_name
        self.mrn = view.mrn
        self.patient_clinic = view.clinic_name
        self.upcoming = [dataclasses.asdict(item) for item in view.upcoming]
        self.past = [dataclasses.asdict(item) for item in view.past]
        with session_scope(clinic_id=actor.clinic_id) as session:
            mine = prescriptions.portal_list(session, actor=actor)
        self.active_prescriptions = [r for r in mine if r["active"]]
        self.past_prescriptions = [r for r in mine if not r["active"]]
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            shared = reports.portal_reports(session, actor=actor)
        # File ids stay on the server: the browser asks for a short-lived link instead.
        self.shared_reports = [
            {"id": r["id"], "title": f"{r['number']} v{r['version_number']}",
             "signed_at": r["signed_at"][:10], "text": r["text"],
             "has_docx": "1" if r["docx_file_id"] else ""}
            for r in shared
        ]  # fmt: skip

    @rx.event
    def download_report(self, report_id: str) -> EventSpec | None:
        actor = self._require_patient()
        self.report_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                url = reports.document_link(
                    session, actor=actor, report_id=str(report_id)[:64], kind="docx"
                )
        except AppError as exc:
            if exc.code == "NOT_FOUND":
                raise
            self.report_error = exc.message
            return None
        return rx.redirect(url, is_external=True)

    @rx.event
    def open_prescription(self, prescription_id: str) -> None:
        actor = self._require_patient()
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            data = prescriptions.portal_view(
                session, actor=actor, prescription_id=str(prescription_id)[:64]
            )
        for internal in ("pdf_file_id", "docx_file_id", "patient_id", "content_hash"):
            data.pop(internal, None)  # the dialog shows none of these; keep them server-side
        self.prescription = data
        self._prescription_id = str(prescription_id)[:64]
        self.prescription_error = ""
        self.prescription_open = True

    @rx.event
    def prescription_dialog_changed(self, is_open: bool) -> None:
        self._require_patient()
        if not is_open:
            self.prescription_open = False
            self.prescription = {}
            self._prescription_id = ""

    @rx.event
    def download_prescription(self) -> EventSpec | None:
        actor = self._require_patient()
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                url = prescriptions.document_link(
                    session, actor=actor, prescription_id=self._prescription_id, kind="pdf"
                )
        except AppError as exc:
            if exc.code == "NOT_FOUND":
                raise
            self.prescription_error = exc.message
            return None
        return rx.redirect(url, is_external=True)

    @rx.event
    async def portal_sign_out(self) -> EventSpec:
        try:
            actor = self._require_patient()
            with session_scope() as session:
                auth.sign_out(session, actor=actor, ip=self.router.session.client_ip or None)
        except AppError:
            pass  # already expired: clearing the cookie is all that is left
        await self._forget_session("")
        return full_page_load("/auth/logout?kind=patient")
