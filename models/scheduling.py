"""Providers (doctors, rooms) and appointments."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from models.base import Editable, UTCDateTime, new_id

APPOINTMENT_STATUSES = (
    "scheduled",
    "confirmed",
    "arrived",
    "ready",
    "in_consultation",
    "completed",
    "cancelled",
    "no_show",
)


class Provider(Editable, table=True):
    __tablename__ = "providers"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    display_name: str = Field(max_length=200)
    specialty: str | None = Field(default=None, max_length=120)
    color: str = Field(default="#3b82f6", max_length=16)
    is_active: bool = Field(default=True)


class Appointment(Editable, table=True):
    __tablename__ = "appointments"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_positive_length"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in APPOINTMENT_STATUSES) + ")",
            name="ck_appointments_status",
        ),
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_appointments_idempotency"),
        sa.Index("ix_appointments_provider_start", "provider_id", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    provider_id: uuid.UUID = Field(foreign_key="providers.id")
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="scheduled", max_length=20)
    visit_type: str = Field(default="consultation", max_length=60)
    notes: str | None = Field(default=None)
    idempotency_key: str | None = Field(default=None, max_length=80)
