"""Chart page state: one patient's chart (``/chart?patient=<id>``), clinical staff only."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import chart, uploads
from clinic_app.services.patients import new_patient_from_form, update_patient
from state.base import AppState


class ChartState(AppState):
    chart: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    allergies: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    problems: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    medications: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    vitals: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    timeline: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    files: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    studies: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    details: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    edit_open: rx.Field[bool] = rx.field(False)
    edit_error: rx.Field[str] = rx.field("")
    _version: int = 0
    # The entry the "remove" dialog is about (kind and id stay on the server).
    remove_label: rx.Field[str] = rx.field("")
    remove_error: rx.Field[str] = rx.field("")
    _remove_kind: str = ""
    _remove_id: str = ""
    timeline_kind: rx.Field[str] = rx.field("all")
    can_edit: rx.Field[bool] = rx.field(False)
    chart_error: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")
    not_found: rx.Field[bool] = rx.field(False)
    # The patient of this chart (from the URL, checked against the clinic on every load).
    _patient_id: str = ""
    patient_ref: rx.Field[str] = rx.field("")

    @rx.var
    def active_allergy_count(self) -> int:
        return sum(1 for a in self.allergies if a.get("status") == "active")

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("chart")
        if actor is None:
            return
        self._patient_id = str(self.router.page.params.get("patient") or "")[:64]
        self.patient_ref = self._patient_id
        self.timeline_kind = "all"
        self.form_error = ""
        self._refresh(actor)

    def _refresh(self, actor: Actor) -> None:
        kinds = None if self.timeline_kind == "all" else {self.timeline_kind}
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                view = chart.open_chart(
                    session, actor=actor, patient_id=self._patient_id, kinds=kinds
                )
        except AppError as exc:
            if exc.code != "NOT_FOUND":
                raise
            self.not_found = True
            self.chart = {}
            self.allergies, self.problems, self.medications = [], [], []
            self.vitals, self.timeline, self.files, self.studies = [], [], [], []
            return
        data = dataclasses.asdict(view)
        self.not_found = False
        self.allergies = data.pop("allergies")
        self.problems = data.pop("problems")
        self.medications = data.pop("medications")
        self.vitals = data.pop("vitals")
        self.timeline = data.pop("timeline")
        self.files = data.pop("files")
        self.studies = data.pop("studies")
        self.details = data.pop("form")
        self._version = int(data.pop("version"))
        self.can_edit = bool(data.pop("can_edit"))
        data.pop("patient_id")
        self.chart = data

    def _write(self, actor: Actor, action: Any) -> None:
        """Run one chart write; invalid input shows beside the form and nothing is lost."""
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                action(session, actor)
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.form_error = exc.message
            if exc.code == "VERSION_CONFLICT":
                self._refresh(actor)
            return
        self._refresh(actor)

    @rx.event
    def add_allergy(self, form: dict[str, Any]) -> None:
        self._write(
            self._require("patient:update_chart"),
            lambda session, actor: chart.add_allergy(
                session,
                actor=actor,
                patient_id=self._patient_id,
                substance=str(form.get("substance") or ""),
                reaction=str(form.get("reaction") or ""),
                severity=str(form.get("severity") or "moderate"),
            ),
        )

    @rx.event
    def set_allergy_status(self, allergy_id: str, status: str, version: str) -> None:
        self._write(
            self._require("patient:update_chart"),
            lambda session, actor: chart.set_allergy_status(
                session,
                actor=actor,
                allergy_id=str(allergy_id),
                status=str(status),
                version=int(version or 0),
            ),
        )

    @rx.event
    def add_problem(self, form: dict[str, Any]) -> None:
        self._write(
            self._require("patient:update_chart"),
            lambda session, actor: chart.add_condition(
                session,
                actor=actor,
                patient_id=self._patient_id,
                name=str(form.get("name") or ""),
                onset=str(form.get("onset") or ""),
            ),
        )

    @rx.event
    def add_medication(self, form: dict[str, Any]) -> None:
        self._write(
            self._require("patient:update_chart"),
            lambda session, actor: chart.add_medication(
                session,
                actor=actor,
                patient_id=self._patient_id,
                name=str(form.get("name") or ""),
                dosage=str(form.get("dosage") or ""),
            ),
        )

    @rx.event
    def record_vitals(self, form: dict[str, Any]) -> None:
        actor = self._require("patient:update_chart")
        values: dict[str, str | float | int | None] = {
            k: str(v)[:20] for k, v in form.items() if k in chart.VITAL_LIMITS
        }
        self._write(
            actor,
            lambda session, actor: chart.record_vitals(
                session, actor=actor, patient_id=self._patient_id, values=values
            ),
        )

    @rx.event
    def add_study(self, form: dict[str, Any]) -> None:
        self._write(
            self._require("patient:update_chart"),
            lambda session, actor: chart.add_study(
                session,
                actor=actor,
                patient_id=self._patient_id,
                study_type=str(form.get("study_type") or ""),
                title=str(form.get("title") or ""),
                narrative=str(form.get("narrative") or "")[:5000],
                findings=str(form.get("findings") or "")[:10000],
            ),
        )

    @rx.event
    def filter_timeline(self, kind: str) -> None:
        actor = self._require("patient:read_phi")
        self.timeline_kind = kind if kind in chart.TIMELINE_KINDS else "all"
        self._refresh(actor)

    @rx.event
    def refresh(self) -> None:
        """Reload after an upload finished in the browser."""
        self._refresh(self._require("patient:read_phi"))

    @rx.event
    def open_file(self, patient_file_id: str, preview: bool = False) -> EventSpec:
        """A short-lived link to one chart file (the download route audits the view)."""
        actor = self._require("patient:read_phi")
        with session_scope(clinic_id=actor.clinic_id) as session:
            url = uploads.file_link(
                session, actor=actor, patient_file_id=str(patient_file_id), preview=bool(preview)
            )
        return rx.redirect(url, is_external=True)

    @rx.event
    def set_edit_open(self, is_open: bool) -> None:
        self._require("patient:create")
        self.edit_open = bool(is_open)
        self.edit_error = ""

    @rx.event
    def save_details(self, form: dict[str, Any]) -> None:
        """Save edited details with the version the form was opened with."""
        actor = self._require("patient:create")
        self.edit_error = ""
        try:
            data = new_patient_from_form({k: str(v)[:400] for k, v in form.items()})
            with session_scope(clinic_id=actor.clinic_id) as session:
                update_patient(
                    session,
                    actor=actor,
                    patient_id=self._patient_id,
                    data=data,
                    version=self._version,
                )
        except AppError as exc:
            self.edit_error = exc.message
            if exc.code == "VERSION_CONFLICT":
                self._refresh(actor)
            return
        self.edit_open = False
        self._refresh(actor)

    @rx.event
    def ask_remove(self, kind: str, entry_id: str, label: str) -> None:
        self._require("patient:update_chart")
        if kind not in chart.REMOVABLE:
            return
        self._remove_kind, self._remove_id = kind, str(entry_id)[:64]
        self.remove_label = str(label)[:200]
        self.remove_error = ""

    @rx.event
    def cancel_remove(self) -> None:
        self._require("patient:read_phi")
        self.remove_label = ""
        self._remove_kind = self._remove_id = ""

    @rx.event
    def confirm_remove(self, form: dict[str, Any]) -> None:
        actor = self._require("patient:update_chart")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                chart.remove_entry(
                    session,
                    actor=actor,
                    kind=self._remove_kind,
                    entry_id=self._remove_id,
                    reason=str(form.get("reason") or "")[:300],
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.remove_error = exc.message
            return
        self.remove_label = ""
        self._remove_kind = self._remove_id = ""
        self._refresh(actor)
