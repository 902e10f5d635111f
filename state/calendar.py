"""Calendar page state: visible range, providers side by side, booking and detail dialogs.

Handlers stay thin: each checks access, calls one scheduling/patients service and keeps plain
dicts. Conflicts are expected outcomes here (two receptionists, one slot), so booking and
moving catch ``AppError`` to show the message *in the dialog* with the next free times,
keeping everything the user typed. Ids from the browser are only ever used through services
that scope them by the signed-in user's clinic.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import reflex as rx

from clinic_app import live
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can
from clinic_app.services.patients import new_patient_from_form, register_patient, search_patients
from clinic_app.services.scheduling import (
    NewBooking,
    appointment_history,
    book_appointment,
    calendar_events,
    clinic_zone,
    get_appointment,
    list_providers,
    list_visit_types,
    reschedule_appointment,
    transition_appointment,
)
from clinic_app.services.scheduling_setup import add_exception_local
from state.base import AppState
from state.live import needs_watcher, page_key, run_live_loop, show

VIEWS = ("timeGridDay", "timeGridWeek")
MAX_SIDE_BY_SIDE = 6
ACTION_LABELS = {
    "confirmed": "Confirm",
    "arrived": "Arrived",
    "ready": "Ready",
    "in_consultation": "Start",
    "completed": "Complete",
    "no_show": "No-show",
    "cancelled": "Cancel…",
}


def _range(anchor: date, view: str) -> tuple[date, date]:
    if view == "timeGridDay":
        return anchor, anchor + timedelta(days=1)
    monday = anchor - timedelta(days=anchor.weekday())
    return monday, monday + timedelta(days=7)


def _range_label(start: date, end: date, view: str) -> str:
    if view == "timeGridDay":
        return start.strftime("%A %d %B %Y")
    last = end - timedelta(days=1)
    if start.month == last.month:
        return f"{start.day} – {last.strftime('%d %B %Y')}"
    return f"{start.strftime('%d %b')} – {last.strftime('%d %b %Y')}"


class CalendarState(AppState):
    view: rx.Field[str] = rx.field("timeGridWeek")
    anchor: rx.Field[str] = rx.field("")
    range_label: rx.Field[str] = rx.field("")
    timezone: rx.Field[str] = rx.field("UTC")
    providers: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    selected_providers: rx.Field[list[str]] = rx.field(default_factory=list)
    visit_types: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    events_by_provider: rx.Field[dict[str, list[dict[str, Any]]]] = rx.field(default_factory=dict)
    loaded: rx.Field[bool] = rx.field(False)
    live: rx.Field[bool] = rx.field(False)
    can_book: rx.Field[bool] = rx.field(False)
    can_move: rx.Field[bool] = rx.field(False)
    flash: rx.Field[str] = rx.field("")
    _redraws: int = 0

    # Booking dialog.
    booking_open: rx.Field[bool] = rx.field(False)
    booking_provider_id: rx.Field[str] = rx.field("")
    booking_provider_name: rx.Field[str] = rx.field("")
    booking_start: rx.Field[str] = rx.field("")
    booking_end: rx.Field[str] = rx.field("")
    booking_label: rx.Field[str] = rx.field("")
    booking_visit_type: rx.Field[str] = rx.field("")
    booking_notes: rx.Field[str] = rx.field("")
    booking_outside_hours: rx.Field[bool] = rx.field(False)
    booking_error: rx.Field[str] = rx.field("")
    booking_error_code: rx.Field[str] = rx.field("")
    alternatives: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    patient_query: rx.Field[str] = rx.field("")
    patient_results: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    booking_patient: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    new_patient_open: rx.Field[bool] = rx.field(False)
    new_patient_error: rx.Field[str] = rx.field("")
    _booking_key: str = ""

    # Time off / blocked hours / extra session dialog.
    can_manage_availability: rx.Field[bool] = rx.field(False)
    exception_open: rx.Field[bool] = rx.field(False)
    exception_error: rx.Field[str] = rx.field("")

    # Appointment detail dialog.
    detail_open: rx.Field[bool] = rx.field(False)
    detail: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    detail_actions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    detail_history: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    detail_error: rx.Field[str] = rx.field("")
    cancel_open: rx.Field[bool] = rx.field(False)

    @rx.var
    def columns(self) -> list[dict[str, Any]]:
        """One calendar per selected provider, side by side; ``key`` remounts on navigation."""
        by_id = {p["id"]: p for p in self.providers}
        return [
            {
                "id": pid,
                "name": by_id[pid]["name"],
                "color": by_id[pid]["color"],
                "events": self.events_by_provider.get(pid, []),
                "key": f"{pid}-{self.view}-{self.anchor}",
            }
            for pid in self.selected_providers
            if pid in by_id
        ]

    # ---- page and range ---------------------------------------------------------------------

    @rx.event
    def load(self) -> Any:
        actor = self._guard_page("calendar")
        if actor is None:
            return None
        with session_scope(clinic_id=actor.clinic_id) as session:
            zone = clinic_zone(session, actor.clinic_id)
            providers = list_providers(session, actor=actor)
            visits = list_visit_types(session, actor=actor)
        self.timezone = zone.key
        self.providers = [dataclasses.asdict(p) for p in providers]
        self.visit_types = [dataclasses.asdict(v) for v in visits]
        known = {p.id for p in providers}
        kept = [pid for pid in self.selected_providers if pid in known]
        if not kept:
            mine = [p.id for p in providers if p.user_id == str(actor.user_id)]
            doctors = [p.id for p in providers if p.kind == "doctor"]
            kept = (mine or doctors or [p.id for p in providers])[:3]
        self.selected_providers = kept
        if not self.anchor:
            self.anchor = datetime.now(zone).date().isoformat()
        self.can_book = can(actor, "appointment:create")
        self.can_move = can(actor, "appointment:update")
        self.can_manage_availability = can(actor, "availability:manage")
        self._load_events(actor)
        self.loaded = True
        return CalendarState.watch_live if needs_watcher(self) else None

    def _anchor_date(self) -> date:
        try:
            return date.fromisoformat(self.anchor)
        except ValueError:
            return date.today()

    def _load_events(self, actor: Actor, redraw: bool = False) -> None:
        """The visible range's events, one array per provider's calendar.

        ``redraw``: after a refused drag, FullCalendar still shows its own local change (an
        event moved, or dropped into another calendar). It rebuilds its events only from a
        *new* ``events`` array, and Reflex keeps an unchanged array's identity; so each array
        gets a fresh hidden marker event, and every calendar redraws from the server's data.
        """
        params = self._live_params()
        show(self, params, self._live_query(actor, params, ""), redraw=redraw)

    def _live_params(self) -> tuple[date, date, tuple[str, ...]]:
        """The range and the providers shown (``run_live_loop``)."""
        start, end = _range(self._anchor_date(), self.view)
        return start, end, tuple(self.selected_providers)

    @staticmethod
    def _live_query(
        actor: Actor, params: tuple[date, date, tuple[str, ...]], change: str
    ) -> list[dict[str, Any]]:
        """The range's events; a live refresh (``change``) shares one query per view."""
        start, end, providers = params

        def query() -> list[dict[str, Any]]:
            with session_scope(clinic_id=actor.clinic_id) as session:
                zone = clinic_zone(session, actor.clinic_id)
                return calendar_events(
                    session,
                    actor=actor,
                    provider_ids=list(providers),
                    start=datetime.combine(start, time(0), tzinfo=zone),
                    end=datetime.combine(end, time(0), tzinfo=zone),
                )

        if not change:
            return query()
        return live.shared(("calendar", actor.clinic_id, providers, start, end, change), query)

    def _live_show(
        self,
        params: tuple[date, date, tuple[str, ...]],
        events: list[dict[str, Any]],
        redraw: bool = False,
    ) -> None:
        """The range's events on the page, one column per provider; records the view."""
        start, end, providers = params
        margin = timedelta(days=1)  # covers any clinic timezone's offset from UTC
        live.watch(
            page_key(self),
            live.View(
                start=datetime.combine(start, time(0), tzinfo=UTC) - margin,
                end=datetime.combine(end, time(0), tzinfo=UTC) + margin,
                provider_ids=frozenset(providers),
            ),
        )
        grouped: dict[str, list[dict[str, Any]]] = {pid: [] for pid in providers}
        for event in events:
            grouped.setdefault(event["resourceId"], []).append(event)
        if redraw:
            self._redraws += 1
            marker = {
                "id": f"redraw-{self._redraws}",
                "start": start.isoformat(),
                "display": "none",
            }
            for column in grouped.values():
                column.append(marker)
        if grouped != self.events_by_provider:  # a live refresh that changes nothing sends nothing
            self.events_by_provider = grouped
        self.range_label = _range_label(start, end, self.view)

    @rx.event(background=True)
    async def watch_live(self) -> None:
        """Reload when any appointment of the clinic changes (Redis pub/sub, no polling)."""
        await run_live_loop(self, "appointment:read")

    @rx.event
    def go(self, step: int) -> None:
        """Previous (-1) / next (+1) day or week."""
        actor = self._require("appointment:read")
        days = 1 if self.view == "timeGridDay" else 7
        step = max(-1, min(1, int(step)))
        self.anchor = (self._anchor_date() + timedelta(days=days * step)).isoformat()
        self._load_events(actor)

    @rx.event
    def go_today(self) -> None:
        actor = self._require("appointment:read")
        with session_scope(clinic_id=actor.clinic_id) as session:
            self.anchor = datetime.now(clinic_zone(session, actor.clinic_id)).date().isoformat()
        self._load_events(actor)

    @rx.event
    def go_date(self, value: str) -> None:
        actor = self._require("appointment:read")
        try:
            self.anchor = date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            return
        self._load_events(actor)

    @rx.event
    def set_view(self, view: str | list[str]) -> None:
        actor = self._require("appointment:read")
        view = view[0] if isinstance(view, list) and view else str(view)
        if view in VIEWS:
            self.view = view
            self._load_events(actor)

    @rx.event
    def toggle_provider(self, provider_id: str) -> None:
        actor = self._require("appointment:read")
        known = {p["id"] for p in self.providers}
        if provider_id not in known:
            return
        if provider_id in self.selected_providers:
            if len(self.selected_providers) > 1:
                self.selected_providers = [p for p in self.selected_providers if p != provider_id]
        elif len(self.selected_providers) < MAX_SIDE_BY_SIDE:
            order = [p["id"] for p in self.providers]
            chosen = set(self.selected_providers) | {provider_id}
            self.selected_providers = [p for p in order if p in chosen]
        self._load_events(actor)

    # ---- booking -----------------------------------------------------------------------------

    @rx.event
    def select_range(self, provider_id: str, start: str, end: str) -> None:
        """A free slot was clicked or a range dragged: open the booking dialog."""
        actor = self._require("appointment:create")
        provider = next((p for p in self.providers if p["id"] == provider_id), None)
        if provider is None:
            return
        self._booking_key = uuid.uuid4().hex
        self.booking_provider_id = provider_id
        self.booking_provider_name = provider["name"]
        self.booking_visit_type = self.visit_types[0]["code"] if self.visit_types else ""
        self.booking_start = str(start)
        self.booking_end = str(end)
        self._fit_visit_length(actor, keep_range=True)
        self.booking_notes = ""
        self.booking_outside_hours = False
        self.booking_error = ""
        self.booking_error_code = ""
        self.alternatives = []
        self.patient_query = ""
        self.patient_results = []
        self.booking_patient = {}
        self.new_patient_open = False
        self.new_patient_error = ""
        self.booking_open = True

    def _fit_visit_length(self, actor: Actor, keep_range: bool = False) -> None:
        """End = start + the visit type's length (a dragged longer range is kept)."""
        visit = next((v for v in self.visit_types if v["code"] == self.booking_visit_type), None)
        try:
            start = datetime.fromisoformat(self.booking_start)
            end = datetime.fromisoformat(self.booking_end) if self.booking_end else start
        except ValueError:
            return
        if visit is not None:
            length = timedelta(minutes=int(visit["duration_minutes"]))
            if not keep_range or end - start <= timedelta(minutes=20) or end <= start:
                end = start + length
        self.booking_end = end.isoformat()
        self.booking_label = (
            f"{start.strftime('%a %d %b %Y, %H:%M')}–{end.strftime('%H:%M')} · "
            f"{self.booking_provider_name}"
        )

    @rx.event
    def close_booking(self) -> None:
        self._require("appointment:read")
        self.booking_open = False

    @rx.event
    def set_booking_open(self, is_open: bool) -> None:
        self._require("appointment:read")
        self.booking_open = bool(is_open)

    @rx.event
    def choose_visit_type(self, code: str) -> None:
        actor = self._require("appointment:create")
        if any(v["code"] == code for v in self.visit_types):
            self.booking_visit_type = code
            self._fit_visit_length(actor)

    @rx.event
    def set_booking_notes(self, notes: str) -> None:
        self._require("appointment:create")
        self.booking_notes = str(notes or "")[:2000]

    @rx.event
    def set_booking_outside_hours(self, value: bool) -> None:
        self._require("appointment:create")
        self.booking_outside_hours = bool(value)

    @rx.event
    def search_patient(self, query: str) -> None:
        actor = self._require("patient:list")
        self.patient_query = str(query or "")[:100]
        if len(self.patient_query.strip()) < 2:
            self.patient_results = []
            return
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = search_patients(session, actor=actor, query=self.patient_query, limit=8)
        self.patient_results = [dataclasses.asdict(r) for r in rows]

    @rx.event
    def pick_patient(self, patient_id: str) -> None:
        self._require("patient:list")
        chosen = next((p for p in self.patient_results if p["id"] == patient_id), None)
        if chosen is not None:
            self.booking_patient = {
                k: str(chosen.get(k, "")) for k in ("id", "name", "mrn", "birth_date", "phone")
            }
            self.patient_results = []

    @rx.event
    def clear_patient(self) -> None:
        self._require("patient:list")
        self.booking_patient = {}

    @rx.event
    def toggle_new_patient(self) -> None:
        self._require("patient:create")
        self.new_patient_open = not self.new_patient_open
        self.new_patient_error = ""

    @rx.event
    def create_patient(self, form: dict[str, Any]) -> None:
        """The dialog's "new patient": register (validated, MRN assigned) and select them."""
        actor = self._require("patient:create")
        try:
            data = new_patient_from_form(
                {k: form.get(k) for k in ("given_name", "family_name", "birth_date", "phone")}
            )
        except AppError as exc:
            self.new_patient_error = exc.message
            return
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                row = register_patient(session, actor=actor, data=data)
        except AppError as exc:
            self.new_patient_error = exc.message
            return
        self.booking_patient = {
            "id": row.id,
            "name": row.name,
            "mrn": row.mrn,
            "birth_date": row.birth_date,
            "phone": row.phone,
        }
        self.new_patient_open = False
        self.new_patient_error = ""

    @rx.event
    def choose_alternative(self, start: str, end: str) -> None:
        actor = self._require("appointment:create")
        with session_scope(clinic_id=actor.clinic_id) as session:
            zone = clinic_zone(session, actor.clinic_id)
        try:
            self.booking_start = (
                datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(zone).isoformat()
            )
            self.booking_end = (
                datetime.fromisoformat(end.replace("Z", "+00:00")).astimezone(zone).isoformat()
            )
        except ValueError:
            return
        self._fit_visit_length(actor, keep_range=True)
        self.booking_error = ""
        self.booking_error_code = ""
        self.alternatives = []

    @rx.event
    def submit_booking(self) -> None:
        actor = self._require("appointment:create")
        if not self.booking_patient.get("id"):
            self.booking_error = "Choose a patient (search by name or MRN) or add a new one."
            self.booking_error_code = "VALIDATION"
            return
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                view = book_appointment(
                    session,
                    actor=actor,
                    data=NewBooking(
                        provider_id=self.booking_provider_id,
                        patient_id=self.booking_patient["id"],
                        starts_at=self.booking_start,
                        ends_at=self.booking_end,
                        visit_type=self.booking_visit_type,
                        notes=self.booking_notes,
                        idempotency_key=self._booking_key,
                        allow_outside_hours=self.booking_outside_hours,
                    ),
                )
        except AppError as exc:
            self.booking_error = exc.message
            self.booking_error_code = exc.code
            self.alternatives = list(exc.details.get("alternatives", []))
            return
        self.booking_open = False
        self.flash = f"Booked {view.patient_name} · {view.label}"
        self._load_events(actor)

    # ---- drag and resize ---------------------------------------------------------------------

    @rx.event
    def move_event(self, appointment_id: str, start: str, end: str, version: int) -> None:
        """Drag or resize within one provider's calendar."""
        actor = self._require("appointment:update")
        self._reschedule(actor, appointment_id, start, end, version)

    @rx.event
    def receive_event(
        self, provider_id: str, appointment_id: str, start: str, end: str, version: int
    ) -> None:
        """Dropped onto another provider's calendar: move the visit to them (same length)."""
        actor = self._require("appointment:update")
        self._reschedule(actor, appointment_id, start, end, version, provider_id=str(provider_id))

    def _reschedule(
        self,
        actor: Actor,
        appointment_id: str,
        start: str,
        end: str,
        version: int,
        provider_id: str | None = None,
    ) -> None:
        """The same checks as a booking; on refusal the event snaps back (in every calendar)."""
        refused = False
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                view = reschedule_appointment(
                    session,
                    actor=actor,
                    appointment_id=appointment_id,
                    expected_version=int(version or 0),
                    starts_at=start,
                    ends_at=end or None,
                    provider_id=provider_id,
                )
            where = f"{view.provider_name} · {view.label}" if provider_id else view.label
            self.flash = f"Moved {view.patient_name} to {where}"
        except AppError as exc:
            alternatives = exc.details.get("alternatives") or []
            hint = (
                f" Next free: {', '.join(a['label'] for a in alternatives)}."
                if alternatives
                else ""
            )
            self.error_message = (exc.message + hint)[:300]
            self.flash = ""  # an earlier "Moved …" must not stand beside the refusal
            refused = True
        self._load_events(actor, redraw=refused)  # a refused drag snaps back in every calendar

    # ---- time off, holidays, blocked hours, extra sessions -----------------------------------

    @rx.event
    def set_exception_open(self, is_open: bool) -> None:
        self._require("availability:manage" if is_open else "appointment:read")
        self.exception_open = bool(is_open)
        self.exception_error = ""

    @rx.event
    def add_time_off(self, form: dict[str, Any]) -> None:
        """Leave / holiday / blocked hours / extra session from the dialog (clinic-local times)."""
        actor = self._require("availability:manage")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                add_exception_local(
                    session,
                    actor=actor,
                    kind=str(form.get("kind") or ""),
                    provider_id=str(form.get("provider_id") or ""),
                    starts_local=str(form.get("starts_at") or ""),
                    ends_local=str(form.get("ends_at") or ""),
                    note=str(form.get("note") or ""),
                )
        except AppError as exc:
            self.exception_error = exc.message
            return
        self.exception_open = False
        self.exception_error = ""
        self.flash = "Working hours updated."
        self._load_events(actor)

    # ---- detail and lifecycle ------------------------------------------------------------------

    @rx.event
    def open_detail(self, appointment_id: str) -> None:
        actor = self._require("appointment:read")
        if not appointment_id or str(appointment_id).startswith("avail-"):
            return
        self._show_detail(actor, appointment_id)
        self.detail_error = ""
        self.cancel_open = False
        self.detail_open = True

    def _show_detail(self, actor: Actor, appointment_id: str) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            view = get_appointment(session, actor=actor, appointment_id=appointment_id)
            history = appointment_history(session, actor=actor, appointment_id=appointment_id)
        detail = dataclasses.asdict(view)
        names = {v["code"]: v["name"] for v in self.visit_types}
        detail["visit_type"] = names.get(view.visit_type, view.visit_type.replace("_", " "))
        self.detail = detail
        allowed = set(view.allowed) if can(actor, "appointment:transition") else set()
        self.detail_actions = [  # lifecycle order, cancel has its own button (needs a reason)
            {"to": to, "label": label}
            for to, label in ACTION_LABELS.items()
            if to in allowed and to != "cancelled"
        ]
        self.detail_history = history

    @rx.event
    def set_detail_open(self, is_open: bool) -> None:
        self._require("appointment:read")
        self.detail_open = bool(is_open)

    @rx.event
    def toggle_cancel(self) -> None:
        self._require("appointment:transition")
        self.cancel_open = not self.cancel_open

    @rx.event
    def transition(self, to_status: str) -> None:
        actor = self._require("appointment:transition")
        self._transition(actor, to_status, None)

    @rx.event
    def cancel_appointment(self, form: dict[str, Any]) -> None:
        actor = self._require("appointment:transition")
        self._transition(actor, "cancelled", str(form.get("reason") or ""))

    def _transition(self, actor: Actor, to_status: str, reason: str | None) -> None:
        appointment_id = str(self.detail.get("id", ""))
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                transition_appointment(
                    session,
                    actor=actor,
                    appointment_id=appointment_id,
                    to_status=to_status,
                    expected_version=int(self.detail.get("version", 0)),
                    reason=reason,
                    idempotency_key=f"{appointment_id}:{self.detail.get('version')}:{to_status}",
                )
        except AppError as exc:
            self.detail_error = exc.message
        else:
            self.detail_error = ""
            self.cancel_open = False
        self._show_detail(actor, appointment_id)
        self._load_events(actor)
