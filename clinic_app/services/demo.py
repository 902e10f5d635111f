"""The demo clinic loaded on first run, so a new installation has something to click."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from clinic_app import audit
from clinic_app.security.passwords import hash_password
from models import Appointment, Clinic, Membership, Patient, Provider, User

DEMO_CLINIC_SLUG = "demo"
DEMO_PASSWORD = "demo-clinic-2026"
DEMO_USERS = (
    ("doctor@demo.clinic", "Dr. Amina Okafor", "doctor"),
    ("nurse@demo.clinic", "Nurse Tom Becker", "nurse"),
    ("reception@demo.clinic", "Rita Alvarez", "receptionist"),
    ("admin@demo.clinic", "Sam Lee", "clinic_admin"),
)
DEMO_PATIENTS = (
    ("PAT-2026-00001", "Maria", "Garcia", date(1978, 3, 14), "female", "+1 555 0101"),
    ("PAT-2026-00002", "John", "Smith", date(1965, 11, 2), "male", "+1 555 0102"),
    ("PAT-2026-00003", "Aiko", "Tanaka", date(1992, 7, 23), "female", "+1 555 0103"),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(email, DEMO_PASSWORD, role) for email, _name, role in DEMO_USERS]


def load_demo_clinic(session: Session) -> bool:
    """Create the demo clinic once; returns False when it already exists."""
    if session.exec(select(Clinic).where(Clinic.slug == DEMO_CLINIC_SLUG)).first():
        return False
    clinic = Clinic(name="Demo Family Clinic", slug=DEMO_CLINIC_SLUG, timezone="Europe/Berlin")
    session.add(clinic)
    session.flush()
    password_hash = hash_password(DEMO_PASSWORD)
    doctor_provider: Provider | None = None
    for email, full_name, role in DEMO_USERS:
        user = User(email=email, full_name=full_name, password_hash=password_hash)
        session.add(user)
        session.flush()
        session.add(Membership(user_id=user.id, clinic_id=clinic.id, role=role))
        if role == "doctor":
            doctor_provider = Provider(
                clinic_id=clinic.id, user_id=user.id, display_name=full_name, specialty="Family"
            )
            session.add(doctor_provider)
    session.flush()
    assert doctor_provider is not None
    today = datetime.now(UTC).date()
    for index, (mrn, given, family, born, sex, phone) in enumerate(DEMO_PATIENTS):
        patient = Patient(
            clinic_id=clinic.id,
            mrn=mrn,
            given_name=given,
            family_name=family,
            birth_date=born,
            sex=sex,
            phone=phone,
        )
        session.add(patient)
        session.flush()
        starts = datetime.combine(today, time(8 + index, 0), tzinfo=UTC)
        session.add(
            Appointment(
                clinic_id=clinic.id,
                provider_id=doctor_provider.id,
                patient_id=patient.id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=20),
            )
        )
    audit.record(
        session,
        action="demo.load",
        actor_user_id=None,
        clinic_id=clinic.id,
        entity_type="clinic",
        entity_id=clinic.id,
    )
    return True
