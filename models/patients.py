"""Patients of a clinic. The Patients issue moves PII into encrypted columns."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlmodel import Field

from models.base import Editable, new_id


class Patient(Editable, table=True):
    __tablename__ = "patients"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "mrn", name="uq_patients_clinic_mrn"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    mrn: str = Field(max_length=32)
    given_name: str = Field(max_length=120)
    family_name: str = Field(max_length=120)
    birth_date: date | None = Field(default=None)
    sex: str | None = Field(default=None, max_length=16)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
