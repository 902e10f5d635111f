"""The patient chart: allergies, problems, medications, vitals, encounters and the timeline.

Opening a chart is an audited PHI read. Writes are clinical (``patient:update_chart``), carry
the row ``version`` for edits (``VERSION_CONFLICT``) and soft-delete. Encounters tie one visit
together: starting a consultation from the worklist opens one for the appointment.

The timeline merges sources registered in ``TIMELINE_SOURCES`` (appointments, encounters,
allergies, problems, vitals here; scribe sessions, records, prescriptions and files add theirs),
newest first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError, NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can, require
from clinic_app.services import medication_catalog
from clinic_app.services.patients import age_on, clinic_today, load_patient
from clinic_app.services.records import file_url
from clinic_app.services.scheduling import STATUS_LABELS, clinic_zone
from clinic_app.timeutil import as_utc
from models import (
    ALLERGY_SEVERITIES,
    ALLERGY_STATUSES,
    Allergy,
    Appointment,
    Condition,
    ConsultationSession,
    Encounter,
    MedicalRecord,
    Patient,
    PatientFile,
    PatientMedication,
    Prescription,
    Provider,
    Report,
    ReportTemplate,
    StoredFile,
    Study,
    VitalSigns,
)
from models.base import utcnow
from models.chart import STUDY_TYPES

SEVERITY_LABELS = {
    "mild": "Mild",
    "moderate": "Moderate",
    "severe": "Severe",
    "life_threatening": "Life-threatening",
}
VITAL_LIMITS: dict[str, tuple[float, float, str]] = {
    "systolic": (40, 300, "Systolic pressure"),
    "diastolic": (20, 200, "Diastolic pressure"),
    "heart_rate": (20, 250, "Heart rate"),
    "temperature_c": (30, 45, "Temperature"),
    "respiratory_rate": (4, 80, "Respiratory rate"),
    "spo2": (50, 100, "SpO2"),
    "weight_kg": (0.3, 400, "Weight"),
    "height_cm": (20, 250, "Height"),
}


@dataclass(frozen=True)
class TimelineItem:
    when: datetime
    kind: str  # appointment | encounter | allergy | problem | vitals | …
    title: str
    detail: str = ""
    image_file_id: uuid.UUID | None = None  # a thumbnail (drawings), shown via a short link


@dataclass(frozen=True)
class ChartView:
    patient_id: str
    name: str
    mrn: str
    age: str
    sex: str
    birth_date: str
    phone: str
    email: str
    address: str
    blood_group: str
    preferred_language: str
    emergency_contact: str
    insurance: str
    allergies: list[dict[str, str]]
    problems: list[dict[str, str]]
    medications: list[dict[str, str]]
    vitals: list[dict[str, str]]
    timeline: list[dict[str, str]]
    files: list[dict[str, str]]
    studies: list[dict[str, Any]]
    can_edit: bool
    version: int
    form: dict[str, str]
    open_encounter: str = ""


def _text(value: str | None, limit: int, label: str, *, required: bool = False) -> str | None:
    cleaned = " ".join((value or "").split())
    if required and not cleaned:
        raise AppError("VALIDATION", f"{label} is required.")
    if len(cleaned) > limit:
        raise AppError("VALIDATION", f"{label} is too long (at most {limit} characters).")
    return cleaned or None


def _audit_write(
    session: Session, actor: Actor, action: str, entity: str, entity_id: uuid.UUID, **after: object
) -> None:
    audit.record_by(
        session,
        actor,
        action,
        entity_type=entity,
        entity_id=entity_id,
        after={k: v for k, v in after.items() if v is not None} or None,
    )


# ---- writes --------------------------------------------------------------------------------


def add_allergy(
    session: Session,
    *,
    actor: Actor,
    patient_id: str | uuid.UUID,
    substance: str,
    reaction: str = "",
    severity: str = "moderate",
) -> uuid.UUID:
    require(actor, "patient:update_chart")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    name = _text(substance, 120, "Substance", required=True)
    if severity not in ALLERGY_SEVERITIES:
        raise AppError("VALIDATION", "Severity must be mild, moderate, severe or life-threatening.")
    duplicate = [
        a
        for a in session.exec(
            select(Allergy).where(
                Allergy.patient_id == patient.id,
                Allergy.status == "active",
                col(Allergy.deleted_at).is_(None),
            )
        ).all()
        if a.substance.lower() == (name or "").lower()
    ]
    if duplicate:
        raise AppError("ALLERGY_EXISTS", f"{name} is already on the allergy list.")
    allergy = Allergy(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        substance=name or "",
        reaction=_text(reaction, 300, "Reaction"),
        severity=severity,
        coded_ingredient=medication_catalog.code_for_substance(
            session, clinic_id=actor.clinic_id, substance=name or ""
        ),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(allergy)
    session.flush()
    _audit_write(session, actor, "allergy.create", "allergy", allergy.id, severity=severity)
    return allergy.id


STUDY_LABELS = {
    "lab": "Lab",
    "imaging": "Imaging",
    "ecg": "ECG",
    "pathology": "Pathology",
    "other": "Other",
}


def parse_findings(text: str) -> list[dict[str, str]]:
    """Structured findings from lines like "HbA1c: 6.1 %" or "Hb = 13.2 g/dL"."""
    findings = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        name, sep, rest = line.partition(":") if ":" in line else line.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise AppError(
                "VALIDATION",
                f"Finding on line {number} needs a name and a value, e.g. 'Hb: 13.2 g/dL'.",
            )
        value, _, unit = rest.strip().partition(" ")
        findings.append({"name": name.strip()[:80], "value": value[:40], "unit": unit.strip()[:20]})
    if len(findings) > 100:
        raise AppError("VALIDATION", "At most 100 findings per study.")
    return findings


def add_study(
    session: Session,
    *,
    actor: Actor,
    patient_id: str | uuid.UUID,
    study_type: str,
    title: str,
    narrative: str = "",
    findings: str = "",
) -> uuid.UUID:
    """A study (lab, imaging, ECG…) with its narrative and structured findings."""
    require(actor, "patient:update_chart")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    if study_type not in STUDY_TYPES:
        raise AppError("VALIDATION", "Choose the kind of study.")
    study = Study(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        encounter_id=open_encounter_id(session, actor, patient.id),
        study_type=study_type,
        title=_text(title, 200, "Title", required=True) or "",
        narrative=(narrative or "").strip()[:5000] or None,
        findings=parse_findings(findings),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(study)
    session.flush()
    _audit_write(session, actor, "study.create", "study", study.id, type=study_type)
    return study.id


# What "remove" may apply to on a chart: (model, audit entity name).
REMOVABLE: dict[str, tuple[type, str]] = {
    "allergy": (Allergy, "allergy"),
    "problem": (Condition, "condition"),
    "medication": (PatientMedication, "patient_medication"),
    "file": (PatientFile, "patient_file"),
    "study": (Study, "study"),
}


def remove_entry(session: Session, *, actor: Actor, kind: str, entry_id: str, reason: str) -> None:
    """Take an entry off the chart (entered in error): soft-deleted, kept for the audit trail."""
    require(actor, "patient:update_chart")
    if kind not in REMOVABLE:
        raise AppError("VALIDATION", "This kind of entry cannot be removed.")
    why = _text(reason, 300, "Reason", required=True)
    model, entity = REMOVABLE[kind]
    try:
        eid = uuid.UUID(str(entry_id))
    except ValueError:
        raise NotFound("Entry") from None
    row = session.exec(
        select(model).where(model.id == eid, model.clinic_id == actor.clinic_id)  # type: ignore[attr-defined]
    ).first()
    if row is None or row.deleted_at is not None:
        raise NotFound("Entry")
    row.deleted_at = utcnow()
    if hasattr(row, "version"):
        row.version += 1
        row.updated_by = actor.user_id
    session.add(row)
    audit.record_by(
        session,
        actor,
        f"{entity}.remove",
        entity_type=entity,
        entity_id=eid,
        after={"reason": why},
    )


def set_allergy_status(
    session: Session, *, actor: Actor, allergy_id: str, status: str, version: int
) -> None:
    """Mark an allergy inactive/resolved (or active again); the version guards lost updates."""
    require(actor, "patient:update_chart")
    if status not in ALLERGY_STATUSES:
        raise AppError("VALIDATION", "Status must be active, inactive or resolved.")
    try:
        aid = uuid.UUID(str(allergy_id))
    except ValueError:
        raise NotFound("Allergy") from None
    allergy = session.exec(
        select(Allergy).where(Allergy.id == aid, Allergy.clinic_id == actor.clinic_id)
    ).first()
    if allergy is None or allergy.deleted_at is not None:
        raise NotFound("Allergy")
    if allergy.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "Someone else changed this allergy meanwhile; the chart now shows their change.",
        )
    before = allergy.status
    allergy.status = status
    allergy.version += 1
    allergy.updated_at = utcnow()
    allergy.updated_by = actor.user_id
    session.add(allergy)
    audit.record_by(
        session,
        actor,
        "allergy.status",
        entity_type="allergy",
        entity_id=allergy.id,
        before={"status": before},
        after={"status": status},
    )


def add_condition(
    session: Session, *, actor: Actor, patient_id: str | uuid.UUID, name: str, onset: str = ""
) -> uuid.UUID:
    require(actor, "patient:update_chart")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    condition = Condition(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        name=_text(name, 200, "Problem", required=True) or "",
        onset=_text(onset, 20, "Onset"),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(condition)
    session.flush()
    _audit_write(session, actor, "condition.create", "condition", condition.id)
    return condition.id


def add_medication(
    session: Session, *, actor: Actor, patient_id: str | uuid.UUID, name: str, dosage: str = ""
) -> uuid.UUID:
    require(actor, "patient:update_chart")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    medication = PatientMedication(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        name=_text(name, 200, "Medication", required=True) or "",
        dosage=_text(dosage, 200, "Dosage"),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(medication)
    session.flush()
    _audit_write(session, actor, "medication.create", "patient_medication", medication.id)
    return medication.id


def record_vitals(
    session: Session,
    *,
    actor: Actor,
    patient_id: str | uuid.UUID,
    values: dict[str, str | float | int | None],
) -> uuid.UUID:
    """Store one set of vitals; every number is checked against a plausible range."""
    require(actor, "patient:update_chart")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    parsed: dict[str, float] = {}
    for name, raw in values.items():
        if name not in VITAL_LIMITS or raw in (None, ""):
            continue
        low, high, label = VITAL_LIMITS[name]
        try:
            number = float(str(raw).replace(",", "."))
        except ValueError:
            raise AppError("VALIDATION", f"{label} must be a number.") from None
        if not low <= number <= high:
            raise AppError("VALIDATION", f"{label} must be between {low:g} and {high:g}.")
        parsed[name] = number
    if not parsed:
        raise AppError("VALIDATION", "Enter at least one measurement.")
    integers = {"systolic", "diastolic", "heart_rate", "respiratory_rate", "spo2"}
    vitals = VitalSigns(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        encounter_id=open_encounter_id(session, actor, patient.id),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    for name, value in parsed.items():
        setattr(vitals, name, int(value) if name in integers else value)
    session.add(vitals)
    session.flush()
    _audit_write(session, actor, "vitals.create", "vital_signs", vitals.id)
    return vitals.id


def open_encounter_id(session: Session, actor: Actor, patient_id: uuid.UUID) -> uuid.UUID | None:
    return session.exec(
        select(Encounter.id)
        .where(
            Encounter.clinic_id == actor.clinic_id,
            Encounter.patient_id == patient_id,
            Encounter.status == "open",
        )
        .order_by(col(Encounter.started_at).desc())
    ).first()


def start_encounter(
    session: Session, *, actor: Actor, patient_id: str | uuid.UUID, reason: str = ""
) -> uuid.UUID:
    """A visit without an appointment (walk-in, phone consultation)."""
    require(actor, "encounter:create")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    encounter = Encounter(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        doctor_user_id=actor.user_id,
        reason=_text(reason, 300, "Reason"),
        created_by=actor.user_id,
    )
    session.add(encounter)
    session.flush()
    _audit_write(session, actor, "encounter.start", "encounter", encounter.id)
    return encounter.id


def encounter_for_appointment(
    session: Session, appointment: Appointment, *, actor_user_id: uuid.UUID | None
) -> Encounter:
    """The appointment's encounter, opened on first call (starting a consultation)."""
    existing = session.exec(
        select(Encounter).where(Encounter.appointment_id == appointment.id)
    ).first()
    if existing is not None:
        return existing
    doctor = session.exec(
        select(Provider.user_id).where(Provider.id == appointment.provider_id)
    ).first()
    encounter = Encounter(
        clinic_id=appointment.clinic_id,
        patient_id=appointment.patient_id,
        appointment_id=appointment.id,
        doctor_user_id=doctor or actor_user_id,
        created_by=actor_user_id,
    )
    session.add(encounter)
    session.flush()
    audit.record(
        session,
        action="encounter.start",
        actor_user_id=actor_user_id,
        clinic_id=appointment.clinic_id,
        entity_type="encounter",
        entity_id=encounter.id,
        after={"appointment_id": str(appointment.id)},
    )
    return encounter


def close_encounter_for_appointment(
    session: Session, appointment: Appointment, *, actor_user_id: uuid.UUID | None
) -> None:
    encounter = session.exec(
        select(Encounter).where(Encounter.appointment_id == appointment.id)
    ).first()
    if encounter is None or encounter.status == "closed":
        return
    encounter.status = "closed"
    encounter.ended_at = utcnow()
    encounter.version += 1
    encounter.updated_by = actor_user_id
    session.add(encounter)


# ---- reads ---------------------------------------------------------------------------------


def _appointments(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(Appointment, Provider.display_name)
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(Appointment.patient_id == patient.id, col(Appointment.deleted_at).is_(None))
    ).all()
    return [
        TimelineItem(
            when=as_utc(a.starts_at),
            kind="appointment",
            title=f"Appointment · {a.visit_type.replace('_', ' ')}",
            detail=f"{provider} · {STATUS_LABELS.get(a.status, a.status)}",
        )
        for a, provider in rows
    ]


def _encounters(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(select(Encounter).where(Encounter.patient_id == patient.id)).all()
    return [
        TimelineItem(
            when=as_utc(e.started_at),
            kind="encounter",
            title="Consultation" if e.appointment_id else "Encounter",
            detail=(e.reason or "") + ("" if e.status == "open" else " (closed)"),
        )
        for e in rows
    ]


def _allergies(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(Allergy).where(Allergy.patient_id == patient.id, col(Allergy.deleted_at).is_(None))
    ).all()
    return [
        TimelineItem(
            when=as_utc(a.created_at),
            kind="allergy",
            title=f"Allergy recorded · {a.substance}",
            detail=SEVERITY_LABELS.get(a.severity, a.severity),
        )
        for a in rows
    ]


def _problems(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(Condition).where(
            Condition.patient_id == patient.id, col(Condition.deleted_at).is_(None)
        )
    ).all()
    return [
        TimelineItem(when=as_utc(c.created_at), kind="problem", title=f"Problem · {c.name}")
        for c in rows
    ]


def _vitals(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(select(VitalSigns).where(VitalSigns.patient_id == patient.id)).all()
    return [
        TimelineItem(
            when=as_utc(v.recorded_at), kind="vitals", title="Vitals", detail=_vitals_text(v)
        )
        for v in rows
    ]


def _studies(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(Study).where(Study.patient_id == patient.id, col(Study.deleted_at).is_(None))
    ).all()
    return [
        TimelineItem(
            when=as_utc(s.performed_at),
            kind="study",
            title=f"{STUDY_LABELS.get(s.study_type, s.study_type)} · {s.title}",
            detail=", ".join(
                f"{f['name']} {f['value']} {f['unit']}".strip() for f in s.findings[:3]
            ),
        )
        for s in rows
    ]


def _files(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(PatientFile).where(
            PatientFile.patient_id == patient.id, col(PatientFile.deleted_at).is_(None)
        )
    ).all()
    return [
        TimelineItem(when=as_utc(f.created_at), kind="file", title=f"File · {f.title}")
        for f in rows
    ]


def _prescriptions(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    """Signed prescriptions by number and status only: the medicines need prescription access."""
    rows = session.exec(
        select(Prescription.number, Prescription.status, Prescription.signed_at).where(
            Prescription.patient_id == patient.id, Prescription.status != "draft"
        )
    ).all()
    return [
        TimelineItem(
            when=as_utc(signed_at),
            kind="prescription",
            title=f"Prescription · {number}",
            detail=status.capitalize(),
        )
        for number, status, signed_at in rows
        if signed_at is not None
    ]


def _scribe_sessions(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(
        select(
            ConsultationSession.number,
            ConsultationSession.started_at,
            ConsultationSession.duration_ms,
        ).where(
            ConsultationSession.patient_id == patient.id,
            ConsultationSession.status != "cancelled",
        )
    ).all()
    return [
        TimelineItem(
            when=as_utc(started_at),
            kind="scribe",
            title=f"Consultation recorded · {number}",
            detail=f"{duration_ms // 60000} min {duration_ms // 1000 % 60} s"
            if duration_ms
            else "",
        )
        for number, started_at, duration_ms in rows
    ]


def _reports(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    """Signed reports (drafts are the doctor's work in progress, not the record)."""
    rows = session.exec(
        select(Report.number, Report.version_number, Report.signed_at, ReportTemplate.name)
        .join(ReportTemplate, col(ReportTemplate.id) == col(Report.template_id))
        .where(Report.patient_id == patient.id, Report.status == "signed")
    ).all()
    return [
        TimelineItem(
            when=as_utc(signed_at),
            kind="report",
            title=f"Report signed · {number} v{version}",
            detail=template,
        )
        for number, version, signed_at, template in rows
        if signed_at is not None
    ]


def _records(session: Session, patient: Patient, zone: ZoneInfo) -> list[TimelineItem]:
    rows = session.exec(select(MedicalRecord).where(MedicalRecord.patient_id == patient.id)).all()
    return [
        TimelineItem(
            when=as_utc(r.signed_at or r.created_at),
            kind="record",
            title=f"Drawing {'signed' if r.status == 'signed' else 'started'} · "
            f"{r.number} v{r.version_number}",
            detail=r.title,
            image_file_id=r.thumbnail_file_id,
        )
        for r in rows
    ]


TimelineSource = Callable[[Session, Patient, ZoneInfo], list[TimelineItem]]
TIMELINE_SOURCES: list[TimelineSource] = [
    _appointments,
    _encounters,
    _allergies,
    _problems,
    _vitals,
    _studies,
    _files,
    _prescriptions,
    _scribe_sessions,
    _reports,
    _records,
]
TIMELINE_KINDS = [
    "appointment",
    "encounter",
    "allergy",
    "problem",
    "vitals",
    "study",
    "file",
    "prescription",
    "scribe",
    "report",
    "record",
]


def _vitals_text(v: VitalSigns) -> str:
    parts = []
    if v.systolic and v.diastolic:
        parts.append(f"BP {v.systolic}/{v.diastolic}")
    if v.heart_rate:
        parts.append(f"HR {v.heart_rate}")
    if v.temperature_c:
        parts.append(f"T {v.temperature_c:.1f} °C")
    if v.spo2:
        parts.append(f"SpO2 {v.spo2}%")
    if v.respiratory_rate:
        parts.append(f"RR {v.respiratory_rate}")
    if v.weight_kg:
        parts.append(f"{v.weight_kg:g} kg")
    if v.height_cm:
        parts.append(f"{v.height_cm:g} cm")
    return " · ".join(parts)


def timeline(
    session: Session, patient: Patient, zone: ZoneInfo, kinds: set[str] | None = None
) -> list[TimelineItem]:
    items = [item for source in TIMELINE_SOURCES for item in source(session, patient, zone)]
    if kinds:
        items = [item for item in items if item.kind in kinds]
    return sorted(items, key=lambda item: item.when, reverse=True)


def open_chart(
    session: Session,
    *,
    actor: Actor,
    patient_id: str | uuid.UUID,
    kinds: set[str] | None = None,
) -> ChartView:
    """Everything the chart page shows; an audited PHI read."""
    require(actor, "patient:read_phi")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    zone = clinic_zone(session, actor.clinic_id)
    today = clinic_today(session, actor.clinic_id)

    def local(moment: datetime) -> str:
        return as_utc(moment).astimezone(zone).strftime("%d %b %Y, %H:%M")

    allergies = session.exec(
        select(Allergy)
        .where(Allergy.patient_id == patient.id, col(Allergy.deleted_at).is_(None))
        .order_by(col(Allergy.created_at))
    ).all()
    problems = session.exec(
        select(Condition)
        .where(Condition.patient_id == patient.id, col(Condition.deleted_at).is_(None))
        .order_by(col(Condition.created_at))
    ).all()
    medications = session.exec(
        select(PatientMedication)
        .where(
            PatientMedication.patient_id == patient.id,
            col(PatientMedication.deleted_at).is_(None),
        )
        .order_by(col(PatientMedication.created_at))
    ).all()
    vitals = session.exec(
        select(VitalSigns)
        .where(VitalSigns.patient_id == patient.id)
        .order_by(col(VitalSigns.recorded_at).desc())
        .limit(20)
    ).all()
    items = timeline(session, patient, zone, kinds)
    studies = session.exec(
        select(Study)
        .where(Study.patient_id == patient.id, col(Study.deleted_at).is_(None))
        .order_by(col(Study.performed_at).desc())
    ).all()
    file_rows = session.exec(
        select(PatientFile, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(PatientFile.file_id))
        .where(PatientFile.patient_id == patient.id, col(PatientFile.deleted_at).is_(None))
        .order_by(col(PatientFile.created_at).desc())
    ).all()
    open_encounter = open_encounter_id(session, actor, patient.id)
    audit.record_by(
        session,
        actor,
        "patient.chart_open",
        entity_type="patient",
        entity_id=patient.id,
    )
    return ChartView(
        patient_id=str(patient.id),
        name=patient.display_name,
        mrn=patient.mrn,
        age=age_on(patient.birth_date, today),
        sex=(patient.sex or "").capitalize(),
        birth_date=patient.birth_date.strftime("%d %b %Y") if patient.birth_date else "",
        phone=patient.phone or "",
        email=patient.email or "",
        address=patient.address or "",
        blood_group=patient.blood_group or "",
        preferred_language=patient.preferred_language or "",
        emergency_contact=patient.emergency_contact or "",
        insurance=patient.insurance or "",
        allergies=[
            {
                "id": str(a.id),
                "substance": a.substance,
                "reaction": a.reaction or "",
                "severity": SEVERITY_LABELS.get(a.severity, a.severity),
                "status": a.status,
                "version": str(a.version),
                "coded": a.coded_ingredient or "",
            }
            for a in allergies
        ],
        problems=[
            {"id": str(c.id), "name": c.name, "status": c.status, "onset": c.onset or ""}
            for c in problems
        ],
        medications=[
            {"id": str(m.id), "name": m.name, "dosage": m.dosage or "", "status": m.status}
            for m in medications
        ],
        vitals=[{"when": local(v.recorded_at), "text": _vitals_text(v)} for v in vitals],
        timeline=[
            {
                "when": local(i.when),
                "kind": i.kind,
                "title": i.title,
                "detail": i.detail,
                "image": file_url(session, actor=actor, file_id=i.image_file_id),
            }
            for i in items[:200]
        ],
        studies=[
            {
                "id": str(st.id),
                "title": st.title,
                "type": STUDY_LABELS.get(st.study_type, st.study_type),
                "when": local(st.performed_at),
                "narrative": st.narrative or "",
                "findings": [f"{f['name']}: {f['value']} {f['unit']}".strip() for f in st.findings],
            }
            for st in studies
        ],
        files=[
            {
                "id": str(link.id),
                "title": link.title,
                "type": stored.content_type,
                "size": f"{max(1, stored.size // 1024)} KB",
                "when": local(link.created_at),
                "has_preview": "yes" if link.thumbnail_file_id else "",
            }
            for link, stored in file_rows
        ],
        can_edit=can(actor, "patient:update_chart"),
        version=patient.version,
        form={
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else "",
            "sex": patient.sex or "",
            "phone": patient.phone or "",
            "email": patient.email or "",
            "address": patient.address or "",
            "preferred_language": patient.preferred_language or "",
            "emergency_contact": patient.emergency_contact or "",
            "insurance": patient.insurance or "",
            "blood_group": patient.blood_group or "",
        },
        open_encounter=str(open_encounter or ""),
    )
