"""Patient summary export: a DOCX built by a background job (the proof of the jobs pipeline).

The request (``request_patient_summary``) is checked, audited and queued in the caller's
transaction; the worker loads the data, renders the document and stores it as a file.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph
from sqlmodel import Session, col, select

from clinic_app import audit, jobs
from clinic_app.errors import NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.timeutil import as_utc, zone_named
from models import Appointment, Clinic, Job, Patient, Provider

logger = logging.getLogger(__name__)

PATIENT_SUMMARY_KIND = "patient_summary_docx"
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MISSING = "—"


@dataclass(frozen=True)
class AppointmentLine:
    starts_at: datetime  # UTC
    provider: str
    visit_type: str
    status: str


@dataclass(frozen=True)
class PatientSummary:
    """Plain data read in one transaction, rendered without touching the database."""

    clinic_name: str
    timezone: str
    patient_id: uuid.UUID
    mrn: str
    full_name: str
    birth_date: date | None
    sex: str | None
    phone: str | None
    email: str | None
    appointments: tuple[AppointmentLine, ...]


def age_on(birth_date: date, today: date) -> int:
    """Completed years on ``today`` (a birthday counts from its first day)."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def format_birth_date(birth_date: date | None, today: date) -> str:
    if birth_date is None:
        return MISSING
    return f"{birth_date.day} {birth_date:%b %Y} (age {age_on(birth_date, today)})"


def format_local(moment: datetime, zone: ZoneInfo) -> str:
    """A UTC moment as clinic wall time, e.g. ``Wed 1 Jul 2026, 09:00 CEST``."""
    local = as_utc(moment).astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def _humanize(code: str) -> str:
    return code.replace("_", " ").capitalize()


def find_patient(session: Session, *, clinic_id: uuid.UUID, patient_id: uuid.UUID | str) -> Patient:
    try:
        parsed = patient_id if isinstance(patient_id, uuid.UUID) else uuid.UUID(str(patient_id))
    except ValueError:
        raise NotFound("Patient") from None
    patient = session.exec(
        select(Patient).where(
            Patient.id == parsed,
            Patient.clinic_id == clinic_id,
            col(Patient.deleted_at).is_(None),
        )
    ).first()
    if patient is None:
        raise NotFound("Patient")
    return patient


def load_patient_summary(
    session: Session, *, clinic_id: uuid.UUID, patient_id: uuid.UUID | str
) -> PatientSummary:
    """Read the patient, the clinic and the patient's appointments, scoped by clinic."""
    patient = find_patient(session, clinic_id=clinic_id, patient_id=patient_id)
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound("Clinic")
    rows = session.exec(
        select(Appointment, Provider)
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            Appointment.patient_id == patient.id,
            Appointment.clinic_id == clinic_id,
            col(Appointment.deleted_at).is_(None),
        )
        .order_by(col(Appointment.starts_at))
    ).all()
    return PatientSummary(
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        patient_id=patient.id,
        mrn=patient.mrn,
        full_name=patient.display_name,
        birth_date=patient.birth_date,
        sex=patient.sex,
        phone=patient.phone,
        email=patient.email,
        appointments=tuple(
            AppointmentLine(
                starts_at=as_utc(appointment.starts_at),
                provider=provider.display_name,
                visit_type=_humanize(appointment.visit_type),
                status=_humanize(appointment.status),
            )
            for appointment, provider in rows
        ),
    )


def summary_filename(summary: PatientSummary) -> str:
    return f"patient-summary-{summary.mrn}.docx"


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) that Word fills in when it lays out the pages."""
    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    placeholder = OxmlElement("w:t")
    placeholder.text = "1"
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    for element in (begin, instr, separate, placeholder, end):
        run._r.append(element)


def render_patient_summary_docx(summary: PatientSummary, *, now: datetime | None = None) -> bytes:
    """The DOCX bytes: letterhead, patient block, appointments table, page numbers."""
    zone = zone_named(summary.timezone)
    generated = as_utc(now or datetime.now(UTC))
    today_local = generated.astimezone(zone).date()

    document = Document()
    section = document.sections[0]

    letterhead = section.header.paragraphs[0]
    letterhead.alignment = WD_ALIGN_PARAGRAPH.LEFT
    name_run = letterhead.add_run(summary.clinic_name)
    name_run.bold = True
    name_run.font.size = Pt(16)
    name_run.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Confidential patient information · Page ")
    _add_field(footer, "PAGE")
    footer.add_run(" of ")
    _add_field(footer, "NUMPAGES")

    document.add_heading("Patient summary", level=0)

    details = (
        ("Name", summary.full_name),
        ("MRN", summary.mrn),
        ("Date of birth", format_birth_date(summary.birth_date, today_local)),
        ("Sex", _humanize(summary.sex) if summary.sex else MISSING),
        ("Phone", summary.phone or MISSING),
        ("Email", summary.email or MISSING),
    )
    for label, value in details:
        line = document.add_paragraph()
        line.paragraph_format.space_after = Pt(2)
        line.add_run(f"{label}: ").bold = True
        line.add_run(value)

    document.add_heading("Appointments", level=1)
    if summary.appointments:
        table = document.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        for cell, title in zip(
            table.rows[0].cells, ("Date and time", "Provider", "Visit type", "Status"), strict=True
        ):
            cell.text = ""
            cell.paragraphs[0].add_run(title).bold = True
        for appointment in summary.appointments:
            cells = table.add_row().cells
            cells[0].text = format_local(appointment.starts_at, zone)
            cells[1].text = appointment.provider
            cells[2].text = appointment.visit_type
            cells[3].text = appointment.status
    else:
        document.add_paragraph("No appointments on record.")

    stamp = document.add_paragraph()
    stamp.paragraph_format.space_before = Pt(12)
    stamp_run = stamp.add_run(
        f"Generated {format_local(generated, zone)} · times shown in {zone.key}"
    )
    stamp_run.italic = True
    stamp_run.font.size = Pt(9)

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def build_patient_summary_docx(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID | str,
    now: datetime | None = None,
) -> bytes:
    """Load and render in one call (the worker calls the two halves to report progress)."""
    summary = load_patient_summary(session, clinic_id=clinic_id, patient_id=patient_id)
    return render_patient_summary_docx(summary, now=now)


def request_patient_export(
    session: Session,
    *,
    actor: Actor,
    patient_id: uuid.UUID | str,
    kind: str,
    audit_action: str,
) -> Job:
    """Queue an export job of one patient of the actor's clinic (audited); returns the job."""
    require(actor, "patient:export")
    patient = find_patient(session, clinic_id=actor.clinic_id, patient_id=patient_id)
    job = jobs.enqueue(
        session,
        kind=kind,
        clinic_id=actor.clinic_id,
        created_by=actor.user_id,
        params={"patient_id": str(patient.id)},
        entity_type="patient",
        entity_id=patient.id,
    )
    audit.record(
        session,
        action=audit_action,
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="patient",
        entity_id=patient.id,
        after={"job_id": str(job.id)},
    )
    return job


def request_patient_summary(session: Session, *, actor: Actor, patient_id: uuid.UUID | str) -> Job:
    """Queue the DOCX export of one patient of the actor's clinic; returns the job to watch."""
    return request_patient_export(
        session,
        actor=actor,
        patient_id=patient_id,
        kind=PATIENT_SUMMARY_KIND,
        audit_action="patient.export_summary",
    )
