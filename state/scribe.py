"""Scribe page state: the doctor's sessions, consent, and the transcript of one session.

``/scribe?appointment=<id>`` (from the worklist) or ``?patient=<id>`` (a walk-in, from the
chart) opens or reuses the doctor's session and goes to ``?session=<id>``. Recording itself runs
in the browser (``assets/scribe_recorder.js``) straight against the audio routes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import report_templates, reports, scribe
from state.base import AppState

WATCH_SECONDS = 4 * 3600  # a long consultation, then its transcription


class ScribeState(AppState):
    sessions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    consultation: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    segments: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    missing: rx.Field[bool] = rx.field(False)
    form_error: rx.Field[str] = rx.field("")
    editing: rx.Field[str] = rx.field("")  # the segment being corrected ("" = none)
    _session_id: str = ""
    _watching: bool = False

    @rx.var
    def speakers(self) -> list[str]:
        return sorted({s["speaker"] for s in self.segments if s.get("speaker")})

    @rx.var
    def has_session(self) -> bool:
        return bool(self.consultation)

    live_segments: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # Drafting a report from the finished transcript.
    templates: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    session_reports: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    @rx.var
    def transcribing(self) -> bool:
        return self.consultation.get("transcription_status") in ("pending", "processing")

    @rx.var
    def recording(self) -> bool:
        return self.consultation.get("status") in ("in_progress", "paused")

    @rx.event
    def load(self) -> EventSpec | None:
        actor = self._guard_page("scribe")
        if actor is None:
            return None
        params = self.router.page.params
        appointment = str(params.get("appointment") or "")[:64]
        patient = str(params.get("patient") or "")[:64]
        self.form_error = ""
        if appointment or patient:
            with session_scope(clinic_id=actor.clinic_id) as session:
                new_id = scribe.start_session(
                    session, actor=actor, patient_id=patient, appointment_id=appointment
                )
            return rx.redirect(f"/scribe?session={new_id}", replace=True)
        self._session_id = str(params.get("session") or "")[:64]
        self._refresh(actor)
        return ScribeState.watch_transcription if self.transcribing or self.recording else None

    def _refresh(self, actor: Actor, *, audit_read: bool = True) -> None:
        # Immediate: the view reads, then writes its audit row, while the worker writes the
        # transcript; on SQLite a deferred read→write transaction would fail with "busy" at once.
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            if not self._session_id:
                self.consultation, self.segments, self.missing = {}, [], False
                self.sessions = scribe.my_sessions(session, actor=actor)
                return
            try:
                data = scribe.view(
                    session, actor=actor, session_id=self._session_id, audit_read=audit_read
                )
            except AppError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                self.consultation, self.segments, self.missing = {}, [], True
                return
        self.missing = False
        self.segments = data.pop("segments")
        self.live_segments = data.pop("live")
        self.consultation = data
        if data.get("transcription_status") == "completed" and not self.templates:
            with session_scope(clinic_id=actor.clinic_id) as session:
                self.templates = [
                    {"id": t["id"], "name": t["name"], "default": "1" if t["is_default"] else ""}
                    for t in report_templates.list_templates(session, actor=actor)
                ]
        with session_scope(clinic_id=actor.clinic_id) as session:
            self.session_reports = reports.for_session(
                session, actor=actor, session_id=self._session_id
            )

    @rx.event
    def draft_report(self, form: dict[str, Any]) -> EventSpec | None:
        """Queue a draft of this session's transcript and open its review page."""
        actor = self._require("report:draft")
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                row = reports.start_draft(
                    session,
                    actor=actor,
                    session_id=self._session_id,
                    template_id=str(form.get("template") or "")[:64] or None,
                )
                report_id = str(row.id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return None
        return rx.redirect(f"/reports?report={report_id}")

    @rx.event
    def record_consent(self, form: dict[str, Any]) -> None:
        actor = self._require("scribe:record")
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                scribe.record_consent(
                    session,
                    actor=actor,
                    session_id=self._session_id,
                    method=str(form.get("method") or "")[:12],
                    chief_complaint=str(form.get("chief_complaint") or "")[:300],
                )
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return
        self._refresh(actor)

    @rx.event
    def refresh(self) -> EventSpec | None:
        """The recorder finished uploading: show the transcription as it runs."""
        self._refresh(self._require("scribe:record"), audit_read=False)
        return ScribeState.watch_transcription if self.transcribing else None

    @rx.event
    def retry(self) -> EventSpec | None:
        actor = self._require("scribe:record")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                scribe.retry_transcription(session, actor=actor, session_id=self._session_id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return None
        self._refresh(actor)
        return ScribeState.watch_transcription

    def _edit(self, actor: Actor, action: Any) -> bool:
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                action(session, actor)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return False
        self._refresh(actor)
        return True

    @rx.event
    def start_edit(self, segment: str) -> None:
        self._require("scribe:record")
        self.editing = str(segment)[:6]
        self.form_error = ""

    @rx.event
    def cancel_edit(self) -> None:
        self._require("scribe:record")
        self.editing = ""

    @rx.event
    def save_segment(self, form: dict[str, Any]) -> None:
        actor = self._require("scribe:record")
        segment = int(self.editing or -1)
        text = str(form.get("text") or "")[:5000]
        speaker = str(form.get("speaker") or "")[:40]
        note = str(form.get("note") or "")[:300]

        def action(session: Any, actor: Actor) -> None:
            scribe.edit_segment(
                session,
                actor=actor,
                session_id=self._session_id,
                segment=segment,
                text=text,
                note=note,
            )
            current = self.segments[segment]["speaker"] if 0 <= segment < len(self.segments) else ""
            if speaker and speaker != current:
                scribe.set_speaker(
                    session,
                    actor=actor,
                    session_id=self._session_id,
                    speaker=current,
                    name=speaker,
                    segment=segment,
                )

        if self._edit(actor, action):
            self.editing = ""

    @rx.event
    def rename_speaker(self, form: dict[str, Any]) -> None:
        self._edit(
            self._require("scribe:record"),
            lambda session, actor: scribe.set_speaker(
                session,
                actor=actor,
                session_id=self._session_id,
                speaker=str(form.get("speaker") or "")[:40],
                name=str(form.get("name") or "")[:40],
            ),
        )

    @rx.event
    def listen(self) -> EventSpec | None:
        """Load the recording into the page's player (a short-lived link; the play is audited)."""
        actor = self._require("scribe:record")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                url = scribe.recording_link(session, actor=actor, session_id=self._session_id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return None
        return rx.call_script(f"window.ClinicScribe.loadAudio({json.dumps(url)})")

    @rx.event(background=True)
    async def watch_transcription(self) -> None:
        """The running transcript while recording, then the job's progress, every 2 seconds,
        until the final transcript is in (one loop per tab: a second start exits at once)."""
        async with self:
            if self._watching:
                return
            self._watching = True
        try:
            for _ in range(WATCH_SECONDS // 2):
                await asyncio.sleep(2)
                async with self:
                    if not self.has_session:
                        return
                    self._refresh(self._require("scribe:record"), audit_read=False)
                    if not (self.transcribing or self.recording):
                        return
        finally:
            async with self:
                self._watching = False
