"""Today's appointments, grouped by status, with waiting times and the next one-click steps.

Scope: ``mine`` (the providers linked to the signed-in user), ``branch`` (one branch) or
``clinic``. Status changes go through ``clinic_app.services.scheduling.transition_appointment``;
open worklists refresh through ``clinic_app.live`` when any appointment of the clinic changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services.scheduling import STATUS_LABELS, TRANSITIONS
from clinic_app.timeutil import as_utc, zone_named
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


# One-click steps offered on a card, in order: (target status, button label).
QUICK_ACTIONS: tuple[tuple[str, str], ...] = (
    ("arrived", "Arrived"),
    ("ready", "Ready"),
    ("in_consultation", "Start"),
    ("completed", "Complete"),
)
WAITING_STATUSES = frozenset({"arrived", "ready"})
SCOPES = ("mine", "branch", "clinic")


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
    version: int = 1
    waiting: str = ""
    waiting_minutes: int = 0
    actions: list[dict[str, str]] = field(default_factory=list)


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
    scope: str = "clinic"
    branches: list[str] = field(default_factory=list)
    day_start: datetime | None = None  # today in the clinic's zone, as UTC bounds (live updates)
    day_end: datetime | None = None


def _actions(status: str) -> list[dict[str, str]]:
    allowed = TRANSITIONS.get(status, frozenset())
    return [{"to": to, "label": label} for to, label in QUICK_ACTIONS if to in allowed]


def _waiting(status: str, arrived_at: datetime | None, now: datetime) -> tuple[str, int]:
    if status not in WAITING_STATUSES or arrived_at is None:
        return "", 0
    minutes = max(0, int((now - as_utc(arrived_at)).total_seconds() // 60))
    text = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
    return text, minutes


def day_bounds_utc(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of ``day`` in the clinic's zone, as UTC instants (DST-safe)."""
    start = datetime.combine(day, time(0, 0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def default_scope(session: Session, *, actor: Actor) -> str:
    """``mine`` for someone who is a provider, else the whole clinic."""
    mine = session.exec(
        select(Provider.id).where(
            Provider.clinic_id == actor.clinic_id,
            Provider.user_id == actor.user_id,
            col(Provider.deleted_at).is_(None),
        )
    ).first()
    return "mine" if mine is not None else "clinic"


def todays_worklist(
    session: Session,
    *,
    actor: Actor,
    now: datetime | None = None,
    scope: str | None = None,
    branch: str | None = None,
) -> Worklist:
    """Appointments of the actor's clinic for today (clinic time), grouped by status."""
    require(actor, "appointment:read")
    clinic = session.get(Clinic, actor.clinic_id)
    zone = zone_named(clinic.timezone if clinic else "UTC")
    moment = now or datetime.now(UTC)
    local_now = moment.astimezone(zone)
    start, end = day_bounds_utc(local_now.date(), zone)
    scope = scope if scope in SCOPES else default_scope(session, actor=actor)
    branches = sorted(
        set(
            session.exec(
                select(Provider.branch).where(
                    Provider.clinic_id == actor.clinic_id, col(Provider.deleted_at).is_(None)
                )
            ).all()
        )
    )
    # Only the columns a card shows: a whole Patient row would decrypt every contact field,
    # and open worklists run this at each change of the clinic's day.
    statement = (
        sa.select(
            col(Appointment.id),
            col(Appointment.starts_at),
            col(Appointment.ends_at),
            col(Appointment.visit_type),
            col(Appointment.status),
            col(Appointment.version),
            col(Appointment.arrived_at),
            col(Patient.given_name),
            col(Patient.family_name),
            col(Patient.mrn),
            col(Provider.display_name),
        )
        .join(Patient, col(Patient.id) == col(Appointment.patient_id))
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            col(Appointment.clinic_id) == actor.clinic_id,
            col(Patient.clinic_id) == actor.clinic_id,
            col(Appointment.deleted_at).is_(None),
            col(Appointment.starts_at) >= start,
            col(Appointment.starts_at) < end,
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    if scope == "mine":
        statement = statement.where(col(Provider.user_id) == actor.user_id)
    elif scope == "branch" and branch:
        statement = statement.where(col(Provider.branch) == branch)
    rows = session.execute(statement).all()
    groups: dict[str, WorklistGroup] = {}
    for row in rows:
        status = row.status
        group = groups.setdefault(
            status, WorklistGroup(status=status, label=STATUS_LABELS.get(status, status))
        )
        waiting, waiting_minutes = _waiting(status, row.arrived_at, moment)
        group.items.append(
            WorklistItem(
                id=str(row.id),
                starts=as_utc(row.starts_at).astimezone(zone).strftime("%H:%M"),
                ends=as_utc(row.ends_at).astimezone(zone).strftime("%H:%M"),
                patient_name=f"{row.given_name} {row.family_name}",
                patient_initials=(row.given_name[:1] + row.family_name[:1]).upper(),
                mrn=row.mrn,
                provider_name=row.display_name,
                visit_type=row.visit_type.replace("_", " ").capitalize(),
                status=status,
                status_label=STATUS_LABELS.get(status, status),
                version=row.version,
                waiting=waiting,
                waiting_minutes=waiting_minutes,
                actions=_actions(status),
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
        scope=scope,
        branches=branches,
        day_start=start,
        day_end=end,
    )
