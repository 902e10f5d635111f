"""Report templates and the reports drafted from a consultation's transcript.

A template's ``sections`` is data: [{id, title, required, type: text|structured|list, prompt,
subsections: [...]}]. Editing a template that reports already used makes a new version (a new
row whose ``parent_id`` is the old one), so a signed report always names the exact version.

A report's ``content`` (encrypted) is {"sections": [{id, title, type, required, missing,
sentences: [{id, text, evidence: [{segment, start, end, utterance}], status, reasons,
origin}]}]}. Once signed a report never changes (a database trigger refuses it); a correction
is a new report (``amends_id``) with the next ``version_number``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from models.base import Editable, UTCDateTime, check_in, json_field, new_id
from models.encrypted import EncryptedJSON, EncryptedText

REPORT_TYPES = ("consultation", "followup", "diagnostic", "treatment_plan", "discharge", "referral")
REPORT_STATUSES = ("pending", "generating", "completed", "failed", "signed")
SENTENCE_STATUSES = ("supported", "unsupported", "accepted", "edited")


class ReportTemplate(Editable, table=True):
    __tablename__ = "report_templates"
    __table_args__ = (
        check_in("report_type", REPORT_TYPES, "ck_report_templates_type"),
        sa.UniqueConstraint(
            "clinic_id", "family_id", "template_version", name="uq_report_templates_version"
        ),
        sa.UniqueConstraint(
            "clinic_id", "builtin_key", "template_version", name="uq_report_templates_builtin"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    # Every version of one template shares its family id (the first version's id).
    family_id: uuid.UUID = Field(index=True)
    owner_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")  # None: clinic
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    report_type: str = Field(default="consultation", max_length=20)
    sections: list[dict[str, Any]] = json_field(default_factory=list)
    prompt: str = Field(default="", max_length=4000)
    builtin_key: str | None = Field(default=None, max_length=40)  # soap, general … (built-ins)
    is_default: bool = Field(default=False)
    is_active: bool = Field(default=True)
    is_public: bool = Field(default=True)  # shared with the clinic's other doctors
    template_version: int = Field(default=1)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="report_templates.id")
    usage_count: int = Field(default=0)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Report(Editable, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        check_in("status", REPORT_STATUSES, "ck_reports_status"),
        check_in("report_type", REPORT_TYPES, "ck_reports_type"),
        sa.UniqueConstraint(
            "clinic_id", "number", "version_number", name="uq_reports_number_version"
        ),
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_reports_idempotency"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    number: str = Field(max_length=24)  # the session's number: SESS-2026000123
    version_number: int = Field(default=1)
    session_id: uuid.UUID = Field(foreign_key="consultation_sessions.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    doctor_user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    template_id: uuid.UUID = Field(foreign_key="report_templates.id")
    transcription_id: uuid.UUID | None = Field(default=None, foreign_key="transcriptions.id")
    report_type: str = Field(default="consultation", max_length=20)
    status: str = Field(default="pending", max_length=12)
    idempotency_key: str | None = Field(default=None, max_length=80)
    content: dict[str, Any] | None = Field(default=None, sa_type=EncryptedJSON)
    draft_content: dict[str, Any] | None = Field(default=None, sa_type=EncryptedJSON)  # as drafted
    rendered_text: str | None = Field(default=None, sa_type=EncryptedText)
    engine: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=120)
    prompt_version: str = Field(default="", max_length=60)
    # {"started_at", "finished_at", "draft_ms", "sections": {id: ms}}
    timings: dict[str, Any] = json_field(default_factory=dict)
    # {"completeness": 0..1, "support": 0..1, "unsupported": n}
    scores: dict[str, Any] = json_field(default_factory=dict)
    progress: dict[str, Any] = json_field(default_factory=dict)  # {"done": n, "total": m}
    error: str | None = Field(default=None, max_length=500)
    # [{at, by, section, sentence, action: edit|delete|accept|add|regenerate, note}]
    edits: list[dict[str, Any]] | None = Field(default=None, sa_type=EncryptedJSON)
    correction_note: str | None = Field(default=None, sa_type=EncryptedText)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    content_hash: str | None = Field(default=None, max_length=64)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    amends_id: uuid.UUID | None = Field(default=None, foreign_key="reports.id")
    amended_by_id: uuid.UUID | None = Field(default=None, foreign_key="reports.id")
    shared_with_patient_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    docx_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    pdf_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    pii_key_id: str | None = Field(default=None, max_length=16)
