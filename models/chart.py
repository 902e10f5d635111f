"""The clinical chart: allergies, problems, current medications, vitals and encounters.

Free-text medical fields are encrypted at rest; codes, statuses and numbers are not.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from models.base import Editable, UTCDateTime, check_in, new_id, utcnow
from models.encrypted import EncryptedJSON, EncryptedText

ALLERGY_SEVERITIES = ("mild", "moderate", "severe", "life_threatening")
ALLERGY_STATUSES = ("active", "inactive", "resolved")
CONDITION_STATUSES = ("active", "resolved")
MEDICATION_STATUSES = ("active", "stopped")
ENCOUNTER_STATUSES = ("open", "closed")


class Allergy(Editable, table=True):
    __tablename__ = "allergies"
    __table_args__ = (
        check_in("severity", ALLERGY_SEVERITIES, "ck_allergies_severity"),
        check_in("status", ALLERGY_STATUSES, "ck_allergies_status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    substance: str = Field(sa_type=EncryptedText)
    reaction: str | None = Field(default=None, sa_type=EncryptedText)
    severity: str = Field(default="moderate", max_length=20)
    status: str = Field(default="active", max_length=12)
    # The catalog ingredient or class it matches (filled when the medication catalog knows it).
    coded_ingredient: str | None = Field(default=None, max_length=120)


class Condition(Editable, table=True):
    """A problem on the problem list."""

    __tablename__ = "conditions"
    __table_args__ = (check_in("status", CONDITION_STATUSES, "ck_conditions_status"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    name: str = Field(sa_type=EncryptedText)
    notes: str | None = Field(default=None, sa_type=EncryptedText)
    status: str = Field(default="active", max_length=12)
    onset: str | None = Field(default=None, max_length=20)


class PatientMedication(Editable, table=True):
    """A medication the patient takes (reported or prescribed elsewhere)."""

    __tablename__ = "patient_medications"
    __table_args__ = (check_in("status", MEDICATION_STATUSES, "ck_patient_medications_status"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    name: str = Field(sa_type=EncryptedText)
    dosage: str | None = Field(default=None, sa_type=EncryptedText)
    status: str = Field(default="active", max_length=12)


class VitalSigns(Editable, table=True):
    __tablename__ = "vital_signs"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    systolic: int | None = Field(default=None)
    diastolic: int | None = Field(default=None)
    heart_rate: int | None = Field(default=None)
    temperature_c: float | None = Field(default=None)
    respiratory_rate: int | None = Field(default=None)
    spo2: int | None = Field(default=None)
    weight_kg: float | None = Field(default=None)
    height_cm: float | None = Field(default=None)


class Encounter(Editable, table=True):
    """One visit: ties the appointment, scribe session, records, prescriptions and reports."""

    __tablename__ = "encounters"
    __table_args__ = (
        check_in("status", ENCOUNTER_STATUSES, "ck_encounters_status"),
        sa.UniqueConstraint("appointment_id", name="uq_encounters_appointment"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    appointment_id: uuid.UUID | None = Field(default=None, foreign_key="appointments.id")
    doctor_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    status: str = Field(default="open", max_length=12)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=EncryptedText)


STUDY_TYPES = ("lab", "imaging", "ecg", "pathology", "other")


class Study(Editable, table=True):
    """A study or test result of an encounter: narrative and structured findings (encrypted)."""

    __tablename__ = "studies"
    __table_args__ = (check_in("study_type", STUDY_TYPES, "ck_studies_type"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    study_type: str = Field(max_length=16)
    title: str = Field(sa_type=EncryptedText)
    narrative: str | None = Field(default=None, sa_type=EncryptedText)
    # [{"name": "HbA1c", "value": "6.1", "unit": "%"}, …]
    findings: list[dict[str, str]] = Field(default_factory=list, sa_type=EncryptedJSON)
    performed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
