"""Drawing-annotated medical records and the form templates filled beside the drawing.

``drawing_data`` and ``form_data`` are JSON (JSONB with GIN indexes on PostgreSQL, so "records
with a circle" is one indexed query); they are the record's clinical content and stay
queryable, unlike the encrypted free-text columns elsewhere. Files (backgrounds, exports)
are ``files`` rows linked with a role in ``record_files``. A signed record never changes (a
trigger refuses it); an amendment is a new record linked to the old.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, UTCDateTime, check_in, json_field, new_id, utcnow
from models.encrypted import EncryptedText

RECORD_STATUSES = ("draft", "signed")
RECORD_FILE_ROLES = ("background", "attachment", "export")
FORM_FIELD_TYPES = ("text", "long_text", "number", "vitals", "select", "checkbox", "date")


class FormTemplate(Editable, table=True):
    """A clinic's structured form, as data: [{id, label, type, unit, options, required}]."""

    __tablename__ = "form_templates"
    __table_args__ = (
        sa.UniqueConstraint(
            "clinic_id", "family_id", "template_version", name="uq_form_templates_version"
        ),
        sa.UniqueConstraint(
            "clinic_id", "builtin_key", "template_version", name="uq_form_templates_builtin"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    family_id: uuid.UUID = Field(index=True)
    builtin_key: str | None = Field(default=None, max_length=40)
    name: str = Field(max_length=120)
    fields: list[dict[str, Any]] = json_field(default_factory=list)
    template_version: int = Field(default=1)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="form_templates.id")
    is_active: bool = Field(default=True)
    usage_count: int = Field(default=0)


class MedicalRecord(Editable, table=True):
    __tablename__ = "medical_records"
    __table_args__ = (
        check_in("status", RECORD_STATUSES, "ck_medical_records_status"),
        sa.UniqueConstraint(
            "clinic_id", "number", "version_number", name="uq_medical_records_number"
        ),
        sa.Index("ix_medical_records_drawing", "drawing_data", postgresql_using="gin"),
        sa.Index("ix_medical_records_form", "form_data", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    number: str = Field(max_length=24)  # REC-2026-00001
    version_number: int = Field(default=1)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    appointment_id: uuid.UUID | None = Field(default=None, foreign_key="appointments.id")
    author_user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    title: str = Field(default="Drawing", max_length=120)
    status: str = Field(default="draft", max_length=8)
    drawing_data: dict[str, Any] = json_field(default_factory=dict)
    form_template_id: uuid.UUID | None = Field(default=None, foreign_key="form_templates.id")
    form_data: dict[str, Any] = json_field(default_factory=dict)
    note: str | None = Field(default=None, sa_type=EncryptedText)
    content_hash: str | None = Field(default=None, max_length=64)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    amends_id: uuid.UUID | None = Field(default=None, foreign_key="medical_records.id")
    amended_by_id: uuid.UUID | None = Field(default=None, foreign_key="medical_records.id")
    image_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")  # PNG render
    thumbnail_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    docx_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")


class RecordFile(SQLModel, table=True):
    """A file of a record and what it is to the record."""

    __tablename__ = "record_files"
    __table_args__ = (
        check_in("role", RECORD_FILE_ROLES, "ck_record_files_role"),
        sa.UniqueConstraint("record_id", "file_id", "role", name="uq_record_files"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    record_id: uuid.UUID = Field(foreign_key="medical_records.id", index=True)
    file_id: uuid.UUID = Field(foreign_key="files.id")
    role: str = Field(max_length=12)
    page: int | None = Field(default=None)  # the PDF page a background was rendered from
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
