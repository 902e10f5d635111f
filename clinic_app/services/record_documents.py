"""The printable DOCX of a drawing record: title, patient, the form's answers, the image."""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.shared import Cm, Pt
from sqlmodel import Session

from models import Clinic, FormTemplate, MedicalRecord, Patient


def printout(session: Session, row: MedicalRecord) -> dict[str, Any]:
    """Plain data of what the DOCX shows (read in the job's transaction, rendered after)."""
    form = session.get(FormTemplate, row.form_template_id) if row.form_template_id else None
    patient = session.get(Patient, row.patient_id)
    clinic = session.get(Clinic, row.clinic_id)
    assert patient is not None and clinic is not None
    return {
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
