"""The AI scribe, part 1: consultation sessions, consent, audio chunks, transcription jobs.

The browser keeps every audio chunk in IndexedDB until the server confirms it
(``assets/scribe_recorder.js``); the server stores each ``(session, seq)`` once, checked by
SHA-256, so retries and duplicates are harmless. "Finish" checks that every chunk from 0 to N-1
arrived, then queues the transcription job, which joins the chunks into one recording, decodes
it, and writes a ``transcriptions`` row (text and segments encrypted).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from clinic_app import audit, jobs
from clinic_app.ai.vocabulary import SpeechContext
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services import medication_catalog
from clinic_app.services.chart import open_encounter_id, start_encounter
from clinic_app.services.numbering import next_number
from clinic_app.services.scheduling import apply_transition
from clinic_app.settings import get_settings
from clinic_app.storage import get_storage
from models import (
    CONSENT_METHODS,
    Allergy,
    Appointment,
    AudioChunk,
    ConsultationSession,
    Job,
    Patient,
    PatientMedication,
    Transcription,
)
from models.base import utcnow

TRANSCRIBE_KIND = "scribe_transcribe"
LIVE_KIND = "scribe_live"
# A live pass every 3 chunks (about 9 s of audio): the running transcript trails by ≤ ~10 s.
LIVE_EVERY_CHUNKS = 3
MAX_CHUNK_BYTES = 8 * 1024 * 1024
STATUS_LABELS = {
    "in_progress": "Recording",
    "paused": "Paused",
    "completed": "Finished",
    "cancelled": "Cancelled",
    "error": "Error",
}


@dataclass(frozen=True)
class ChunkReceipt:
    seq: int
    duplicate: bool


def _load(session: Session, actor: Actor, session_id: str | uuid.UUID) -> ConsultationSession:
    """A session of the actor's clinic that the actor runs (the recording doctor)."""
    row = session.exec(
        select(ConsultationSession).where(
            ConsultationSession.id == parse_id(session_id, "Session"),
            ConsultationSession.clinic_id == actor.clinic_id,
        )
    ).first()
    if row is None or row.doctor_user_id != actor.user_id:
        raise NotFound("Session")
    return row


def _next_number(session: Session, clinic_id: uuid.UUID, year: int) -> str:
    return next_number(
        session,
        column=ConsultationSession.number,
        clinic_column=ConsultationSession.clinic_id,
        clinic_id=clinic_id,
        prefix=f"SESS-{year}",
        digits=6,
    )


def start_session(
    session: Session,
    *,
    actor: Actor,
    patient_id: str = "",
    appointment_id: str = "",
) -> uuid.UUID:
    """Open (or reopen) the doctor's session for an appointment, or a walk-in for a patient."""
    require(actor, "scribe:record")
    appointment = None
    if appointment_id:
        appointment = session.exec(
            select(Appointment).where(
                Appointment.id == parse_id(appointment_id, "Appointment"),
                Appointment.clinic_id == actor.clinic_id,
            )
        ).first()
        if appointment is None:
            raise NotFound("Appointment")
        existing = session.exec(
            select(ConsultationSession).where(
                ConsultationSession.appointment_id == appointment.id,
                ConsultationSession.doctor_user_id == actor.user_id,
                col(ConsultationSession.status).in_(("in_progress", "paused")),
            )
        ).first()
        if existing is not None:
            return existing.id
        if appointment.status in ("arrived", "ready"):
            # Starting the scribe starts the consultation (and opens its encounter).
            apply_transition(
                session, appointment, to_status="in_consultation", actor_user_id=actor.user_id
            )
        pid = appointment.patient_id
    else:
        pid = parse_id(patient_id, "Patient")
    patient = session.exec(
        select(Patient).where(Patient.id == pid, Patient.clinic_id == actor.clinic_id)
    ).first()
    if patient is None or patient.deleted_at is not None:
        raise NotFound("Patient")
    encounter_id = open_encounter_id(session, actor, patient.id) or start_encounter(
        session, actor=actor, patient_id=patient.id, reason="Consultation"
    )
    row = ConsultationSession(
        clinic_id=actor.clinic_id,
        number=_next_number(session, actor.clinic_id, utcnow().year),
        doctor_user_id=actor.user_id,
        patient_id=patient.id,
        appointment_id=appointment.id if appointment else None,
        encounter_id=encounter_id,
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record_by(
        session, actor, "scribe.session_start", entity_type="consultation_session", entity_id=row.id
    )
    return row.id


def record_consent(
    session: Session, *, actor: Actor, session_id: str, method: str, chief_complaint: str = ""
) -> None:
    """The patient agreed to be recorded (recording refuses audio until this is on the row)."""
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    if method not in CONSENT_METHODS:
        raise AppError("VALIDATION", "Say how the patient consented (verbal, written or portal).")
    if row.status not in ("in_progress", "paused"):
        raise AppError("SESSION_CLOSED", "This session is finished.")
    row.consent_at, row.consent_by, row.consent_method = utcnow(), actor.user_id, method
    row.chief_complaint = " ".join(chief_complaint.split())[:300] or row.chief_complaint
    row.version += 1
    session.add(row)
    audit.record_by(
        session,
        actor,
        "scribe.consent",
        entity_type="consultation_session",
        entity_id=row.id,
        after={"method": method},
    )


def _chunk_key(row: ConsultationSession, seq: int) -> str:
    return f"scribe/{row.id}/chunks/{seq:06d}"


def put_chunk(
    session: Session,
    *,
    actor: Actor,
    session_id: str,
    seq: int,
    data: bytes,
    sha256: str,
    mime: str = "",
) -> ChunkReceipt:
    """Store one chunk once: a repeat with the same checksum is accepted, a mismatch refused."""
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    if row.consent_at is None:
        raise AppError("CONSENT_REQUIRED", "Record the patient's consent before recording.")
    if not 0 <= seq < 100_000:
        raise AppError("VALIDATION", "Chunk number out of range.")
    if not data:
        raise AppError("CHUNK_EMPTY", "The chunk is empty.")
    if len(data) > MAX_CHUNK_BYTES:
        raise AppError("CHUNK_SIZE", "Audio chunks are at most 8 MiB.")
    actual = hashlib.sha256(data).hexdigest()
    if actual != (sha256 or "").strip().lower():
        raise AppError(
            "CHUNK_CHECKSUM", "The chunk arrived damaged (checksum mismatch); it will be re-sent."
        )
    existing = session.exec(
        select(AudioChunk).where(AudioChunk.session_id == row.id, AudioChunk.seq == seq)
    ).first()
    if existing is not None:
        if existing.sha256 != actual:
            raise AppError(
                "CHUNK_CONFLICT", f"Chunk {seq} was already stored with different content."
            )
        return ChunkReceipt(seq, duplicate=True)
    if row.status not in ("in_progress", "paused"):
        raise AppError("SESSION_CLOSED", "This session is finished; no more audio is accepted.")
    total = session.exec(
        select(func.coalesce(func.sum(AudioChunk.size), 0)).where(AudioChunk.session_id == row.id)
    ).one()
    if int(total) + len(data) > get_settings().scribe_upload_max_mb * 1024 * 1024:
        raise AppError("RECORDING_TOO_LONG", "The recording is larger than the clinic allows.")
    key = _chunk_key(row, seq)
    get_storage().put(key, data, mime or "application/octet-stream")
    session.add(
        AudioChunk(
            clinic_id=row.clinic_id,
            session_id=row.id,
            seq=seq,
            size=len(data),
            sha256=actual,
            storage_key=key,
            mime=mime[:80],
        )
    )
    session.flush()
    if row.status == "in_progress" and (seq + 1) % LIVE_EVERY_CHUNKS == 0:
        _queue_live(session, row)
    return ChunkReceipt(seq, duplicate=False)


def _queue_live(session: Session, row: ConsultationSession) -> None:
    """Transcribe what has arrived so far, unless a live pass for this session is waiting."""
    waiting = session.exec(
        select(Job.id).where(
            Job.kind == LIVE_KIND,
            Job.entity_id == str(row.id),
            col(Job.status).in_(("queued", "running")),
        )
    ).first()
    if waiting is None:
        jobs.enqueue(
            session,
            kind=LIVE_KIND,
            clinic_id=row.clinic_id,
            created_by=row.doctor_user_id,
            params={"session_id": str(row.id)},
            entity_type="consultation_session",
            entity_id=row.id,
        )


def received(session: Session, *, actor: Actor, session_id: str) -> dict[str, Any]:
    """Which chunks the server has, so a reopened tab sends only the rest."""
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    seqs = session.exec(
        select(AudioChunk.seq).where(AudioChunk.session_id == row.id).order_by(col(AudioChunk.seq))
    ).all()
    return {"received": list(seqs), "status": row.status}


def set_paused(session: Session, *, actor: Actor, session_id: str, paused: bool) -> None:
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    if row.status not in ("in_progress", "paused"):
        raise AppError("SESSION_CLOSED", "This session is finished.")
    row.status = "paused" if paused else "in_progress"
    session.add(row)


def finish(
    session: Session,
    *,
    actor: Actor,
    session_id: str,
    chunks: int,
    source: str = "capture",
    filename: str = "",
) -> uuid.UUID:
    """All chunks 0..N-1 are here: close the recording and queue its transcription."""
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    if row.status == "completed" and row.recording.get("chunks") == chunks:
        latest = _latest_transcription(session, row.id)
        if latest is not None:
            return latest.id  # a repeated "finish" (retry, second tab) changes nothing
    if row.status not in ("in_progress", "paused", "completed", "error"):
        raise AppError("SESSION_CLOSED", "This session was cancelled.")
    seqs = set(session.exec(select(AudioChunk.seq).where(AudioChunk.session_id == row.id)).all())
    if chunks < 1:
        raise AppError("NO_AUDIO", "Nothing was recorded.")
    missing = sorted(set(range(chunks)) - seqs)
    if missing:
        raise AppError(
            "CHUNKS_MISSING",
            f"{len(missing)} audio chunk(s) have not arrived yet; they are sent when online.",
            {"missing": missing[:50]},
        )
    now = utcnow()
    row.status = "completed"
    row.ended_at = row.ended_at or now
    row.recording = {**row.recording, "chunks": chunks, "source": source,
                     "filename": filename[:200]}  # fmt: skip
    row.version += 1
    session.add(row)
    return queue_transcription(session, actor=actor, row=row)


def queue_transcription(session: Session, *, actor: Actor, row: ConsultationSession) -> uuid.UUID:
    retries = session.exec(
        select(func.count())
        .select_from(Transcription)
        .where(Transcription.session_id == row.id, col(Transcription.is_live).is_(False))
    ).one()
    settings = get_settings()
    transcription = Transcription(
        clinic_id=row.clinic_id,
        session_id=row.id,
        engine=settings.speech_engine,
        language=settings.speech_language,
        retry_count=int(retries),
    )
    session.add(transcription)
    session.flush()
    job = jobs.enqueue(
        session,
        kind=TRANSCRIBE_KIND,
        clinic_id=row.clinic_id,
        created_by=actor.user_id,
        params={"transcription_id": str(transcription.id)},
        entity_type="consultation_session",
        entity_id=row.id,
    )
    transcription.job_id = job.id
    session.add(transcription)
    audit.record_by(
        session,
        actor,
        "scribe.transcribe",
        entity_type="consultation_session",
        entity_id=row.id,
        after={"transcription": str(transcription.id), "retry": int(retries)},
    )
    return transcription.id


def retry_transcription(session: Session, *, actor: Actor, session_id: str) -> uuid.UUID:
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    if row.status not in ("completed", "error") or not row.recording.get("chunks"):
        raise AppError("NO_AUDIO", "There is no finished recording to transcribe.")
    return queue_transcription(session, actor=actor, row=row)


def _latest_transcription(
    session: Session, session_id: uuid.UUID, *, live: bool = False
) -> Transcription | None:
    """The newest final transcript (or, with ``live``, the running one made while recording)."""
    return session.exec(
        select(Transcription)
        .where(Transcription.session_id == session_id, Transcription.is_live == live)
        .order_by(col(Transcription.created_at).desc())
    ).first()


def speech_context(session: Session, *, row: ConsultationSession) -> SpeechContext:
    """Words the engine should expect (context biasing): the patient's medicines and allergies,
    then the catalog's generics with the most products first, as a stand-in for "commonly
    prescribed"."""
    meds = session.exec(
        select(PatientMedication).where(
            PatientMedication.patient_id == row.patient_id,
            PatientMedication.status == "active",
            col(PatientMedication.deleted_at).is_(None),
        )
    ).all()
    allergies = session.exec(
        select(Allergy).where(
            Allergy.patient_id == row.patient_id, col(Allergy.deleted_at).is_(None)
        )
    ).all()
    common = medication_catalog.common_generics(session, clinic_id=row.clinic_id, limit=80)
    return SpeechContext(
        medications=[m.name for m in meds],
        allergies=[a.substance for a in allergies],
        common=common,
    )


# ---- views ---------------------------------------------------------------------------------


def view(
    session: Session, *, actor: Actor, session_id: str, audit_read: bool = True
) -> dict[str, Any]:
    """The scribe page's data for one session (an audited PHI read; the page's own progress
    polling passes ``audit_read=False``: opening the page was the read)."""
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    patient = session.get(Patient, row.patient_id)
    assert patient is not None
    transcription = _latest_transcription(session, row.id)
    live = _latest_transcription(session, row.id, live=True) if transcription is None else None
    job = None
    if transcription is not None and transcription.job_id is not None:
        job = jobs.job_view(
            jobs.get_job(session, job_id=transcription.job_id, clinic_id=row.clinic_id)
        )
    chunks = session.exec(
        select(func.count()).select_from(AudioChunk).where(AudioChunk.session_id == row.id)
    ).one()
    if audit_read:
        audit.record_by(
            session,
            actor,
            "scribe.session_read",
            entity_type="consultation_session",
            entity_id=row.id,
        )
    return {
        "id": str(row.id),
        "number": row.number,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "patient_id": str(patient.id),
        "patient_name": patient.display_name,
        "patient_mrn": patient.mrn,
        "consented": row.consent_at is not None,
        "consent_method": row.consent_method or "",
        "chief_complaint": row.chief_complaint or "",
        "chunks": int(chunks),
        "transcription_status": transcription.status if transcription else "",
        "transcription_error": (transcription.error or "") if transcription else "",
        "job_progress": int(job["progress"]) if job else 0,
        "job_message": str(job["message"] or "") if job else "",
        "segments": [
            {
                "n": str(n),
                "start": _clock(int(s["start_ms"])),
                "start_ms": str(s["start_ms"]),
                "end_ms": str(s["end_ms"]),
                "speaker": s.get("speaker", ""),
                "text": s["text"],
                "corrected": "yes" if s.get("corrected") else "",
            }
            for n, s in enumerate(transcription.segments if transcription else [])
        ],
        "corrections": len(transcription.corrections or []) if transcription else 0,
        "live": [
            {"start": _clock(int(s["start_ms"])), "text": s["text"]}
            for s in (live.segments if live else [])
        ],
        "has_recording": row.recording_file_id is not None,
        "audio_ms": (transcription.audio_ms or 0) if transcription else 0,
        "audio_length": _clock((transcription.audio_ms or 0) if transcription else 0),
    }


def _clock(ms: int) -> str:
    return f"{ms // 60000}:{ms // 1000 % 60:02d}"


def my_sessions(session: Session, *, actor: Actor, limit: int = 20) -> list[dict[str, str]]:
    require(actor, "scribe:record")
    rows = session.exec(
        select(ConsultationSession, Patient)
        .join(Patient, col(Patient.id) == col(ConsultationSession.patient_id))
        .where(
            ConsultationSession.clinic_id == actor.clinic_id,
            ConsultationSession.doctor_user_id == actor.user_id,
        )
        .order_by(col(ConsultationSession.started_at).desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": str(row.id),
            "number": row.number,
            "patient": f"{patient.display_name} ({patient.mrn})",
            "status_label": STATUS_LABELS[row.status],
            "started": row.started_at.strftime("%Y-%m-%d %H:%M"),
        }
        for row, patient in rows
    ]


# ---- the transcript editor -----------------------------------------------------------------


def _editable_transcription(session: Session, actor: Actor, session_id: str) -> Transcription:
    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    transcription = _latest_transcription(session, row.id)
    if transcription is None or transcription.status != "completed":
        raise AppError("NO_TRANSCRIPT", "There is no finished transcript to edit yet.")
    return transcription


def edit_segment(
    session: Session, *, actor: Actor, session_id: str, segment: int, text: str, note: str = ""
) -> None:
    """Correct one segment's text; the correction is kept (who, when, before, after, note)."""
    transcription = _editable_transcription(session, actor, session_id)
    new_text = " ".join((text or "").split())
    if not new_text:
        raise AppError("VALIDATION", "A segment cannot be empty; write what was said.")
    if len(new_text) > 5000:
        raise AppError("VALIDATION", "A segment is at most 5,000 characters.")
    segments = [dict(s) for s in transcription.segments]
    if not 0 <= segment < len(segments):
        raise AppError("VALIDATION", "That segment is no longer in the transcript.")
    before = segments[segment]["text"]
    if before == new_text:
        return
    segments[segment]["text"] = new_text
    segments[segment]["corrected"] = True
    transcription.segments = segments
    transcription.text = " ".join(s["text"] for s in segments)
    transcription.word_count = len(transcription.text.split())
    transcription.char_count = len(transcription.text)
    transcription.corrections = [
        *(transcription.corrections or []),
        {
            "segment": segment,
            "before": before,
            "after": new_text,
            "note": " ".join((note or "").split())[:300],
            "by": str(actor.user_id),
            "at": utcnow().isoformat(timespec="seconds"),
        },
    ]
    transcription.manually_corrected = True
    session.add(transcription)
    audit.record_by(
        session,
        actor,
        "scribe.transcript_edit",
        entity_type="transcription",
        entity_id=transcription.id,
        after={"segment": segment},
    )


def set_speaker(
    session: Session, *, actor: Actor, session_id: str, speaker: str, name: str, segment: int = -1
) -> None:
    """Rename a speaker everywhere (``segment`` -1), or give one segment another speaker."""
    transcription = _editable_transcription(session, actor, session_id)
    label = " ".join((name or "").split())[:40]
    if not label:
        raise AppError("VALIDATION", "Give the speaker a name, e.g. Doctor or Patient.")
    segments = [dict(s) for s in transcription.segments]
    if segment >= 0:
        if segment >= len(segments):
            raise AppError("VALIDATION", "That segment is no longer in the transcript.")
        segments[segment]["speaker"] = label
    else:
        for item in segments:
            if item.get("speaker") == speaker:
                item["speaker"] = label
    transcription.segments = segments
    transcription.manually_corrected = True
    session.add(transcription)
    audit.record_by(
        session,
        actor,
        "scribe.speaker_edit",
        entity_type="transcription",
        entity_id=transcription.id,
        after={"segment": segment},
    )


def recording_link(session: Session, *, actor: Actor, session_id: str) -> str:
    """A short-lived link to the assembled recording (the download route audits each play)."""
    from clinic_app.api.downloads import make_download_url
    from models import StoredFile

    require(actor, "scribe:record")
    row = _load(session, actor, session_id)
    stored = session.get(StoredFile, row.recording_file_id) if row.recording_file_id else None
    if stored is None:
        raise AppError("NO_AUDIO", "The recording is not ready yet.")
    audit.record_by(
        session, actor, "scribe.audio_play", entity_type="consultation_session", entity_id=row.id
    )
    return make_download_url(stored, user_id=actor.user_id)


def purge_raw_chunks(session: Session, *, now: datetime | None = None) -> int:
    """Delete raw chunks of verified recordings older than the retention (scheduling tick).

    Only sessions whose joined recording was stored and checked against the chunks qualify;
    everything else keeps its chunks, so nothing is ever lost before it is safe elsewhere.
    """
    days = get_settings().scribe_chunk_retention_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    candidates = session.exec(
        select(ConsultationSession).where(
            col(ConsultationSession.recording_file_id).is_not(None),
            col(ConsultationSession.ended_at) <= cutoff,
        )
    ).all()
    storage = get_storage()
    removed = 0
    for row in candidates:
        if not row.recording.get("verified"):
            continue
        chunks = session.exec(select(AudioChunk).where(AudioChunk.session_id == row.id)).all()
        for chunk in chunks:
            storage.delete(chunk.storage_key)
            session.delete(chunk)
            removed += 1
    session.flush()
    return removed
