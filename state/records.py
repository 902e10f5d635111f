"""Records page state: a patient's drawings, and the editor of one (canvas + form).

``/records?patient=<id>`` lists the patient's records and starts a new one;
``/records?record=<id>`` opens the editor. The canvas autosaves through ``save_drawing``; a save
that loses to another tab keeps both versions here until the user picks one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlmodel import Session

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import records
from models.base import utcnow
from state.base import AppState

VITAL_LABELS = {
    "systolic": "Systolic",
    "diastolic": "Diastolic",
    "heart_rate": "Heart rate",
    "temperature_c": "Temp °C",
    "spo2": "SpO₂ %",
}


class RecordsState(AppState):
    patient_id: rx.Field[str] = rx.field("")
    patient_name: rx.Field[str] = rx.field("")
    listing: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    choices: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    forms: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    record: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    drawing: rx.Field[str] = rx.field("")
    revision: rx.Field[int] = rx.field(0)
    fields: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    answers: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    save_status: rx.Field[str] = rx.field("")
    conflict: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    form_error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    missing: rx.Field[bool] = rx.field(False)
    sign_open: rx.Field[bool] = rx.field(False)
    sign_error: rx.Field[str] = rx.field("")
    signing: rx.Field[bool] = rx.field(False)
    _record_id: str = ""
    _version: int = 0
    _mine: str = ""  # the drawing that lost a conflict, kept until the user decides

    @rx.var
    def has_record(self) -> bool:
        return bool(self.record)

    @rx.var
    def editable(self) -> bool:
        return self.record.get("status") == "draft" and bool(self.record.get("mine"))

    @rx.var
    def signed(self) -> bool:
        return self.record.get("status") == "signed"

    # ---- loading ----------------------------------------------------------------------------

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("records")
        if actor is None:
            return
        params = self.router.page.params
        self._record_id = str(params.get("record") or "")[:64]
        self.patient_id = str(params.get("patient") or "")[:64]
        self.form_error = self.notice = self.save_status = ""
        self.conflict, self._mine, self.missing = {}, "", False
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                if self._record_id:
                    self._show(session, actor, audit_read=True)
                else:
                    self.record = {}
                    self._list(session, actor)
        except AppError as exc:
            if exc.code != "NOT_FOUND":
                raise
            self.record, self.missing = {}, True

    def _list(self, session: Session, actor: Actor) -> None:
        if not self.patient_id:
            self.listing, self.choices = [], []
            return
        self.listing = records.for_patient(session, actor=actor, patient_id=self.patient_id)
        if actor.role in ("doctor", "nurse"):
            self.choices = records.background_choices(
                session, actor=actor, patient_id=self.patient_id
            )
        self.forms = [
            {"id": f["id"], "name": f["name"]} for f in records.list_forms(session, actor=actor)
        ]

    def _show(self, session: Session, actor: Actor, *, audit_read: bool = False) -> None:
        data = records.view(session, actor=actor, record_id=self._record_id, audit_read=audit_read)
        self._version = int(data["version"])
        self.drawing = data.pop("drawing")
        self.revision += 1
        self.patient_id, self.patient_name = data["patient_id"], data["patient_name"]
        self.fields = [
            {
                "id": f["id"],
                "label": f["label"],
                "type": f["type"],
                "unit": f.get("unit", ""),
                "options": "|".join(f.get("options") or []),
                "required": "1" if f.get("required") else "",
            }
            for f in data.pop("form_fields")
        ]
        self.answers = _flat_answers(data.pop("form_data"))
        self.record = data

    # ---- creating ---------------------------------------------------------------------------

    @rx.event
    def create(self, form: dict[str, Any]) -> EventSpec | None:
        actor = self._require("record:write")
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                row = records.create(
                    session,
                    actor=actor,
                    patient_id=self.patient_id,
                    background=str(form.get("background") or "template:body_front")[:80],
                    pdf_page=_page(form.get("page")),
                    form_template_id=str(form.get("form") or "")[:64] or None,
                    title=str(form.get("title") or "")[:120],
                )
                new_id = str(row.id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN",):
                raise
            self.form_error = exc.message
            return None
        return rx.redirect(f"/records?record={new_id}")

    # ---- autosave ---------------------------------------------------------------------------

    def _save(
        self,
        actor: Actor,
        *,
        drawing: str | None = None,
        answers: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                row = records.save_draft(
                    session,
                    actor=actor,
                    record_id=self._record_id,
                    version=self._version,
                    drawing_data=drawing,
                    form_data=answers,
                    force=force,
                )
                self._version = row.version
                self.record = {**self.record, "version": row.version}
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            if exc.code == "VERSION_CONFLICT":
                theirs = (exc.details or {}).get("theirs") or {}
                self._mine = drawing or self.drawing
                self.conflict = {
                    "drawing": json.dumps(theirs.get("drawing") or {}),
                    "version": str(theirs.get("version", "")),
                    "saved_at": str(theirs.get("saved_at", ""))[:19].replace("T", " "),
                    "mine_lines": str(len(json.loads(self._mine or "{}").get("lines", []))),
                    "theirs_lines": str(len((theirs.get("drawing") or {}).get("lines", []))),
                    "mine": self._mine,
                }
                self.save_status = "Not saved: changed elsewhere"
                return
            self.save_status = "Not saved"
            self.form_error = exc.message
            return
        if drawing is not None:
            self.drawing = drawing
        self.form_error = ""
        self.save_status = f"Saved {utcnow():%H:%M:%S} UTC"

    @rx.event
    def save_drawing(self, data: str) -> None:
        """The canvas's autosave (debounced in the browser)."""
        actor = self._require("record:write")
        if self.conflict:
            self._mine = str(data)
            self.conflict = {**self.conflict, "mine": self._mine}
            return  # the user decides first; nothing is lost meanwhile
        self.save_status = "Saving…"
        self._save(actor, drawing=str(data)[: 64 * 1024 * 1024])

    @rx.event
    def set_answer(self, key: str, value: Any) -> None:
        actor = self._require("record:write")
        self.answers = {**self.answers, str(key)[:80]: _text(value)}
        self._save(actor, answers=_nested_answers(self.answers, self.fields))

    @rx.event
    def keep_mine(self) -> None:
        actor = self._require("record:write")
        mine, self.conflict = self._mine, {}
        self._save(actor, drawing=mine, force=True)
        self.revision += 1

    @rx.event
    def use_theirs(self) -> None:
        actor = self._require("record:write")
        self.conflict, self._mine = {}, ""
        with session_scope(clinic_id=actor.clinic_id) as session:
            self._show(session, actor)
        self.save_status = "Showing the other version"

    # ---- signing and after ------------------------------------------------------------------

    @rx.event
    def open_sign(self) -> EventSpec:
        self._require("record:sign")
        self.sign_error = ""
        self.sign_open = True
        return rx.call_script("window.ClinicDrawing && window.ClinicDrawing.flush()")

    @rx.event
    def sign_dialog_changed(self, is_open: bool) -> None:
        self._require("record:sign")
        if not is_open:
            self.sign_open, self.sign_error = False, ""

    @rx.event
    def confirm_sign(self, form: dict[str, Any]) -> Iterator[None]:
        actor = self._require("record:sign")
        self.sign_error, self.signing = "", True
        yield None
        try:
            refused = self._step_up_then(
                actor,
                form,
                lambda session: records.sign(
                    session, actor=actor, record_id=self._record_id, version=self._version
                ),
            )
        finally:
            self.signing = False
        if refused is not None:
            self.sign_error = refused.message
            return
        self.sign_open = False
        self.notice = "Signed. The printable copy is being prepared."
        with session_scope(clinic_id=actor.clinic_id) as session:
            self._show(session, actor)

    def _act(self, actor: Actor, action: Callable[[Session, Actor], Any]) -> Any:
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                return action(session, actor)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return None

    @rx.event
    def export(self) -> None:
        if self._act(
            self._require("record:read"),
            lambda s, a: records.export(s, actor=a, record_id=self._record_id),
        ):
            self.notice = "The DOCX is being prepared; refresh in a moment."

    @rx.event
    def refresh(self) -> None:
        actor = self._require("record:read")
        with session_scope(clinic_id=actor.clinic_id) as session:
            self._show(session, actor)

    @rx.event
    def download(self, kind: str) -> EventSpec | None:
        url = self._act(
            self._require("record:read"),
            lambda s, a: records.document_link(
                s, actor=a, record_id=self._record_id, kind=str(kind)[:8]
            ),
        )
        return rx.redirect(url, is_external=True) if url else None

    @rx.event
    def amend(self) -> EventSpec | None:
        row_id = self._act(
            self._require("record:write"),
            lambda s, a: str(records.amend(s, actor=a, record_id=self._record_id).id),
        )
        return rx.redirect(f"/records?record={row_id}") if row_id else None


def _page(value: Any) -> int:
    text = str(value or "1").strip()
    return int(text) if text.isdigit() else 1


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)[:5000]


def _flat_answers(answers: dict[str, Any]) -> dict[str, str]:
    """Answers as strings for inputs; a vitals group as ``field.key``."""
    flat: dict[str, str] = {}
    for key, value in answers.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": f"{v:g}" for k, v in value.items()})
        elif isinstance(value, bool):
            flat[key] = "1" if value else ""
        elif isinstance(value, float):
            flat[key] = f"{value:g}"
        else:
            flat[key] = str(value)
    return flat


def _nested_answers(flat: dict[str, str], fields: list[dict[str, str]]) -> dict[str, Any]:
    kinds = {f["id"]: f["type"] for f in fields}
    answers: dict[str, Any] = {}
    for key, value in flat.items():
        fid, _, part = key.partition(".")
        kind = kinds.get(fid)
        if kind is None:
            continue
        if kind == "vitals" and part:
            if value.strip():
                answers.setdefault(fid, {})[part] = value.strip()
        elif kind == "checkbox":
            answers[fid] = value == "1"
        elif value.strip():
            answers[fid] = value.strip()
    return answers


__all__ = ["VITAL_LABELS", "RecordsState"]
