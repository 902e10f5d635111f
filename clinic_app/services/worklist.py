"""Today's appointments of a clinic, grouped by status, with times in the clinic's timezone.

The Worklist issue adds live updates and status transitions; this module is the read side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from models import Appointment, Clinic, Patient, Provider

# Display order of the groups: who needs attention first.
STATUS_ORDER = (
    "in_consultation",
    "ready",
    "arrived",
    "confirmed",
    "scheduled",
    "completed",
    "no_show",
    "cancelled",
)
STATUS_LABELS = {
    "scheduled": "Scheduled",
    "confirmed": "Confirmed",
    "arrived": "Arrived · waiting",
    "ready": "Ready for doctor",
    "in_consultation": "In consultation",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_show": "No-show",
}


@dataclass(frozen=True)
class WorklistItem:
    id: str
    starts: str
    ends: str
    patient_name: str
    patient_initials: str
    mrn: str
    provider_name: str
    visit_type: str
    status: str
    status_label: str


@dataclass
class WorklistGroup:
    status: str
    label: str
    items: list[WorklistItem] = field(default_factory=list)


@dataclass(frozen=True)
class Worklist:
    day_label: str
    timezone: str
    total: int
    groups: list[WorklistGroup]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def day_bounds_utc(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of ``day`` in the clinic's zone, as UTC instants (DST-safe)."""
    start = datetime.combine(day, time(0, 0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def todays_worklist(session: Session, *, actor: Actor, now: datetime | None = None) -> Worklist:
    """Appointments of the actor's clinic for today (clinic time), grouped by status."""
    require(actor, "appointment:read")
    clinic = session.get(Clinic, actor.clinic_id)
    zone = _zone(clinic.timezone if clinic else "UTC")
    local_now = (now or datetime.now(UTC)).astimezone(zone)
    start, end = day_bounds_utc(local_now.date(), zone)
    rows = session.exec(
        select(Appointment, Patient, Provider)
        .join(Patient, col(Patient.id) == col(Appointment.patient_id))
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            Appointment.clinic_id == actor.clinic_id,
            Patient.clinic_id == actor.clinic_id,
            col(Appointment.deleted_at).is_(None),
            col(Appointment.starts_at) >= start,
            col(Appointment.starts_at) < end,
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    ).all()
    groups: dict[str, WorklistGroup] = {}
    for appointment, patient, provider in rows:
        status = appointment.status
        group = groups.setdefault(
            status, WorklistGroup(status=status, label=STATUS_LABELS.get(status, status))
        )
        group.items.append(
            WorklistItem(
                id=str(appointment.id),
                starts=_aware(appointment.starts_at).astimezone(zone).strftime("%H:%M"),
                ends=_aware(appointment.ends_at).astimezone(zone).strftime("%H:%M"),
                patient_name=patient.display_name,
                patient_initials=(patient.given_name[:1] + patient.family_name[:1]).upper(),
                mrn=patient.mrn,
                provider_name=provider.display_name,
                visit_type=appointment.visit_type.replace("_", " ").capitalize(),
                status=status,
                status_label=STATUS_LABELS.get(status, status),
            )
        )
    ordered = sorted(
        groups.values(),
        key=lambda g: STATUS_ORDER.index(g.status) if g.status in STATUS_ORDER else 99,
    )
    return Worklist(
        day_label=local_now.strftime("%A, %d %B %Y"),
        timezone=zone.key,
        total=len(rows),
        groups=ordered,
    )
