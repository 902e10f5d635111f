"""Prescriptions: catalog import, drafting, warnings acknowledged, step-up signing, immutability,
supersede chain, dispense, access per persona, portal, documents and QR verification."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, select

from clinic_app.errors import AppError
from clinic_app.security import signing
from clinic_app.security.actor import Actor
from clinic_app.services import chart, medication_catalog, prescriptions
from clinic_app.services import prescription_documents as documents
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.prescriptions import ItemInput
from models import AuditEvent, Medication, Patient, Prescription
from tests.personas import actor_for as _actor
from tests.personas import stepped_up as _stepped_up

HEADER = ",".join(medication_catalog.COLUMNS) + "\n"
CATALOG = (
    HEADER
    + """test-amoxicillin,Amoxil,500 mg,capsule,oral,test-amoxicillin,\
penicillin|beta-lactam|antibacterial,723,3000,mg
test-ibuprofen,Zzprofen|Motrin,400 mg,tablet,oral,test-ibuprofen,nsaid|analgesic,5640,3200,mg
test-naproxen,Aleve,500 mg,tablet,oral,test-naproxen,nsaid|analgesic,,1500,mg
test-salbutamol,Ventolin,100 mcg/dose,inhaler,inhalation,test-salbutamol,\
beta2 agonist|bronchodilator,,,
"""
)
BAD_ROWS = (
    HEADER
    + """,X,1 mg,tablet,oral,,,,,
test-thing,,1 mg,tablet,by magic,,,,,
test-other,,1 mg,tablet,oral,,,abc,,
test-more,,1 mg,tablet,oral,,,,lots,mg
test-good,,1 mg,tablet,oral,,,,,
test-good,,1 mg,tablet,oral,,,,,
"""
)


@pytest.fixture
def clinic(session: Session) -> dict[str, object]:
    load_demo_clinic(session)
    session.flush()
    admin = _actor(session, "admin@demo.clinic")
    report = medication_catalog.import_for_clinic(session, actor=admin, text=CATALOG)
    assert (report.added, report.rejected) == (4, [])
    meds = {m.generic_name: str(m.id) for m in session.exec(select(Medication)).all()}
    patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
    return {"meds": meds, "patient": patient}


def _item(meds: dict[str, str], name: str, **changes: str) -> ItemInput:
    values = {
        "medication_id": meds[name],
        "dose": "1",
        "dose_unit": "capsule" if "amoxicillin" in name else "tablet",
        "frequency": "1-1-1",
        "duration_days": "7",
    }
    values.update(changes)
    return ItemInput(**values)


def _draft(session: Session, doctor: Actor, clinic: dict[str, object], *items: ItemInput) -> str:
    patient = clinic["patient"]
    assert isinstance(patient, Patient)
    rx_id = str(prescriptions.start(session, actor=doctor, patient_id=str(patient.id)))
    prescriptions.save_draft(
        session, actor=doctor, prescription_id=rx_id, version=1, items=list(items),
        diagnosis="Acute otitis media",
    )  # fmt: skip
    return rx_id


def test_catalog_import_reports_bad_rows_and_keeps_good_ones(session: Session) -> None:
    load_demo_clinic(session)
    admin = _actor(session, "admin@demo.clinic")
    report = medication_catalog.import_for_clinic(session, actor=admin, text=BAD_ROWS)
    assert report.added == 1
    assert [line for line, _ in report.rejected] == [2, 3, 4, 5, 7]
    reasons = " ".join(reason for _, reason in report.rejected)
    assert "generic_name is empty" in reasons and "by magic" in reasons
    assert "not a number" in reasons and "appear earlier" in reasons
    with pytest.raises(AppError) as no_header:
        medication_catalog.import_for_clinic(session, actor=admin, text="name,form\nx,tablet\n")
    assert no_header.value.code == "VALIDATION"
    doctor = _actor(session, "doctor@demo.clinic")
    with pytest.raises(AppError) as refused:
        medication_catalog.import_for_clinic(session, actor=doctor, text=BAD_ROWS)
    assert refused.value.code == "FORBIDDEN"


def test_type_ahead_finds_by_generic_brand_and_class(
    session: Session, clinic: dict[str, object]
) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    assert [r["generic_name"] for r in medication_catalog.search(
        session, actor=doctor, query="test-amox")] == ["test-amoxicillin"]  # fmt: skip
    assert medication_catalog.search(session, actor=doctor, query="zzprof")[0]["generic_name"] == (
        "test-ibuprofen"
    )
    # The shared starter catalog is there for every clinic, the clinic's own items marked.
    starter = medication_catalog.search(session, actor=doctor, query="amoxicillin 500")
    assert starter[0]["generic_name"] == "amoxicillin"
    assert {r["local"] for r in starter if r["generic_name"] == "amoxicillin"} == {""}
    assert {r["local"] for r in starter if r["generic_name"] == "test-amoxicillin"} == {"yes"}
    by_class = {r["generic_name"] for r in medication_catalog.search(
        session, actor=doctor, query="nsaid test")}  # fmt: skip
    assert by_class == {"test-ibuprofen", "test-naproxen"}
    assert medication_catalog.search(session, actor=doctor, query="%") == []


def test_draft_computes_quantity_and_plain_instructions(
    session: Session, clinic: dict[str, object]
) -> None:
    doctor = _actor(session, "doctor@demo.clinic")
    meds = clinic["meds"]
    assert isinstance(meds, dict)
    rx_id = _draft(
        session, doctor, clinic, _item(meds, "test-amoxicillin", dose="500", dose_unit="mg")
    )
    rx = session.get(Prescription, uuid.UUID(rx_id))
    assert rx is not None and rx.number.startswith("RX-") and rx.encounter_id is not None
    item = rx.items[0]
    assert (item["quantity"], item["quantity_unit"]) == (21, "capsule")
    assert item["plain"] == "Take 500 mg by mouth three times a day for 7 days."
    with pytest.raises(AppError) as stale:
        prescriptions.save_draft(session, actor=doctor, prescription_id=rx_id, version=1, items=[])
    assert stale.value.code == "VERSION_CONFLICT"
    with pytest.raises(AppError) as bad:
        prescriptions.save_draft(
            session, actor=doctor, prescription_id=rx_id, version=2,
            items=[_item(meds, "test-ibuprofen", frequency="prn")],
        )  # fmt: skip
    assert bad.value.code == "VALIDATION" and bad.value.message.startswith("Item 1: ")


def test_warnings_need_reasons_and_signing_needs_step_up(
    session: Session, clinic: dict[str, object]
) -> None:
    nurse = _actor(session, "nurse@demo.clinic")
    patient = clinic["patient"]
    meds = clinic["meds"]
    assert isinstance(patient, Patient) and isinstance(meds, dict)
    chart.add_allergy(session, actor=nurse, patient_id=patient.id, substance="Penicillin")
    stale = _stepped_up(session, "doctor@demo.clinic", minutes_ago=60)
    rx_id = _draft(
        session,
        stale,
        clinic,
        _item(meds, "test-amoxicillin"),
        _item(meds, "test-ibuprofen", dose="2", frequency="1-1-1-1"),
        _item(meds, "test-naproxen"),
    )
    with pytest.raises(AppError) as step_up:
        prescriptions.sign(
            session, actor=stale, prescription_id=rx_id, version=2, acknowledgements={}
        )
    assert step_up.value.code == "STEP_UP_REQUIRED"

    doctor = _stepped_up(session, "doctor@demo.clinic")
    rx = session.get(Prescription, uuid.UUID(rx_id))
    assert rx is not None
    found = prescriptions.warnings_for(session, actor=doctor, rx=rx)
    assert [(w.code, w.item) for w in found] == [
        ("ALLERGY_CLASS", 0),
        ("DUPLICATE_CLASS", 2),
    ]
    with pytest.raises(AppError) as unacknowledged:
        prescriptions.sign(
            session, actor=doctor, prescription_id=rx_id, version=2,
            acknowledgements={found[0].key: "Tolerated amoxicillin in 2024"},
        )  # fmt: skip
    assert unacknowledged.value.code == "WARNINGS_NOT_ACKNOWLEDGED"
    assert unacknowledged.value.details["keys"] == [found[1].key]

    reasons = {found[0].key: "Tolerated amoxicillin in 2024", found[1].key: "Short overlap"}
    digest = prescriptions.sign(
        session, actor=doctor, prescription_id=rx_id, version=2, acknowledgements=reasons
    )
    # Idempotent: the same call again (double click) returns the same signature.
    assert (
        prescriptions.sign(
            session, actor=doctor, prescription_id=rx_id, version=2, acknowledgements=reasons
        )
        == digest
    )
    session.refresh(rx)
    assert rx.status == "signed" and rx.content_hash == digest == prescriptions.content_hash(rx)
    assert [a["reason"] for a in rx.acknowledgements] == list(reasons.values())
    acknowledged = session.exec(
        select(AuditEvent).where(AuditEvent.action == "prescription.warning_acknowledged")
    ).all()
    assert len(acknowledged) == 2
    signed = session.exec(select(AuditEvent).where(AuditEvent.action == "prescription.sign")).all()
    assert len(signed) == 1


def _signed(session: Session, clinic: dict[str, object], *items: ItemInput) -> tuple[Actor, str]:
    doctor = _stepped_up(session, "doctor@demo.clinic")
    meds = clinic["meds"]
    assert isinstance(meds, dict)
    rx_id = _draft(session, doctor, clinic, *(items or (_item(meds, "test-ibuprofen"),)))
    prescriptions.sign(session, actor=doctor, prescription_id=rx_id, version=2, acknowledgements={})
    return doctor, rx_id


def test_a_signed_prescription_cannot_be_updated_even_with_sql(
    session: Session, clinic: dict[str, object]
) -> None:
    doctor, rx_id = _signed(session, clinic)
    with pytest.raises(AppError) as service:
        prescriptions.save_draft(session, actor=doctor, prescription_id=rx_id, version=3, items=[])
    assert service.value.code == "PRESCRIPTION_SIGNED"
    rid = uuid.UUID(rx_id).hex if session.get_bind().dialect.name == "sqlite" else rx_id
    for statement in (
        "UPDATE prescriptions SET items = 'x' WHERE id = :id",
        "UPDATE prescriptions SET content_hash = 'forged' WHERE id = :id",
        "UPDATE prescriptions SET status = 'draft' WHERE id = :id",
    ):
        with pytest.raises((IntegrityError, DBAPIError)), session.begin_nested():
            session.execute(sa.text(statement), {"id": rid})
    # Status steps after signing stay possible.
    pharmacist = _actor(session, "pharmacy@demo.clinic")
    prescriptions.dispense(session, actor=pharmacist, prescription_id=rx_id)
    assert session.get(Prescription, uuid.UUID(rx_id)).status == "dispensed"  # type: ignore[union-attr]


def test_change_after_signing_supersedes_and_cancel_needs_reason(
    session: Session, clinic: dict[str, object]
) -> None:
    doctor, old_id = _signed(session, clinic)
    new_id = str(prescriptions.revise(session, actor=doctor, prescription_id=old_id))
    assert str(prescriptions.revise(session, actor=doctor, prescription_id=old_id)) == new_id
    new = session.get(Prescription, uuid.UUID(new_id))
    assert new is not None and new.status == "draft" and str(new.supersedes_id) == old_id
    prescriptions.sign(
        session, actor=doctor, prescription_id=new_id, version=1, acknowledgements={}
    )
    old = session.get(Prescription, uuid.UUID(old_id))
    assert old is not None and old.status == "superseded" and str(old.superseded_by_id) == new_id
    with pytest.raises(AppError) as no_reason:
        prescriptions.cancel(session, actor=doctor, prescription_id=new_id, reason="")
    assert no_reason.value.code == "VALIDATION"
    prescriptions.cancel(session, actor=doctor, prescription_id=new_id, reason="Wrong patient")
    assert new.status == "cancelled"
    with pytest.raises(AppError):
        prescriptions.dispense(
            session, actor=_actor(session, "pharmacy@demo.clinic"), prescription_id=new_id
        )


def test_access_per_persona_and_break_glass(session: Session, clinic: dict[str, object]) -> None:
    _doctor, rx_id = _signed(session, clinic)
    patient = clinic["patient"]
    assert isinstance(patient, Patient)
    pharmacist = _actor(session, "pharmacy@demo.clinic")
    assert prescriptions.view(session, actor=pharmacist, prescription_id=rx_id)["number"]
    for email in ("reception@demo.clinic",):
        with pytest.raises(AppError) as refused:
            prescriptions.view(session, actor=_actor(session, email), prescription_id=rx_id)
        assert refused.value.code == "FORBIDDEN"
    nurse = _actor(session, "nurse@demo.clinic")
    with pytest.raises(AppError) as glass:
        prescriptions.view(session, actor=nurse, prescription_id=rx_id)
    assert glass.value.code == "BREAK_GLASS_REQUIRED"
    with pytest.raises(AppError):
        prescriptions.break_glass(session, actor=nurse, patient_id=str(patient.id), reason="x")
    prescriptions.break_glass(
        session, actor=nurse, patient_id=str(patient.id), reason="Patient collapsed in waiting room"
    )
    assert prescriptions.view(session, actor=nurse, prescription_id=rx_id)["number"]
    admin = _actor(session, "admin@demo.clinic")
    log = prescriptions.break_glass_log(session, actor=admin)
    assert log[0]["who"] == nurse.full_name and "collapsed" in log[0]["reason"]
    # The portal patient sees their own; another clinic's id is simply not found.
    portal = _actor(session, "maria@demo.patient")
    assert [r["id"] for r in prescriptions.portal_list(session, actor=portal)] == [rx_id]
    assert prescriptions.portal_view(session, actor=portal, prescription_id=rx_id)["items"]
    with pytest.raises(AppError) as other:
        prescriptions.portal_view(session, actor=portal, prescription_id=str(uuid.uuid4()))
    assert other.value.code == "NOT_FOUND"
    # Another patient of the same clinic sees none of Maria's.
    john = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00002")).one()
    johns_portal = Actor(
        uuid.uuid4(), portal.clinic_id, "patient", "John", "j@x", patient_id=john.id
    )
    assert prescriptions.portal_list(session, actor=johns_portal) == []
    with pytest.raises(AppError) as not_his:
        prescriptions.portal_view(session, actor=johns_portal, prescription_id=rx_id)
    assert not_his.value.code == "NOT_FOUND"
    # A doctor of another clinic cannot even find it.
    stranger = Actor(uuid.uuid4(), uuid.uuid4(), "doctor", "Dr. Elsewhere", "e@x")
    with pytest.raises(AppError) as elsewhere:
        prescriptions.view(session, actor=stranger, prescription_id=rx_id)
    assert elsewhere.value.code == "NOT_FOUND"
    # A doctor of the clinic without a visit needs break-glass too.
    other_doctor = Actor(uuid.uuid4(), portal.clinic_id, "doctor", "Dr. Other", "o@x")
    with pytest.raises(AppError) as no_visit:
        prescriptions.view(session, actor=other_doctor, prescription_id=rx_id)
    assert no_visit.value.code == "BREAK_GLASS_REQUIRED"


def test_documents_carry_the_content_and_a_verifiable_qr(
    session: Session, clinic: dict[str, object]
) -> None:
    _doctor, rx_id = _signed(session, clinic)
    rx = session.get(Prescription, uuid.UUID(rx_id))
    assert rx is not None
    info = prescriptions.details(session, rx)
    token = documents.verification_token(rx)
    url = documents.verification_url(token)
    pdf = documents.render_pdf(info, url=url)
    assert pdf.startswith(b"%PDF")
    docx = documents.render_docx(info, url=url)
    text = zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml").decode("utf-8")
    header = zipfile.ZipFile(io.BytesIO(docx)).read("word/header1.xml").decode("utf-8")
    assert "Demo Family Clinic" in header
    for expected in (
        rx.number,
        "Maria Garcia",
        "PAT-2026-00001",
        "MED-2011-48213",
        "Take 1 tablet by mouth three times a day for 7 days.",
        "Signed electronically",
    ):
        assert expected in text, expected  # fmt: skip
    assert (
        "Maria" not in token
        and "PAT-" not in signing.verify(documents.VERIFY_PURPOSE, token).values()
    )

    assert documents.verify(session, token=token)["state"] == "valid"
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert documents.verify(session, token=tampered)["state"] == "invalid"
    assert documents.verify(session, token="nonsense")["state"] == "invalid"
    prescriptions.cancel(session, actor=_doctor, prescription_id=rx_id, reason="Changed plan")
    assert documents.verify(session, token=token)["state"] == "cancelled"
