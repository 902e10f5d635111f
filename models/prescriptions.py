"""Medication catalog, prescriptions, and break-glass access grants.

A prescription's content (items, diagnosis, notes) is encrypted like other PHI. Once signed its
content is immutable: a database trigger refuses to change it (the migration installs it), and
``content_hash`` lets the verification page prove the printed copy matches the record.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, UTCDateTime, json_field, new_id, utcnow
from models.encrypted import EncryptedJSON, EncryptedText

PRESCRIPTION_STATUSES = ("draft", "signed", "dispensed", "completed", "cancelled", "superseded")
# Columns a signed prescription never changes (the trigger lists the same ones).
SIGNED_CONTENT_COLUMNS = (
    "number",
    "patient_id",
    "doctor_user_id",
    "encounter_id",
    "items",
    "diagnosis",
    "pharmacist_notes",
    "acknowledgements",
    "content_hash",
    "signed_at",
    "signed_by",
    "supersedes_id",
)


class Medication(Editable, table=True):
    """One catalog product. ``clinic_id`` is empty for the shared starter catalog."""

    __tablename__ = "medications"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID | None = Field(default=None, foreign_key="clinics.id", index=True)
    generic_name: str = Field(max_length=160)
    brand_names: list[str] = json_field(default_factory=list)
    strength: str = Field(default="", max_length=80)
    form: str = Field(max_length=60)
    route: str = Field(max_length=40)
    ingredients: list[str] = json_field(default_factory=list)
    drug_classes: list[str] = json_field(default_factory=list)
    rxcui: str | None = Field(default=None, max_length=16)
    max_daily_dose: float | None = Field(default=None)
    max_daily_unit: str | None = Field(default=None, max_length=16)
    # Lower-case generic name, brands, ingredients and classes: what type-ahead matches.
    search_text: str = Field(default="", max_length=1000)
    source: str = Field(default="starter", max_length=16)  # starter | local | import
    is_active: bool = Field(default=True)


class StarterCatalogLoad(SQLModel, table=True):
    """Which version (SHA-256) of the shipped starter catalog this installation has loaded."""

    __tablename__ = "starter_catalog_loads"

    sha256: str = Field(primary_key=True, max_length=64)
    rows: int
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Prescription(Editable, table=True):
    __tablename__ = "prescriptions"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in PRESCRIPTION_STATUSES) + ")",
            name="ck_prescriptions_status",
        ),
        sa.UniqueConstraint("clinic_id", "number", name="uq_prescriptions_number"),
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_prescriptions_idempotency"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    number: str = Field(max_length=24)  # RX-2026-00001
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    doctor_user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    status: str = Field(default="draft", max_length=12)
    idempotency_key: str | None = Field(default=None, max_length=80)
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=EncryptedJSON)
    diagnosis: str | None = Field(default=None, sa_type=EncryptedText)
    pharmacist_notes: str | None = Field(default=None, sa_type=EncryptedText)
    # Safety warnings the doctor acknowledged at signing: [{code, item, message, reason}].
    acknowledgements: list[dict[str, Any]] = Field(default_factory=list, sa_type=EncryptedJSON)
    content_hash: str | None = Field(default=None, max_length=64)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    dispensed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispensed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, sa_type=EncryptedText)
    supersedes_id: uuid.UUID | None = Field(default=None, foreign_key="prescriptions.id")
    superseded_by_id: uuid.UUID | None = Field(default=None, foreign_key="prescriptions.id")
    # The printable copies, made by a worker after signing.
    pdf_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    docx_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    # Key id of the encrypted columns: content may change with it only (``clinic rekey``).
    pii_key_id: str | None = Field(default=None, max_length=16)


class AccessGrant(SQLModel, table=True):
    """Break-glass: a clinician without a care relationship opened a patient's prescriptions."""

    __tablename__ = "access_grants"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    scope: str = Field(default="prescriptions", max_length=32)
    reason: str = Field(sa_type=EncryptedText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
