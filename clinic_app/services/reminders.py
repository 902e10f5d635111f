"""Appointment reminders, patients' confirm/cancel links, and the nightly no-show rule.

``send_due_reminders`` runs from a periodic RQ job (see ``workers/scheduling.py``). For each
offset of the clinic's policy (default 24 h and 2 h before) it queues one message through the
notification outbox. The dedupe key names the appointment, the offset and the start time, so
running the job twice sends nothing new, while a moved appointment gets fresh reminders.
When several offsets are due at once (booked 3 h ahead) only the nearest one is sent.

Each reminder carries signed links (``clinic_app.security.signing``) to confirm or cancel. The
link opens a small page (GET shows, POST acts, so link scanners change nothing).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote

from sqlmodel import Session, col, select

from clinic_app.errors import AppError
from clinic_app.security import signing
from clinic_app.services.availability import as_utc
from clinic_app.services.notifications import queue_notification
from clinic_app.services.scheduling import (
    STATUS_LABELS,
    apply_transition,
    get_policy,
    iso,
)
from clinic_app.settings import get_settings
from clinic_app.timeutil import zone_named
from models import Appointment, Clinic, Patient, Provider
from models.base import utcnow

logger = logging.getLogger(__name__)

LINK_PURPOSE = "appointment-response"
REMINDER_STATUSES = ("scheduled", "confirmed")
MAX_OFFSET_HOURS = 24 * 14


def parse_offsets(text: str) -> list[int]:
    """``"24,2"`` → ``[24, 2]`` (hours, largest first); bad parts are an error."""
    offsets: set[int] = set()
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip().lower().removesuffix("h")
        if not part:
            continue
        if not part.isdigit() or not 0 < int(part) <= MAX_OFFSET_HOURS:
            raise AppError(
                "VALIDATION", f"Reminder times are hours before, 1–{MAX_OFFSET_HOURS}: {part!r}"
            )
        offsets.add(int(part))
    return sorted(offsets, reverse=True)


def response_link(appointment: Appointment) -> str:
    """The signed confirm/cancel link, valid until a day after the start."""
    starts = as_utc(appointment.starts_at)
    ttl = max(3600, int((starts - utcnow()).total_seconds()) + 24 * 3600)
    token = signing.sign(
        LINK_PURPOSE,
        {"a": str(appointment.id), "c": str(appointment.clinic_id), "s": iso(starts)},
        ttl,
    )
    return f"{get_settings().effective_public_url}/appointments/respond?token={quote(token)}"


def _recipient(patient: Patient, channel: str) -> tuple[str, str] | None:
    if channel == "email":
        if patient.email:
            return "email", patient.email
        return ("sms", patient.phone) if patient.phone else None
    if patient.phone:
        return channel, patient.phone
    return ("email", patient.email) if patient.email else None


@dataclass(frozen=True)
class ReminderRun:
    queued: int
    skipped_no_contact: int


def send_due_reminders(session: Session, *, now: datetime | None = None) -> ReminderRun:
    """Queue every reminder that is due now (idempotent: run it as often as you like)."""
    now = now or utcnow()
    clinics = session.exec(select(Clinic).where(col(Clinic.deleted_at).is_(None))).all()
    queued = skipped = 0
    for clinic in clinics:
        policy = get_policy(session, clinic.id)
        offsets = parse_offsets(policy.reminder_offsets_hours)
        if not offsets:
            continue
        zone = zone_named(clinic.timezone)
        rows = session.exec(
            select(Appointment, Patient, Provider)
            .join(Patient, col(Patient.id) == col(Appointment.patient_id))
            .join(Provider, col(Provider.id) == col(Appointment.provider_id))
            .where(
                Appointment.clinic_id == clinic.id,
                col(Appointment.status).in_(REMINDER_STATUSES),
                col(Appointment.deleted_at).is_(None),
                col(Appointment.starts_at) > now,
                col(Appointment.starts_at) <= now + timedelta(hours=offsets[0]),
            )
        ).all()
        for appointment, patient, provider in rows:
            starts = as_utc(appointment.starts_at)
            due = [h for h in offsets if starts - timedelta(hours=h) <= now]
            if not due:
                continue
            hours = min(due)  # the nearest offset only: never two reminders at one moment
            target = _recipient(patient, policy.reminder_channel)
            if target is None:
                skipped += 1
                continue
            channel, recipient = target
            local = starts.astimezone(zone)
            link = response_link(appointment)
            body = (
                f"Hello {patient.given_name}, this is a reminder of your appointment with "
                f"{provider.display_name} at {clinic.name} on {local.strftime('%A %d %B at %H:%M')}"
                f".\nConfirm or cancel: {link}"
            )
            queue_notification(
                session,
                clinic_id=clinic.id,
                channel=channel,
                recipient=recipient,
                subject=f"Appointment reminder — {local.strftime('%d %b %H:%M')}",
                body=body,
                purpose="appointment_reminder",
                dedupe_key=f"reminder:{appointment.id}:{hours}h:{iso(starts)}",
            )
            queued += 1
    return ReminderRun(queued=queued, skipped_no_contact=skipped)


def mark_no_shows(session: Session, *, now: datetime | None = None) -> int:
    """The nightly rule: unconfirmed appointments of past days become no-shows.

    "Past days" is clinic-local (before today's local midnight); with the clinic policy
    ``no_show_include_confirmed`` confirmed-but-never-arrived ones count too. Idempotent.
    """
    now = now or utcnow()
    changed = 0
    for clinic in session.exec(select(Clinic).where(col(Clinic.deleted_at).is_(None))).all():
        policy = get_policy(session, clinic.id)
        if not policy.no_show_enabled:
            continue
        zone = zone_named(clinic.timezone)
        midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
        statuses = ["scheduled"] + (["confirmed"] if policy.no_show_include_confirmed else [])
        rows = session.exec(
            select(Appointment).where(
                Appointment.clinic_id == clinic.id,
                col(Appointment.status).in_(statuses),
                col(Appointment.deleted_at).is_(None),
                col(Appointment.ends_at) <= midnight.astimezone(UTC),
            )
        ).all()
        for appointment in rows:
            apply_transition(
                session,
                appointment,
                to_status="no_show",
                actor_user_id=None,
                reason="Nightly rule: not confirmed and did not arrive",
            )
            changed += 1
    return changed


@dataclass(frozen=True)
class LinkView:
    """What the confirm/cancel page shows (no PHI beyond the patient's own first name)."""

    token: str
    clinic_name: str
    patient_first_name: str
    provider_name: str
    when: str
    status: str
    status_label: str
    can_confirm: bool
    can_cancel: bool


def _from_token(session: Session, token: str) -> tuple[Appointment, Patient, Provider, Clinic]:
    payload = signing.verify(LINK_PURPOSE, token)
    try:
        appointment_id = uuid.UUID(str(payload.get("a")))
        clinic_id = uuid.UUID(str(payload.get("c")))
    except ValueError:
        raise AppError("LINK_INVALID", "This link is not valid.") from None
    found = session.exec(
        select(Appointment, Patient, Provider, Clinic)
        .join(Patient, col(Patient.id) == col(Appointment.patient_id))
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .join(Clinic, col(Clinic.id) == col(Appointment.clinic_id))
        .where(
            Appointment.id == appointment_id,
            Appointment.clinic_id == clinic_id,
            col(Appointment.deleted_at).is_(None),
        )
    ).first()
    if found is None:
        raise AppError("LINK_INVALID", "This appointment no longer exists.")
    appointment = found[0]
    if iso(appointment.starts_at) != payload.get("s"):
        raise AppError(
            "LINK_OUTDATED",
            "This appointment has been moved since the message was sent. Please use the link in "
            "the newest message or call the clinic.",
        )
    return found[0], found[1], found[2], found[3]


def link_view(session: Session, *, token: str) -> LinkView:
    appointment, patient, provider, clinic = _from_token(session, token)
    zone = zone_named(clinic.timezone)
    status = appointment.status
    future = as_utc(appointment.starts_at) > utcnow()
    return LinkView(
        token=token,
        clinic_name=clinic.name,
        patient_first_name=patient.given_name,
        provider_name=provider.display_name,
        when=as_utc(appointment.starts_at).astimezone(zone).strftime("%A %d %B %Y at %H:%M"),
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        can_confirm=future and status == "scheduled",
        can_cancel=future and status in ("scheduled", "confirmed"),
    )


def respond(session: Session, *, token: str, action: str) -> LinkView:
    """Confirm or cancel from a patient's link; repeating the same answer changes nothing."""
    if action not in ("confirm", "cancel"):
        raise AppError("VALIDATION", "Choose confirm or cancel.")
    appointment, _patient, _provider, _clinic = _from_token(session, token)
    target = "confirmed" if action == "confirm" else "cancelled"
    if appointment.status != target:
        if as_utc(appointment.starts_at) <= utcnow():
            raise AppError("LINK_EXPIRED", "This appointment has already started or passed.")
        apply_transition(
            session,
            appointment,
            to_status=target,
            actor_user_id=None,
            reason="Cancelled by the patient (reminder link)" if target == "cancelled" else None,
        )
        session.flush()
    return link_view(session, token=token)
