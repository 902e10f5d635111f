"""Clinics (tenants), staff and patient-portal users, and their role in each clinic."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, UTCDateTime, json_field, new_id, utcnow

ROLES = (
    "clinic_admin",
    "doctor",
    "nurse",
    "receptionist",
    "pharmacist",
    "lab_tech",
    "accountant",
    "patient",
)


class Clinic(Editable, table=True):
    __tablename__ = "clinics"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=80, unique=True, index=True)
    timezone: str = Field(default="UTC", max_length=64)
    locale: str = Field(default="en", max_length=16)
    # Roles that must use TOTP: their users enrol at the next sign-in.
    mfa_required_roles: list[str] = json_field(default_factory=list)


class Branch(Editable, table=True):
    """A site of a clinic (address, phone); providers and rooms belong to one."""

    __tablename__ = "branches"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=400)
    phone: str = Field(default="", max_length=40)


class User(Editable, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    full_name: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = Field(default=True)
    is_super_admin: bool = Field(default=False)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Lockout: five wrong passwords in a row lock the account for 15 minutes.
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # TOTP: the secret, when it was confirmed, and the last accepted time step (replay guard).
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    recovery_code_hashes: list[str] = json_field(default_factory=list)


class Membership(Editable, table=True):
    """One role per user per clinic."""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "clinic_id", name="uq_memberships_user_clinic"),
        sa.CheckConstraint(
            "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="ck_memberships_role"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    role: str = Field(max_length=32)
    # Portal memberships (role ``patient``) point at the patient record they may see.
    patient_id: uuid.UUID | None = Field(default=None, foreign_key="patients.id", index=True)
    # A prescriber's professional registration number, printed on prescriptions.
    registration_number: str | None = Field(default=None, max_length=60)


class UserSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, the database only its hash.

    A row starts as a *handoff* (the sign-in event proved who it is; a one-time code lets the
    ``/auth/session`` route set the HttpOnly cookie) and becomes a session when the cookie is set.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('staff', 'patient')", name="ck_user_sessions_kind"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    kind: str = Field(default="staff", max_length=16)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    handoff_hash: str | None = Field(default=None, max_length=64, unique=True)
    handoff_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mfa_verified: bool = Field(default=False)
    step_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=60)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=400)


class PortalCode(SQLModel, table=True):
    """A one-time sign-in code sent to a patient (only its keyed hash is stored)."""

    __tablename__ = "portal_codes"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    code_hash: str = Field(max_length=64)
    attempts: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
