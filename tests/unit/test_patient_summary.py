"""Patient summary DOCX: content, clinic-timezone formatting, and who may request it."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from docx import Document
from docx.document import Document as DocxDocument
from sqlmodel import Session, select

from clinic_app.errors import Forbidden, NotFound
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patient_summary import (
    PATIENT_SUMMARY_KIND,
    age_on,
    build_patient_summary_docx,
    request_patient_summary,
)
from models import Appointment, AuditEvent, Clinic, Job, Membership, Patient, Provider, User

# 23:30 UTC on 13 March is already 14 March (the birthday) in Berlin (CET, UTC+1).
NOW = datetime(2026, 3, 13, 23, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Demo:
    clinic: Clinic
    patient: Patient
    provider: Provider


def _actor(session: Session, email: str) -> Actor:
    user = session.exec(select(User).where(User.email == email)).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)


@pytest.fixture
def demo(session: Session) -> Demo:
    load_demo_clinic(session)
    clinic = session.exec(select(Clinic).where(Clinic.slug == "demo")).one()
    patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
    provider = session.exec(
        select(Provider).where(
            Provider.clinic_id == clinic.id, Provider.display_name == "Dr. Amina Okafor"
        )
    ).one()
    return Demo(clinic, patient, provider)


def _document(session: Session, demo: Demo, now: datetime = NOW) -> DocxDocument:
    data = build_patient_summary_docx(
        session, clinic_id=demo.clinic.id, patient_id=demo.patient.id, now=now
    )
    return Document(io.BytesIO(data))


def _body_lines(document: DocxDocument) -> list[str]:
    return [p.text for p in document.paragraphs]


def _add_appointment(
    session: Session, demo: Demo, starts_at: datetime, status: str = "scheduled"
) -> None:
    session.add(
        Appointment(
            clinic_id=demo.clinic.id,
            provider_id=demo.provider.id,
            patient_id=demo.patient.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=20),
            status=status,
            visit_type="follow_up",
        )
    )
    session.flush()


def test_docx_has_letterhead_patient_block_appointments_and_page_numbers(
    session: Session, demo: Demo
) -> None:
    demo.patient.email = "maria.garcia@example.org"
    session.add(demo.patient)
    # Summer (CEST, UTC+2) and winter (CET, UTC+1) times in Berlin.
    _add_appointment(session, demo, datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    _add_appointment(session, demo, datetime(2026, 1, 15, 8, 30, tzinfo=UTC), "completed")

    document = _document(session, demo)

    header = [p.text for p in document.sections[0].header.paragraphs]
    assert header == ["Demo Family Clinic"]
    lines = _body_lines(document)
    assert lines[0] == "Patient summary"
    for expected in (
        "Name: Maria Garcia",
        "MRN: PAT-2026-00001",
        "Date of birth: 14 Mar 1978 (age 48)",
        "Sex: Female",
        "Phone: +1 555 0101",
        "Email: maria.garcia@example.org",
    ):
        assert expected in lines
    assert "Generated Sat 14 Mar 2026, 00:30 CET · times shown in Europe/Berlin" in lines

    (table,) = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows[0] == ["Date and time", "Provider", "Visit type", "Status"]
    assert rows[1] == ["Thu 15 Jan 2026, 09:30 CET", "Dr. Amina Okafor", "Follow up", "Completed"]
    assert rows[2] == ["Wed 1 Jul 2026, 09:00 CEST", "Dr. Amina Okafor", "Follow up", "Scheduled"]
    assert len(rows) == 4  # plus the demo clinic's appointment of today

    footer_xml = document.sections[0].footer._element.xml
    assert "Page " in document.sections[0].footer.paragraphs[0].text
    assert " PAGE " in footer_xml
    assert " NUMPAGES " in footer_xml


def test_age_and_times_follow_the_clinic_timezone(session: Session, demo: Demo) -> None:
    assert "Date of birth: 14 Mar 1978 (age 48)" in _body_lines(_document(session, demo))

    demo.clinic.timezone = "UTC"  # still 13 March there: the birthday has not come yet
    session.add(demo.clinic)
    session.flush()
    lines = _body_lines(_document(session, demo))
    assert "Date of birth: 14 Mar 1978 (age 47)" in lines
    assert "Generated Fri 13 Mar 2026, 23:30 UTC · times shown in UTC" in lines


def test_unknown_timezone_falls_back_to_utc_and_missing_values_show_a_dash(
    session: Session, demo: Demo
) -> None:
    demo.clinic.timezone = "Mars/Olympus_Mons"
    demo.patient.birth_date = None
    demo.patient.phone = None
    session.add_all([demo.clinic, demo.patient])
    session.flush()
    lines = _body_lines(_document(session, demo))
    assert "Date of birth: —" in lines
    assert "Phone: —" in lines
    assert "Email: —" in lines
    assert "Generated Fri 13 Mar 2026, 23:30 UTC · times shown in UTC" in lines


def test_patient_without_appointments(session: Session, demo: Demo) -> None:
    for appointment in session.exec(select(Appointment)).all():
        session.delete(appointment)
    session.flush()
    document = _document(session, demo)
    assert document.tables == []
    assert "No appointments on record." in _body_lines(document)


def test_age_on_birthdays_and_leap_days() -> None:
    assert age_on(date(1978, 3, 14), date(2026, 3, 13)) == 47
    assert age_on(date(1978, 3, 14), date(2026, 3, 14)) == 48
    assert age_on(date(2000, 2, 29), date(2025, 2, 28)) == 24
    assert age_on(date(2000, 2, 29), date(2025, 3, 1)) == 25


def test_request_queues_a_job_and_audits(session: Session, demo: Demo) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    job = request_patient_summary(session, actor=doctor, patient_id=str(demo.patient.id))

    row = session.get(Job, job.id)
    assert row is not None
    assert (row.kind, row.status, row.clinic_id) == (
        PATIENT_SUMMARY_KIND,
        "queued",
        doctor.clinic_id,
    )
    assert row.params == {"patient_id": str(demo.patient.id)}
    assert (row.entity_type, row.entity_id) == ("patient", str(demo.patient.id))
    assert row.created_by == doctor.user_id
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "patient.export_summary")
    ).one()
    assert event.entity_id == str(demo.patient.id)
    assert event.actor_user_id == doctor.user_id
    assert event.after == {"job_id": str(job.id)}


def test_receptionist_may_not_export(session: Session, demo: Demo) -> None:
    receptionist = _actor(session, "reception@demo.clinic")
    with pytest.raises(Forbidden):
        request_patient_summary(session, actor=receptionist, patient_id=demo.patient.id)
    assert session.exec(select(Job)).all() == []


def test_another_clinics_patient_is_not_found(session: Session, demo: Demo) -> None:
    other = Clinic(name="Other Clinic", slug="other", timezone="UTC")
    session.add(other)
    session.flush()
    stranger = Patient(
        clinic_id=other.id, mrn="PAT-2026-00001", given_name="Otto", family_name="Other"
    )
    session.add(stranger)
    session.flush()
    doctor = _actor(session, "doctor@demo.clinic")

    with pytest.raises(NotFound):
        request_patient_summary(session, actor=doctor, patient_id=stranger.id)
    with pytest.raises(NotFound):
        request_patient_summary(session, actor=doctor, patient_id=uuid.uuid4())
    with pytest.raises(NotFound):
        request_patient_summary(session, actor=doctor, patient_id="not-a-uuid")
    with pytest.raises(NotFound):
        build_patient_summary_docx(session, clinic_id=demo.clinic.id, patient_id=stranger.id)

    other_doctor = Actor(doctor.user_id, other.id, "doctor", doctor.full_name, doctor.email)
    with pytest.raises(NotFound):
        request_patient_summary(session, actor=other_doctor, patient_id=demo.patient.id)
    assert session.exec(select(Job)).all() == []
