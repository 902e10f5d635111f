"""Builders for scheduling tests: a clinic with a provider's weekly hours, staff and a patient."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time

from sqlmodel import Session

from clinic_app.security.actor import Actor
from models import (
    AvailabilityTemplate,
    Clinic,
    Membership,
    Patient,
    Provider,
    User,
    VisitType,
)


@dataclass
class World:
    clinic: Clinic
    provider: Provider
    patient: Patient
    reception: Actor
    doctor: Actor
    accountant: Actor


def _staff(session: Session, clinic: Clinic, role: str, name: str) -> tuple[User, Actor]:
    user = User(email=f"{role}-{uuid.uuid4().hex[:8]}@test.clinic", full_name=name)
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, clinic_id=clinic.id, role=role))
    return user, Actor(user.id, clinic.id, role, name, user.email)


def build_world(
    session: Session,
    *,
    timezone: str = "Europe/Berlin",
    hours: tuple[tuple[int, time, time], ...] | None = None,
) -> World:
    """A clinic whose doctor works Mon–Fri 09:00–17:00 (or ``hours``) with 20-minute visits."""
    slug = f"sched-{uuid.uuid4().hex[:8]}"
    clinic = Clinic(name="Sched Clinic", slug=slug, timezone=timezone)
    session.add(clinic)
    session.flush()
    doctor_user, doctor = _staff(session, clinic, "doctor", "Dr. Test Provider")
    _user, reception = _staff(session, clinic, "receptionist", "Rita Desk")
    _user, accountant = _staff(session, clinic, "accountant", "Al Books")
    provider = Provider(
        clinic_id=clinic.id, user_id=doctor_user.id, display_name="Dr. Test Provider"
    )
    session.add(provider)
    session.add(
        VisitType(
            clinic_id=clinic.id, code="consultation", name="Consultation", duration_minutes=20
        )
    )
    session.add(
        VisitType(
            clinic_id=clinic.id,
            code="long",
            name="Long visit",
            duration_minutes=40,
            portal_bookable=True,
        )
    )
    session.flush()
    for weekday, start, end in hours or tuple((d, time(9), time(17)) for d in range(5)):
        session.add(
            AvailabilityTemplate(
                clinic_id=clinic.id,
                provider_id=provider.id,
                weekday=weekday,
                start_time=start,
                end_time=end,
            )
        )
    patient = Patient(
        clinic_id=clinic.id,
        mrn=f"PAT-2026-{uuid.uuid4().int % 100000:05d}",
        given_name="Maria",
        family_name="Garcia",
        phone="+1 555 0101",
        email="maria@example.org",
    )
    session.add(patient)
    session.flush()
    return World(clinic, provider, patient, reception, doctor, accountant)
