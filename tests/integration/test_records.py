"""Drawing records end to end: create on a body chart or a PDF page, autosave round trip,
conflicts, bad and oversized drawings, forms, step-up signing, immutability, export (DOCX with
the image), the JSON query for shapes, and the S3 path."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import docx
import pytest
from fpdf import FPDF
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from clinic_app.db import get_engine, session_scope
from clinic_app.errors import AppError
from clinic_app.services import chart, records
from clinic_app.services.demo import load_demo_clinic
from clinic_app.storage import get_storage, save_file
from models import AuditEvent, MedicalRecord, Patient, PatientFile, RecordFile, StoredFile
from tests.conftest import clear_app_caches
from tests.integration.s3_server import create_bucket, start_moto, use_s3
from tests.personas import actor_for, stepped_up
from workers.main import run_worker

DOCTOR = "doctor@demo.clinic"
LINE = {
    "tool": "pen",
    "points": [100, 100, 200, 150, 260, 150],
    "color": "#d32f2f",
    "strokeWidth": 4,
}
CIRCLE = {
    "id": "s1",
    "type": "circle",
    "x": 300,
    "y": 400,
    "radius": 40,
    "color": "#1565c0",
    "strokeWidth": 3,
}


def _maria(session) -> str:  # type: ignore[no-untyped-def]
    return str(session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one().id)


def _new(background: str = "template:body_front", **kwargs) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        doctor = actor_for(session, DOCTOR)
        row = records.create(
            session, actor=doctor, patient_id=_maria(session), background=background, **kwargs
        )
        return str(row.id), row.version


def _save(record_id: str, version: int, drawing: dict | None = None, **kwargs) -> MedicalRecord:  # type: ignore[type-arg,no-untyped-def]
    with session_scope() as session:
        return records.save_draft(
            session,
            actor=actor_for(session, DOCTOR),
            record_id=record_id,
            version=version,
            drawing_data=drawing,
            **kwargs,
        )


@pytest.fixture
def clinic(app_env: str) -> Iterator[None]:
    with session_scope() as session:
        load_demo_clinic(session)
    yield


def test_autosave_round_trip_conflict_and_bad_drawings(clinic: None) -> None:
    record_id, version = _new()
    with session_scope() as session:
        view = records.view(session, actor=actor_for(session, DOCTOR), record_id=record_id)
    drawing = json.loads(view["drawing"])
    assert drawing["backgroundType"] == "template" and drawing["backgroundFileId"] == "body_front"
    assert drawing["stageSize"] == {"width": 600, "height": 1000}
    assert view["background_url"] == "/body_charts/body_front.png"

    mine = {**drawing, "lines": [LINE], "shapes": [CIRCLE], "backgroundFileId": "teeth"}
    saved = _save(record_id, version, json.dumps(mine))
    with session_scope() as session:
        row = session.get(MedicalRecord, uuid.UUID(record_id))
        assert row is not None
        assert row.drawing_data["lines"] == [LINE] and row.drawing_data["shapes"] == [CIRCLE]
        assert (
            row.drawing_data["backgroundFileId"] == "body_front"
        )  # the server owns the background
        saved_version = row.version
    assert saved.version == version + 1

    # Another tab saves over a stale version: refused with the newer content, nothing lost.
    stale = {**drawing, "lines": [LINE, LINE]}
    with pytest.raises(AppError) as conflict:
        _save(record_id, version, stale)
    assert conflict.value.code == "VERSION_CONFLICT"
    assert conflict.value.details["theirs"]["drawing"]["shapes"] == [CIRCLE]
    forced = _save(record_id, version, stale, force=True)  # the user chose "keep mine"
    assert forced.version == saved_version + 1 and len(forced.drawing_data["lines"]) == 2

    for bad, code in [
        ({**drawing, "lines": [{**LINE, "color": "red"}]}, "DRAWING_INVALID"),
        ({**drawing, "shapes": [{**CIRCLE, "type": "star"}]}, "DRAWING_INVALID"),
        ({**drawing, "lines": [{**LINE, "points": [1, 2, 3]}]}, "DRAWING_INVALID"),
        ({**drawing, "lines": [{**LINE, "points": [1.5] * 19_998}] * 60}, "DRAWING_TOO_LARGE"),
    ]:
        with pytest.raises(AppError) as refused:
            _save(record_id, forced.version, bad)
        assert refused.value.code == code, refused.value.message
    with session_scope() as session:
        row = session.get(MedicalRecord, uuid.UUID(record_id))
        assert row is not None and row.version == forced.version  # nothing half-written
        assert len(row.drawing_data["lines"]) == 2


def test_forms_signing_immutability_amendment_export_and_queries(clinic: None) -> None:
    with session_scope() as session:
        forms = {
            f["name"]: f["id"]
            for f in records.list_forms(session, actor=actor_for(session, DOCTOR))
        }
    record_id, version = _new(form_template_id=forms["Wound assessment"], title="Left shin wound")
    drawing = None
    with session_scope() as session:
        drawing = json.loads(
            records.view(session, actor=actor_for(session, DOCTOR), record_id=record_id)["drawing"]
        )
    row = _save(record_id, version, json.dumps({**drawing, "lines": [LINE], "shapes": [CIRCLE]}))
    with pytest.raises(AppError) as bad_answer:
        _save(record_id, row.version, form_data={"exudate": "lots"})
    assert bad_answer.value.code == "FORM_ANSWERS_INVALID"
    assert "Exudate: choose one of none, low, moderate, high" in bad_answer.value.message
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        with pytest.raises(AppError) as required:
            records.sign(session, actor=doctor, record_id=record_id, version=row.version)
        assert required.value.code == "VALIDATION" and "Site" in required.value.message
    row = _save(
        record_id,
        row.version,
        form_data={"site": "left shin", "length": "3.5", "exudate": "low", "infection": False},
    )
    assert row.form_data == {
        "site": "left shin",
        "length": 3.5,
        "exudate": "low",
        "infection": False,
    }
    with session_scope() as session:
        late = stepped_up(session, DOCTOR, minutes_ago=30)
        with pytest.raises(AppError) as no_step_up:
            records.sign(session, actor=late, record_id=record_id, version=row.version)
        assert no_step_up.value.code == "STEP_UP_REQUIRED"
    with session_scope() as session:
        digest = records.sign(
            session, actor=stepped_up(session, DOCTOR), record_id=record_id, version=row.version
        )
        assert len(digest) == 64
    with pytest.raises(AppError) as signed:
        _save(record_id, row.version + 1, json.dumps(drawing))
    assert signed.value.code == "RECORD_SIGNED"
    with pytest.raises((DBAPIError, IntegrityError)), session_scope() as session:
        stored = session.get(MedicalRecord, uuid.UUID(record_id))
        assert stored is not None
        stored.drawing_data = {**stored.drawing_data, "lines": []}
        session.add(stored)

    run_worker(burst=True)  # signing queued the export
    with session_scope() as session:
        stored_row = session.get(MedicalRecord, uuid.UUID(record_id))
        assert stored_row is not None and stored_row.docx_file_id and stored_row.thumbnail_file_id
        data = get_storage().get(session.get(StoredFile, stored_row.docx_file_id).storage_key)  # type: ignore[union-attr]
        roles = {
            r.role
            for r in session.exec(
                select(RecordFile).where(RecordFile.record_id == stored_row.id)
            ).all()
        }
        assert roles == {"export"}
        doctor = actor_for(session, DOCTOR)
        assert stored_row.number in records.with_shape(session, actor=doctor, shape_type="circle")
        assert records.with_shape(session, actor=doctor, shape_type="arrow") == []
        chart_items = chart.open_chart(session, actor=doctor, patient_id=_maria(session)).timeline
        drawn = [t for t in chart_items if t["kind"] == "record"]
        assert drawn[0]["title"].startswith("Drawing signed · REC-")
        assert drawn[0]["image"].startswith("/api/files/")  # the thumbnail, by a short link
        amendment = records.amend(session, actor=doctor, record_id=record_id)
        assert amendment.version_number == 2 and str(amendment.amends_id) == record_id
        actions = {e.action for e in session.exec(select(AuditEvent)).all()}
    document = docx.Document(io.BytesIO(data))
    text = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        c.text for t in document.tables for r in t.rows for c in r.cells
    )
    assert "left shin" in text and digest in text
    assert len(document.inline_shapes) == 1  # the annotated image
    assert {"record.create", "record.save", "record.sign", "record.amend", "record.view"} <= actions


def _chart_pdf(session, doctor, patient_id: str) -> str:  # type: ignore[no-untyped-def]
    pdf = FPDF()
    for n in range(3):
        pdf.add_page()
        pdf.set_font("helvetica", size=24)
        pdf.cell(0, 20, f"ECG page {n + 1}")
    stored = save_file(
        session,
        clinic_id=doctor.clinic_id,
        data=bytes(pdf.output()),
        filename="ecg.pdf",
        content_type="application/pdf",
        created_by=doctor.user_id,
        key_prefix="uploads",
    )
    link = PatientFile(
        clinic_id=doctor.clinic_id,
        patient_id=uuid.UUID(patient_id),
        file_id=stored.id,
        title="ECG",
        created_by=doctor.user_id,
    )
    session.add(link)
    session.flush()
    return str(link.id)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_pdf_page_background_rendered_once_and_exported(
    clinic: None, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = None
    if backend == "s3":
        server, endpoint = start_moto()
        use_s3(monkeypatch, endpoint, create_bucket(endpoint))
        get_engine().dispose()
        clear_app_caches()
    try:
        with session_scope() as session:
            doctor = actor_for(session, DOCTOR)
            file_id = _chart_pdf(session, doctor, _maria(session))
            choices = records.background_choices(session, actor=doctor, patient_id=_maria(session))
            assert f"file:{file_id}" in {c["value"] for c in choices}
            with pytest.raises(AppError) as out_of_range:
                records.create(
                    session,
                    actor=doctor,
                    patient_id=_maria(session),
                    background=f"file:{file_id}",
                    pdf_page=9,
                )
            assert "3 page" in out_of_range.value.message
        first, _ = _new(f"file:{file_id}", pdf_page=2)
        second, _ = _new(f"file:{file_id}", pdf_page=2)
        with session_scope() as session:
            a = session.get(MedicalRecord, uuid.UUID(first))
            b = session.get(MedicalRecord, uuid.UUID(second))
            assert a is not None and b is not None
            assert (
                a.drawing_data["backgroundType"] == "pdf" and a.drawing_data["pdfPageNumber"] == 2
            )
            assert a.drawing_data["pdfNumPages"] == 3
            assert (
                a.drawing_data["backgroundFileId"] == b.drawing_data["backgroundFileId"]
            )  # cached
            view = records.view(session, actor=actor_for(session, DOCTOR), record_id=first)
            assert view["background_url"].startswith("/api/files/")
            records.export(session, actor=actor_for(session, DOCTOR), record_id=first)
        run_worker(burst=True)
        with session_scope() as session:
            row = session.get(MedicalRecord, uuid.UUID(first))
            assert row is not None and row.image_file_id is not None
            png = get_storage().get(session.get(StoredFile, row.image_file_id).storage_key)  # type: ignore[union-attr]
        assert png.startswith(b"\x89PNG")
    finally:
        if server is not None:
            server.stop()


def test_form_templates_are_data_validated_and_versioned(clinic: None) -> None:
    with session_scope() as session:
        admin = actor_for(session, "admin@demo.clinic")
        for bad, words in [
            ([], "at least one field"),
            ([{"id": "Site", "label": "Site", "type": "text"}], "lower-case"),
            ([{"id": "a", "label": "A", "type": "slider"}], "type must be"),
            ([{"id": "a", "label": "A", "type": "select"}], "needs options"),
        ]:
            with pytest.raises(AppError) as refused:
                records.save_form(session, actor=admin, name="Burns", fields=bad)
            assert refused.value.code == "FORM_INVALID" and words in refused.value.message
        first = records.save_form(
            session,
            actor=admin,
            name="Burns",
            fields=[{"id": "area", "label": "Area", "type": "number", "unit": "%"}],
        )
        second = records.save_form(
            session,
            actor=admin,
            name="Burns",
            template_id=str(first.id),
            fields=[
                {"id": "area", "label": "Area", "type": "number", "unit": "%"},
                {
                    "id": "depth",
                    "label": "Depth",
                    "type": "select",
                    "options": ["superficial", "partial", "full"],
                },
            ],
        )
        assert second.template_version == 2 and second.family_id == first.id
        names = [f["name"] for f in records.list_forms(session, actor=admin)]
        assert names.count("Burns") == 1  # only the current version is offered
        assert records.validate_answers(second.fields, {"area": "12", "depth": "partial"}) == {
            "area": 12.0,
            "depth": "partial",
        }
        with pytest.raises(AppError) as old_field:
            records.validate_answers(first.fields, {"depth": "partial"})
        assert "not a field of this form" in old_field.value.message
        nurse = actor_for(session, "nurse@demo.clinic")
        with pytest.raises(AppError):
            records.save_form(
                session,
                actor=nurse,
                name="Mine",
                fields=[{"id": "a", "label": "A", "type": "text"}],
            )
