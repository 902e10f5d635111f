"""Patient portal: one-time-code sign-in, the patient's own record and self-booking.

A portal session is a ``patient`` session of the same HttpOnly cookie; ``_require_patient``
re-validates it on every event and everything shown is scoped by the session's patient.
Free slots stay server-side (``_slots``); the browser sees times and doctor names and sends
back only a slot key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require as require_permission
from clinic_app.services import auth, portal, portal_booking, prescriptions, reports
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
    # ---- self-booking (shown only when the clinic enables it) ----
    booking_enabled: rx.Field[bool] = rx.field(False)
    booking_types: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    booking_doctors: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    booking_timezone: rx.Field[str] = rx.field("")
    booking_type: rx.Field[str] = rx.field("")
    booking_doctor: rx.Field[str] = rx.field("any")
    slot_days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    slot_window: rx.Field[str] = rx.field("")
    slot_has_earlier: rx.Field[bool] = rx.field(False)
    slot_has_later: rx.Field[bool] = rx.field(False)
    slots_loading: rx.Field[bool] = rx.field(False)
    chosen_slot: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    booking_busy: rx.Field[bool] = rx.field(False)
    booking_error: rx.Field[str] = rx.field("")
    booking_notice: rx.Field[str] = rx.field("")
    cancel_open: rx.Field[bool] = rx.field(False)
    cancel_label: rx.Field[str] = rx.field("")
    cancel_error: rx.Field[str] = rx.field("")
    cancel_busy: rx.Field[bool] = rx.field(False)
    _slot_from: str = ""
    _slots: dict[str, dict[str, str]] = {}
    _booking_key: str = ""
    _versions: dict[str, int] = {}
    _cancel_id: str = ""

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
    def verify_code(self, form_data: dict[str, Any]) -> Iterator[EventSpec | None]:
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

    def _load_overview(self, actor: Actor) -> None:
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            view = portal.overview(session, actor=actor)
        self.patient_name = view.patient_name
        self.mrn = view.mrn
        self.patient_clinic = view.clinic_name
        # Versions stay server-side: a cancel sends the version the patient saw.
        self._versions = {item.id: item.version for item in view.upcoming}
        self.upcoming = [
            {"id": a.id, "when": a.when, "provider": a.provider, "visit_type": a.visit_type,
             "status": a.status, "can_cancel": "1" if a.can_cancel else ""}
            for a in view.upcoming
        ]  # fmt: skip
        self.past = [
            {"id": "", "when": a.when, "provider": a.provider, "visit_type": a.visit_type,
             "status": a.status, "can_cancel": ""}
            for a in view.past
        ]  # fmt: skip

    def _load_booking(self, actor: Actor) -> None:
        """The booking form's choices; a clinic without self-booking gets no form at all."""
        with session_scope(clinic_id=actor.clinic_id) as session:
            options = portal_booking.booking_options(session, actor=actor)
        self.booking_enabled = options.enabled
        self.booking_types = [
            {"code": v.code, "name": v.name, "minutes": str(v.duration_minutes)}
            for v in options.visit_types
        ]
        self.booking_doctors = [
            {"id": p.id, "name": p.name, "specialty": p.specialty} for p in options.providers
        ]
        self.booking_timezone = options.timezone
        self.booking_type = ""  # every page load starts the form afresh
        self.booking_doctor = "any"
        self._slot_from = options.first_date.isoformat()
        self._clear_slots()

    def _clear_slots(self) -> None:
        self.slot_days = []
        self.slot_window = ""
        self.slot_has_earlier = self.slot_has_later = False
        self._slots = {}
        self.chosen_slot = {}
        self._booking_key = ""

    def _load_slots(self, actor: Actor) -> None:
        """Free times of the chosen visit type and doctor for one week from ``_slot_from``."""
        self.chosen_slot = {}
        self._booking_key = ""
        if not self.booking_type:
            self._clear_slots()
            return
        with session_scope(clinic_id=actor.clinic_id) as session:
            window = portal_booking.open_slots(
                session,
                actor=actor,
                visit_type=self.booking_type,
                provider_id=None if self.booking_doctor == "any" else self.booking_doctor,
                start_date=date.fromisoformat(self._slot_from) if self._slot_from else None,
            )
        self._slot_from = window.first_date.isoformat()
        self.slot_window = f"{window.first_date:%a %d %b} – {window.last_date:%a %d %b}"
        self.slot_has_earlier, self.slot_has_later = window.has_earlier, window.has_later
        found: dict[str, dict[str, str]] = {}
        days: dict[str, list[dict[str, str]]] = {}
        for index, slot in enumerate(window.slots):
            key = f"s{index}"
            found[key] = {
                "provider_id": slot.provider_id,
                "starts_at": slot.starts_at,
                "day": slot.day,
                "time": slot.time,
                "provider": slot.provider_name,
            }
            label = f"{slot.time}, {slot.day} with {slot.provider_name}"
            days.setdefault(slot.day, []).append({"key": key, "time": slot.time, "label": label})
        self._slots = found  # assigned whole, so Redis-backed tab state sees the change
        self.slot_days = [{"day": day, "slots": slots} for day, slots in days.items()]

    @rx.event
    def load(self) -> None:
        actor = self._require_patient()
        self._load_overview(actor)
        self.booking_error = self.booking_notice = ""
        try:
            self._load_booking(actor)
        except AppError:
            self.booking_enabled = False  # the rest of the record still shows
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

    # ---- self-booking ----------------------------------------------------------------------

    async def _reload_slots(self, actor: Actor) -> AsyncIterator[None]:
        self.booking_error = ""
        self.slots_loading = True
        yield None
        try:
            self._load_slots(actor)
        except AppError as exc:
            self._clear_slots()
            self.booking_error = exc.message
        except SQLAlchemyError:
            self.booking_error = DATABASE_DOWN
        finally:
            self.slots_loading = False

    @rx.event
    async def pick_visit_type(self, code: str) -> AsyncIterator[None]:
        actor = self._require_patient()
        self.booking_type = str(code)[:60]
        self.booking_notice = ""
        async for _ in self._reload_slots(actor):
            yield None

    @rx.event
    async def pick_doctor(self, doctor_id: str) -> AsyncIterator[None]:
        actor = self._require_patient()
        self.booking_doctor = str(doctor_id)[:64] or "any"
        self.booking_notice = ""
        async for _ in self._reload_slots(actor):
            yield None

    @rx.event
    async def shift_slots(self, weeks: int) -> AsyncIterator[None]:
        """Earlier (-1) or later (+1) week of free times; the service clamps to the horizon."""
        actor = self._require_patient()
        start = date.fromisoformat(self._slot_from) if self._slot_from else date.today()
        step = -1 if str(weeks).strip().startswith("-") else 1
        self._slot_from = (
            start + timedelta(days=step * portal_booking.SLOT_WINDOW_DAYS)
        ).isoformat()
        async for _ in self._reload_slots(actor):
            yield None

    @rx.event
    def choose_slot(self, key: str) -> None:
        self._require_patient()
        slot = self._slots.get(str(key))
        if slot is None:
            return
        names = {v["code"]: v["name"] for v in self.booking_types}
        self.chosen_slot = {
            "day": slot["day"],
            "time": slot["time"],
            "provider": slot["provider"],
            "visit_type": names.get(self.booking_type, ""),
            "key": str(key),
        }
        # One key per chosen slot: a double click (or a retried event) books once.
        self._booking_key = uuid.uuid4().hex
        self.booking_error = self.booking_notice = ""

    @rx.event
    def confirm_dialog_changed(self, is_open: bool) -> None:
        """Closing the confirmation (Esc, "Choose another time") forgets the chosen time."""
        self._require_patient()
        if not is_open and not self.booking_busy:
            self.chosen_slot = {}
            self._booking_key = ""

    @rx.event
    def confirm_booking(self) -> Iterator[EventSpec | None]:
        actor = self._require_patient()
        slot = self._slots.get(self.chosen_slot.get("key", ""))
        if slot is None or not self._booking_key or self.booking_busy:
            return
        self.booking_busy = True
        self.booking_error = ""
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                booked = portal_booking.book(
                    session,
                    actor=actor,
                    visit_type=self.booking_type,
                    provider_id=slot["provider_id"],
                    starts_at=slot["starts_at"],
                    idempotency_key=self._booking_key,
                )
        except (AppError, SQLAlchemyError) as exc:
            # The dialog closes and the message shows above the free times.
            self.booking_busy = False
            self.chosen_slot = {}
            self._booking_key = ""
            self.booking_error = exc.message if isinstance(exc, AppError) else DATABASE_DOWN
            if isinstance(exc, AppError) and exc.code == "APPOINTMENT_CONFLICT":
                try:  # someone took it: show what is free now
                    self._load_slots(actor)
                except (AppError, SQLAlchemyError):
                    self._clear_slots()
            yield rx.scroll_to("portal-pick-time")
            return
        self.booking_busy = False
        self.booking_notice = (
            f"Booked: {booked.visit_type}, {booked.label}, {booked.provider_name}."
        )
        self.booking_type = ""
        self._clear_slots()
        self._load_overview(actor)
        yield rx.scroll_to("portal-upcoming")

    @rx.event
    def open_cancel(self, appointment_id: str) -> None:
        self._require_patient()
        found = next((a for a in self.upcoming if a["id"] == str(appointment_id)), None)
        if found is None or not found["can_cancel"]:
            return
        self._cancel_id = found["id"]
        self.cancel_label = f"{found['visit_type']}, {found['when']}, {found['provider']}"
        self.cancel_error = ""
        self.cancel_open = True

    @rx.event
    def cancel_dialog_changed(self, is_open: bool) -> None:
        self._require_patient()
        if not is_open and not self.cancel_busy:
            self.cancel_open = False
            self._cancel_id = ""
            self.cancel_error = ""

    @rx.event
    def confirm_cancel(self, form_data: dict[str, Any]) -> Iterator[None]:
        actor = self._require_patient()
        if not self._cancel_id or self.cancel_busy:
            return
        reason = str(form_data.get("reason") or "").strip()[:250]
        self.cancel_busy = True
        self.cancel_error = ""
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                label = portal_booking.cancel(
                    session,
                    actor=actor,
                    appointment_id=self._cancel_id,
                    expected_version=self._versions.get(self._cancel_id, 0),
                    reason=reason,
                )
        except AppError as exc:
            self.cancel_busy = False
            self.cancel_error = exc.message  # the reason stays in the form
            if exc.code in {"VERSION_CONFLICT", "CANCEL_NOT_ALLOWED", "NOT_FOUND"}:
                self._load_overview(actor)
            return
        except SQLAlchemyError:
            self.cancel_busy = False
            self.cancel_error = DATABASE_DOWN
            return
        self.cancel_busy = False
        self.cancel_open = False
        self._cancel_id = ""
        self.booking_notice = f"Cancelled: {label}."
        self._load_overview(actor)
        if self.booking_type:  # the freed time shows again
            try:
                self._load_slots(actor)
            except (AppError, SQLAlchemyError):
                self._clear_slots()

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
