"""The demo clinic loaded on first run, so a new installation has something to click."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from clinic_app import audit
from clinic_app.security.passwords import hash_password
from clinic_app.timeutil import zone_named
from models import (
    Appointment,
    AvailabilityTemplate,
    Branch,
    Clinic,
    Membership,
    Patient,
    Provider,
    SchedulingPolicy,
    User,
    VisitType,
)

DEMO_CLINIC_SLUG = "demo"
DEMO_PASSWORD = "demo-clinic-2026"
DEMO_USERS = (
    ("doctor@demo.clinic", "Dr. Amina Okafor", "doctor"),
    ("nurse@demo.clinic", "Nurse Tom Becker", "nurse"),
    ("reception@demo.clinic", "Rita Alvarez", "receptionist"),
    ("admin@demo.clinic", "Sam Lee", "clinic_admin"),
    ("pharmacy@demo.clinic", "Priya Shah", "pharmacist"),
)
DEMO_REGISTRATION_NUMBERS = {"doctor@demo.clinic": "MED-2011-48213"}
# The demo patient who can sign in to the portal (the code arrives in the dev mailbox).
DEMO_PORTAL_EMAIL = "maria@demo.patient"
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
    session.add(Branch(clinic_id=clinic.id, name="Main", address="1 Demo Street"))
    password_hash = hash_password(DEMO_PASSWORD)
    doctor_provider: Provider | None = None
    for email, full_name, role in DEMO_USERS:
        user = User(email=email, full_name=full_name, password_hash=password_hash)
        session.add(user)
        session.flush()
        session.add(
            Membership(
                user_id=user.id,
                clinic_id=clinic.id,
                role=role,
                registration_number=DEMO_REGISTRATION_NUMBERS.get(email),
            )
        )
        if role == "doctor":
            doctor_provider = Provider(
                clinic_id=clinic.id, user_id=user.id, display_name=full_name, specialty="Family"
            )
            session.add(doctor_provider)
    session.flush()
    assert doctor_provider is not None
    # The clinic's own day: at 23:30 UTC it is already tomorrow in Berlin.
    zone = zone_named(clinic.timezone)
    today = datetime.now(zone).date()
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
        if index == 0:
            portal_user = User(email=DEMO_PORTAL_EMAIL, full_name=f"Patient {patient.mrn}")
            session.add(portal_user)
            session.flush()
            session.add(
                Membership(
                    user_id=portal_user.id,
                    clinic_id=clinic.id,
                    role="patient",
                    patient_id=patient.id,
                )
            )
        starts = datetime.combine(today, time(9 + index, 0), tzinfo=zone).astimezone(UTC)
        session.add(
            Appointment(
                clinic_id=clinic.id,
                provider_id=doctor_provider.id,
                patient_id=patient.id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=20),
            )
        )
    _demo_schedule(session, clinic, doctor_provider, today)
    audit.record(
        session,
        action="demo.load",
        actor_user_id=None,
        clinic_id=clinic.id,
        entity_type="clinic",
        entity_id=clinic.id,
    )
    return True


DEMO_VISIT_TYPES = (
    ("consultation", "Consultation", 20, "#0d9488", True),
    ("follow_up", "Follow-up", 15, "#2563eb", True),
    ("long", "Long visit / procedure", 40, "#7c3aed", False),
)


def _demo_schedule(session: Session, clinic: Clinic, doctor: Provider, today: date) -> None:
    """Visit types, working hours, a second doctor and a room, two bookings tomorrow."""
    for code, name, minutes, color, portal in DEMO_VISIT_TYPES:
        session.add(
            VisitType(
                clinic_id=clinic.id,
                code=code,
                name=name,
                duration_minutes=minutes,
                color=color,
                portal_bookable=portal,
            )
        )
    second = Provider(
        clinic_id=clinic.id,
        display_name="Dr. Jonas Weber",
        specialty="Paediatrics",
        color="#7c3aed",
    )
    room = Provider(
        clinic_id=clinic.id, display_name="Procedure room", kind="room", color="#64748b"
    )
    session.add_all([second, room])
    # Patients may book consultations and follow-ups themselves in the portal.
    session.add(SchedulingPolicy(clinic_id=clinic.id, portal_booking_enabled=True))
    session.flush()
    for provider, days, start, end in (
        (doctor, range(5), time(8), time(18)),
        (second, range(4), time(9), time(17)),
        (room, range(5), time(8), time(18)),
    ):
        for weekday in days:
            session.add(
                AvailabilityTemplate(
                    clinic_id=clinic.id,
                    provider_id=provider.id,
                    weekday=weekday,
                    start_time=start,
                    end_time=end,
                )
            )
    patients = session.exec(
        select(Patient).where(Patient.clinic_id == clinic.id).order_by(Patient.mrn)  # type: ignore[arg-type]
    ).all()
    tomorrow = today + timedelta(days=1)
    for index, patient in enumerate(patients[1:3]):
        starts = datetime.combine(
            tomorrow, time(10 + index, 0), tzinfo=zone_named(clinic.timezone)
        ).astimezone(UTC)
        session.add(
            Appointment(
                clinic_id=clinic.id,
                provider_id=second.id,
                patient_id=patient.id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=20),
                visit_type="follow_up",
            )
        )
