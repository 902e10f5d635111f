"""Signing queues the printable copies; a worker renders PDF + DOCX once; links respect access."""

from __future__ import annotations

import io
import uuid
import zipfile

import pypdfium2 as pdfium
import pytest
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services import medication_catalog, prescriptions
from clinic_app.services import prescription_documents as documents
from clinic_app.services.demo import load_demo_clinic
from clinic_app.storage import get_storage
from models import Job, Medication, Patient, Prescription, StoredFile
from tests.unit.test_prescriptions import CATALOG, _actor, _item, _stepped_up
from workers.main import run_worker


def _pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def _sign_one() -> str:
    with session_scope() as session:
        load_demo_clinic(session)
        session.flush()
        medication_catalog.import_for_clinic(
            session, actor=_actor(session, "admin@demo.clinic"), text=CATALOG
        )
        meds = {m.generic_name: str(m.id) for m in session.exec(select(Medication)).all()}
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        patient.preferred_language = "es"
        session.add(patient)
        doctor = _stepped_up(session, "doctor@demo.clinic")
        rx_id = str(prescriptions.start(session, actor=doctor, patient_id=str(patient.id)))
        prescriptions.save_draft(
            session,
            actor=doctor,
            prescription_id=rx_id,
            version=1,
            items=[_item(meds, "test-ibuprofen", instructions="Take with food")],
            diagnosis="Back pain",
            pharmacist_notes="Blister pack please",
        )
        prescriptions.sign(
            session, actor=doctor, prescription_id=rx_id, version=2, acknowledgements={}
        )
    return rx_id


def test_worker_renders_both_copies_once_and_links_them(app_env: str, redis_url: str) -> None:
    rx_id = _sign_one()
    with session_scope() as session:
        job = session.exec(select(Job).where(Job.kind == documents.RENDER_KIND)).one()
        assert job.status == "queued" and job.entity_id == rx_id

    run_worker(burst=True)

    with session_scope() as session:
        rx = session.get(Prescription, uuid.UUID(rx_id))
        assert rx is not None and rx.pdf_file_id and rx.docx_file_id
        assert session.exec(select(Job).where(Job.kind == documents.RENDER_KIND)).one().status == (
            "succeeded"
        )
        pdf_row = session.get(StoredFile, rx.pdf_file_id)
        docx_row = session.get(StoredFile, rx.docx_file_id)
        assert pdf_row is not None and docx_row is not None
        number = rx.number
    text = _pdf_text(get_storage().get(pdf_row.storage_key))
    for expected in (
        "Demo Family Clinic",
        number,
        "Maria Garcia",
        "PAT-2026-00001",
        "MED-2011-48213",
        "Back pain",
        "Take 1 tablet by mouth three times a day for 7 days.",
        "Tome 1 comprimido por vía oral tres veces al día durante 7 días.",
        "Take with food",
        "Blister pack please",
        "Signature:",
    ):
        assert expected in text, expected
    docx = zipfile.ZipFile(io.BytesIO(get_storage().get(docx_row.storage_key)))
    body = docx.read("word/document.xml").decode("utf-8")
    assert number in body and "Tome 1 comprimido" in body
    assert any(name.startswith("word/media/") for name in docx.namelist())  # the QR image

    with session_scope() as session:
        portal = _actor(session, "maria@demo.patient")
        link = prescriptions.document_link(session, actor=portal, prescription_id=rx_id, kind="pdf")
        assert link.startswith(f"/api/files/{pdf_row.id}/download?token=")
        reception = _actor(session, "reception@demo.clinic")
        with pytest.raises(AppError) as refused:
            prescriptions.document_link(session, actor=reception, prescription_id=rx_id, kind="pdf")
        assert refused.value.code == "FORBIDDEN"


def test_tampered_stored_content_fails_verification(app_env: str, redis_url: str) -> None:
    rx_id = _sign_one()
    with session_scope() as session:
        rx = session.get(Prescription, uuid.UUID(rx_id))
        assert rx is not None
        token = documents.verification_token(rx)
        assert documents.verify(session, token=token)["state"] == "valid"
        # Someone with database access swaps the medicine (and the key id, which the trigger
        # allows for re-encryption): the hash no longer matches what was signed.
        rx.items = [{**rx.items[0], "dose": "20"}]
        rx.pii_key_id = "forged"
        session.add(rx)
    with session_scope() as session:
        result = documents.verify(session, token=token)
    assert result["state"] == "invalid" and "no longer matches" in result["detail"]
