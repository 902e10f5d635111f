"""Patient registry: search, detail, registration with duplicate detection, downloads.

Every query is scoped by the actor's clinic and checked against the permission matrix, so an id
sent by the browser can never reach another clinic's rows. Names, phones, email and date of
birth are encrypted at rest; search matches keyed hashes of them (``patient_search_terms``,
kept by ``clinic_app/services/patient_index.py``) and ranks exact words above prefixes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import case
from sqlmodel import Session, col, func, select

from clinic_app import audit, db
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security import pii
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can, require
from clinic_app.services.numbering import next_number
from clinic_app.timeutil import zone_named
from models import Appointment, Clinic, Patient, PatientSearchTerm, StoredFile
from models.patients import BLOOD_GROUPS

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


class ListedPatient(Protocol):
    """What a list line needs of a patient: a ``Patient`` or a row of ``LIST_COLUMNS``."""

    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: date | None
    phone: str | None


# Searches read these columns only: a whole row would decrypt every PII field of every hit.
LIST_COLUMNS = (
    col(Patient.id),
    col(Patient.mrn),
    col(Patient.given_name),
    col(Patient.family_name),
    col(Patient.birth_date),
    col(Patient.phone),
    col(Patient.phone_alt),
)


def _initials(patient: ListedPatient) -> str:
    return (patient.given_name[:1] + patient.family_name[:1]).upper()


def _row(patient: ListedPatient, today: date) -> PatientRow:
    return PatientRow(
        id=str(patient.id),
        name=f"{patient.given_name} {patient.family_name}",
        mrn=patient.mrn,
        birth_date=_format_date(patient.birth_date),
        age=age_on(patient.birth_date, today),
        phone=patient.phone or "",
        initials=_initials(patient),
    )


def parse_query_date(text: str) -> date | None:
    """A date typed in the search box: 1978-03-14, 14.03.1978 or 14/03/1978."""
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _term_matches(
    session: Session, clinic_id: uuid.UUID, wanted: dict[str, tuple[str, str]]
) -> dict[uuid.UUID, set[str]]:
    """patient id → the hashes in ``wanted`` (hash → (kind, label)) that patient has."""
    if not wanted:
        return {}
    rows = session.exec(
        select(PatientSearchTerm.patient_id, PatientSearchTerm.term_hash).where(
            PatientSearchTerm.clinic_id == clinic_id,
            col(PatientSearchTerm.term_hash).in_(sorted(wanted)),
        )
    ).all()
    found: dict[uuid.UUID, set[str]] = {}
    for patient_id, term_hash in rows:
        found.setdefault(patient_id, set()).add(term_hash)
    return found


def _exact(
    session: Session, clinic_id: uuid.UUID, kind: str, value: str, limit: int
) -> list[uuid.UUID]:
    """Patients having one search term (an index range scan, stopped at ``limit``)."""
    return list(
        session.exec(
            select(PatientSearchTerm.patient_id)
            .where(
                PatientSearchTerm.clinic_id == clinic_id,
                PatientSearchTerm.kind == kind,
                PatientSearchTerm.term_hash == pii.blind(kind, value),
            )
            .limit(limit)
        ).all()
    )


def _name_matches(
    session: Session, clinic_id: uuid.UUID, tokens: list[str], limit: int
) -> dict[uuid.UUID, int]:
    """Patients whose name words match every token (whole word or beginning), best first.

    One token: whole-word matches, then beginnings, each an index scan stopped at ``limit``.
    Several: one grouped query keeps patients matching all tokens, more whole words first.
    """
    if len(tokens) == 1:
        scores = {pid: 11 for pid in _exact(session, clinic_id, "name", tokens[0], limit)}
        if len(scores) < limit:
            for pid in _exact(session, clinic_id, "name_prefix", tokens[0], limit):
                scores.setdefault(pid, 1)
        return scores
    token_of: dict[str, int] = {}
    for index, token in enumerate(tokens):
        token_of[pii.blind("name", token)] = index
        token_of[pii.blind("name_prefix", token)] = index
    whole = {pii.blind("name", token) for token in tokens}
    token_index = case(
        *[(col(PatientSearchTerm.term_hash) == h, i) for h, i in token_of.items()], else_=-1
    )
    exact = func.sum(case((col(PatientSearchTerm.term_hash).in_(sorted(whole)), 1), else_=0))
    rows = session.exec(
        select(PatientSearchTerm.patient_id, exact)
        .where(
            PatientSearchTerm.clinic_id == clinic_id,
            col(PatientSearchTerm.term_hash).in_(sorted(token_of)),
        )
        .group_by(col(PatientSearchTerm.patient_id))
        .having(func.count(func.distinct(token_index)) == len(tokens))
        .order_by(exact.desc())
        .limit(limit)
    ).all()
    return {pid: 10 * int(hits) + len(tokens) for pid, hits in rows}


def _phone_query(query: str) -> str:
    """The digits of a query that is a phone number ("+49 151 …", "0151-…"), else ""."""
    digits = pii.phone_digits(query)
    compact = query.replace(" ", "")
    looks_like_phone = len(digits) >= pii.PHONE_TAIL and len(digits) >= len(compact) - 3
    if looks_like_phone and "@" not in query and parse_query_date(query) is None:
        return digits
    return ""


def _rank(session: Session, clinic_id: uuid.UUID, query: str, limit: int) -> dict[uuid.UUID, int]:
    """Candidate patients for a query with a score (higher first); empty when nothing matches."""
    born = parse_query_date(query)
    if born is not None:
        return {pid: 50 for pid in _exact(session, clinic_id, "dob", born.isoformat(), limit)}
    if "@" in query:
        return {pid: 80 for pid in _exact(session, clinic_id, "email", query.lower(), limit)}
    compact = query.replace(" ", "").upper()
    if compact.isdigit() and len(compact) < pii.PHONE_TAIL:
        # A short number is the running number of an MRN: "00042" or "42".
        return {pid: 100 for pid in _exact(session, clinic_id, "mrn", str(int(compact)), limit)}
    phone = _phone_query(query)
    if phone:
        tail = phone[-pii.PHONE_TAIL :]
        return {pid: 70 for pid in _exact(session, clinic_id, "phone", tail, limit)}
    if any(ch.isdigit() for ch in compact) and "-" in compact:
        # An MRN or its beginning: the clinic's own identifier, stored plain and indexed.
        rows = session.exec(
            select(Patient.id)
            .where(
                Patient.clinic_id == clinic_id,
                col(Patient.mrn).startswith(compact, autoescape=True),
            )
            .order_by(col(Patient.mrn))
            .limit(limit)
        ).all()
        return {pid: 100 for pid in rows}
    tokens = pii.name_tokens(query)[:5]
    return _name_matches(session, clinic_id, tokens, limit) if tokens else {}


def search_patients(
    session: Session, *, actor: Actor, query: str = "", limit: int = SEARCH_LIMIT
) -> list[PatientRow]:
    """The clinic's patients matching a name (words or their beginnings), MRN, phone, email or
    date of birth, best matches first; with no query, the most recently changed patients."""
    require(actor, "patient:list")
    limit = max(1, min(limit, SEARCH_LIMIT))
    query = (query or "").strip()[:120]
    base = sa.select(*LIST_COLUMNS).where(
        col(Patient.clinic_id) == actor.clinic_id, col(Patient.deleted_at).is_(None)
    )
    today = clinic_today(session, actor.clinic_id)
    if not query:
        recent = db.rows(session, base.order_by(col(Patient.updated_at).desc()).limit(limit))
        ordered = sorted(recent, key=lambda p: (p.family_name.lower(), p.given_name.lower()))
        return [_row(p, today) for p in ordered]
    scores = _rank(session, actor.clinic_id, query, limit)
    if not scores:
        return []
    best = sorted(scores, key=lambda pid: -scores[pid])[:limit]
    patients = list(db.rows(session, base.where(col(Patient.id).in_(best))))
    phone = _phone_query(query)
    if phone:
        # The index holds the last 7 digits: keep those whose full number ends with the query.
        patients = [
            p
            for p in patients
            if any(
                pii.phone_digits(number or "").endswith(phone[-10:])
                for number in (p.phone, p.phone_alt)
            )
        ]
    patients.sort(key=lambda p: (-scores[p.id], p.family_name.lower(), p.given_name.lower()))
    return [_row(p, today) for p in patients[:limit]]


def get_patient(session: Session, *, actor: Actor, patient_id: str | uuid.UUID) -> PatientDetail:
    """One patient of the actor's clinic; records a PHI read in the audit trail."""
    require(actor, "patient:list")
    pid = parse_id(patient_id, "Patient")
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
    audit.record_by(
        session,
        actor,
        "patient.read",
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
    gender: str | None = None
    phone_alt: str | None = None
    address: str | None = None
    preferred_language: str | None = None
    emergency_contact: str | None = None
    insurance: str | None = None
    blood_group: str | None = None


def new_patient_from_form(form: dict[str, object]) -> NewPatient:
    """A registration form's fields (strings from the browser) as a ``NewPatient``."""

    def text(name: str) -> str | None:
        value = str(form.get(name) or "").strip()
        return value[:400] or None

    birth: date | None = None
    raw_birth = text("birth_date")
    if raw_birth:
        birth = parse_query_date(raw_birth)
        if birth is None:
            raise AppError("VALIDATION", "Date of birth must be a date (YYYY-MM-DD).")
    return NewPatient(
        given_name=text("given_name") or "",
        family_name=text("family_name") or "",
        birth_date=birth,
        sex=text("sex"),
        phone=text("phone"),
        email=text("email"),
        gender=text("gender"),
        phone_alt=text("phone_alt"),
        address=text("address"),
        preferred_language=text("preferred_language"),
        emergency_contact=text("emergency_contact"),
        insurance=text("insurance"),
        blood_group=text("blood_group"),
    )


def find_duplicates(
    session: Session,
    *,
    actor: Actor,
    given_name: str,
    family_name: str,
    birth_date: date | None,
    phone: str | None,
) -> list[PatientRow]:
    """Patients who look like the one being registered: same name and birth date, or same phone."""
    require(actor, "patient:list")
    candidates: set[uuid.UUID] = set()
    tokens = pii.name_tokens(f"{given_name} {family_name}")
    if tokens and birth_date is not None:
        wanted = {pii.blind("name", t): ("name", t) for t in tokens}
        dob = pii.blind("dob", birth_date.isoformat())
        wanted[dob] = ("dob", "")
        for pid, hashes in _term_matches(session, actor.clinic_id, wanted).items():
            if dob in hashes and len(hashes) == len(wanted):
                candidates.add(pid)
    digits = pii.phone_digits(phone or "")
    if len(digits) >= pii.PHONE_TAIL:
        key = pii.blind("phone", digits[-pii.PHONE_TAIL :])
        for pid in _term_matches(session, actor.clinic_id, {key: ("phone", "")}):
            candidates.add(pid)
    if not candidates:
        return []
    patients = session.exec(
        select(Patient).where(
            Patient.clinic_id == actor.clinic_id,
            col(Patient.deleted_at).is_(None),
            col(Patient.id).in_(sorted(candidates)),
        )
    ).all()
    today = clinic_today(session, actor.clinic_id)
    same = [
        p
        for p in patients
        if (p.birth_date == birth_date and birth_date is not None)
        or (
            len(digits) >= pii.PHONE_TAIL
            and any(pii.phone_digits(x or "")[-10:] == digits[-10:] for x in (p.phone, p.phone_alt))
        )
    ]
    return [_row(p, today) for p in same]


def _clean(value: str | None, limit: int) -> str | None:
    text = " ".join((value or "").split())
    return text[:limit] or None


def next_mrn(session: Session, *, clinic_id: uuid.UUID, year: int) -> str:
    """The next human MRN of a clinic for a year: ``PAT-2026-00001``, ``PAT-2026-00002``…"""
    return next_number(
        session,
        column=Patient.mrn,
        clinic_column=Patient.clinic_id,
        clinic_id=clinic_id,
        prefix=f"PAT-{year}-",
        digits=5,
    )


def _validated(data: NewPatient, *, today: date) -> dict[str, Any]:
    """The patient fields of a form, cleaned; ``VALIDATION`` names the first wrong one."""
    given = _clean(data.given_name, 120)
    family = _clean(data.family_name, 120)
    if not given or not family:
        raise AppError("VALIDATION", "Given name and family name are required.")
    if data.birth_date is not None and not (date(1900, 1, 1) <= data.birth_date <= today):
        raise AppError("VALIDATION", "Date of birth must be between 1900 and today.")
    sex = _clean(data.sex, 16)
    if sex is not None and sex not in SEX_LABELS:
        raise AppError("VALIDATION", "Sex must be female, male, other or unknown.")
    email = _clean(data.email, 254)
    if email is not None and ("@" not in email or " " in email):
        raise AppError("VALIDATION", "The email address does not look right.")
    blood_group = _clean(data.blood_group, 4)
    if blood_group is not None and blood_group not in BLOOD_GROUPS:
        raise AppError("VALIDATION", "Blood group must be one of A+, A-, B+, B-, AB+, AB-, O+, O-.")
    phone = _clean(data.phone, 40)
    if phone is not None and len(pii.phone_digits(phone)) < 5:
        raise AppError("VALIDATION", "The phone number needs at least 5 digits.")
    return {
        "given_name": given,
        "family_name": family,
        "birth_date": data.birth_date,
        "sex": sex,
        "phone": phone,
        "email": email,
        "gender": _clean(data.gender, 40),
        "phone_alt": _clean(data.phone_alt, 40),
        "address": _clean(data.address, 400),
        "preferred_language": _clean(data.preferred_language, 16),
        "emergency_contact": _clean(data.emergency_contact, 300),
        "insurance": _clean(data.insurance, 300),
        "blood_group": blood_group,
    }


def load_patient(session: Session, *, actor: Actor, patient_id: str | uuid.UUID) -> Patient:
    """A live patient of the actor's clinic; any other id (guessed, foreign, bad) is NOT_FOUND."""
    pid = parse_id(patient_id, "Patient")
    patient = session.exec(
        select(Patient).where(
            Patient.id == pid,
            Patient.clinic_id == actor.clinic_id,
            col(Patient.deleted_at).is_(None),
        )
    ).first()
    if patient is None:
        raise NotFound("Patient")
    return patient


def update_patient(
    session: Session, *, actor: Actor, patient_id: str, data: NewPatient, version: int
) -> None:
    """Change a patient's details; the version the user saw must still be current."""
    require(actor, "patient:create")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    if patient.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "Someone else changed this patient's details meanwhile. Their version is shown now; "
            "apply your change again.",
        )
    fields = _validated(data, today=clinic_today(session, actor.clinic_id))
    changed = sorted(name for name, value in fields.items() if getattr(patient, name) != value)
    if not changed:
        return
    for name in changed:
        setattr(patient, name, fields[name])
    patient.version += 1
    patient.updated_at = datetime.now(UTC)
    patient.updated_by = actor.user_id
    session.add(patient)
    # Field names only: the values are patient data and stay out of the audit trail.
    audit.record_by(
        session,
        actor,
        "patient.update",
        entity_type="patient",
        entity_id=patient.id,
        after={"changed": changed},
    )
    session.flush()


def register_patient(
    session: Session, *, actor: Actor, data: NewPatient, allow_duplicate: bool = False
) -> PatientRow:
    """Create a patient in the actor's clinic (validated, audited, MRN assigned).

    A patient with the same name and date of birth, or the same phone, stops the registration
    with ``POSSIBLE_DUPLICATE`` (details list them) unless ``allow_duplicate``: the desk picks
    the existing record instead. The unique (clinic, MRN) constraint turns a race for the same
    MRN into an IntegrityError at commit; callers retry the whole unit of work.
    """
    require(actor, "patient:create")
    today = clinic_today(session, actor.clinic_id)
    fields = _validated(data, today=today)
    given, family, phone = fields["given_name"], fields["family_name"], fields["phone"]
    if not allow_duplicate:
        twins = find_duplicates(
            session,
            actor=actor,
            given_name=given,
            family_name=family,
            birth_date=data.birth_date,
            phone=phone,
        )
        if twins:
            names = ", ".join(f"{t.name} ({t.mrn})" for t in twins[:3])
            raise AppError(
                "POSSIBLE_DUPLICATE",
                f"This patient may already be registered: {names}. Use the existing record, "
                "or confirm that this is a different person.",
                {"patients": [t.__dict__ for t in twins[:5]]},
            )
    patient = Patient(
        clinic_id=actor.clinic_id,
        mrn=next_mrn(session, clinic_id=actor.clinic_id, year=today.year),
        created_by=actor.user_id,
        updated_by=actor.user_id,
        **fields,
    )
    session.add(patient)
    session.flush()
    audit.record_by(
        session,
        actor,
        "patient.create",
        entity_type="patient",
        entity_id=patient.id,
        after={"mrn": patient.mrn},
    )
    return _row(patient, today)


def get_download_file(session: Session, *, actor: Actor, file_id: str | uuid.UUID) -> StoredFile:
    """A stored file of the actor's clinic that the actor may download."""
    require(actor, "file:download")
    fid = parse_id(file_id, "File")
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
