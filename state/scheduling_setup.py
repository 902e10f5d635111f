"""Scheduling setup page state: a provider's weekly hours, exceptions, visit types, policy.

Thin like the other pages: every handler checks ``availability:manage`` first, calls one
``scheduling_setup`` service and keeps plain dicts. Refusals the user can fix (validation,
someone else saved first) show next to the form they came from and keep what was typed;
saving handlers flip a ``*_saving`` flag first so the button is disabled while the server works.
The weekly hours editor is held here (rows added and removed before saving); the other forms
are uncontrolled and remounted (``*_form_key``) only after a successful save.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import scheduling_setup as setup
from clinic_app.services.scheduling import clinic_zone, list_providers
from clinic_app.services.scheduling_setup import (
    PolicyInput,
    SessionRow,
    VisitTypeInput,
    WeeklyHoursForm,
)
from state.base import AppState

PAGE = "scheduling-setup"

# Offered for a day's next session: after the last one, or a usual clinic day.
FIRST_SESSION = ("09:00", "17:00")


def _later(hhmm: str, hours: int) -> str:
    """``hhmm`` plus ``hours``, kept within the day (an end of 00:00 means midnight)."""
    try:
        h, m = (int(p) for p in hhmm.split(":")[:2])
    except ValueError:
        return ""
    total = min(h * 60 + m + hours * 60, 24 * 60)
    return "00:00" if total == 24 * 60 else f"{total // 60:02d}:{total % 60:02d}"


def _on(form: dict[str, Any], name: str) -> bool:
    """A switch in a submitted form: present (``"on"``) when checked."""
    return str(form.get(name) or "") not in ("", "false", "off")


class SchedulingSetupState(AppState):
    loaded: rx.Field[bool] = rx.field(False)
    timezone: rx.Field[str] = rx.field("UTC")
    providers: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    # Weekly hours of one provider (rows: weekday "0"–"6", start, end as HH:MM).
    provider_id: rx.Field[str] = rx.field("")
    provider_name: rx.Field[str] = rx.field("")
    hours: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    valid_from: rx.Field[str] = rx.field("")
    valid_until: rx.Field[str] = rx.field("")
    hours_mixed: rx.Field[bool] = rx.field(False)
    hours_dirty: rx.Field[bool] = rx.field(False)
    hours_saving: rx.Field[bool] = rx.field(False)
    hours_error: rx.Field[str] = rx.field("")
    hours_notice: rx.Field[str] = rx.field("")
    _hours_stamp: str = ""

    # Exceptions: the upcoming list and the add form.
    exceptions: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    exception_saving: rx.Field[bool] = rx.field(False)
    exception_error: rx.Field[str] = rx.field("")
    exception_notice: rx.Field[str] = rx.field("")
    exception_form_key: rx.Field[int] = rx.field(0)
    confirm_remove_id: rx.Field[str] = rx.field("")

    # Visit types: the list and the add/edit dialog.
    visit_types: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    visit_open: rx.Field[bool] = rx.field(False)
    visit_id: rx.Field[str] = rx.field("")
    visit_form: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    visit_form_key: rx.Field[int] = rx.field(0)
    visit_saving: rx.Field[bool] = rx.field(False)
    visit_error: rx.Field[str] = rx.field("")
    visit_notice: rx.Field[str] = rx.field("")
    _visit_version: int = 0

    # Clinic policy.
    policy: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    policy_form_key: rx.Field[int] = rx.field(0)
    policy_saving: rx.Field[bool] = rx.field(False)
    policy_error: rx.Field[str] = rx.field("")
    policy_notice: rx.Field[str] = rx.field("")
    _policy_version: int = 0

    @rx.var
    def week(self) -> list[list[dict[str, str]]]:
        """The hours rows per weekday (Monday first), each with its index in ``hours``."""
        days: list[list[dict[str, str]]] = [[] for _ in setup.WEEKDAYS]
        for index, row in enumerate(self.hours):
            days[int(row["weekday"])].append({**row, "index": str(index)})
        return days

    # ---- page -------------------------------------------------------------------------------

    @rx.event
    def load(self) -> None:
        actor = self._guard_page(PAGE)
        if actor is None:
            return
        with session_scope(clinic_id=actor.clinic_id) as session:
            self.timezone = clinic_zone(session, actor.clinic_id).key
            providers = list_providers(session, actor=actor)
            known = {p.id for p in providers}
            if self.provider_id not in known or not self.hours_dirty:
                chosen = self.provider_id if self.provider_id in known else ""
                chosen = chosen or next((p.id for p in providers if p.kind == "doctor"), "")
                chosen = chosen or (providers[0].id if providers else "")
                form = (
                    setup.weekly_hours(session, actor=actor, provider_id=chosen) if chosen else None
                )
                self._show_hours(form)
            exceptions = setup.list_exceptions(session, actor=actor)
            visits = setup.list_all_visit_types(session, actor=actor)
            policy = setup.read_policy(session, actor=actor)
        self.providers = [{"id": p.id, "name": p.name, "kind": p.kind} for p in providers]
        self.exceptions = [dataclasses.asdict(e) for e in exceptions]
        self.visit_types = [dataclasses.asdict(v) for v in visits]
        self._show_policy(policy)
        self.hours_error = self.exception_error = self.visit_error = self.policy_error = ""
        self.hours_notice = self.exception_notice = self.visit_notice = self.policy_notice = ""
        self.confirm_remove_id = ""
        self.loaded = True

    # ---- weekly hours -------------------------------------------------------------------------

    def _show_hours(self, form: WeeklyHoursForm | None) -> None:
        self.provider_id = form.provider_id if form else ""
        self.provider_name = form.provider_name if form else ""
        self.hours = (
            [{"weekday": str(s.weekday), "start": s.start, "end": s.end} for s in form.sessions]
            if form
            else []
        )
        self.valid_from = form.valid_from if form else ""
        self.valid_until = form.valid_until if form else ""
        self.hours_mixed = bool(form and form.mixed_dates)
        self._hours_stamp = form.stamp if form else ""
        self.hours_dirty = False

    def _reload_hours(self, actor: Actor, provider_id: str) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            form = setup.weekly_hours(session, actor=actor, provider_id=provider_id)
        self._show_hours(form)

    @rx.event
    def choose_provider(self, provider_id: str) -> None:
        """Show another provider's hours (the select is disabled while there are edits)."""
        actor = self._require("availability:manage")
        if self.hours_dirty or provider_id not in {p["id"] for p in self.providers}:
            return
        self._reload_hours(actor, provider_id)
        self.hours_error = self.hours_notice = ""

    @rx.event
    def discard_hours(self) -> None:
        actor = self._require("availability:manage")
        if self.provider_id:
            self._reload_hours(actor, self.provider_id)
        self.hours_error = self.hours_notice = ""

    @rx.event
    def add_session(self, weekday: int) -> None:
        self._require("availability:manage")
        day = int(weekday)
        same_day = [r for r in self.hours if r["weekday"] == str(day)]
        if not 0 <= day <= 6 or len(same_day) >= setup.MAX_SESSIONS_PER_DAY:
            return
        start, end = FIRST_SESSION
        if same_day:
            start = _later(same_day[-1]["end"], 1) or start
            end = _later(start, 4) or end
        self.hours = [*self.hours, {"weekday": str(day), "start": start, "end": end}]
        self.hours_dirty, self.hours_notice = True, ""

    @rx.event
    def remove_session(self, index: int) -> None:
        self._require("availability:manage")
        if 0 <= int(index) < len(self.hours):
            self.hours = [r for i, r in enumerate(self.hours) if i != int(index)]
            self.hours_dirty, self.hours_notice = True, ""

    @rx.event
    def edit_session(self, index: int, key: str, value: str) -> None:
        self._require("availability:manage")
        if key not in ("start", "end") or not 0 <= int(index) < len(self.hours):
            return
        rows = [dict(r) for r in self.hours]
        rows[int(index)][key] = str(value)[:5]
        self.hours = rows
        self.hours_dirty, self.hours_notice = True, ""

    @rx.event
    def copy_to_weekdays(self, weekday: int) -> None:
        """Give Monday–Friday the sessions of this day (a usual week in one click)."""
        self._require("availability:manage")
        source = [r for r in self.hours if r["weekday"] == str(int(weekday))]
        kept = [r for r in self.hours if int(r["weekday"]) >= 5]
        copies = [{**r, "weekday": str(day)} for day in range(5) for r in source]
        self.hours = sorted(kept + copies, key=lambda r: (int(r["weekday"]), r["start"]))
        self.hours_dirty, self.hours_notice = True, ""

    @rx.event
    def edit_validity(self, key: str, value: str) -> None:
        self._require("availability:manage")
        if key == "valid_from":
            self.valid_from = str(value)[:10]
        elif key == "valid_until":
            self.valid_until = str(value)[:10]
        else:
            return
        self.hours_dirty, self.hours_notice = True, ""

    @rx.event
    def save_hours(self) -> Iterator[None]:
        """Replace the provider's weekly template with the form (all or nothing)."""
        actor = self._require("availability:manage")
        self.hours_error, self.hours_notice, self.hours_saving = "", "", True
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                form = setup.save_weekly_hours(
                    session,
                    actor=actor,
                    provider_id=self.provider_id,
                    stamp=self._hours_stamp,
                    sessions=[
                        SessionRow(int(r["weekday"]), r["start"], r["end"]) for r in self.hours
                    ],
                    valid_from=self.valid_from,
                    valid_until=self.valid_until,
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            if exc.code == "VERSION_CONFLICT":
                self._reload_hours(actor, self.provider_id)
            self.hours_error = exc.message
            return
        finally:
            self.hours_saving = False
        self._show_hours(form)
        count = len(form.sessions)
        self.hours_notice = (
            f"Saved {form.provider_name}'s hours: {count} session{'s' if count != 1 else ''} "
            "a week. The calendar shows them now."
        )

    # ---- exceptions -------------------------------------------------------------------------

    def _list_exceptions(self, actor: Actor) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = setup.list_exceptions(session, actor=actor)
        self.exceptions = [dataclasses.asdict(e) for e in rows]

    @rx.event
    def add_exception(self, form: dict[str, Any]) -> Iterator[None]:
        actor = self._require("availability:manage")
        self.exception_error, self.exception_notice, self.exception_saving = "", "", True
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                setup.add_exception_local(
                    session,
                    actor=actor,
                    kind=str(form.get("kind") or ""),
                    provider_id=str(form.get("provider_id") or ""),
                    starts_local=str(form.get("starts_at") or ""),
                    ends_local=str(form.get("ends_at") or ""),
                    note=str(form.get("note") or "")[:200],
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.exception_error = exc.message  # the form keeps what was typed
            return
        finally:
            self.exception_saving = False
        self._list_exceptions(actor)
        self.exception_form_key += 1  # a fresh, empty form
        self.exception_notice = "Added. The calendar shows it now."

    @rx.event
    def ask_remove(self, exception_id: str) -> None:
        self._require("availability:manage")
        known = {str(e["id"]) for e in self.exceptions}
        self.confirm_remove_id = exception_id if exception_id in known else ""

    @rx.event
    def remove_exception(self, exception_id: str) -> None:
        actor = self._require("availability:manage")
        row = next((e for e in self.exceptions if e["id"] == exception_id), None)
        self.confirm_remove_id = ""
        if row is None:
            return
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                setup.remove_exception(
                    session, actor=actor, exception_id=exception_id, version=int(row["version"])
                )
            self.exception_error = ""
            self.exception_notice = f"Removed: {row['kind_label']}, {row['when']}."
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.exception_error, self.exception_notice = exc.message, ""
        self._list_exceptions(actor)

    # ---- visit types ------------------------------------------------------------------------

    def _list_visit_types(self, actor: Actor) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = setup.list_all_visit_types(session, actor=actor)
        self.visit_types = [dataclasses.asdict(v) for v in rows]

    @rx.event
    def new_visit_type(self) -> None:
        self._require("availability:manage")
        self.visit_id, self._visit_version = "", 0
        self.visit_form = {
            "name": "",
            "duration_minutes": "20",
            "color": setup.DEFAULT_VISIT_COLOR,
            "portal_bookable": False,
            "is_active": True,
        }
        self._open_visit_dialog()

    @rx.event
    def edit_visit_type(self, visit_type_id: str) -> None:
        self._require("availability:manage")
        row = next((v for v in self.visit_types if v["id"] == visit_type_id), None)
        if row is None:
            return
        self.visit_id, self._visit_version = str(row["id"]), int(row["version"])
        self.visit_form = {
            "name": row["name"],
            "duration_minutes": str(row["duration_minutes"]),
            "color": row["color"],
            "portal_bookable": bool(row["portal_bookable"]),
            "is_active": bool(row["is_active"]),
        }
        self._open_visit_dialog()

    def _open_visit_dialog(self) -> None:
        self.visit_form_key += 1
        self.visit_error, self.visit_notice, self.visit_open = "", "", True

    @rx.event
    def visit_dialog_changed(self, is_open: bool) -> None:
        """Escape, Cancel or a click outside closes the dialog; nothing is saved."""
        self._require("availability:manage")
        if not is_open and not self.visit_saving:
            self.visit_open = False

    @rx.event
    def save_visit_type(self, form: dict[str, Any]) -> Iterator[None]:
        actor = self._require("availability:manage")
        data = VisitTypeInput(
            name=str(form.get("name") or "")[:200],
            duration_minutes=str(form.get("duration_minutes") or "")[:10],
            color=str(form.get("color") or "")[:16],
            portal_bookable=_on(form, "portal_bookable"),
            is_active=_on(form, "is_active"),
        )
        self.visit_error, self.visit_saving = "", True
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                if self.visit_id:
                    row = setup.update_visit_type(
                        session,
                        actor=actor,
                        visit_type_id=self.visit_id,
                        version=self._visit_version,
                        data=data,
                    )
                else:
                    row = setup.create_visit_type(session, actor=actor, data=data)
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.visit_error = exc.message  # the dialog stays open with what was typed
            if exc.code in ("VERSION_CONFLICT", "NOT_FOUND"):
                self._list_visit_types(actor)
            return
        finally:
            self.visit_saving = False
        self.visit_open = False
        self._list_visit_types(actor)
        state = "" if row.is_active else " (retired: not offered when booking)"
        self.visit_notice = f"Saved {row.name} · {row.duration_minutes} min{state}."

    # ---- policy -----------------------------------------------------------------------------

    def _show_policy(self, policy: setup.PolicyForm) -> None:
        data = dataclasses.asdict(policy)
        self._policy_version = int(data.pop("version"))
        self.policy = data
        self.policy_form_key += 1

    @rx.event
    def save_policy(self, form: dict[str, Any]) -> Iterator[None]:
        actor = self._require("availability:manage")
        data = PolicyInput(
            reminder_offsets=str(form.get("reminder_offsets") or "")[:60],
            reminder_channel=str(form.get("reminder_channel") or ""),
            no_show_enabled=_on(form, "no_show_enabled"),
            no_show_include_confirmed=_on(form, "no_show_include_confirmed"),
            portal_booking_enabled=_on(form, "portal_booking_enabled"),
            portal_booking_horizon_days=str(form.get("portal_booking_horizon_days") or "")[:10],
        )
        self.policy_error, self.policy_notice, self.policy_saving = "", "", True
        yield None
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                policy = setup.update_policy(
                    session, actor=actor, version=self._policy_version, data=data
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            if exc.code == "VERSION_CONFLICT":
                with session_scope(clinic_id=actor.clinic_id) as session:
                    self._show_policy(setup.read_policy(session, actor=actor))
            self.policy_error = exc.message
            return
        finally:
            self.policy_saving = False
        self._show_policy(policy)
        self.policy_notice = "Saved. Reminders and the no-show rule use it from their next run."
