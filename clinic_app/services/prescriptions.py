"""Prescriptions: draft → signed (step-up, immutable, hashed) → dispensed → completed.

Cancelled (with a reason) ends a draft or a signed prescription; a change after signing is a new
prescription that supersedes the old one when it is signed. Who may read: the doctor who has an
encounter with the patient (or wrote the prescription), any pharmacist of the clinic (signed ones
only), the patient in the portal (their own, signed ones); anyone else with ``prescription:read``
only after a break-glass grant with a reason, which is audited and listed for the admins.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError, Forbidden, NotFound, parse_id
from clinic_app.security import pii, sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import can, require
from clinic_app.services import dosing, medication_catalog, prescription_documents
from clinic_app.services.chart import open_encounter_id, start_encounter
from clinic_app.services.numbering import next_number
from clinic_app.services.patients import load_patient
from clinic_app.services.prescription_safety import AllergyFacts, ItemFacts, SafetyWarning, check
from models import (
    AccessGrant,
    Allergy,
    Appointment,
    Clinic,
    Condition,
    Encounter,
    Membership,
    Patient,
    Prescription,
    Provider,
    User,
)
from models.base import utcnow

BREAK_GLASS_HOURS = 4
MAX_ITEMS = 20
ACTIVE_STATUSES = ("signed", "dispensed")
STATUS_LABELS = {
    "draft": "Draft",
    "signed": "Signed",
    "dispensed": "Dispensed",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "superseded": "Superseded",
}


@dataclass(frozen=True)
class ItemInput:
    """One line as the builder sends it (strings straight from the form)."""

    medication_id: str
    dose: str
    dose_unit: str
    frequency: str
    duration_days: str
    max_per_day: str = ""
    quantity: str = ""
    refills: str = "0"
    instructions: str = ""


# ---- loading and access --------------------------------------------------------------------


def has_care_relationship(session: Session, *, actor: Actor, patient_id: uuid.UUID) -> bool:
    """The doctor has (had) a visit with the patient, is booked with them, or prescribed before."""
    checks = (
        select(Encounter.id).where(
            Encounter.clinic_id == actor.clinic_id,
            Encounter.patient_id == patient_id,
            Encounter.doctor_user_id == actor.user_id,
        ),
        select(Appointment.id)
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            Appointment.clinic_id == actor.clinic_id,
            Appointment.patient_id == patient_id,
            Provider.user_id == actor.user_id,
        ),
        select(Prescription.id).where(
            Prescription.clinic_id == actor.clinic_id,
            Prescription.patient_id == patient_id,
            Prescription.doctor_user_id == actor.user_id,
        ),
    )
    return any(session.exec(check.limit(1)).first() is not None for check in checks)


def _has_grant(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    return (
        session.exec(
            select(AccessGrant.id).where(
                AccessGrant.clinic_id == actor.clinic_id,
                AccessGrant.user_id == actor.user_id,
                AccessGrant.patient_id == patient_id,
                AccessGrant.expires_at > utcnow(),
            )
        ).first()
        is not None
    )


def access_mode(session: Session, *, actor: Actor, patient_id: uuid.UUID) -> str:
    """``care`` | ``pharmacy`` | ``break_glass`` (granted) | ``needs_break_glass`` | ``none``."""
    if not can(actor, "prescription:read"):
        return "none"
    if actor.role == "pharmacist":
        return "pharmacy"
    if actor.role == "doctor" and has_care_relationship(
        session, actor=actor, patient_id=patient_id
    ):
        return "care"
    if _has_grant(session, actor, patient_id):
        return "break_glass"
    return "needs_break_glass" if can(actor, "prescription:break_glass") else "none"


def _require_read(session: Session, actor: Actor, patient_id: uuid.UUID) -> str:
    mode = access_mode(session, actor=actor, patient_id=patient_id)
    if mode == "none":
        raise Forbidden()
    if mode == "needs_break_glass":
        raise AppError(
            "BREAK_GLASS_REQUIRED",
            "You have no encounter with this patient. Give a reason to open their prescriptions "
            "(recorded and shown to the clinic admins).",
        )
    return mode


def break_glass(session: Session, *, actor: Actor, patient_id: str, reason: str) -> None:
    """Open a patient's prescriptions without a care relationship, for a few hours, audited."""
    require(actor, "prescription:break_glass")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    why = " ".join((reason or "").split())
    if len(why) < 10:
        raise AppError("VALIDATION", "Say why you need access (at least 10 characters).")
    grant = AccessGrant(
        clinic_id=actor.clinic_id,
        user_id=actor.user_id,
        patient_id=patient.id,
        reason=why[:500],
        expires_at=utcnow() + timedelta(hours=BREAK_GLASS_HOURS),
    )
    session.add(grant)
    session.flush()
    audit.record_by(
        session,
        actor,
        "prescription.break_glass",
        entity_type="patient",
        entity_id=patient.id,
        after={"reason": why[:500], "hours": BREAK_GLASS_HOURS},
    )


def break_glass_log(session: Session, *, actor: Actor, limit: int = 50) -> list[dict[str, str]]:
    """Recent break-glass grants for the admin page (who, which patient, why, when)."""
    require(actor, "audit:read")
    rows = session.exec(
        select(AccessGrant, User.full_name, Patient)
        .join(User, col(User.id) == col(AccessGrant.user_id))
        .join(Patient, col(Patient.id) == col(AccessGrant.patient_id))
        .where(AccessGrant.clinic_id == actor.clinic_id)
        .order_by(col(AccessGrant.created_at).desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": str(grant.id),
            "who": name,
            "patient": f"{patient.display_name} ({patient.mrn})",
            "reason": grant.reason,
            "when": grant.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        }
        for grant, name, patient in rows
    ]


def _load(session: Session, actor: Actor, prescription_id: str | uuid.UUID) -> Prescription:
    rx = session.exec(
        select(Prescription).where(
            Prescription.id == parse_id(prescription_id, "Prescription"),
            Prescription.clinic_id == actor.clinic_id,
        )
    ).first()
    if rx is None:
        raise NotFound("Prescription")
    return rx


def _load_readable(session: Session, actor: Actor, prescription_id: str) -> Prescription:
    rx = _load(session, actor, prescription_id)
    mode = _require_read(session, actor, rx.patient_id)
    if mode == "pharmacy" and rx.status == "draft":
        raise NotFound("Prescription")
    if rx.status == "draft" and rx.doctor_user_id != actor.user_id:
        raise NotFound("Prescription")
    return rx


def _load_own_draft(session: Session, actor: Actor, prescription_id: str) -> Prescription:
    require(actor, "prescription:create")
    rx = _load(session, actor, prescription_id)
    if rx.doctor_user_id != actor.user_id:
        raise NotFound("Prescription")
    if rx.status != "draft":
        raise AppError(
            "PRESCRIPTION_SIGNED",
            "This prescription is signed and cannot change; use “Change” to write a new one.",
        )
    return rx


# ---- drafting ------------------------------------------------------------------------------


def _next_number(session: Session, clinic_id: uuid.UUID, year: int) -> str:
    return next_number(
        session,
        column=Prescription.number,
        clinic_column=Prescription.clinic_id,
        clinic_id=clinic_id,
        prefix=f"RX-{year}-",
        digits=5,
    )


def start(
    session: Session, *, actor: Actor, patient_id: str, idempotency_key: str = ""
) -> uuid.UUID:
    """A new draft for the patient, tied to their open encounter (one is opened if none)."""
    require(actor, "prescription:create")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    key = (idempotency_key or "").strip()[:80] or None
    if key:
        existing = session.exec(
            select(Prescription.id).where(
                Prescription.clinic_id == actor.clinic_id, Prescription.idempotency_key == key
            )
        ).first()
        if existing:
            return existing
    encounter_id = open_encounter_id(session, actor, patient.id) or start_encounter(
        session, actor=actor, patient_id=patient.id, reason="Prescription"
    )
    rx = Prescription(
        clinic_id=actor.clinic_id,
        number=_next_number(session, actor.clinic_id, utcnow().year),
        patient_id=patient.id,
        doctor_user_id=actor.user_id,
        encounter_id=encounter_id,
        idempotency_key=key,
        pii_key_id=pii.key_ring().current,
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(rx)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AppError(
            "RETRY", "Another prescription was numbered at the same moment; try again."
        ) from None
    audit.record_by(
        session, actor, "prescription.create", entity_type="prescription", entity_id=rx.id
    )
    return rx.id


def _int(text: str, label: str, low: int, high: int, default: int | None = None) -> int:
    text = (text or "").strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise AppError("VALIDATION", f"{label} must be a whole number.") from None
    if not low <= value <= high:
        raise AppError("VALIDATION", f"{label} must be between {low} and {high}.")
    return value


def build_item(
    session: Session, *, actor: Actor, raw: ItemInput, language: str, number: int
) -> dict[str, Any]:
    """A validated, computed item (quantity, plain-language text) as stored on the row."""
    where = f"Item {number}: "
    try:
        med = medication_catalog.load_item(session, actor=actor, medication_id=raw.medication_id)
        dose = dosing.decimal_from(raw.dose, "Dose")
        if raw.dose_unit not in dosing.DOSE_UNITS:
            raise AppError("VALIDATION", "Choose the dose unit.")
        max_per_day = _int(raw.max_per_day, "Maximum doses a day", 1, 24, default=0) or None
        frequency = dosing.parse_frequency(raw.frequency, max_per_day=max_per_day)
        days = _int(
            raw.duration_days, "Duration (days)", 1, 365, default=1 if frequency.single else None
        )
        computed, unit = dosing.quantity(
            dose=dose,
            dose_unit=raw.dose_unit,
            form=med.form,
            strength=med.strength,
            frequency=frequency,
            duration_days=days,
        )
        quantity = _int(raw.quantity, "Quantity", 1, 10_000, default=computed)
        refills = _int(raw.refills, "Refills", 0, 12, default=0)
    except AppError as exc:
        raise AppError(exc.code, where + exc.message) from None
    plain = {
        lang: dosing.plain_instructions(
            language=lang,
            route=med.route,
            dose=dose,
            dose_unit=raw.dose_unit,
            frequency=frequency,
            duration_days=days,
        )
        for lang in {"en", language}
    }
    daily = dosing.daily_dose(
        dose=dose,
        dose_unit=raw.dose_unit,
        form=med.form,
        strength=med.strength,
        frequency=frequency,
    )
    return {
        "medication_id": str(med.id),
        "name": med.generic_name,
        "strength": med.strength,
        "form": med.form,
        "route": med.route,
        "rxcui": med.rxcui or "",
        "ingredients": list(med.ingredients),
        "classes": list(med.drug_classes),
        "dose": dosing.format_number(dose),
        "dose_unit": raw.dose_unit,
        "frequency": frequency.code,
        "max_per_day": max_per_day or 0,
        "duration_days": days,
        "quantity": quantity,
        "quantity_computed": computed,
        "quantity_unit": unit,
        "refills": refills,
        "instructions": " ".join((raw.instructions or "").split())[:500],
        "plain": plain["en"],
        "plain_local": plain.get(language, "") if language != "en" else "",
        "language": language,
        "daily_dose": [dosing.format_number(daily[0]), daily[1]] if daily else None,
        "max_daily": (
            [dosing.format_number(dosing.to_mg(med.max_daily_dose, med.max_daily_unit)[0]),
             dosing.to_mg(med.max_daily_dose, med.max_daily_unit)[1]]
            if med.max_daily_dose
            else None
        ),
    }  # fmt: skip


def save_draft(
    session: Session,
    *,
    actor: Actor,
    prescription_id: str,
    version: int,
    items: list[ItemInput],
    diagnosis: str = "",
    pharmacist_notes: str = "",
) -> int:
    """Replace the draft's items and notes; returns the new version."""
    rx = _load_own_draft(session, actor, prescription_id)
    if rx.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "This draft was changed in another tab; it now shows the latest version.",
        )
    if len(items) > MAX_ITEMS:
        raise AppError("VALIDATION", f"At most {MAX_ITEMS} items on one prescription.")
    language = dosing.instruction_language(
        load_patient(session, actor=actor, patient_id=rx.patient_id).preferred_language
    )
    rx.items = [
        build_item(session, actor=actor, raw=raw, language=language, number=n)
        for n, raw in enumerate(items, start=1)
    ]
    rx.diagnosis = " ".join((diagnosis or "").split())[:300] or None
    rx.pharmacist_notes = (pharmacist_notes or "").strip()[:1000] or None
    rx.version += 1
    rx.updated_at = utcnow()
    rx.updated_by = actor.user_id
    rx.pii_key_id = pii.key_ring().current
    session.add(rx)
    session.flush()
    return rx.version


# ---- safety and signing --------------------------------------------------------------------


def _facts(item: dict[str, Any], source: str = "") -> ItemFacts:
    def pair(value: list[str] | None) -> tuple[Decimal, str] | None:
        return (Decimal(value[0]), value[1]) if value else None

    return ItemFacts(
        name=f"{item['name']} {item['strength']}".strip(),
        ingredients=tuple(item.get("ingredients", ())),
        classes=tuple(item.get("classes", ())),
        daily_dose=pair(item.get("daily_dose")),
        max_daily=pair(item.get("max_daily")),
        source=source,
    )


def active_allergies(session: Session, *, actor: Actor, patient_id: uuid.UUID) -> list[Allergy]:
    return list(
        session.exec(
            select(Allergy).where(
                Allergy.clinic_id == actor.clinic_id,
                Allergy.patient_id == patient_id,
                Allergy.status == "active",
                col(Allergy.deleted_at).is_(None),
            )
        ).all()
    )


def warnings_for(session: Session, *, actor: Actor, rx: Prescription) -> list[SafetyWarning]:
    """Allergy, duplicate and dose warnings for a prescription against the patient's record."""
    allergies = active_allergies(session, actor=actor, patient_id=rx.patient_id)
    allergy_facts = [
        AllergyFacts(
            substance=a.substance,
            reaction=a.reaction or "",
            severity=a.severity,
            coded=a.coded_ingredient or "",
            substance_classes=medication_catalog.classes_of_substance(
                session, actor=actor, substance=a.coded_ingredient or a.substance
            ),
        )
        for a in allergies
    ]
    others = session.exec(
        select(Prescription).where(
            Prescription.clinic_id == actor.clinic_id,
            Prescription.patient_id == rx.patient_id,
            col(Prescription.status).in_(ACTIVE_STATUSES),
            Prescription.id != rx.id,
            Prescription.id != rx.supersedes_id,
        )
    ).all()
    other_facts = [
        _facts(item, other.number)
        for other in others
        if other.signed_at and other.signed_at + timedelta(days=_course_days(other)) > utcnow()
        for item in other.items
    ]
    return check([_facts(i) for i in rx.items], allergies=allergy_facts, others=other_facts)


def _course_days(rx: Prescription) -> int:
    return max(
        (int(i.get("duration_days", 1)) * (1 + int(i.get("refills", 0))) for i in rx.items),
        default=1,
    )


def content_of(rx: Prescription) -> dict[str, Any]:
    """What the signature covers: the hash is over this, canonical JSON."""
    return {
        "number": rx.number,
        "clinic_id": str(rx.clinic_id),
        "patient_id": str(rx.patient_id),
        "doctor_user_id": str(rx.doctor_user_id),
        "items": rx.items,
        "diagnosis": rx.diagnosis or "",
        "pharmacist_notes": rx.pharmacist_notes or "",
        "acknowledgements": rx.acknowledgements,
        "supersedes_id": str(rx.supersedes_id or ""),
    }


def content_hash(rx: Prescription) -> str:
    canonical = json.dumps(
        content_of(rx), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign(
    session: Session,
    *,
    actor: Actor,
    prescription_id: str,
    version: int,
    acknowledgements: dict[str, str],
) -> str:
    """Sign the draft after a recent step-up; every warning needs a reason. Returns the hash.

    Idempotent: signing an already signed prescription of the same content returns its hash.
    """
    require(actor, "prescription:sign")
    rx = _load(session, actor, prescription_id)
    if rx.doctor_user_id != actor.user_id:
        raise NotFound("Prescription")
    if rx.status != "draft":
        if rx.content_hash and rx.status in ("signed", "dispensed", "completed"):
            return rx.content_hash
        raise AppError("PRESCRIPTION_CLOSED", f"This prescription is {rx.status}.")
    if rx.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "This draft was changed in another tab; check it again before signing.",
        )
    if not rx.items:
        raise AppError("VALIDATION", "Add at least one medicine before signing.")
    sessions.require_recent_step_up(session, session_id=actor.session_id)
    found = warnings_for(session, actor=actor, rx=rx)
    missing = [w for w in found if len((acknowledgements.get(w.key) or "").strip()) < 3]
    if missing:
        raise AppError(
            "WARNINGS_NOT_ACKNOWLEDGED",
            "Each warning needs a reason before signing.",
            {"keys": [w.key for w in missing]},
        )
    now = utcnow()
    rx.acknowledgements = [
        {
            "code": w.code,
            "item": w.item,
            "message": w.message,
            "reason": " ".join(acknowledgements[w.key].split())[:300],
            "key": w.key,
        }
        for w in found
    ]
    rx.status = "signed"
    rx.signed_at = now
    rx.signed_by = actor.user_id
    rx.content_hash = content_hash(rx)
    rx.version += 1
    rx.updated_at = now
    rx.updated_by = actor.user_id
    rx.pii_key_id = pii.key_ring().current
    session.add(rx)
    for ack in rx.acknowledgements:
        audit.record_by(
            session,
            actor,
            "prescription.warning_acknowledged",
            entity_type="prescription",
            entity_id=rx.id,
            after={"code": ack["code"], "item": ack["item"] + 1, "reason": ack["reason"]},
        )
    if rx.supersedes_id:
        old = _load(session, actor, rx.supersedes_id)
        if old.status in ACTIVE_STATUSES:
            old.status = "superseded"
            old.superseded_by_id = rx.id
            old.version += 1
            old.updated_at = now
            session.add(old)
    session.flush()
    audit.record_by(
        session,
        actor,
        "prescription.sign",
        entity_type="prescription",
        entity_id=rx.id,
        after={"hash": rx.content_hash, "items": len(rx.items), "warnings": len(found)},
    )
    prescription_documents.enqueue_render(session, rx=rx, actor_user_id=actor.user_id)
    return rx.content_hash


def revise(session: Session, *, actor: Actor, prescription_id: str) -> uuid.UUID:
    """A new draft copying a signed prescription; signing it supersedes the old one."""
    require(actor, "prescription:create")
    old = _load_readable(session, actor, prescription_id)
    if old.status not in ACTIVE_STATUSES:
        raise AppError("PRESCRIPTION_CLOSED", "Only an active prescription can be changed.")
    pending = session.exec(
        select(Prescription.id).where(
            Prescription.supersedes_id == old.id, Prescription.status == "draft"
        )
    ).first()
    if pending:
        return pending
    new_id = start(session, actor=actor, patient_id=str(old.patient_id))
    new = _load(session, actor, new_id)
    new.items = [dict(item) for item in old.items]
    new.diagnosis = old.diagnosis
    new.pharmacist_notes = old.pharmacist_notes
    new.supersedes_id = old.id
    session.add(new)
    session.flush()
    return new_id


def _transition(
    session: Session, actor: Actor, rx: Prescription, status: str, **after: Any
) -> None:
    before = rx.status
    rx.status = status
    rx.version += 1
    rx.updated_at = utcnow()
    rx.updated_by = actor.user_id
    session.add(rx)
    session.flush()
    audit.record_by(
        session,
        actor,
        f"prescription.{status}",
        entity_type="prescription",
        entity_id=rx.id,
        before={"status": before},
        after={"status": status, **after},
    )


def cancel(session: Session, *, actor: Actor, prescription_id: str, reason: str) -> None:
    require(actor, "prescription:create")
    rx = _load(session, actor, prescription_id)
    if rx.doctor_user_id != actor.user_id:
        raise NotFound("Prescription")
    if rx.status not in ("draft", "signed"):
        raise AppError("PRESCRIPTION_CLOSED", f"A {rx.status} prescription cannot be cancelled.")
    why = " ".join((reason or "").split())
    if len(why) < 3:
        raise AppError("VALIDATION", "Give a reason for cancelling.")
    rx.cancelled_at = utcnow()
    rx.cancel_reason = why[:300]
    _transition(session, actor, rx, "cancelled", reason=why[:300])


def dispense(session: Session, *, actor: Actor, prescription_id: str) -> None:
    require(actor, "prescription:dispense")
    rx = _load(session, actor, prescription_id)
    if rx.status == "dispensed":
        return
    if rx.status != "signed":
        raise AppError("PRESCRIPTION_CLOSED", f"A {rx.status} prescription cannot be dispensed.")
    rx.dispensed_at = utcnow()
    rx.dispensed_by = actor.user_id
    _transition(session, actor, rx, "dispensed")


def complete(session: Session, *, actor: Actor, prescription_id: str) -> None:
    """The course is over (pharmacist or the prescribing doctor)."""
    rx = _load(session, actor, prescription_id)
    if actor.role != "pharmacist" and rx.doctor_user_id != actor.user_id:
        raise Forbidden()
    if rx.status != "dispensed":
        raise AppError("PRESCRIPTION_CLOSED", "Only a dispensed prescription can be completed.")
    rx.completed_at = utcnow()
    _transition(session, actor, rx, "completed")


# ---- views ---------------------------------------------------------------------------------


def doctor_identity(session: Session, clinic_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, str]:
    """(full name, registration number) of a clinic member, for printouts."""
    row = session.exec(
        select(User.full_name, Membership.registration_number)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(User.id == user_id, Membership.clinic_id == clinic_id)
    ).first()
    return (row[0], row[1] or "") if row else ("", "")


def summary(rx: Prescription, doctor: str = "") -> dict[str, str]:
    names = ", ".join(f"{i['name']} {i['strength']}".strip() for i in rx.items) or "No items yet"
    when = rx.signed_at or rx.created_at
    return {
        "id": str(rx.id),
        "number": rx.number,
        "status": rx.status,
        "status_label": STATUS_LABELS[rx.status],
        "date": when.strftime("%Y-%m-%d"),
        "medicines": names,
        "doctor": doctor,
    }


def details(session: Session, rx: Prescription) -> dict[str, Any]:
    """Everything a screen or a printout shows about one prescription (plain data)."""
    patient = session.get(Patient, rx.patient_id)
    clinic = session.get(Clinic, rx.clinic_id)
    doctor, registration = doctor_identity(session, rx.clinic_id, rx.doctor_user_id)
    assert patient is not None and clinic is not None
    return {
        **summary(rx, doctor),
        "clinic": clinic.name,
        "doctor_registration": registration,
        "patient_name": patient.display_name,
        "patient_mrn": patient.mrn,
        "patient_birth_date": patient.birth_date.isoformat() if patient.birth_date else "",
        "patient_id": str(patient.id),
        "diagnosis": rx.diagnosis or "",
        "pharmacist_notes": rx.pharmacist_notes or "",
        "items": [
            {
                "n": str(n),
                "name": f"{i['name']} {i['strength']} {i['form']}".strip(),
                "dose": f"{i['dose']} {i['dose_unit']}",
                "frequency": i["frequency"],
                "duration": f"{i['duration_days']} days",
                "quantity": f"{i['quantity']} {i['quantity_unit']}",
                "refills": str(i["refills"]),
                "plain": i["plain"],
                "plain_local": i.get("plain_local", ""),
                "instructions": i.get("instructions", ""),
            }
            for n, i in enumerate(rx.items, start=1)
        ],
        "acknowledgements": [
            {"message": a["message"], "reason": a["reason"]} for a in rx.acknowledgements
        ],
        "signed_at": rx.signed_at.strftime("%Y-%m-%d %H:%M UTC") if rx.signed_at else "",
        "content_hash": rx.content_hash or "",
        "cancel_reason": rx.cancel_reason or "",
        "pdf_file_id": str(rx.pdf_file_id or ""),
        "docx_file_id": str(rx.docx_file_id or ""),
        "supersedes_id": str(rx.supersedes_id or ""),
        "superseded_by_id": str(rx.superseded_by_id or ""),
    }


def view(session: Session, *, actor: Actor, prescription_id: str) -> dict[str, Any]:
    """One prescription for staff (audited PHI read)."""
    rx = _load_readable(session, actor, prescription_id)
    audit.record_by(
        session, actor, "prescription.read", entity_type="prescription", entity_id=rx.id
    )
    return details(session, rx)


def for_patient(session: Session, *, actor: Actor, patient_id: str) -> list[dict[str, str]]:
    """The patient's prescriptions, newest first (drafts only the actor's own)."""
    pid = load_patient(session, actor=actor, patient_id=patient_id).id
    mode = _require_read(session, actor, pid)
    rows = session.exec(
        select(Prescription, User.full_name)
        .join(User, col(User.id) == col(Prescription.doctor_user_id))
        .where(Prescription.clinic_id == actor.clinic_id, Prescription.patient_id == pid)
        .order_by(col(Prescription.created_at).desc())
    ).all()
    audit.record_by(session, actor, "prescription.list", entity_type="patient", entity_id=pid)
    return [
        summary(rx, name)
        for rx, name in rows
        if rx.status != "draft" or (mode != "pharmacy" and rx.doctor_user_id == actor.user_id)
    ]


def patient_label(session: Session, *, actor: Actor, patient_id: str) -> str:
    require(actor, "prescription:read")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    return f"{patient.display_name} ({patient.mrn})"


def queue(session: Session, *, actor: Actor, status: str = "") -> list[dict[str, str]]:
    """The prescriptions page list: a doctor's own, or what the pharmacy has to dispense."""
    require(actor, "prescription:read")
    statement = (
        select(Prescription, User.full_name, Patient)
        .join(User, col(User.id) == col(Prescription.doctor_user_id))
        .join(Patient, col(Patient.id) == col(Prescription.patient_id))
        .where(Prescription.clinic_id == actor.clinic_id)
    )
    if actor.role == "pharmacist":
        statement = statement.where(col(Prescription.status).in_(status and [status] or ["signed"]))
    elif actor.role == "doctor":
        statement = statement.where(Prescription.doctor_user_id == actor.user_id)
        if status:
            statement = statement.where(Prescription.status == status)
    else:
        return []
    rows = session.exec(statement.order_by(col(Prescription.created_at).desc()).limit(100)).all()
    return [
        {**summary(rx, name), "patient": f"{p.display_name} ({p.mrn})", "patient_id": str(p.id)}
        for rx, name, p in rows
    ]


def portal_list(session: Session, *, actor: Actor) -> list[dict[str, str]]:
    """A portal patient's own prescriptions (never drafts), newest first."""
    require(actor, "portal:self")
    rows = session.exec(
        select(Prescription, User.full_name)
        .join(User, col(User.id) == col(Prescription.doctor_user_id))
        .where(
            Prescription.clinic_id == actor.clinic_id,
            Prescription.patient_id == actor.patient_id,
            Prescription.status != "draft",
        )
        .order_by(col(Prescription.signed_at).desc())
    ).all()
    return [
        {**summary(rx, name), "active": "yes" if rx.status in ACTIVE_STATUSES else ""}
        for rx, name in rows
    ]


def portal_view(session: Session, *, actor: Actor, prescription_id: str) -> dict[str, Any]:
    require(actor, "portal:self")
    rx = _load(session, actor, prescription_id)
    if rx.patient_id != actor.patient_id or rx.status == "draft":
        raise NotFound("Prescription")
    audit.record_by(
        session, actor, "prescription.read", entity_type="prescription", entity_id=rx.id
    )
    return details(session, rx)


# ---- the builder ---------------------------------------------------------------------------


def _inputs(rx: Prescription) -> list[ItemInput]:
    """The draft's items as the inputs that made them (to re-save after adding/removing one)."""
    return [
        ItemInput(
            medication_id=str(item["medication_id"]),
            dose=str(item["dose"]),
            dose_unit=str(item["dose_unit"]),
            frequency=str(item["frequency"]),
            duration_days=str(item["duration_days"]),
            max_per_day=str(item.get("max_per_day") or ""),
            quantity=str(item["quantity"]) if item["quantity"] != item["quantity_computed"] else "",
            refills=str(item.get("refills", 0)),
            instructions=str(item.get("instructions", "")),
        )
        for item in rx.items
    ]


def add_item(
    session: Session, *, actor: Actor, prescription_id: str, version: int, item: ItemInput
) -> int:
    rx = _load_own_draft(session, actor, prescription_id)
    return save_draft(
        session,
        actor=actor,
        prescription_id=prescription_id,
        version=version,
        items=[*_inputs(rx), item],
        diagnosis=rx.diagnosis or "",
        pharmacist_notes=rx.pharmacist_notes or "",
    )


def remove_item(
    session: Session, *, actor: Actor, prescription_id: str, version: int, index: int
) -> int:
    rx = _load_own_draft(session, actor, prescription_id)
    items = _inputs(rx)
    if not 0 <= index < len(items):
        raise AppError("VALIDATION", "That item is no longer on the prescription.")
    del items[index]
    return save_draft(
        session,
        actor=actor,
        prescription_id=prescription_id,
        version=version,
        items=items,
        diagnosis=rx.diagnosis or "",
        pharmacist_notes=rx.pharmacist_notes or "",
    )


def save_notes(
    session: Session,
    *,
    actor: Actor,
    prescription_id: str,
    version: int,
    diagnosis: str,
    pharmacist_notes: str,
) -> int:
    rx = _load_own_draft(session, actor, prescription_id)
    return save_draft(
        session,
        actor=actor,
        prescription_id=prescription_id,
        version=version,
        items=_inputs(rx),
        diagnosis=diagnosis,
        pharmacist_notes=pharmacist_notes,
    )


def editor(session: Session, *, actor: Actor, prescription_id: str) -> dict[str, Any]:
    """The prescription page: details, warnings, the patient's allergies, allowed actions."""
    rx = _load_readable(session, actor, prescription_id)
    audit.record_by(
        session, actor, "prescription.read", entity_type="prescription", entity_id=rx.id
    )
    info = details(session, rx)
    own = rx.doctor_user_id == actor.user_id
    allergies = active_allergies(session, actor=actor, patient_id=rx.patient_id)
    found = warnings_for(session, actor=actor, rx=rx) if rx.status == "draft" else []
    problems = session.exec(
        select(Condition).where(
            Condition.clinic_id == actor.clinic_id,
            Condition.patient_id == rx.patient_id,
            Condition.status == "active",
            col(Condition.deleted_at).is_(None),
        )
    ).all()
    token = prescription_documents.verification_token(rx) if rx.content_hash else ""
    return {
        **info,
        # What the printed QR code opens (relative: the page may sit behind a proxy).
        "verify_path": f"/verify?t={token}" if token else "",
        "version": rx.version,
        "allergies": [
            {"substance": a.substance, "reaction": a.reaction or "", "severity": a.severity}
            for a in allergies
        ],
        "warnings": [{"key": w.key, "code": w.code, "message": w.message} for w in found],
        # The diagnosis field suggests the patient's active problems (the chart's list).
        "problems": sorted({c.name for c in problems}),
        "can_edit": own and rx.status == "draft",
        "can_change": own and rx.status in ACTIVE_STATUSES,
        "can_cancel": own and rx.status in ("draft", "signed"),
        "can_dispense": can(actor, "prescription:dispense") and rx.status == "signed",
        "can_complete": (actor.role == "pharmacist" or own) and rx.status == "dispensed",
    }


def document_link(session: Session, *, actor: Actor, prescription_id: str, kind: str) -> str:
    """A short-lived download link to the printed copy (staff with access, or the patient)."""
    from clinic_app.api.downloads import make_download_url
    from models import StoredFile

    if actor.role == "patient":
        rx = _load(session, actor, prescription_id)
        if rx.patient_id != actor.patient_id or rx.status == "draft":
            raise NotFound("Prescription")
    else:
        rx = _load_readable(session, actor, prescription_id)
    file_id = rx.pdf_file_id if kind == "pdf" else rx.docx_file_id
    stored = session.get(StoredFile, file_id) if file_id else None
    if stored is None:
        raise AppError(
            "DOCUMENT_NOT_READY", "The printable copy is still being prepared; try again shortly."
        )
    return make_download_url(stored, user_id=actor.user_id)
