"""The chart: allergies, problems, medications, vitals, encounters, timeline; audited reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import chart
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.scheduling import transition_appointment
from models import (
    Allergy,
    Appointment,
    AuditEvent,
    Clinic,
    Encounter,
    Membership,
    Patient,
    Study,
    User,
)
from models.base import utcnow


def _actor(session: Session, email: str) -> Actor:
    user = session.exec(select(User).where(User.email == email)).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)


@pytest.fixture
def demo(session: Session) -> Patient:
    load_demo_clinic(session)
    session.flush()
    return session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()


def test_allergies_problems_medications_vitals(session: Session, demo: Patient) -> None:
    nurse = _actor(session, "nurse@demo.clinic")
    allergy_id = chart.add_allergy(
        session,
        actor=nurse,
        patient_id=demo.id,
        substance="Penicillin",
        reaction="Rash",
        severity="severe",
    )
    with pytest.raises(AppError) as twice:
        chart.add_allergy(session, actor=nurse, patient_id=demo.id, substance="penicillin")
    assert twice.value.code == "ALLERGY_EXISTS"
    with pytest.raises(AppError) as bad:
        chart.add_allergy(session, actor=nurse, patient_id=demo.id, substance="X", severity="huge")
    assert bad.value.code == "VALIDATION"
    chart.add_condition(
        session, actor=nurse, patient_id=demo.id, name="Type 2 diabetes", onset="2019"
    )
    chart.add_medication(
        session, actor=nurse, patient_id=demo.id, name="Metformin", dosage="500 mg bid"
    )
    with pytest.raises(AppError) as implausible:
        chart.record_vitals(session, actor=nurse, patient_id=demo.id, values={"systolic": "900"})
    assert "between" in implausible.value.message
    chart.record_vitals(
        session,
        actor=nurse,
        patient_id=demo.id,
        values={"systolic": "128", "diastolic": "82", "heart_rate": "71", "temperature_c": "36,8"},
    )
    view = chart.open_chart(session, actor=nurse, patient_id=demo.id)
    assert view.name == "Maria Garcia" and view.mrn == "PAT-2026-00001"
    assert view.allergies[0]["substance"] == "Penicillin"
    assert view.allergies[0]["severity"] == "Severe"
    assert [{k: v for k, v in p.items() if k != "id"} for p in view.problems] == [
        {"name": "Type 2 diabetes", "status": "active", "onset": "2019"}
    ]
    assert view.medications[0]["dosage"] == "500 mg bid"
    assert view.vitals[0]["text"] == "BP 128/82 · HR 71 · T 36.8 °C"
    kinds = [item["kind"] for item in view.timeline]
    assert {"appointment", "allergy", "problem", "vitals"} <= set(kinds)
    only = chart.open_chart(session, actor=nurse, patient_id=demo.id, kinds={"allergy"})
    assert [i["kind"] for i in only.timeline] == ["allergy"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "patient.chart_open")).all()

    # Status change with the version the user saw; a stale version is refused.
    allergy = session.get(Allergy, allergy_id)
    assert allergy is not None
    chart.set_allergy_status(
        session, actor=nurse, allergy_id=str(allergy_id), status="resolved", version=allergy.version
    )
    with pytest.raises(AppError) as stale:
        chart.set_allergy_status(
            session, actor=nurse, allergy_id=str(allergy_id), status="active", version=1
        )
    assert stale.value.code == "VERSION_CONFLICT"


def test_timeline_is_newest_first(session: Session, demo: Patient) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    chart.add_condition(session, actor=doctor, patient_id=demo.id, name="Asthma")
    first = session.exec(select(Appointment).where(Appointment.patient_id == demo.id)).first()
    assert first is not None
    first.starts_at = utcnow() - timedelta(days=400)
    first.ends_at = first.starts_at + timedelta(minutes=20)
    session.add(first)
    session.flush()
    view = chart.open_chart(session, actor=doctor, patient_id=demo.id)
    assert view.timeline[0]["kind"] == "problem"
    assert view.timeline[-1]["kind"] == "appointment"


def test_reception_cannot_read_or_write_the_chart(session: Session, demo: Patient) -> None:
    desk = _actor(session, "reception@demo.clinic")
    with pytest.raises(AppError) as read:
        chart.open_chart(session, actor=desk, patient_id=demo.id)
    with pytest.raises(AppError) as write:
        chart.add_allergy(session, actor=desk, patient_id=demo.id, substance="Latex")
    assert read.value.code == write.value.code == "FORBIDDEN"


def test_other_clinic_gets_not_found(session: Session, demo: Patient) -> None:
    other = Clinic(name="B", slug="b-clinic")
    session.add(other)
    session.flush()
    stranger = Actor(demo.id, other.id, "doctor", "x", "x")
    for call in (
        lambda: chart.open_chart(session, actor=stranger, patient_id=demo.id),
        lambda: chart.add_allergy(session, actor=stranger, patient_id=demo.id, substance="x"),
        lambda: chart.open_chart(session, actor=stranger, patient_id="not-a-uuid"),
    ):
        with pytest.raises(AppError) as hidden:
            call()
        assert hidden.value.code == "NOT_FOUND"


def test_starting_a_consultation_opens_one_encounter(session: Session, demo: Patient) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    appointment = session.exec(
        select(Appointment)
        .where(Appointment.patient_id == demo.id)
        .order_by(col(Appointment.starts_at))
    ).first()
    assert appointment is not None
    for status in ("arrived", "ready", "in_consultation"):
        transition_appointment(
            session,
            actor=doctor,
            appointment_id=str(appointment.id),
            to_status=status,
            expected_version=appointment.version,
        )
        session.flush()
    (encounter,) = session.exec(select(Encounter).where(Encounter.patient_id == demo.id)).all()
    assert encounter.appointment_id == appointment.id and encounter.status == "open"
    chart.record_vitals(session, actor=doctor, patient_id=demo.id, values={"spo2": 97})
    view = chart.open_chart(session, actor=doctor, patient_id=demo.id)
    assert view.open_encounter == str(encounter.id)
    transition_appointment(
        session,
        actor=doctor,
        appointment_id=str(appointment.id),
        to_status="completed",
        expected_version=appointment.version,
    )
    session.flush()
    assert encounter.status == "closed" and encounter.ended_at is not None
    walk_in = chart.start_encounter(session, actor=doctor, patient_id=demo.id, reason="Walk-in")
    assert session.get(Encounter, walk_in) is not None


def test_removing_an_entry_needs_a_reason_and_keeps_it_for_audit(
    session: Session, demo: Patient
) -> None:
    nurse = _actor(session, "nurse@demo.clinic")
    allergy_id = chart.add_allergy(session, actor=nurse, patient_id=demo.id, substance="Latex")
    with pytest.raises(AppError) as no_reason:
        chart.remove_entry(
            session, actor=nurse, kind="allergy", entry_id=str(allergy_id), reason=" "
        )
    assert no_reason.value.code == "VALIDATION"
    chart.remove_entry(
        session, actor=nurse, kind="allergy", entry_id=str(allergy_id), reason="entered in error"
    )
    assert chart.open_chart(session, actor=nurse, patient_id=demo.id).allergies == []
    kept = session.get(Allergy, allergy_id)
    assert kept is not None and kept.deleted_at is not None  # soft delete: still in the table
    row = session.exec(select(AuditEvent).where(AuditEvent.action == "allergy.remove")).one()
    assert row.after == {"reason": "entered in error"}
    with pytest.raises(AppError) as twice:
        chart.remove_entry(
            session, actor=nurse, kind="allergy", entry_id=str(allergy_id), reason="x"
        )
    assert twice.value.code == "NOT_FOUND"
    desk = _actor(session, "reception@demo.clinic")
    with pytest.raises(AppError) as refused:
        chart.remove_entry(
            session, actor=desk, kind="allergy", entry_id=str(allergy_id), reason="x"
        )
    assert refused.value.code == "FORBIDDEN"


def test_studies_with_structured_findings(session: Session, demo: Patient) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    with pytest.raises(AppError) as bad_line:
        chart.add_study(
            session,
            actor=doctor,
            patient_id=demo.id,
            study_type="lab",
            title="Panel",
            findings="HbA1c 6.1",
        )
    assert "line 1" in bad_line.value.message
    chart.add_study(
        session,
        actor=doctor,
        patient_id=demo.id,
        study_type="lab",
        title="Diabetes panel",
        narrative="Fair control.",
        findings="HbA1c: 6.1 %\nFasting glucose = 7.2 mmol/L",
    )
    (study,) = session.exec(select(Study)).all()
    assert study.findings == [
        {"name": "HbA1c", "value": "6.1", "unit": "%"},
        {"name": "Fasting glucose", "value": "7.2", "unit": "mmol/L"},
    ]
    raw = session.execute(sa.text("SELECT findings, title FROM studies")).one()
    assert "HbA1c" not in raw[0] and "Diabetes" not in raw[1]  # encrypted at rest
    view = chart.open_chart(session, actor=doctor, patient_id=demo.id, kinds={"study"})
    assert view.studies[0]["findings"] == ["HbA1c: 6.1 %", "Fasting glucose: 7.2 mmol/L"]
    assert view.timeline[0]["title"] == "Lab · Diabetes panel"
    with pytest.raises(AppError):
        chart.add_study(session, actor=doctor, patient_id=demo.id, study_type="mri", title="x")


def test_allergies_are_coded_against_the_catalog(session: Session, demo: Patient) -> None:
    nurse = _actor(session, "nurse@demo.clinic")
    for substance in ("Penicillins", "Amoxicillin", "sulfa drugs", "Cat dander"):
        chart.add_allergy(session, actor=nurse, patient_id=demo.id, substance=substance)
    coded = {
        a.substance: a.coded_ingredient
        for a in session.exec(select(Allergy).where(Allergy.patient_id == demo.id)).all()
    }
    assert coded == {
        "Penicillins": "penicillin",  # a class of the starter catalog
        "Amoxicillin": "amoxicillin",  # an ingredient
        "sulfa drugs": "sulfonamide",  # a synonym of a class
        "Cat dander": None,  # not a medicine: shown as "not coded"
    }
