"""Report review page state: the draft beside its transcript, review steps, signing, export.

``/reports`` lists the doctor's reports; ``/reports?report=<id>`` opens one. The draft comes
from a worker; while it is written the page follows its progress. Rows for the page are
flattened here (section headings and sentences in one list) so the page needs no nested loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlmodel import Session

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import reports, scribe
from state.base import AppState

WATCH_SECONDS = 15 * 60
STATUS_COLORS = {"supported": "green", "unsupported": "red", "accepted": "amber", "edited": "blue"}
STATUS_LABELS = {
    "supported": "supported",
    "unsupported": "unsupported",
    "accepted": "accepted by you",
    "edited": "written by you",
}


def _seconds(ms: Any) -> str:
    total = int(ms or 0) // 1000
    return f"{total // 60}:{total % 60:02d}"


class ReportsState(AppState):
    listing: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    report: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    transcript: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    changes: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    selected: rx.Field[str] = rx.field("")
    editing: rx.Field[str] = rx.field("")  # sentence id, or "section:<id>" for a rewrite
    accepting: rx.Field[str] = rx.field("")
    adding: rx.Field[str] = rx.field("")
    show_changes: rx.Field[bool] = rx.field(False)
    form_error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    missing: rx.Field[bool] = rx.field(False)
    sign_open: rx.Field[bool] = rx.field(False)
    sign_error: rx.Field[str] = rx.field("")
    signing: rx.Field[bool] = rx.field(False)
    audio_url: rx.Field[str] = rx.field("")
    _report_id: str = ""
    _sections: list[dict[str, Any]] = []
    _segments: list[dict[str, Any]] = []
    _watching: bool = False

    @rx.var
    def has_report(self) -> bool:
        return bool(self.report)

    @rx.var
    def drafting(self) -> bool:
        return self.report.get("status") in ("pending", "generating")

    @rx.var
    def editable(self) -> bool:
        return self.report.get("status") == "completed" and bool(self.report.get("mine"))

    @rx.var
    def signed(self) -> bool:
        return self.report.get("status") == "signed"

    @rx.var
    def blockers(self) -> list[str]:
        return list(self.report.get("blockers") or [])

    # ---- loading ----------------------------------------------------------------------------

    @rx.event
    def load(self) -> EventSpec | None:
        actor = self._guard_page("reports")
        if actor is None:
            return None
        self._report_id = str(self.router.page.params.get("report") or "")[:64]
        self.selected = self.editing = self.accepting = self.adding = ""
        self.form_error = self.notice = self.audio_url = ""
        self._refresh(actor)
        return ReportsState.watch_draft if self.drafting else None

    def _refresh(self, actor: Actor, *, audit_read: bool = True) -> None:
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            if not self._report_id:
                self.report, self.missing = {}, False
                self.listing = reports.my_reports(session, actor=actor)
                return
            try:
                data = reports.view(
                    session, actor=actor, report_id=self._report_id, audit_read=audit_read
                )
            except AppError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                self.report, self.missing = {}, True
                return
        self.missing = False
        self._sections = data.pop("sections")
        draft_sections = data.pop("draft_sections")
        self._segments = data.pop("segments")
        # File ids stay on the server: the page only needs to know a document exists.
        data["has_docx"] = bool(data.pop("docx_file_id"))
        data["has_pdf"] = bool(data.pop("pdf_file_id"))
        scores = data.get("scores") or {}
        data["completeness_pct"] = f"{round(float(scores.get('completeness', 0)) * 100)}%"
        data["support_pct"] = f"{round(float(scores.get('support', 0)) * 100)}%"
        data["unsupported"] = str(scores.get("unsupported", 0))
        progress = data.get("progress") or {}
        data["progress_line"] = (
            f"Drafted {progress.get('done', 0)} of {progress.get('total') or '…'} sections"
        )
        self.report = data
        self.rows = self._rows()
        self.transcript = self._transcript_rows()
        self.changes = reports.changes_since_draft(draft_sections, self._sections)

    def _rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for section in self._sections:
            sentences = section.get("sentences") or []
            rows.append(
                {"kind": "section", "section": section["id"], "title": section["title"],
                 "required": "required" if section.get("required") else "",
                 "empty": "" if sentences else "1",
                 "lines": "\n".join(
                     ("- " if section.get("type") == "list" else "") + x["text"] for x in sentences
                 )}
            )  # fmt: skip
            for sentence in sentences:
                status = sentence.get("status", "supported")
                rows.append(
                    {"kind": "sentence", "section": section["id"], "id": sentence["id"],
                     "text": sentence["text"], "status": status,
                     "status_label": STATUS_LABELS.get(status, status),
                     "color": STATUS_COLORS.get(status, "gray"),
                     "reasons": "; ".join(sentence.get("reasons") or []),
                     "note": sentence.get("note", ""),
                     "evidence": str(len(sentence.get("evidence") or [])),
                     "bullet": "•" if section.get("type") == "list" else ""}
                )  # fmt: skip
        return rows

    def _evidence(self) -> list[dict[str, Any]]:
        for section in self._sections:
            for sentence in section.get("sentences") or []:
                if sentence["id"] == self.selected:
                    return list(sentence.get("evidence") or [])
        return []

    def _transcript_rows(self) -> list[dict[str, str]]:
        """Segments with the selected sentence's evidence cut out as ``mark``."""
        spans: dict[int, list[tuple[int, int]]] = {}
        for item in self._evidence():
            spans.setdefault(int(item["segment"]), []).append(
                (int(item["start"]), int(item["end"]))
            )
        rows = []
        for seg in self._segments:
            text = str(seg["text"])
            marked = sorted(spans.get(int(seg["id"]), []))
            start, end = (marked[0][0], marked[-1][1]) if marked else (0, 0)
            rows.append(
                {"id": str(seg["id"]), "speaker": str(seg["speaker"]),
                 "time": _seconds(seg.get("start_ms")), "start_ms": str(seg.get("start_ms", 0)),
                 "before": text[:start] if marked else text, "mark": text[start:end],
                 "after": text[end:] if marked else "", "hit": "1" if marked else ""}
            )  # fmt: skip
        return rows

    # ---- selecting evidence -----------------------------------------------------------------

    @rx.event
    def select(self, sentence_id: str) -> EventSpec | None:
        """Highlight the sentence's evidence in the transcript and play it when audio is on."""
        self._require("report:read")
        self.selected = "" if self.selected == sentence_id else str(sentence_id)[:80]
        self.transcript = self._transcript_rows()
        evidence = self._evidence()
        if not evidence or not self.audio_url:
            return None
        start = min(int(e.get("start_ms") or 0) for e in evidence) / 1000
        return rx.call_script(
            "(()=>{const a=document.getElementById('report-audio');"
            f"if(a){{a.currentTime={start:.2f};a.play().catch(()=>{{}});}}"
            "const m=document.querySelector('[data-testid=evidence-mark]');"
            "if(m){m.scrollIntoView({block:'center',behavior:'smooth'});}})()"
        )

    @rx.event
    def listen(self) -> None:
        """Load the consultation audio (a short-lived, audited link) for evidence playback."""
        actor = self._require("report:read")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                self.audio_url = scribe.recording_link(
                    session, actor=actor, session_id=str(self.report.get("session_id", ""))
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.form_error = exc.message

    # ---- review steps -----------------------------------------------------------------------

    def _change(self, actor: Actor, action: Callable[[Session, Actor], Any]) -> bool:
        self.form_error = self.notice = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                action(session, actor)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            if exc.code == "VERSION_CONFLICT":
                self._refresh(actor, audit_read=False)
            return False
        self._refresh(actor, audit_read=False)
        return True

    def _sentence(
        self, actor: Actor, action: str, section: str, sentence: str | None, text: str = "",
        note: str = "",
    ) -> bool:  # fmt: skip
        version = int(self.report.get("version") or 0)
        return self._change(
            actor,
            lambda session, actor: reports.change_sentence(
                session, actor=actor, report_id=self._report_id, version=version,
                section_id=section, sentence_id=sentence, action=action, text=text[:2000],
                note=note[:500],
            )
        )  # fmt: skip

    def _section_of(self, sentence_id: str) -> str:
        return next((r["section"] for r in self.rows if r.get("id") == sentence_id), "")

    @rx.event
    def start_edit(self, key: str) -> None:
        self._require("report:draft")
        self.editing, self.accepting, self.adding = str(key)[:80], "", ""
        self.form_error = ""

    @rx.event
    def start_accept(self, sentence_id: str) -> None:
        self._require("report:draft")
        self.accepting, self.editing, self.adding = str(sentence_id)[:80], "", ""

    @rx.event
    def start_add(self, section_id: str) -> None:
        self._require("report:draft")
        self.adding, self.editing, self.accepting = str(section_id)[:80], "", ""

    @rx.event
    def cancel(self) -> None:
        self._require("report:read")
        self.editing = self.accepting = self.adding = ""
        self.form_error = ""

    @rx.event
    def save_sentence(self, form: dict[str, Any]) -> None:
        actor = self._require("report:draft")
        sentence = self.editing
        if self._sentence(
            actor, "edit", self._section_of(sentence), sentence, str(form.get("text") or "")
        ):
            self.editing = ""

    @rx.event
    def delete_sentence(self, sentence_id: str) -> None:
        actor = self._require("report:draft")
        self._sentence(actor, "delete", self._section_of(sentence_id), str(sentence_id)[:80])

    @rx.event
    def accept_sentence(self, form: dict[str, Any]) -> None:
        actor = self._require("report:draft")
        sentence = self.accepting
        if self._sentence(actor, "accept", self._section_of(sentence), sentence,
                          note=str(form.get("note") or "")):  # fmt: skip
            self.accepting = ""

    @rx.event
    def add_sentence(self, form: dict[str, Any]) -> None:
        actor = self._require("report:draft")
        if self._sentence(actor, "add", self.adding, None, str(form.get("text") or "")):
            self.adding = ""

    @rx.event
    def rewrite_section(self, form: dict[str, Any]) -> None:
        actor = self._require("report:draft")
        section = self.editing.removeprefix("section:")
        version = int(self.report.get("version") or 0)
        text = str(form.get("text") or "")[:40000]
        if self._change(
            actor,
            lambda session, actor: reports.set_section_text(
                session, actor=actor, report_id=self._report_id, version=version,
                section_id=section, text=text,
            )
        ):  # fmt: skip
            self.editing = ""

    @rx.event
    def regenerate(self, section_id: str) -> EventSpec | None:
        actor = self._require("report:draft")
        version = int(self.report.get("version") or 0)
        if self._change(
            actor,
            lambda session, actor: reports.regenerate_section(
                session, actor=actor, report_id=self._report_id, version=version,
                section_id=str(section_id)[:80],
            )
        ):  # fmt: skip
            return ReportsState.watch_draft
        return None

    @rx.event
    def toggle_changes(self) -> None:
        self._require("report:read")
        self.show_changes = not self.show_changes

    # ---- signing ----------------------------------------------------------------------------

    @rx.event
    def open_sign(self) -> None:
        self._require("report:sign")
        self.sign_error = ""
        self.sign_open = True

    @rx.event
    def sign_dialog_changed(self, is_open: bool) -> None:
        self._require("report:sign")
        if not is_open:
            self.sign_open, self.sign_error = False, ""

    @rx.event
    async def confirm_sign(self, form: dict[str, Any]) -> AsyncIterator[None]:
        """Re-authenticate (password or authenticator code), then sign in one step."""
        actor = self._require("report:sign")
        self.sign_error, self.signing = "", True
        yield None
        version = int(self.report.get("version") or 0)
        try:
            refused = self._step_up_then(
                actor,
                form,
                lambda session: reports.sign(
                    session, actor=actor, report_id=self._report_id, version=version
                ),
            )
        finally:
            self.signing = False
        if refused is not None:
            self.sign_error = refused.message
            if refused.code in ("VERSION_CONFLICT", "REPORT_NOT_READY"):
                self._refresh(actor, audit_read=False)
            return
        self.sign_open = False
        self.notice = "Signed. The report can no longer change; corrections are amendments."
        self._refresh(actor, audit_read=False)

    # ---- after signing ----------------------------------------------------------------------

    @rx.event
    def export(self, pdf: bool) -> EventSpec | None:
        actor = self._require("report:read")
        if self._change(
            actor,
            lambda session, actor: reports.enqueue_export(
                session, actor=actor, report_id=self._report_id, pdf=bool(pdf)
            ),
        ):
            self.notice = "The document is being prepared…"
            return ReportsState.watch_export
        return None

    @rx.event
    def download(self, kind: str) -> EventSpec | None:
        actor = self._require("report:read")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                url = reports.document_link(
                    session, actor=actor, report_id=self._report_id, kind=str(kind)[:8]
                )
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.form_error = exc.message
            return None
        return rx.redirect(url, is_external=True)

    @rx.event
    def share(self) -> None:
        actor = self._require("report:sign")
        if self._change(
            actor,
            lambda session, actor: reports.share_with_patient(
                session, actor=actor, report_id=self._report_id
            ),
        ):
            self.notice = "Shared: the patient sees this report in their portal."

    @rx.event
    def amend(self, form: dict[str, Any]) -> EventSpec | None:
        actor = self._require("report:draft")
        self.form_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                row = reports.amend(
                    session, actor=actor, report_id=self._report_id,
                    note=str(form.get("note") or "")[:500],
                )  # fmt: skip
                new_id = str(row.id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return None
        return rx.redirect(f"/reports?report={new_id}")

    # ---- following jobs ---------------------------------------------------------------------

    @rx.event(background=True)
    async def watch_draft(self) -> None:
        """The draft's progress every 1.5 s until it is written (one loop per tab)."""
        async with self:
            if self._watching:
                return
            self._watching = True
        try:
            for _ in range(int(WATCH_SECONDS / 1.5)):
                await asyncio.sleep(1.5)
                async with self:
                    if not self.has_report:
                        return
                    self._refresh(self._require("report:read"), audit_read=False)
                    if not self.drafting:
                        return
        finally:
            async with self:
                self._watching = False

    @rx.event(background=True)
    async def watch_export(self) -> None:
        for _ in range(120):
            await asyncio.sleep(1.5)
            async with self:
                self._refresh(self._require("report:read"), audit_read=False)
                if self.report.get("has_docx"):
                    self.notice = "The document is ready."
                    return


__all__ = ["ReportsState"]
