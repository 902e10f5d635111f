"""Worker for drawing records: the rendered PNG, its thumbnail, and the record's DOCX."""

from __future__ import annotations

import io
import uuid
from typing import Any

from docx import Document
from docx.shared import Cm, Pt
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services import drawing_render, records
from models import Clinic, FormTemplate, MedicalRecord, Patient, RecordFile
from workers.exports import GeneratedFile, store_generated_once

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _answer(field: dict[str, Any], value: Any) -> str:
    if value in (None, "", {}):
        return "—"
    if field["type"] == "checkbox":
        return "Yes" if value else "No"
    if field["type"] == "vitals" and isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in value.items())
    if field["type"] == "number":
        return f"{float(value):g} {field.get('unit', '')}".strip()
    return str(value)


def render_docx(info: dict[str, Any], image_png: bytes) -> bytes:
    """Title, patient, the form's answers, the annotated image, and the signature line."""
    document = Document()
    section = document.sections[0]
    section.left_margin = section.right_margin = Cm(2)
    document.add_heading(info["clinic"], level=2)
    document.add_heading(f"{info['title']} — {info['number']}", level=1)
    document.add_paragraph(f"Patient: {info['patient']} · MRN {info['mrn']}")
    if info["status"] != "signed":
        run = document.add_paragraph().add_run("DRAFT — not signed")
        run.bold = True
    if info["fields"]:
        document.add_heading(info["form_name"], level=2)
        table = document.add_table(rows=0, cols=2)
        table.style = "Table Grid"
        for field in info["fields"]:
            cells = table.add_row().cells
            cells[0].text = field["label"]
            cells[1].text = _answer(field, info["answers"].get(field["id"]))
    document.add_heading("Drawing", level=2)
    document.add_picture(io.BytesIO(image_png), width=Cm(16))
    if info["status"] == "signed":
        signed = document.add_paragraph(f"Signed {info['signed_at']} · SHA-256 {info['hash']}")
        signed.runs[0].font.size = Pt(8)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def record_export(ctx: JobContext) -> dict[str, Any]:
    """Render once per job (a retried job reuses what an earlier attempt stored)."""
    record_id = uuid.UUID(str(ctx.params.get("record_id")))
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(MedicalRecord, record_id)
        if row is None or row.clinic_id != ctx.clinic_id:
            raise AppError("JOB_BAD_PARAMS", "The record is missing.")
        background = records.background_image(session, row)
        form = session.get(FormTemplate, row.form_template_id) if row.form_template_id else None
        patient = session.get(Patient, row.patient_id)
        clinic = session.get(Clinic, row.clinic_id)
        assert patient is not None and clinic is not None
        data = dict(row.drawing_data)
        info: dict[str, Any] = {
            "clinic": clinic.name,
            "title": row.title,
            "number": f"{row.number} v{row.version_number}",
            "patient": patient.display_name,
            "mrn": patient.mrn,
            "status": row.status,
            "fields": form.fields if form else [],
            "form_name": form.name if form else "",
            "answers": dict(row.form_data),
            "hash": row.content_hash or "",
            "signed_at": row.signed_at.strftime("%Y-%m-%d %H:%M UTC") if row.signed_at else "",
        }
    ctx.progress(20, "Drawing the record")
    png = drawing_render.render_png(data, background, scale=2.0)
    stem = info["number"].replace(" ", "-")

    image = store_generated_once(
        ctx,
        label="record-png",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(f"{stem}.png", "image/png", png),
    )
    thumbnail = store_generated_once(
        ctx,
        label="record-thumb",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(
            f"{stem}-thumb.png", "image/png", drawing_render.thumbnail_png(png)
        ),
    )
    ctx.progress(60, "Writing the DOCX")
    docx = store_generated_once(
        ctx,
        label="record-docx",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(f"{stem}.docx", DOCX_TYPE, render_docx(info, png)),
    )
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(MedicalRecord, record_id)
        assert row is not None
        row.image_file_id = uuid.UUID(image["file_id"])
        row.thumbnail_file_id = uuid.UUID(thumbnail["file_id"])
        row.docx_file_id = uuid.UUID(docx["file_id"])
        session.add(row)
        for stored in (image, docx):
            file_id = uuid.UUID(stored["file_id"])
            exists = session.exec(
                select(RecordFile).where(
                    RecordFile.record_id == record_id, RecordFile.file_id == file_id
                )
            ).first()
            if exists is None:
                session.add(
                    RecordFile(
                        clinic_id=row.clinic_id, record_id=record_id, file_id=file_id, role="export"
                    )
                )
    return {"image_file_id": image["file_id"], "docx_file_id": docx["file_id"]}
