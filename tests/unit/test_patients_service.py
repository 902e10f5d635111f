"""Read-side patient queries: clinic scoping, search, permissions, PHI-read audit."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patients import (
    NewPatient,
    age_on,
    get_download_file,
    get_patient,
    register_patient,
    search_patients,
)
from clinic_app.services.worklist import todays_worklist
from models import AuditEvent, Clinic, Membership, Patient, StoredFile, User


def _actor(session: Session, email: str) -> Actor:
    user = session.exec(select(User).where(User.email == email)).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(
        user_id=user.id,
        clinic_id=membership.clinic_id,
        role=membership.role,
        full_name=user.full_name,
        email=user.email,
    )


@pytest.fixture
def doctor(session: Session) -> Actor:
    load_demo_clinic(session)
    session.flush()
    return _actor(session, "doctor@demo.clinic")


@pytest.fixture
def other_clinic_patient(session: Session, doctor: Actor) -> Patient:
    other = Clinic(name="Other Clinic", slug="other", timezone="UTC")
    session.add(other)
    session.flush()
    patient = Patient(
        clinic_id=other.id,
        mrn="PAT-2026-00001",
        given_name="Maria",
        family_name="Other",
        birth_date=date(1990, 1, 1),
    )
    session.add(patient)
    session.flush()
    return patient


def test_list_is_scoped_to_the_clinic(
    session: Session, doctor: Actor, other_clinic_patient: Patient
) -> None:
    rows = search_patients(session, actor=doctor)
    assert [r.name for r in rows] == ["Maria Garcia", "John Smith", "Aiko Tanaka"]
    assert str(other_clinic_patient.id) not in {r.id for r in rows}
    maria = rows[0]
    assert maria.mrn == "PAT-2026-00001"
    assert maria.birth_date == "14 Mar 1978"
    assert maria.age.endswith(" y")
    assert maria.phone == "+1 555 0101"
    assert maria.initials == "MG"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tan", ["Aiko Tanaka"]),
        ("MARIA", ["Maria Garcia"]),
        ("pat-2026-00002", ["John Smith"]),
        ("john smi", ["John Smith"]),
        ("00001", ["Maria Garcia"]),
        ("%", []),
        ("zzz", []),
        ("", ["Maria Garcia", "John Smith", "Aiko Tanaka"]),
    ],
)
def test_search_by_name_or_mrn(
    session: Session,
    doctor: Actor,
    other_clinic_patient: Patient,
    query: str,
    expected: list[str],
) -> None:
    assert [r.name for r in search_patients(session, actor=doctor, query=query)] == expected


def test_accountant_cannot_list_patients(session: Session, doctor: Actor) -> None:
    accountant = Actor(
        user_id=doctor.user_id,
        clinic_id=doctor.clinic_id,
        role="accountant",
        full_name="A",
        email="a@x",
    )
    with pytest.raises(AppError) as refused:
        search_patients(session, actor=accountant)
    assert refused.value.code == "FORBIDDEN"


def test_detail_audits_the_read_and_refuses_other_clinics(
    session: Session, doctor: Actor, other_clinic_patient: Patient
) -> None:
    maria = search_patients(session, actor=doctor, query="garcia")[0]
    detail = get_patient(session, actor=doctor, patient_id=maria.id)
    assert detail.name == "Maria Garcia"
    assert detail.sex == "Female"
    assert detail.can_export is True
    reads = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.read")).all()
    assert [r.entity_id for r in reads] == [maria.id]
    assert reads[0].actor_user_id == doctor.user_id

    for bad_id in (str(other_clinic_patient.id), "not-a-uuid", ""):
        with pytest.raises(AppError) as missing:
            get_patient(session, actor=doctor, patient_id=bad_id)
        assert missing.value.code == "NOT_FOUND"


def test_receptionist_sees_details_but_cannot_export(session: Session, doctor: Actor) -> None:
    reception = _actor(session, "reception@demo.clinic")
    maria = search_patients(session, actor=reception, query="garcia")[0]
    assert get_patient(session, actor=reception, patient_id=maria.id).can_export is False


def test_download_file_is_scoped_to_the_clinic(
    session: Session, doctor: Actor, other_clinic_patient: Patient
) -> None:
    mine = StoredFile(
        clinic_id=doctor.clinic_id,
        storage_key=f"{doctor.clinic_id}/x/1",
        filename="a.docx",
        content_type="application/octet-stream",
        size=1,
        sha256="0" * 64,
    )
    theirs = StoredFile(
        clinic_id=other_clinic_patient.clinic_id,
        storage_key=f"{other_clinic_patient.clinic_id}/x/2",
        filename="b.docx",
        content_type="application/octet-stream",
        size=1,
        sha256="0" * 64,
    )
    session.add_all([mine, theirs])
    session.flush()
    assert get_download_file(session, actor=doctor, file_id=str(mine.id)).id == mine.id
    with pytest.raises(AppError) as refused:
        get_download_file(session, actor=doctor, file_id=str(theirs.id))
    assert refused.value.code == "FILE_NOT_FOUND"


def test_worklist_groups_today_in_clinic_time(session: Session, doctor: Actor) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    noon = datetime.combine(datetime.now(berlin).date(), time(12, 0), tzinfo=berlin)
    worklist = todays_worklist(session, actor=doctor, now=noon)
    assert worklist.timezone == "Europe/Berlin"
    assert worklist.total == 3
    assert [g.status for g in worklist.groups] == ["scheduled"]
    items = worklist.groups[0].items
    assert [i.patient_name for i in items] == ["Maria Garcia", "John Smith", "Aiko Tanaka"]
    # Demo appointments are at 09:00, 10:00 and 11:00 of the clinic's own day.
    assert [i.starts for i in items] == ["09:00", "10:00", "11:00"]


def test_age_formatting() -> None:
    assert age_on(date(2000, 6, 15), date(2026, 6, 14)) == "25 y"
    assert age_on(date(2000, 6, 15), date(2026, 6, 15)) == "26 y"
    assert age_on(date(2026, 1, 1), date(2026, 4, 1)) == "3 mo"
    assert age_on(None, date(2026, 1, 1)) == ""


def test_register_assigns_the_next_mrn_and_audits(session: Session, doctor: Actor) -> None:
    row = register_patient(
        session,
        actor=doctor,
        data=NewPatient(
            given_name="  Lena ",
            family_name="Schmidt",
            birth_date=date(1990, 5, 1),
            phone="0151 2345678",
        ),
    )
    assert row.name == "Lena Schmidt"
    year = datetime.now(ZoneInfo("Europe/Berlin")).year
    assert row.mrn == f"PAT-{year}-{(4 if year == 2026 else 1):05d}"
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.create")).all()
    assert [e.entity_id for e in events] == [row.id]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (NewPatient(given_name="", family_name="X"), "Given name and family name are required."),
        (NewPatient(given_name="A", family_name="B", birth_date=date(1800, 1, 1)), "Date of birth"),
        (NewPatient(given_name="A", family_name="B", sex="robot"), "Sex must be"),
        (NewPatient(given_name="A", family_name="B", email="nope"), "email address"),
    ],
)
def test_register_refuses_bad_input_and_writes_nothing(
    session: Session, doctor: Actor, data: NewPatient, message: str
) -> None:
    before = len(session.exec(select(Patient)).all())
    with pytest.raises(AppError) as raised:
        register_patient(session, actor=doctor, data=data)
    assert raised.value.code == "VALIDATION" and message in raised.value.message
    assert len(session.exec(select(Patient)).all()) == before


def test_accountant_cannot_register(session: Session, doctor: Actor) -> None:
    accountant = dataclasses.replace(doctor, role="accountant")
    with pytest.raises(AppError):
        register_patient(session, actor=accountant, data=NewPatient("A", "B"))
