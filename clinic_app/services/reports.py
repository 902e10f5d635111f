"""Reports drafted from a consultation's transcript: draft, review, sign, amend, share, export.

The doctor drafts a report from the session's finished transcript with a template (an RQ job,
``workers/reports.py``), reviews it sentence by sentence against the transcript, and signs it
after a fresh step-up. A signed report never changes (service check and database trigger); a
correction is an amendment: a new report, ``version_number`` + 1, linked both ways.

Sentence statuses: ``supported`` (the verifier found every checkable fact in its evidence),
``unsupported`` (it did not; the reasons are shown), ``accepted`` (the doctor kept an
unsupported sentence knowingly, with a note) and ``edited`` (the doctor wrote or rewrote it).
Signing is refused while an unsupported sentence or an empty required section remains.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from clinic_app import audit, jobs
from clinic_app.ai import drafting
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security import pii, sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services import medication_catalog, report_templates
from clinic_app.services.prescriptions import doctor_identity
from clinic_app.services.report_documents import ReportDocument, ReportSection
from clinic_app.timeutil import as_utc
from models import (
    Branch,
    Clinic,
    ConsultationSession,
    Patient,
    Report,
    ReportTemplate,
    StoredFile,
    Transcription,
)
from models.base import utcnow

DRAFT_KIND = "report_draft"
EXPORT_KIND = "report_export"
MAX_SENTENCE_CHARS = 2000
STATUS_LABELS = {
    "pending": "Waiting for a worker",
    "generating": "Drafting",
    "completed": "Draft ready — review before signing",
    "failed": "Drafting failed",
    "signed": "Signed",
}


# ---- loading ------------------------------------------------------------------------------


def _load(session: Session, actor: Actor, report_id: str, *, for_update: bool = False) -> Report:
    """A report of the actor's clinic: its doctor may write; clinical staff may read signed ones."""
    require(actor, "report:read")
    row = session.exec(
        select(Report).where(
            Report.id == parse_id(report_id, "Report"), Report.clinic_id == actor.clinic_id
        )
    ).first()
    if row is None:
        raise NotFound("Report")
    own = row.doctor_user_id == actor.user_id
    if for_update and not own:
        raise NotFound("Report")
    if not own and row.status != "signed":
        raise NotFound("Report")
    return row


def _consultation(session: Session, actor: Actor, session_id: str) -> ConsultationSession:
    row = session.exec(
        select(ConsultationSession).where(
            ConsultationSession.id == parse_id(session_id, "Consultation session"),
            ConsultationSession.clinic_id == actor.clinic_id,
        )
    ).first()
    if row is None or row.doctor_user_id != actor.user_id:
        raise NotFound("Consultation session")
    return row


def final_transcription(session: Session, *, session_id: uuid.UUID) -> Transcription | None:
    """The newest completed final-pass transcript (with the doctor's corrections)."""
    return session.exec(
        select(Transcription)
        .where(
            Transcription.session_id == session_id,
            Transcription.status == "completed",
            col(Transcription.is_live).is_(False),
        )
        .order_by(col(Transcription.created_at).desc())
    ).first()


def _check_version(row: Report, version: int) -> None:
    if row.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "This report was changed in another tab or by a redraft; reload it first.",
        )


def _editable(row: Report) -> None:
    if row.status == "signed":
        raise AppError("REPORT_SIGNED", "A signed report cannot change; write an amendment.")
    if row.status in ("pending", "generating"):
        raise AppError("REPORT_DRAFTING", "The draft is still being written; wait a moment.")
    if row.status == "failed" or not row.content:
        raise AppError("REPORT_EMPTY", "There is no draft to edit; draft it again.")


# ---- drafting -----------------------------------------------------------------------------


def start_draft(
    session: Session,
    *,
    actor: Actor,
    session_id: str,
    template_id: str | None = None,
    idempotency_key: str | None = None,
) -> Report:
    """Queue a draft of the session's transcript. The session's working (unsigned) report is
    redrafted rather than duplicated; a repeated idempotency key returns the same report."""
    require(actor, "report:draft")
    consultation = _consultation(session, actor, session_id)
    if idempotency_key:
        existing = session.exec(
            select(Report).where(
                Report.clinic_id == actor.clinic_id, Report.idempotency_key == idempotency_key
            )
        ).first()
        if existing is not None:
            return existing
    transcript = final_transcription(session, session_id=consultation.id)
    if transcript is None or not transcript.segments:
        raise AppError(
            "TRANSCRIPT_MISSING", "Finish the recording and wait for its transcript first."
        )
    template = (
        report_templates.load(session, actor=actor, template_id=template_id)
        if template_id
        else report_templates.default_template(session, actor=actor)
    )
    if not template.is_active:
        raise AppError("TEMPLATE_RETIRED", "That template was replaced by a newer version.")
    working = session.exec(
        select(Report).where(
            Report.session_id == consultation.id,
            Report.status != "signed",
            col(Report.amends_id).is_(None),
        )
    ).first()
    if working is not None and working.status in ("pending", "generating"):
        raise AppError("REPORT_DRAFTING", "A draft is already being written for this session.")
    fresh = working is None
    if working is None:
        working = Report(
            clinic_id=actor.clinic_id,
            number=consultation.number,
            version_number=_next_version_number(session, consultation.id),
            session_id=consultation.id,
            patient_id=consultation.patient_id,
            doctor_user_id=actor.user_id,
            encounter_id=consultation.encounter_id,
            template_id=template.id,
            created_by=actor.user_id,
        )
    working.template_id, working.transcription_id = template.id, transcript.id
    working.report_type = template.report_type
    working.status, working.error, working.content = "pending", None, None
    working.idempotency_key = idempotency_key or working.idempotency_key
    if not fresh:
        working.version += 1
    working.pii_key_id = pii.key_ring().current
    session.add(working)
    session.flush()
    report_templates.record_use(session, template=template)
    _enqueue_draft(session, actor, working, section_id=None)
    audit.record_by(
        session,
        actor,
        "report.draft",
        entity_type="report",
        entity_id=working.id,
        after={"template": template.name, "version": template.template_version},
    )
    return working


def _next_version_number(session: Session, session_id: uuid.UUID) -> int:
    latest = session.exec(
        select(func.max(Report.version_number)).where(Report.session_id == session_id)
    ).one()
    return (latest or 0) + 1


def _enqueue_draft(session: Session, actor: Actor, row: Report, *, section_id: str | None) -> None:
    job = jobs.enqueue(
        session,
        kind=DRAFT_KIND,
        clinic_id=row.clinic_id,
        created_by=actor.user_id,
        params={"report_id": str(row.id), "section_id": section_id},
        entity_type="report",
        entity_id=row.id,
    )
    row.progress = {"job_id": str(job.id), "done": 0, "total": 0, "section": section_id}
    session.add(row)


def regenerate_section(
    session: Session, *, actor: Actor, report_id: str, version: int, section_id: str
) -> Report:
    """Draft one section again (the doctor's edits elsewhere stay)."""
    require(actor, "report:draft")
    row = _load(session, actor, report_id, for_update=True)
    _editable(row)
    _check_version(row, version)
    _section(row, section_id)
    row.status = "pending"
    row.version += 1
    _enqueue_draft(session, actor, row, section_id=section_id)
    _log_edit(row, actor, section_id, None, "regenerate", "")
    session.add(row)
    audit.record_by(
        session,
        actor,
        "report.regenerate_section",
        entity_type="report",
        entity_id=row.id,
        after={"section": section_id},
    )
    return row


def drafting_inputs(
    session: Session, *, row: Report
) -> tuple[list[drafting.TemplateSection], str, list[drafting.Utterance], frozenset[str]]:
    """What a drafting job needs: the template's sections and prompt, the utterances, and
    the catalog's drug names (for the verifier)."""
    template = session.get(ReportTemplate, row.template_id)
    transcript = session.get(Transcription, row.transcription_id) if row.transcription_id else None
    if template is None or transcript is None:
        raise AppError("REPORT_INPUT_MISSING", "The report's template or transcript is gone.")
    sections = [drafting.TemplateSection.from_json(s) for s in template.sections]
    utterances = drafting.split_utterances(transcript.segments or [])
    names = medication_catalog.drug_vocabulary(session, clinic_id=row.clinic_id)
    return sections, template.prompt, utterances, names


def content_from_draft(
    drafted: list[drafting.DraftedSection], utterances: list[drafting.Utterance]
) -> dict[str, Any]:
    """The stored shape: evidence as segment spans (what the review page highlights)."""
    by_id = {u.id: u for u in utterances}
    sections = []
    for section in drafted:
        sentences = []
        for n, sentence in enumerate(section.sentences):
            evidence = [
                {"utterance": i, "segment": by_id[i].segment, "start": by_id[i].start,
                 "end": by_id[i].end, "start_ms": by_id[i].start_ms, "end_ms": by_id[i].end_ms}
                for i in sentence.evidence
                if i in by_id
            ]  # fmt: skip
            sentences.append(
                {
                    "id": f"{section.id}-{n + 1}",
                    "text": sentence.text,
                    "evidence": evidence,
                    "status": sentence.status,
                    "reasons": sentence.reasons,
                    "origin": "ai",
                }
            )
        sections.append(
            {
                "id": section.id,
                "title": section.title,
                "type": section.type,
                "required": section.required,
                "sentences": sentences,
            }
        )
    return {"sections": sections}


def changes_since_draft(
    draft: list[dict[str, Any]], current: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Per section: sentences the doctor removed (-) and added or rewrote (+) since the draft."""
    before = {s["id"]: [x["text"] for x in s.get("sentences") or []] for s in draft}
    rows: list[dict[str, str]] = []
    for section in current:
        now = [x["text"] for x in section.get("sentences") or []]
        was = before.get(section["id"], [])
        removed = [t for t in was if t not in now]
        added = [t for t in now if t not in was]
        for text in removed:
            rows.append({"section": section["title"], "sign": "-", "text": text})
        for text in added:
            rows.append({"section": section["title"], "sign": "+", "text": text})
    return rows


def score(content: dict[str, Any]) -> dict[str, Any]:
    sections = content.get("sections") or []
    required = [s for s in sections if s.get("required")]
    sentences = [x for s in sections for x in s.get("sentences") or []]
    filled = sum(1 for s in required if s.get("sentences"))
    supported = sum(1 for x in sentences if x["status"] == "supported" and x.get("evidence"))
    return {
        "completeness": round(filled / len(required), 3) if required else 1.0,
        "support": round(supported / len(sentences), 3) if sentences else 0.0,
        "unsupported": sum(1 for x in sentences if x["status"] == "unsupported"),
        "sentences": len(sentences),
    }


def render_text(content: dict[str, Any]) -> str:
    """Plain text of a report: headings, then sentences (list sections as "- " lines)."""
    parts = []
    for section in content.get("sections") or []:
        lines = [x["text"] for x in section.get("sentences") or []]
        if section.get("type") == "list":
            body = "\n".join(f"- {line}" for line in lines)
        else:
            body = " ".join(lines)
        parts.append(f"{section['title']}\n{body or 'Not documented.'}")
    return "\n\n".join(parts)


# ---- review -------------------------------------------------------------------------------


def _section(row: Report, section_id: str) -> dict[str, Any]:
    for section in (row.content or {}).get("sections") or []:
        if section["id"] == section_id:
            return section  # type: ignore[no-any-return]
    raise NotFound("Section")


def _log_edit(
    row: Report, actor: Actor, section: str, sentence: str | None, action: str, note: str
) -> None:
    row.edits = [
        *(row.edits or []),
        {"at": utcnow().isoformat(), "by": str(actor.user_id), "section": section,
         "sentence": sentence, "action": action, "note": note[:500]},
    ]  # fmt: skip


def _store(session: Session, actor: Actor, row: Report, content: dict[str, Any]) -> Report:
    row.content = content
    row.rendered_text = render_text(content)
    row.scores = score(content)
    row.version += 1
    row.reviewed_at, row.reviewed_by = utcnow(), actor.user_id
    row.updated_at, row.updated_by = utcnow(), actor.user_id
    row.pii_key_id = pii.key_ring().current
    session.add(row)
    return row


def with_sections_from(current: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the sections ``fresh`` holds put in their place (regenerating one
    section keeps the doctor's work in the others)."""
    replaced = {s["id"]: s for s in fresh["sections"]}
    return {"sections": [replaced.get(s["id"], s) for s in current["sections"]]}


def copy_content(content: dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(content or {"sections": []}))  # type: ignore[no-any-return]


def change_sentence(
    session: Session,
    *,
    actor: Actor,
    report_id: str,
    version: int,
    section_id: str,
    sentence_id: str | None,
    action: str,
    text: str = "",
    note: str = "",
) -> Report:
    """One review step: ``edit`` a sentence's text, ``delete`` it, ``accept`` an unsupported
    sentence as it is (a note is required), or ``add`` the doctor's own sentence."""
    require(actor, "report:draft")
    row = _load(session, actor, report_id, for_update=True)
    _editable(row)
    _check_version(row, version)
    content = copy_content(row.content)
    section = next((s for s in content["sections"] if s["id"] == section_id), None)
    if section is None:
        raise NotFound("Section")
    text = " ".join(text.split())
    if action in ("edit", "add") and not text:
        raise AppError("VALIDATION", "Write the sentence, or delete it instead.")
    if len(text) > MAX_SENTENCE_CHARS:
        raise AppError("VALIDATION", f"A sentence has at most {MAX_SENTENCE_CHARS} characters.")
    if action == "add":
        sentence_id = f"{section_id}-d{uuid.uuid4().hex[:8]}"
        section["sentences"].append(
            {
                "id": sentence_id,
                "text": text,
                "evidence": [],
                "status": "edited",
                "reasons": [],
                "origin": "doctor",
            }
        )
    else:
        sentences = section["sentences"]
        index = next((i for i, x in enumerate(sentences) if x["id"] == sentence_id), None)
        if index is None:
            raise NotFound("Sentence")
        if action == "delete":
            sentences.pop(index)
        elif action == "edit":
            before = sentences[index]
            was = before.get("was", before["text"])
            sentences[index] = {**before, "text": text, "status": "edited", "was": was}
        elif action == "accept":
            if len(note.strip()) < 3:
                raise AppError("VALIDATION", "Say why the sentence is right as it is.")
            sentences[index] = {**sentences[index], "status": "accepted", "note": note.strip()}
        else:
            raise AppError("VALIDATION", f"Unknown review action '{action}'.")
    _log_edit(row, actor, section_id, sentence_id, action, note)
    audit.record_by(
        session,
        actor,
        f"report.sentence_{action}",
        entity_type="report",
        entity_id=row.id,
        after={"section": section_id, "sentence": sentence_id},
    )
    return _store(session, actor, row, content)


def set_section_text(
    session: Session, *, actor: Actor, report_id: str, version: int, section_id: str, text: str
) -> Report:
    """Replace a section with the doctor's own text; "- " lines are list items. Sentences
    whose text the doctor kept word for word keep their evidence and status."""
    require(actor, "report:draft")
    row = _load(session, actor, report_id, for_update=True)
    _editable(row)
    _check_version(row, version)
    content = copy_content(row.content)
    section = next((s for s in content["sections"] if s["id"] == section_id), None)
    if section is None:
        raise NotFound("Section")
    if len(text) > 20 * MAX_SENTENCE_CHARS:
        raise AppError("VALIDATION", "The section is too long.")
    old = {x["text"]: x for x in section["sentences"]}
    lines = [
        line.strip().removeprefix("- ").removeprefix("• ").strip() for line in text.splitlines()
    ]
    sentences = []
    for line in (line for line in lines if line):
        kept = old.get(line)
        sentences.append(
            kept
            if kept is not None
            else {
                "id": f"{section_id}-d{uuid.uuid4().hex[:8]}",
                "text": line,
                "evidence": [],
                "status": "edited",
                "reasons": [],
                "origin": "doctor",
            }
        )
    section["sentences"] = sentences
    _log_edit(row, actor, section_id, None, "rewrite", "")
    audit.record_by(
        session,
        actor,
        "report.section_rewrite",
        entity_type="report",
        entity_id=row.id,
        after={"section": section_id},
    )
    return _store(session, actor, row, content)


def blockers(content: dict[str, Any] | None) -> list[str]:
    """Why the report cannot be signed yet (empty: it can)."""
    found = []
    for section in (content or {}).get("sections") or []:
        if section.get("required") and not section.get("sentences"):
            found.append(f"{section['title']}: required, still empty")
        for sentence in section.get("sentences") or []:
            if sentence["status"] == "unsupported":
                found.append(f"{section['title']}: “{sentence['text'][:60]}” is unsupported")
    return found


def canonical(row: Report) -> bytes:
    """The signed content as canonical JSON: what the hash covers."""
    body = {
        "number": row.number,
        "version_number": row.version_number,
        "patient_id": str(row.patient_id),
        "doctor_user_id": str(row.doctor_user_id),
        "template_id": str(row.template_id),
        "report_type": row.report_type,
        "amends_id": str(row.amends_id) if row.amends_id else None,
        "sections": [
            {"id": s["id"], "title": s["title"],
             "sentences": [x["text"] for x in s.get("sentences") or []]}
            for s in (row.content or {}).get("sections") or []
        ],
    }  # fmt: skip
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(session: Session, *, actor: Actor, report_id: str, version: int) -> str:
    """Sign after a recent step-up; returns the content hash. Idempotent once signed."""
    require(actor, "report:sign")
    row = _load(session, actor, report_id, for_update=True)
    if row.status == "signed" and row.content_hash:
        return row.content_hash
    _editable(row)
    _check_version(row, version)
    reasons = blockers(row.content)
    if reasons:
        raise AppError(
            "REPORT_NOT_READY",
            "Review these before signing: " + "; ".join(reasons[:5]) + ".",
            {"blockers": reasons},
        )
    sessions.require_recent_step_up(session, session_id=actor.session_id)
    now = utcnow()
    row.status, row.signed_at, row.signed_by = "signed", now, actor.user_id
    row.content_hash = hashlib.sha256(canonical(row)).hexdigest()
    row.rendered_text = render_text(row.content or {})
    row.version += 1
    row.pii_key_id = pii.key_ring().current
    session.add(row)
    if row.amends_id:
        original = session.get(Report, row.amends_id)
        if original is not None:
            original.amended_by_id = row.id
            session.add(original)
    audit.record_by(
        session,
        actor,
        "report.sign",
        entity_type="report",
        entity_id=row.id,
        after={"hash": row.content_hash, "template_id": str(row.template_id)},
    )
    return row.content_hash


def amend(session: Session, *, actor: Actor, report_id: str, note: str) -> Report:
    """A correction of a signed report: a new editable report with its content, linked back."""
    require(actor, "report:draft")
    original = _load(session, actor, report_id, for_update=True)
    if original.status != "signed":
        raise AppError("REPORT_NOT_SIGNED", "Only a signed report is amended; edit the draft.")
    if original.amended_by_id is not None:
        raise AppError("REPORT_AMENDED", "This report already has an amendment; amend that one.")
    pending = session.exec(
        select(Report).where(Report.amends_id == original.id, Report.status != "signed")
    ).first()
    if pending is not None:
        return pending
    if len(note.strip()) < 3:
        raise AppError("VALIDATION", "Say what the amendment corrects.")
    row = Report(
        clinic_id=original.clinic_id,
        number=original.number,
        version_number=_next_version_number(session, original.session_id),
        session_id=original.session_id,
        patient_id=original.patient_id,
        doctor_user_id=original.doctor_user_id,
        encounter_id=original.encounter_id,
        template_id=original.template_id,
        transcription_id=original.transcription_id,
        report_type=original.report_type,
        status="completed",
        content=copy_content(original.content),
        draft_content=original.draft_content,
        rendered_text=original.rendered_text,
        engine=original.engine,
        model=original.model,
        prompt_version=original.prompt_version,
        scores=dict(original.scores),
        amends_id=original.id,
        correction_note=note.strip(),
        created_by=actor.user_id,
        pii_key_id=pii.key_ring().current,
    )
    session.add(row)
    session.flush()
    audit.record_by(
        session,
        actor,
        "report.amend",
        entity_type="report",
        entity_id=row.id,
        after={"amends": str(original.id)},
    )
    return row


def share_with_patient(session: Session, *, actor: Actor, report_id: str) -> None:
    require(actor, "report:sign")
    row = _load(session, actor, report_id, for_update=True)
    if row.status != "signed":
        raise AppError("REPORT_NOT_SIGNED", "Sign the report before sharing it.")
    if row.shared_with_patient_at is None:
        row.shared_with_patient_at = utcnow()
        session.add(row)
        audit.record_by(
            session,
            actor,
            "report.share_patient",
            entity_type="report",
            entity_id=row.id,
            after={"patient_id": str(row.patient_id)},
        )


# ---- views --------------------------------------------------------------------------------


def _local(session: Session, row: Report, moment: Any) -> str:
    """A time as the clinic reads it ("2026-12-01 10:02 CET")."""
    if moment is None:
        return ""
    clinic = session.get(Clinic, row.clinic_id)
    zone = ZoneInfo(clinic.timezone if clinic and clinic.timezone else "UTC")
    return f"{as_utc(moment).astimezone(zone):%Y-%m-%d %H:%M %Z}"


def as_view(session: Session, row: Report) -> dict[str, Any]:
    """Plain data for the review page and the portal (no ORM objects in state)."""
    template = session.get(ReportTemplate, row.template_id)
    content = row.content or {"sections": []}
    return {
        "id": str(row.id),
        "number": row.number,
        "version_number": row.version_number,
        "version": row.version,
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "error": row.error or "",
        "template": template.name if template else "",
        "template_version": template.template_version if template else 0,
        "report_type": row.report_type,
        "sections": content.get("sections") or [],
        "draft_sections": (row.draft_content or {}).get("sections") or [],
        "text": row.rendered_text or "",
        "scores": row.scores,
        "engine": row.engine,
        "model": row.model,
        "prompt_version": row.prompt_version,
        "timings": row.timings,
        "progress": row.progress,
        "blockers": blockers(row.content) if row.status == "completed" else [],
        "content_hash": row.content_hash or "",
        "signed_at": _local(session, row, row.signed_at),
        "amends_id": str(row.amends_id) if row.amends_id else "",
        "amended_by_id": str(row.amended_by_id) if row.amended_by_id else "",
        "correction_note": row.correction_note or "",
        "shared": row.shared_with_patient_at is not None,
        "docx_file_id": str(row.docx_file_id) if row.docx_file_id else "",
        "pdf_file_id": str(row.pdf_file_id) if row.pdf_file_id else "",
        "session_id": str(row.session_id),
        "patient_id": str(row.patient_id),
    }


def view(
    session: Session, *, actor: Actor, report_id: str, audit_read: bool = True
) -> dict[str, Any]:
    """One report with its transcript segments and patient (an audited PHI read; the page's
    own progress refreshes pass ``audit_read=False``)."""
    row = _load(session, actor, report_id)
    if audit_read:
        audit.record_by(session, actor, "report.view", entity_type="report", entity_id=row.id)
    data = as_view(session, row)
    transcript = session.get(Transcription, row.transcription_id) if row.transcription_id else None
    data["segments"] = [
        {"id": s.get("id", n), "speaker": s.get("speaker", ""), "text": s.get("text", ""),
         "start_ms": s.get("start_ms", 0)}
        for n, s in enumerate((transcript.segments if transcript else None) or [])
    ]  # fmt: skip
    patient = session.get(Patient, row.patient_id)
    data["patient_name"] = patient.display_name if patient else ""
    data["patient_mrn"] = patient.mrn if patient else ""
    data["mine"] = row.doctor_user_id == actor.user_id
    return data


def my_reports(session: Session, *, actor: Actor, limit: int = 50) -> list[dict[str, str]]:
    """The doctor's latest reports (a list: numbers and statuses, no content)."""
    require(actor, "report:read")
    rows = session.exec(
        select(Report, Patient)
        .join(Patient, col(Patient.id) == col(Report.patient_id))
        .where(Report.clinic_id == actor.clinic_id, Report.doctor_user_id == actor.user_id)
        .order_by(col(Report.updated_at).desc())
        .limit(limit)
    ).all()
    return [
        {"id": str(r.id), "number": f"{r.number} v{r.version_number}", "patient": p.display_name,
         "status": r.status, "status_label": STATUS_LABELS.get(r.status, r.status),
         "updated": r.updated_at.strftime("%Y-%m-%d %H:%M")}
        for r, p in rows
    ]  # fmt: skip


def document_link(session: Session, *, actor: Actor, report_id: str, kind: str) -> str:
    """A short-lived link to the exported DOCX/PDF (its doctor, clinical staff, or the patient
    it was shared with)."""
    from clinic_app.api.downloads import make_download_url

    if actor.role == "patient":
        require(actor, "portal:self")
        row = session.exec(
            select(Report).where(
                Report.id == parse_id(report_id, "Report"),
                Report.clinic_id == actor.clinic_id,
                Report.patient_id == actor.patient_id,
                Report.status == "signed",
                col(Report.shared_with_patient_at).is_not(None),
            )
        ).first()
        if row is None:
            raise NotFound("Report")
    else:
        row = _load(session, actor, report_id)
    file_id = row.pdf_file_id if kind == "pdf" else row.docx_file_id
    stored = session.get(StoredFile, file_id) if file_id else None
    if stored is None:
        raise AppError("DOCUMENT_NOT_READY", "The export is still being prepared; try again.")
    return make_download_url(stored, user_id=actor.user_id)


def for_session(session: Session, *, actor: Actor, session_id: str) -> list[dict[str, Any]]:
    """The session's reports, newest version first (no content: a list, not a read)."""
    require(actor, "report:read")
    consultation = _consultation(session, actor, session_id)
    rows = session.exec(
        select(Report)
        .where(Report.session_id == consultation.id)
        .order_by(col(Report.version_number).desc())
    ).all()
    return [
        {"id": str(r.id), "version_number": r.version_number, "status": r.status,
         "status_label": STATUS_LABELS.get(r.status, r.status),
         "signed_at": r.signed_at.isoformat() if r.signed_at else ""}
        for r in rows
    ]  # fmt: skip


def portal_reports(session: Session, *, actor: Actor) -> list[dict[str, Any]]:
    """Signed reports shared with the signed-in patient (their own only)."""
    require(actor, "portal:self")
    if actor.patient_id is None:
        return []
    rows = session.exec(
        select(Report)
        .where(
            Report.clinic_id == actor.clinic_id,
            Report.patient_id == actor.patient_id,
            Report.status == "signed",
            col(Report.shared_with_patient_at).is_not(None),
        )
        .order_by(col(Report.signed_at).desc())
    ).all()
    if rows:
        audit.record_by(
            session, actor, "portal.reports_view", entity_type="patient", entity_id=actor.patient_id
        )
    return [
        {"id": str(r.id), "number": r.number, "version_number": r.version_number,
         "signed_at": r.signed_at.isoformat() if r.signed_at else "",
         "text": r.rendered_text or "", "docx_file_id": str(r.docx_file_id or "")}
        for r in rows
    ]  # fmt: skip


# ---- export -------------------------------------------------------------------------------


def enqueue_export(session: Session, *, actor: Actor, report_id: str, pdf: bool = False) -> str:
    """Queue the DOCX (and, when asked, a PDF made from it) of a signed report; the job id."""
    row = _load(session, actor, report_id)
    if row.status != "signed":
        raise AppError("REPORT_NOT_SIGNED", "Sign the report before exporting it.")
    job = jobs.enqueue(
        session,
        kind=EXPORT_KIND,
        clinic_id=row.clinic_id,
        created_by=actor.user_id,
        params={"report_id": str(row.id), "pdf": bool(pdf)},
        entity_type="report",
        entity_id=row.id,
    )
    audit.record_by(session, actor, "report.export", entity_type="report", entity_id=row.id,
                    after={"pdf": bool(pdf)})  # fmt: skip
    return str(job.id)


def document_for(session: Session, row: Report) -> ReportDocument:
    """The printable form of a report: letterhead, patient and visit, sections, signature."""
    patient = session.get(Patient, row.patient_id)
    clinic = session.get(Clinic, row.clinic_id)
    template = session.get(ReportTemplate, row.template_id)
    consultation = session.get(ConsultationSession, row.session_id)
    assert patient is not None and clinic is not None and consultation is not None
    branch = session.exec(select(Branch).where(Branch.clinic_id == clinic.id)).first()
    doctor, registration = doctor_identity(session, row.clinic_id, row.doctor_user_id)
    zone = ZoneInfo(clinic.timezone or "UTC")
    name = template.name if template else ""
    started = as_utc(consultation.started_at).astimezone(zone)
    sections = [
        ReportSection(
            title=s["title"],
            kind=s.get("type", "text")
            if s.get("type") in ("text", "structured", "list")
            else "text",
            paragraphs=[x["text"] for x in s.get("sentences") or []],
            missing=bool(s.get("required")) and not s.get("sentences"),
        )
        for s in (row.content or {}).get("sections") or []
    ]
    signer = f"{doctor} ({registration})" if registration else doctor
    amends = None
    if row.amends_id:
        original = session.get(Report, row.amends_id)
        amends = f"Amends {original.number} v{original.version_number}" if original else None
    return ReportDocument(
        clinic_name=clinic.name,
        clinic_address=branch.address if branch else "",
        clinic_phone=branch.phone if branch else "",
        title=f"{REPORT_TITLES.get(row.report_type, 'Report')} — {name}",
        report_number=f"{row.number} v{row.version_number}",
        patient_name=patient.display_name,
        patient_mrn=patient.mrn,
        patient_dob=patient.birth_date.isoformat() if patient.birth_date else "",
        visit_line=f"{started:%d %b %Y %H:%M} · {doctor}" + (f" · {branch.name}" if branch else ""),
        sections=sections,
        status="signed" if row.status == "signed" else "draft",
        signed_by=signer if row.signed_at else None,
        signed_at=f"{as_utc(row.signed_at).astimezone(zone):%d %b %Y %H:%M %Z}"
        if row.signed_at
        else None,
        content_sha256=row.content_hash,
        template_line=f"Template: {template.name} v{template.template_version}" if template else "",
        amends=amends,
    )


REPORT_TITLES = {
    "consultation": "Consultation note", "followup": "Follow-up note",
    "diagnostic": "Diagnostic report", "treatment_plan": "Treatment plan",
    "discharge": "Discharge summary", "referral": "Referral letter",
}  # fmt: skip
