"""Printable prescriptions (PDF and DOCX, made by a worker) and their QR verification.

The QR code holds only a link with a signed token: the prescription's id and a prefix of its
content hash, MAC'd with the installation key — no patient data. The verification page checks
the token, that the stored content still hashes to the signed value, and the current status.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import segno
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt, RGBColor
from fpdf import FPDF
from sqlmodel import Session, select

from clinic_app import jobs
from clinic_app.errors import AppError
from clinic_app.security import signing
from clinic_app.settings import get_settings
from models import Clinic, Prescription, User

RENDER_KIND = "prescription_documents"
VERIFY_PURPOSE = "rx-verify"
VERIFY_TTL_SECONDS = 5 * 366 * 24 * 3600  # a printed prescription stays checkable for years
PDF_CONTENT_TYPE = "application/pdf"
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CHECK_TEXT = (
    "Pharmacist: scan the QR code to check that this prescription is genuine, unchanged and "
    "still valid (the check page shows no patient data)."
)


def verification_token(rx: Prescription) -> str:
    if not rx.content_hash:
        raise AppError("PRESCRIPTION_NOT_SIGNED", "Only a signed prescription can be verified.")
    payload = {"id": str(rx.id), "h": rx.content_hash[:32]}
    return signing.sign(VERIFY_PURPOSE, payload, VERIFY_TTL_SECONDS)


def verification_url(token: str) -> str:
    return f"{get_settings().effective_public_url.rstrip('/')}/verify?t={token}"


def verify(session: Session, *, token: str) -> dict[str, str]:
    """The public verification result: ``state`` valid | cancelled | superseded | invalid."""
    from clinic_app.services.prescriptions import content_hash

    invalid = {
        "state": "invalid",
        "title": "Not a valid prescription",
        "detail": "This code was not issued by this clinic system, or it was altered.",
    }
    try:
        payload = signing.verify(VERIFY_PURPOSE, (token or "").strip())
        rx_id = uuid.UUID(str(payload.get("id")))
    except (AppError, ValueError):
        return invalid
    rx = session.exec(select(Prescription).where(Prescription.id == rx_id)).first()
    if rx is None or not rx.content_hash or rx.content_hash[:32] != payload.get("h"):
        return invalid
    if content_hash(rx) != rx.content_hash:
        return {
            **invalid,
            "detail": "The stored prescription no longer matches what was signed.",
        }
    clinic = session.get(Clinic, rx.clinic_id)
    doctor = session.get(User, rx.doctor_user_id)
    facts = {
        "number": rx.number,
        "clinic": clinic.name if clinic else "",
        "doctor": doctor.full_name if doctor else "",
        "signed": rx.signed_at.strftime("%Y-%m-%d") if rx.signed_at else "",
        "fingerprint": rx.content_hash[:12],
    }
    if rx.status == "cancelled":
        return {
            **facts,
            "state": "cancelled",
            "title": "Cancelled",
            "detail": "This prescription was cancelled by the prescriber; do not dispense.",
        }
    if rx.status == "superseded":
        return {
            **facts,
            "state": "superseded",
            "title": "Replaced",
            "detail": "A newer prescription replaced this one; ask the patient for the new copy.",
        }
    status = {"signed": "Valid — not yet dispensed", "dispensed": "Valid — dispensed"}
    return {
        **facts,
        "state": "valid",
        "title": status.get(rx.status, "Valid — course completed"),
        "detail": "Signed by the prescriber; the content matches the clinic's record.",
    }


def enqueue_render(session: Session, *, rx: Prescription, actor_user_id: uuid.UUID) -> None:
    """Queue the PDF + DOCX of a signed prescription (after the signing commits)."""
    jobs.enqueue(
        session,
        kind=RENDER_KIND,
        clinic_id=rx.clinic_id,
        created_by=actor_user_id,
        params={"prescription_id": str(rx.id)},
        entity_type="prescription",
        entity_id=rx.id,
    )


def _qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def filename(details: dict[str, Any], extension: str) -> str:
    return f"prescription-{details['number']}.{extension}"


def _lines(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("Patient", details["patient_name"]),
        ("MRN", details["patient_mrn"]),
        ("Date of birth", details["patient_birth_date"] or "—"),
        ("Diagnosis", details["diagnosis"] or "—"),
    ]


def _doctor_line(details: dict[str, Any]) -> str:
    registration = details["doctor_registration"]
    return details["doctor"] + (f" · Reg. no. {registration}" if registration else "")


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        regular, bold = _FONT_DIR / "DejaVuSans.ttf", _FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.add_font("Body", "", str(regular))
            self.add_font("Body", "B", str(bold))
            self.family = "Body"
        else:  # core font: Latin-1 only; text is folded in ``_t``
            self.family = "Helvetica"
        self.set_auto_page_break(auto=True, margin=20)

    def t(self, text: str) -> str:
        if self.family == "Body":
            return text
        return (
            text.replace("œ", "oe").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
        )

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.set_text_color(110)
        self.cell(0, 6, self.t(f"Page {self.page_no()} · verify with the QR code"), align="C")


def render_pdf(details: dict[str, Any], *, url: str) -> bytes:
    pdf = _Pdf()
    pdf.add_page()

    def line(text: str, *, size: float = 10, bold: bool = False, height: float = 6) -> None:
        pdf.set_font(pdf.family, "B" if bold else "", size)
        pdf.multi_cell(0, height, pdf.t(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_text_color(31, 58, 95)
    line(details["clinic"], size=16, bold=True, height=9)
    pdf.set_text_color(0)
    pdf.image(io.BytesIO(_qr_png(url)), x=160, y=10, w=36)
    pdf.set_right_margin(55)  # the header text stays clear of the QR code
    line(f"Prescription {details['number']} · {details['signed_at']}")
    line(f"Prescriber: {_doctor_line(details)}")
    pdf.ln(6)
    for label, value in _lines(details):
        pdf.set_font(pdf.family, "B", 10)
        pdf.cell(32, 6, pdf.t(label + ":"))
        line(value)
    pdf.set_right_margin(10)
    pdf.ln(4)
    pdf.set_draw_color(180)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(3)
    for item in details["items"]:
        line(f"{item['n']}. {item['name']}", size=11, bold=True)
        for text in (item["plain"], item["plain_local"], item["instructions"]):
            if text:
                line(text, height=5.5)
        line(f"Quantity: {item['quantity']} · Refills: {item['refills']}", height=5.5)
        pdf.ln(2)
    if details["pharmacist_notes"]:
        line("Notes to the pharmacist", bold=True)
        line(details["pharmacist_notes"], height=5.5)
    pdf.ln(10)
    line("Signed electronically by " + _doctor_line(details))
    line(f"on {details['signed_at']} · fingerprint {details['content_hash'][:12]}")
    pdf.ln(8)
    line("Signature: ______________________________")
    pdf.ln(2)
    pdf.set_text_color(90)
    line(CHECK_TEXT, size=8, height=4.5)
    return bytes(pdf.output())


def render_docx(details: dict[str, Any], *, url: str) -> bytes:
    document = Document()
    section = document.sections[0]
    header = section.header.paragraphs[0]
    run = header.add_run(details["clinic"])
    run.bold = True
    run.font.size = Pt(16)
    run.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    document.add_heading(f"Prescription {details['number']}", level=1)
    meta = document.add_paragraph()
    meta.add_run(f"Date: {details['signed_at']}\nPrescriber: {_doctor_line(details)}")
    document.add_picture(io.BytesIO(_qr_png(url)), width=Cm(3.2))
    document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for label, value in _lines(details):
        line = document.add_paragraph()
        line.paragraph_format.space_after = Pt(2)
        line.add_run(f"{label}: ").bold = True
        line.add_run(value)
    document.add_heading("Medicines", level=2)
    for item in details["items"]:
        title = document.add_paragraph()
        title.add_run(f"{item['n']}. {item['name']}").bold = True
        lines = [item["plain"], item["plain_local"], item["instructions"]]
        lines.append(f"Quantity: {item['quantity']} · Refills: {item['refills']}")
        document.add_paragraph("\n".join(line for line in lines if line))
    if details["pharmacist_notes"]:
        document.add_heading("Notes to the pharmacist", level=2)
        document.add_paragraph(details["pharmacist_notes"])
    signature = document.add_paragraph()
    signature.paragraph_format.space_before = Pt(18)
    signature.add_run(
        f"Signed electronically by {_doctor_line(details)} on {details['signed_at']}"
        f" · fingerprint {details['content_hash'][:12]}"
    )
    document.add_paragraph("Signature: ______________________________")
    check = document.add_paragraph()
    small = check.add_run(CHECK_TEXT)
    small.font.size = Pt(8)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
