"""Clinics (tenants), staff and patient-portal users, and their role in each clinic."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from models.base import Editable, UTCDateTime, new_id

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


class User(Editable, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    full_name: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = Field(default=True)
    is_super_admin: bool = Field(default=False)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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
