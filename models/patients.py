"""Patients of a clinic. Identifying data is encrypted at rest (``models.encrypted``).

Search uses ``patient_search_terms``: keyed hashes of name tokens and prefixes, phone tail,
email and date of birth (see ``clinic_app/services/patient_index.py``). The MRN is the clinic's
own identifier and stays plain (unique per clinic).
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import Editable, new_id
from models.encrypted import EncryptedDate, EncryptedText

SEARCH_KINDS = ("name", "name_prefix", "phone", "email", "dob", "mrn")
BLOOD_GROUPS = ("", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")


class Patient(Editable, table=True):
    __tablename__ = "patients"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "mrn", name="uq_patients_clinic_mrn"),
        # MRN prefix search; the pattern operator class lets LIKE 'PAT-2026-0%' use it.
        sa.Index(
            "ix_patients_clinic_mrn_pattern",
            "clinic_id",
            "mrn",
            postgresql_ops={"mrn": "varchar_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    mrn: str = Field(max_length=32)
    given_name: str = Field(sa_type=EncryptedText)
    family_name: str = Field(sa_type=EncryptedText)
    birth_date: date | None = Field(default=None, sa_type=EncryptedDate)
    sex: str | None = Field(default=None, max_length=16)
    gender: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, sa_type=EncryptedText)
    phone_alt: str | None = Field(default=None, sa_type=EncryptedText)
    email: str | None = Field(default=None, sa_type=EncryptedText)
    address: str | None = Field(default=None, sa_type=EncryptedText)
    preferred_language: str | None = Field(default=None, max_length=16)
    emergency_contact: str | None = Field(default=None, sa_type=EncryptedText)
    insurance: str | None = Field(default=None, sa_type=EncryptedText)
    blood_group: str | None = Field(default=None, max_length=4)
    # Which encryption key wrote this row's values (``clinic rekey`` moves rows to the current).
    pii_key_id: str | None = Field(default=None, max_length=16)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class PatientSearchTerm(SQLModel, table=True):
    """One keyed hash of a normalised search term of a patient (a blind index row)."""

    __tablename__ = "patient_search_terms"
    __table_args__ = (sa.Index("ix_patient_search_terms_lookup", "clinic_id", "kind", "term_hash"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id")
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    kind: str = Field(max_length=16)
    term_hash: str = Field(max_length=32)
