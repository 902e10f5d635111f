"""Read-side patient queries for the pages: list/search, detail, the files a user may download.

Every query is scoped by the actor's clinic and checked against the permission matrix, so an id
sent by the browser can never reach another clinic's rows. The Patients issue moves names and
phone numbers into encrypted columns with a blind index; ``search_patients`` keeps its signature.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, col, func, or_, select

from clinic_app import audit
from clinic_app.errors import AppError, NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can, require
from clinic_app.timeutil import zone_named
from models import Appointment, Clinic, Patient, StoredFile

SEARCH_LIMIT = 200
SEX_LABELS = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}


@dataclass(frozen=True)
class PatientRow:
    """One line of the patient list (plain strings, ready for the page)."""

    id: str
    name: str
    mrn: str
    birth_date: str
    age: str
    phone: str
    initials: str


@dataclass(frozen=True)
class PatientDetail:
    id: str
    name: str
    mrn: str
    birth_date: str
    age: str
    sex: str
    phone: str
    email: str
    initials: str
    next_appointment: str
    can_export: bool


def clinic_today(session: Session, clinic_id: uuid.UUID) -> date:
    clinic = session.get(Clinic, clinic_id)
    return datetime.now(zone_named(clinic.timezone if clinic else "UTC")).date()


def age_on(born: date | None, today: date) -> str:
    if born is None:
        return ""
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return f"{years} y" if years >= 2 else f"{max(0, (today - born).days // 30)} mo"


def _format_date(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else ""


def _initials(patient: Patient) -> str:
    return (patient.given_name[:1] + patient.family_name[:1]).upper()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_patients(
    session: Session, *, actor: Actor, query: str = "", limit: int = SEARCH_LIMIT
) -> list[PatientRow]:
    """The clinic's patients, optionally filtered by name or MRN (case-insensitive, substring)."""
    require(actor, "patient:list")
    statement = select(Patient).where(
        Patient.clinic_id == actor.clinic_id, col(Patient.deleted_at).is_(None)
    )
    words = [w for w in (query or "").strip().lower().split() if w][:5]
    for word in words:
        pattern = f"%{_escape_like(word[:60])}%"
        statement = statement.where(
            or_(
                func.lower(col(Patient.given_name)).like(pattern, escape="\\"),
                func.lower(col(Patient.family_name)).like(pattern, escape="\\"),
                func.lower(col(Patient.mrn)).like(pattern, escape="\\"),
            )
        )
    statement = statement.order_by(
        func.lower(col(Patient.family_name)), func.lower(col(Patient.given_name)), col(Patient.mrn)
    ).limit(max(1, min(limit, SEARCH_LIMIT)))
    today = clinic_today(session, actor.clinic_id)
    return [
        PatientRow(
            id=str(p.id),
            name=p.display_name,
            mrn=p.mrn,
            birth_date=_format_date(p.birth_date),
            age=age_on(p.birth_date, today),
            phone=p.phone or "",
            initials=_initials(p),
        )
        for p in session.exec(statement).all()
    ]


def _parse_id(value: str | uuid.UUID, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(what) from None


def get_patient(session: Session, *, actor: Actor, patient_id: str | uuid.UUID) -> PatientDetail:
    """One patient of the actor's clinic; records a PHI read in the audit trail."""
    require(actor, "patient:list")
    pid = _parse_id(patient_id, "Patient")
    found = session.exec(
        select(Patient, Clinic.timezone)
        .join(Clinic, col(Clinic.id) == col(Patient.clinic_id))
        .where(
            Patient.id == pid,
            Patient.clinic_id == actor.clinic_id,
            col(Patient.deleted_at).is_(None),
        )
    ).first()
    if found is None:
        raise NotFound("Patient")
    patient, timezone = found
    zone = zone_named(timezone)
    starts = session.exec(
        select(Appointment.starts_at)
        .where(
            Appointment.clinic_id == actor.clinic_id,
            Appointment.patient_id == patient.id,
            col(Appointment.deleted_at).is_(None),
            col(Appointment.status).not_in(["cancelled", "no_show", "completed"]),
            col(Appointment.ends_at) >= datetime.now(UTC),
        )
        .order_by(col(Appointment.starts_at))
        .limit(1)
    ).first()
    next_appointment = ""
    if starts is not None:
        starts = starts if starts.tzinfo else starts.replace(tzinfo=UTC)
        next_appointment = starts.astimezone(zone).strftime("%a %d %b, %H:%M")
    audit.record(
        session,
        action="patient.read",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="patient",
        entity_id=patient.id,
    )
    return PatientDetail(
        id=str(patient.id),
        name=patient.display_name,
        mrn=patient.mrn,
        birth_date=_format_date(patient.birth_date),
        age=age_on(patient.birth_date, datetime.now(zone).date()),
        sex=SEX_LABELS.get(patient.sex or "", patient.sex or ""),
        phone=patient.phone or "",
        email=patient.email or "",
        initials=_initials(patient),
        next_appointment=next_appointment,
        can_export=can(actor, "patient:export"),
    )


@dataclass(frozen=True)
class NewPatient:
    """What the registration form (or the booking dialog's "new patient") sends."""

    given_name: str
    family_name: str
    birth_date: date | None = None
    sex: str | None = None
    phone: str | None = None
    email: str | None = None


def _clean(value: str | None, limit: int) -> str | None:
    text = " ".join((value or "").split())
    return text[:limit] or None


def next_mrn(session: Session, *, clinic_id: uuid.UUID, year: int) -> str:
    """The next human MRN of a clinic for a year: ``PAT-2026-00001``, ``PAT-2026-00002``…"""
    prefix = f"PAT-{year}-"
    last = session.exec(
        select(func.max(Patient.mrn)).where(
            Patient.clinic_id == clinic_id, col(Patient.mrn).startswith(prefix)
        )
    ).first()
    number = int(last.removeprefix(prefix)) + 1 if last and last[len(prefix) :].isdigit() else 1
    return f"{prefix}{number:05d}"


def register_patient(session: Session, *, actor: Actor, data: NewPatient) -> PatientRow:
    """Create a patient in the actor's clinic (validated, audited, MRN assigned).

    The unique (clinic, MRN) constraint turns a race for the same MRN into an IntegrityError
    at commit; callers retry the whole unit of work.
    """
    require(actor, "patient:create")
    given = _clean(data.given_name, 120)
    family = _clean(data.family_name, 120)
    if not given or not family:
        raise AppError("VALIDATION", "Given name and family name are required.")
    today = clinic_today(session, actor.clinic_id)
    if data.birth_date is not None and not (date(1900, 1, 1) <= data.birth_date <= today):
        raise AppError("VALIDATION", "Date of birth must be between 1900 and today.")
    sex = _clean(data.sex, 16)
    if sex is not None and sex not in SEX_LABELS:
        raise AppError("VALIDATION", "Sex must be female, male, other or unknown.")
    email = _clean(data.email, 254)
    if email is not None and ("@" not in email or " " in email):
        raise AppError("VALIDATION", "The email address does not look right.")
    patient = Patient(
        clinic_id=actor.clinic_id,
        mrn=next_mrn(session, clinic_id=actor.clinic_id, year=today.year),
        given_name=given,
        family_name=family,
        birth_date=data.birth_date,
        sex=sex,
        phone=_clean(data.phone, 40),
        email=email,
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(patient)
    session.flush()
    audit.record(
        session,
        action="patient.create",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="patient",
        entity_id=patient.id,
        after={"mrn": patient.mrn},
    )
    return PatientRow(
        id=str(patient.id),
        name=patient.display_name,
        mrn=patient.mrn,
        birth_date=_format_date(patient.birth_date),
        age=age_on(patient.birth_date, today),
        phone=patient.phone or "",
        initials=_initials(patient),
    )


def get_download_file(session: Session, *, actor: Actor, file_id: str | uuid.UUID) -> StoredFile:
    """A stored file of the actor's clinic that the actor may download."""
    require(actor, "file:download")
    fid = _parse_id(file_id, "File")
    stored = session.exec(
        select(StoredFile).where(
            StoredFile.id == fid,
            StoredFile.clinic_id == actor.clinic_id,
            col(StoredFile.deleted_at).is_(None),
        )
    ).first()
    if stored is None:
        raise AppError("FILE_NOT_FOUND", "The exported file is no longer available.")
    return stored
