"""The AI scribe: consultation sessions, their audio chunks, and transcriptions.

Audio bytes live in Storage; rows hold checksums and keys. Chief complaint, notes, transcript
text and segments are encrypted like other PHI.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, UTCDateTime, check_in, json_field, new_id, utcnow
from models.encrypted import EncryptedJSON, EncryptedText

SESSION_STATUSES = ("in_progress", "paused", "completed", "cancelled", "error")
CONSENT_METHODS = ("verbal", "written", "portal")
TRANSCRIPTION_STATUSES = ("pending", "processing", "completed", "failed")


class ConsultationSession(Editable, table=True):
    __tablename__ = "consultation_sessions"
    __table_args__ = (
        check_in("status", SESSION_STATUSES, "ck_consultation_sessions_status"),
        sa.UniqueConstraint("clinic_id", "number", name="uq_consultation_sessions_number"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    number: str = Field(max_length=24)  # SESS-2026000123
    doctor_user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    appointment_id: uuid.UUID | None = Field(default=None, foreign_key="appointments.id")
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    status: str = Field(default="in_progress", max_length=12)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: int | None = Field(default=None)
    # Consent to record: who recorded it, when and how (recording refuses chunks without it).
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    consent_method: str | None = Field(default=None, max_length=12)
    chief_complaint: str | None = Field(default=None, sa_type=EncryptedText)
    notes: str | None = Field(default=None, sa_type=EncryptedText)
    # {"chunk_ms": 3000, "mime": "audio/webm;codecs=opus", "source": "capture" | "upload"}
    recording: dict[str, Any] = json_field(default_factory=dict)
    recording_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")


class AudioChunk(SQLModel, table=True):
    """One piece of a recording as the browser sent it (stored once, checked by SHA-256)."""

    __tablename__ = "audio_chunks"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_audio_chunks_seq"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    session_id: uuid.UUID = Field(foreign_key="consultation_sessions.id", index=True)
    seq: int
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=400)
    mime: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Transcription(SQLModel, table=True):
    """One transcription attempt of a session's recording (retries add rows)."""

    __tablename__ = "transcriptions"
    __table_args__ = (check_in("status", TRANSCRIPTION_STATUSES, "ck_transcriptions_status"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    session_id: uuid.UUID = Field(foreign_key="consultation_sessions.id", index=True)
    status: str = Field(default="pending", max_length=12)
    engine: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=80)
    language: str = Field(default="", max_length=16)
    # [{"id": 0, "start_ms", "end_ms", "text", "speaker", "confidence", "words": [...]}, …]
    segments: list[dict[str, Any]] = Field(default_factory=list, sa_type=EncryptedJSON)
    text: str | None = Field(default=None, sa_type=EncryptedText)
    original_text: str | None = Field(default=None, sa_type=EncryptedText)  # never overwritten
    # Each edit: {"segment", "before", "after", "note", "by", "at"}; the segments hold the result.
    corrections: list[dict[str, Any]] | None = Field(
        default_factory=list, sa_type=EncryptedJSON, nullable=True
    )
    manually_corrected: bool = Field(default=False)
    # The running transcript made while recording (replaced by the final pass at "Stop").
    is_live: bool = Field(default=False)
    live_ms: int = Field(default=0)  # audio transcribed so far
    confidence: float | None = Field(default=None)
    word_count: int = Field(default=0)
    char_count: int = Field(default=0)
    audio_ms: int | None = Field(default=None)
    processing_ms: int | None = Field(default=None)
    retry_count: int = Field(default=0)
    error: str | None = Field(default=None, max_length=500)
    job_id: uuid.UUID | None = Field(default=None, foreign_key="jobs.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
