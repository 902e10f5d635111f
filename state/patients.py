"""Patients page state: search, the selected patient, and the DOCX summary export job.

The export runs in a worker: ``start_export`` only creates the job row (the service enqueues it
after commit) and starts ``watch_export``, a background task that re-reads that one row every
0.5 s until it finishes, then shows a short-lived signed download link.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app.api.downloads import make_download_url
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import get_job, job_view, retry
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can
from clinic_app.services.patient_archive import request_patient_archive
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.services.patients import (
    get_download_file,
    get_patient,
    new_patient_from_form,
    register_patient,
    search_patients,
)
from state.base import AppState

POLL_SECONDS = 0.5
WATCH_MAX_SECONDS = 15 * 60
FINISHED = ("succeeded", "failed")


EXPORTS = {"summary": request_patient_summary, "archive": request_patient_archive}


class PatientsState(AppState):
    query: rx.Field[str] = rx.field("")
    patients: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    searching: rx.Field[bool] = rx.field(False)

    # The selected patient (validated on the server; the id is kept backend-only).
    _selected_id: str = ""
    selected: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    selected_row: rx.Field[str] = rx.field("")

    # The export job of the selected patient.
    _job_id: str = ""
    _watch_generation: int = 0
    job_status: rx.Field[str] = rx.field("")
    job_progress: rx.Field[int] = rx.field(0)
    job_message: rx.Field[str] = rx.field("")
    job_error: rx.Field[str] = rx.field("")
    job_attempts: rx.Field[str] = rx.field("")
    download_url: rx.Field[str] = rx.field("")
    download_name: rx.Field[str] = rx.field("")

    # Registration dialog; the typed form stays on the server for "register anyway".
    can_register: rx.Field[bool] = rx.field(False)
    register_open: rx.Field[bool] = rx.field(False)
    register_error: rx.Field[str] = rx.field("")
    duplicates: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    _register_form: dict[str, str] = {}

    # ---- list and search ----------------------------------------------------------------

    @rx.event
    def load(self) -> EventSpec | None:
        actor = self._guard_page("patients")
        if actor is None:
            return None
        self.can_register = can(actor, "patient:create")
        self._search(actor)
        self.loaded = True
        if self._job_id and self.job_status not in FINISHED:
            # Back on the page (or reconnected after a restart): resume watching the job.
            return PatientsState.watch_export
        return None

    @rx.event
    def search(self, query: str) -> None:
        actor = self._require("patient:list")
        self.query = str(query or "")[:100]
        self._search(actor)

    @rx.event
    def clear_search(self) -> None:
        actor = self._require("patient:list")
        self.query = ""
        self._search(actor)

    def _search(self, actor: Actor) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = search_patients(session, actor=actor, query=self.query)
        self.patients = [dataclasses.asdict(row) for row in rows]

    # ---- registration -----------------------------------------------------------------------

    @rx.event
    def set_register_open(self, is_open: bool) -> None:
        self._require("patient:create")
        self.register_open = bool(is_open)
        self.register_error = ""
        self.duplicates = []

    @rx.event
    def register(self, form: dict[str, Any]) -> EventSpec | None:
        """Register from the form; a possible duplicate is shown with "use existing"."""
        actor = self._require("patient:create")
        self._register_form = {k: str(v)[:400] for k, v in form.items()}
        return self._register(actor, allow_duplicate=False)

    @rx.event
    def register_anyway(self) -> EventSpec | None:
        """The desk confirmed it is a different person with the same name/birthday or phone."""
        actor = self._require("patient:create")
        return self._register(actor, allow_duplicate=True)

    def _register(self, actor: Actor, *, allow_duplicate: bool) -> EventSpec | None:
        self.register_error = ""
        try:
            data = new_patient_from_form(dict(self._register_form))
            with session_scope(clinic_id=actor.clinic_id) as session:
                row = register_patient(
                    session, actor=actor, data=data, allow_duplicate=allow_duplicate
                )
        except AppError as exc:
            self.register_error = exc.message
            self.duplicates = list(exc.details.get("patients", [])) if exc.details else []
            return None
        self.register_open = False
        self.duplicates = []
        self._register_form = {}
        self.query = row.mrn
        self._search(actor)
        if can(actor, "patient:read_phi"):
            return rx.redirect(f"/chart?patient={row.id}")
        self._select(actor, row.id)
        return None

    @rx.event
    def use_existing(self, patient_id: str) -> None:
        actor = self._require("patient:list")
        self.register_open = False
        self.duplicates = []
        self._select(actor, str(patient_id))

    # ---- selection --------------------------------------------------------------------------

    @rx.event
    def select_patient(self, patient_id: str) -> None:
        actor = self._require("patient:list")
        self._select(actor, str(patient_id))

    def _select(self, actor: Actor, patient_id: str) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            detail = get_patient(session, actor=actor, patient_id=patient_id)
        if detail.id != self._selected_id:
            self._reset_job()
        self._selected_id = detail.id
        self.selected = dataclasses.asdict(detail)
        self.selected_row = detail.id

    @rx.event
    def close_patient(self) -> None:
        self._require("patient:list")
        self._clear_selection()

    def _clear_selection(self) -> None:
        self._selected_id = ""
        self.selected = {}
        self.selected_row = ""
        self._reset_job()

    def _reset_job(self) -> None:
        self._job_id = ""
        self._watch_generation += 1  # stops a running watcher
        self._assign(
            job_status="",
            job_progress=0,
            job_message="",
            job_error="",
            job_attempts="",
            download_url="",
            download_name="",
        )

    def _assign(self, **values: Any) -> None:
        """Set only the vars that change, so the delta sent to the browser stays small."""
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    # ---- DOCX export ------------------------------------------------------------------------

    @rx.event
    def start_export(self, kind: str = "summary") -> EventSpec | None:
        """``kind``: "summary" (DOCX) or "archive" (ZIP of all the patient's data)."""
        actor = self._require("patient:export")
        request = EXPORTS.get(str(kind))
        if request is None or not self._selected_id:
            return None
        with session_scope(clinic_id=actor.clinic_id) as session:
            job = request(session, actor=actor, patient_id=uuid.UUID(self._selected_id))
            view = job_view(job)
        self._reset_job()
        self._job_id = str(view["id"])
        self._show_job(view)
        return PatientsState.watch_export

    @rx.event
    def retry_export(self) -> EventSpec | None:
        actor = self._require("job:retry")
        if not self._job_id:
            return None
        with session_scope(clinic_id=actor.clinic_id) as session:
            view = job_view(retry(session, actor=actor, job_id=uuid.UUID(self._job_id)))
        self._show_job(view)
        return PatientsState.watch_export

    @rx.event
    def refresh_link(self) -> None:
        """A fresh signed link (links live at most 5 minutes)."""
        actor = self._require("job:read")
        if self._job_id:
            self._read_job(actor)

    @rx.event(background=True)
    async def watch_export(self) -> None:
        """Re-read the job row every 0.5 s until it finishes; the work runs in a worker."""
        async with self:
            self._watch_generation += 1
            generation = self._watch_generation
        started = time.monotonic()
        while time.monotonic() - started < WATCH_MAX_SECONDS:
            async with self:
                if generation != self._watch_generation or not self._job_id:
                    return
                actor = self._require("job:read")
                if self._read_job(actor) in FINISHED:
                    return
            await asyncio.sleep(POLL_SECONDS)

    def _read_job(self, actor: Actor) -> str:
        """Load the job (scoped by clinic), show it, mint a link when done; returns status."""
        url = name = ""
        with session_scope(clinic_id=actor.clinic_id) as session:
            view = job_view(
                get_job(session, job_id=uuid.UUID(self._job_id), clinic_id=actor.clinic_id)
            )
            result = view.get("result") or {}
            if view["status"] == "succeeded" and result.get("file_id"):
                stored = get_download_file(session, actor=actor, file_id=result["file_id"])
                url = make_download_url(stored, user_id=actor.user_id)
                name = str(result.get("filename") or stored.filename)
        self._show_job(view, url=url, filename=name)
        return str(view["status"])

    def _show_job(self, view: dict[str, Any], *, url: str = "", filename: str = "") -> None:
        status = str(view.get("status") or "")
        self._assign(
            job_status=status,
            job_progress=max(0, min(100, int(view.get("progress") or 0))),
            job_message=str(view.get("message") or ""),
            job_error=str(view.get("error") or "")[:300] if status == "failed" else "",
            job_attempts=f"{view.get('attempts') or 0} of {view.get('max_attempts') or 0}",
            download_url=url,
            download_name=filename,
        )
