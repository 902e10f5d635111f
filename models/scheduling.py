"""Providers (doctors, rooms), visit types, availability, appointments and their history."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, UTCDateTime, new_id, utcnow

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
ACTIVE_APPOINTMENT_STATUSES = (
    "scheduled",
    "confirmed",
    "arrived",
    "ready",
    "in_consultation",
    "completed",
)
"""Statuses that occupy the provider's time (cancelled and no-show free the slot)."""

PROVIDER_KINDS = ("doctor", "room")
EXCEPTION_KINDS = ("leave", "holiday", "blocked", "extra")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Provider(Editable, table=True):
    __tablename__ = "providers"
    __table_args__ = (sa.CheckConstraint(_in("kind", PROVIDER_KINDS), name="ck_providers_kind"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    display_name: str = Field(max_length=200)
    specialty: str | None = Field(default=None, max_length=120)
    color: str = Field(default="#3b82f6", max_length=16)
    is_active: bool = Field(default=True)
    kind: str = Field(
        default="doctor", max_length=16, sa_column_kwargs={"server_default": "doctor"}
    )
    branch: str = Field(default="Main", max_length=80, sa_column_kwargs={"server_default": "Main"})


class VisitType(Editable, table=True):
    """What is booked (consultation, follow-up…) and how long a slot of it lasts."""

    __tablename__ = "visit_types"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "code", name="uq_visit_types_clinic_code"),
        sa.CheckConstraint(
            "duration_minutes > 0 AND duration_minutes <= 480", name="ck_visit_types_duration"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    code: str = Field(max_length=60)
    name: str = Field(max_length=120)
    duration_minutes: int = Field(default=20)
    color: str = Field(default="#0d9488", max_length=16)
    portal_bookable: bool = Field(default=False)
    is_active: bool = Field(default=True)


class AvailabilityTemplate(Editable, table=True):
    """Weekly working hours of a provider, in the clinic's local time.

    ``end_time <= start_time`` means the session runs past midnight into the next day.
    """

    __tablename__ = "availability_templates"
    __table_args__ = (
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="ck_availability_weekday"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    provider_id: uuid.UUID = Field(foreign_key="providers.id", index=True)
    weekday: int = Field(description="0 = Monday … 6 = Sunday")
    start_time: time
    end_time: time
    valid_from: date | None = Field(default=None)
    valid_until: date | None = Field(default=None)


class AvailabilityException(Editable, table=True):
    """Leave, holidays and blocked hours (remove time) or extra sessions (add time).

    ``provider_id`` NULL means the whole clinic (a public holiday).
    """

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ck_availability_exceptions_length"),
        sa.CheckConstraint(_in("kind", EXCEPTION_KINDS), name="ck_availability_exceptions_kind"),
        sa.Index("ix_availability_exceptions_clinic_start", "clinic_id", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id")
    provider_id: uuid.UUID | None = Field(default=None, foreign_key="providers.id")
    kind: str = Field(max_length=16)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=200)


class SchedulingPolicy(Editable, table=True):
    """Per-clinic rules: reminder offsets, the nightly no-show rule, portal self-booking."""

    __tablename__ = "scheduling_policies"

    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", primary_key=True)
    reminder_offsets_hours: str = Field(default="24,2", max_length=60)
    reminder_channel: str = Field(default="sms", max_length=16)
    no_show_enabled: bool = Field(default=True)
    no_show_include_confirmed: bool = Field(default=False)
    portal_booking_enabled: bool = Field(default=False)
    portal_booking_horizon_days: int = Field(default=60)


MAX_APPOINTMENT_HOURS = 12
"""Longest appointment. Migration 0019 adds a per-dialect CHECK for it, so time-range queries
may bound ``starts_at`` from below (``starts_at > lo - 12 h``) and stay on the index."""


class Appointment(Editable, table=True):
    __tablename__ = "appointments"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_positive_length"),
        sa.CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="ck_appointments_status"),
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_appointments_idempotency"),
        sa.Index("ix_appointments_provider_start", "provider_id", "starts_at"),
        sa.Index("ix_appointments_clinic_start", "clinic_id", "starts_at"),
    )
    # PostgreSQL also has the exclusion constraint ``ex_appointments_no_overlap`` (revision
    # 0004_scheduling): no two active appointments of one provider overlap.

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
    booked_via: str = Field(
        default="staff", max_length=16, sa_column_kwargs={"server_default": "staff"}
    )
    cancel_reason: str | None = Field(default=None, max_length=300)
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    arrived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AppointmentEvent(SQLModel, table=True):
    """History of an appointment: booking, every transition, every move (never edited)."""

    __tablename__ = "appointment_events"
    __table_args__ = (
        sa.UniqueConstraint(
            "appointment_id", "idempotency_key", name="uq_appointment_events_idempotency"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    appointment_id: uuid.UUID = Field(foreign_key="appointments.id", index=True)
    action: str = Field(max_length=20)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    old_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    old_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=300)
    actor_user_id: uuid.UUID | None = Field(default=None)
    idempotency_key: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
