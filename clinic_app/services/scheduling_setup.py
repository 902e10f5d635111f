"""Scheduling setup without code: weekly hours form, exceptions, visit types, clinic policy.

The setup page (receptionists and clinic admins, ``availability:manage``) edits what
``clinic_app.services.scheduling`` reads when it shades the calendar and searches slots. Weekly
hours and new exceptions go through that module's ``set_weekly_hours`` and ``add_exception``;
this module adds what they need around them: reading a provider's template back into the form,
parsing the form's local times, listing and removing exceptions, visit types and the policy.

Every write is audited in the caller's transaction and guarded by a version: the row ``version``
for exceptions, visit types and the policy, and a fingerprint of the active template rows for a
provider's weekly hours (``VERSION_CONFLICT`` when someone else saved meanwhile).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from clinic_app import audit, live
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services.reminders import parse_offsets
from clinic_app.services.scheduling import (
    TemplateInput,
    active_provider,
    add_exception,
    clinic_zone,
    get_policy,
    iso,
    parse_instant,
    set_weekly_hours,
)
from clinic_app.timeutil import as_utc
from models import (
    EXCEPTION_KINDS,
    NOTIFICATION_CHANNELS,
    AvailabilityException,
    AvailabilityTemplate,
    Provider,
    SchedulingPolicy,
    VisitType,
)
from models.base import utcnow

PERMISSION = "availability:manage"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_SESSIONS_PER_DAY = 6
EXCEPTION_LABELS = {
    "leave": "Leave",
    "holiday": "Holiday",
    "blocked": "Blocked hours",
    "extra": "Extra session",
}
MIN_VISIT_MINUTES, MAX_VISIT_MINUTES = 5, 480
MAX_REMINDERS = 5
MIN_HORIZON_DAYS, MAX_HORIZON_DAYS = 1, 365
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_VISIT_COLOR = "#0d9488"


def _whole_number(value: int | str, what: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise AppError("VALIDATION", f"{what} must be a whole number from {low} to {high}.")
    return number


# ---- weekly hours -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    """One session of the form: weekday 0 = Monday, times as ``HH:MM`` clinic wall-clock."""

    weekday: int
    start: str
    end: str


@dataclass(frozen=True)
class WeeklyHoursForm:
    provider_id: str
    provider_name: str
    sessions: list[SessionRow]
    valid_from: str
    valid_until: str
    mixed_dates: bool
    """The stored rows have different valid-from/until dates (saving applies one pair)."""
    stamp: str
    """Fingerprint of the active rows the form was read from (the optimistic version)."""


def _active_templates(session: Session, provider: Provider) -> list[AvailabilityTemplate]:
    return list(
        session.exec(
            select(AvailabilityTemplate)
            .where(
                AvailabilityTemplate.clinic_id == provider.clinic_id,
                AvailabilityTemplate.provider_id == provider.id,
                col(AvailabilityTemplate.deleted_at).is_(None),
            )
            .order_by(col(AvailabilityTemplate.weekday), col(AvailabilityTemplate.start_time))
        ).all()
    )


def _stamp(rows: Sequence[AvailabilityTemplate]) -> str:
    """Changes whenever the template is replaced (new row ids) or a row is edited."""
    text = ",".join(sorted(f"{r.id}:{r.version}" for r in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weekly_hours(session: Session, *, actor: Actor, provider_id: str) -> WeeklyHoursForm:
    """A provider's current weekly template, shaped for the hours form."""
    require(actor, PERMISSION)
    provider = active_provider(session, actor.clinic_id, provider_id)
    rows = _active_templates(session, provider)
    dates = {(r.valid_from, r.valid_until) for r in rows}
    valid_from, valid_until = next(iter(dates)) if len(dates) == 1 else (None, None)
    return WeeklyHoursForm(
        provider_id=str(provider.id),
        provider_name=provider.display_name,
        sessions=[
            SessionRow(r.weekday, r.start_time.strftime("%H:%M"), r.end_time.strftime("%H:%M"))
            for r in rows
        ],
        valid_from=valid_from.isoformat() if valid_from else "",
        valid_until=valid_until.isoformat() if valid_until else "",
        mixed_dates=len(dates) > 1,
        stamp=_stamp(rows),
    )


def _clock(value: str, label: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise AppError("VALIDATION", f"{label}: give a time like 08:00.") from None


def _day(value: str, what: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise AppError("VALIDATION", f"{what} is not a date (YYYY-MM-DD).") from None


def parse_sessions(
    sessions: Sequence[SessionRow], valid_from: str = "", valid_until: str = ""
) -> list[TemplateInput]:
    """The form's sessions as template rows; refuses empty, reversed or overlapping sessions.

    A session ends on the same day (an end of 00:00 means midnight); overnight shifts are not
    offered here because a mistyped end would silently become one.
    """
    start_day, end_day = _day(valid_from, "Valid from"), _day(valid_until, "Valid until")
    if start_day and end_day and end_day < start_day:
        raise AppError("VALIDATION", "'Valid until' is before 'valid from'.")
    rows: list[TemplateInput] = []
    spans: dict[int, list[tuple[int, int]]] = {}
    for row in sessions:
        if not 0 <= int(row.weekday) <= 6:
            raise AppError("VALIDATION", "Weekday must be Monday to Sunday.")
        day = WEEKDAYS[row.weekday]
        if not row.start.strip() or not row.end.strip():
            raise AppError("VALIDATION", f"{day}: give each session a start and an end.")
        start, end = _clock(row.start, day), _clock(row.end, day)
        start_min = start.hour * 60 + start.minute
        end_min = end.hour * 60 + end.minute or 24 * 60
        if end_min <= start_min:
            raise AppError(
                "VALIDATION",
                f"{day}: a session must end after it starts ({row.start}–{row.end}).",
            )
        taken = spans.setdefault(row.weekday, [])
        if len(taken) >= MAX_SESSIONS_PER_DAY:
            raise AppError("VALIDATION", f"{day}: at most {MAX_SESSIONS_PER_DAY} sessions.")
        if any(start_min < other_end and other_start < end_min for other_start, other_end in taken):
            raise AppError("VALIDATION", f"{day}: sessions overlap ({row.start}–{row.end}).")
        taken.append((start_min, end_min))
        rows.append(TemplateInput(row.weekday, start, end, start_day, end_day))
    return sorted(rows, key=lambda r: (r.weekday, r.start))


def save_weekly_hours(
    session: Session,
    *,
    actor: Actor,
    provider_id: str,
    stamp: str,
    sessions: Sequence[SessionRow],
    valid_from: str = "",
    valid_until: str = "",
) -> WeeklyHoursForm:
    """Check the form, then replace the provider's template through ``set_weekly_hours``."""
    require(actor, PERMISSION)
    provider = active_provider(session, actor.clinic_id, provider_id, lock=True)
    hours = parse_sessions(sessions, valid_from, valid_until)
    if _stamp(_active_templates(session, provider)) != stamp:
        raise AppError(
            "VERSION_CONFLICT",
            f"Someone else changed {provider.display_name}'s hours meanwhile; the form now shows "
            "theirs. Make your change again.",
        )
    set_weekly_hours(session, actor=actor, provider_id=provider.id, hours=hours)
    session.flush()
    return weekly_hours(session, actor=actor, provider_id=str(provider.id))


# ---- exceptions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionRow:
    id: str
    version: int
    provider_name: str
    kind: str
    kind_label: str
    when: str
    note: str


def _span_label(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"{start.strftime('%a %d %b %Y, %H:%M')}–{end.strftime('%H:%M')}"
    return f"{start.strftime('%a %d %b %Y, %H:%M')} – {end.strftime('%a %d %b %Y, %H:%M')}"


def list_exceptions(
    session: Session, *, actor: Actor, now: datetime | None = None, limit: int = 200
) -> list[ExceptionRow]:
    """Exceptions not yet over (running or upcoming), soonest first, times clinic-local."""
    require(actor, PERMISSION)
    zone = clinic_zone(session, actor.clinic_id)
    rows = session.exec(
        select(AvailabilityException, Provider)
        .join(
            Provider,
            col(Provider.id) == col(AvailabilityException.provider_id),
            isouter=True,
        )
        .where(
            AvailabilityException.clinic_id == actor.clinic_id,
            col(AvailabilityException.deleted_at).is_(None),
            col(AvailabilityException.ends_at) > (now or utcnow()),
        )
        .order_by(col(AvailabilityException.starts_at), col(AvailabilityException.id))
        .limit(limit)
    ).all()
    return [
        ExceptionRow(
            id=str(row.id),
            version=row.version,
            provider_name=provider.display_name if provider else "All providers",
            kind=row.kind,
            kind_label=EXCEPTION_LABELS.get(row.kind, row.kind),
            when=_span_label(
                as_utc(row.starts_at).astimezone(zone), as_utc(row.ends_at).astimezone(zone)
            ),
            note=row.note or "",
        )
        for row, provider in rows
    ]


def add_exception_local(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    provider_id: str,
    starts_local: str,
    ends_local: str,
    note: str = "",
) -> uuid.UUID:
    """The form's clinic-local times (``2026-07-06T08:00``) into ``add_exception``.

    ``provider_id`` "" or "all" means the whole clinic.
    """
    require(actor, PERMISSION)
    if kind not in EXCEPTION_KINDS:
        raise AppError("VALIDATION", "Choose leave, holiday, blocked hours or an extra session.")
    if not starts_local.strip() or not ends_local.strip():
        raise AppError("VALIDATION", "Give a start and an end.")
    zone = clinic_zone(session, actor.clinic_id)
    return add_exception(
        session,
        actor=actor,
        kind=kind,
        provider_id=None if provider_id in ("", "all") else provider_id,
        starts_at=parse_instant(starts_local, zone),
        ends_at=parse_instant(ends_local, zone),
        note=note,
    )


Lockable = TypeVar("Lockable", AvailabilityException, VisitType)


def _locked(
    session: Session, model: type[Lockable], actor: Actor, row_id: str, what: str
) -> Lockable:
    """The clinic's live row, locked so the version check and the write see the same row."""
    row = session.exec(
        select(model)
        .where(
            col(model.id) == parse_id(row_id, what),
            col(model.clinic_id) == actor.clinic_id,
            col(model.deleted_at).is_(None),
        )
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(what)
    return row


def remove_exception(session: Session, *, actor: Actor, exception_id: str, version: int) -> None:
    """Soft-delete one exception (its hours count again); the version guards a stale list."""
    require(actor, PERMISSION)
    row = _locked(session, AvailabilityException, actor, exception_id, "Exception")
    if row.version != int(version):
        raise AppError(
            "VERSION_CONFLICT", "Someone else changed this exception meanwhile; check the list."
        )
    now = utcnow()
    row.deleted_at = row.updated_at = now
    row.updated_by = actor.user_id
    row.version += 1
    session.add(row)
    audit.record_by(
        session,
        actor,
        "availability.exception_removed",
        entity_type="availability_exception",
        entity_id=row.id,
        before={
            "kind": row.kind,
            "provider_id": str(row.provider_id or ""),
            "starts_at": iso(row.starts_at),
            "ends_at": iso(row.ends_at),
        },
        after={"deleted": True},
    )
    live.publish_after_commit(session, actor.clinic_id, {"kind": "availability"})


# ---- visit types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitTypeRow:
    id: str
    version: int
    code: str
    name: str
    duration_minutes: int
    color: str
    portal_bookable: bool
    is_active: bool


def _visit_row(v: VisitType) -> VisitTypeRow:
    return VisitTypeRow(
        str(v.id), v.version, v.code, v.name, v.duration_minutes, v.color, v.portal_bookable,
        v.is_active,
    )  # fmt: skip


def list_all_visit_types(session: Session, *, actor: Actor) -> list[VisitTypeRow]:
    """Active and retired visit types (the booking dialog shows only active ones)."""
    require(actor, PERMISSION)
    rows = session.exec(
        select(VisitType)
        .where(VisitType.clinic_id == actor.clinic_id, col(VisitType.deleted_at).is_(None))
        .order_by(col(VisitType.is_active).desc(), col(VisitType.name))
    ).all()
    return [_visit_row(v) for v in rows]


@dataclass(frozen=True)
class VisitTypeInput:
    name: str
    duration_minutes: int | str
    color: str = DEFAULT_VISIT_COLOR
    portal_bookable: bool = False
    is_active: bool = True


def _checked(
    session: Session, actor: Actor, data: VisitTypeInput, own_id: uuid.UUID | None
) -> tuple[str, int, str]:
    """(name, minutes, colour) or VALIDATION; names are unique per clinic, case-insensitive."""
    name = " ".join(data.name.split())[:120]
    if not name:
        raise AppError("VALIDATION", "Give the visit type a name.")
    minutes = _whole_number(
        data.duration_minutes, "Duration (minutes)", MIN_VISIT_MINUTES, MAX_VISIT_MINUTES
    )
    color = data.color.strip() or DEFAULT_VISIT_COLOR
    if not COLOR.match(color):
        raise AppError("VALIDATION", "Colour must look like #0d9488.")
    same = select(VisitType.id).where(
        VisitType.clinic_id == actor.clinic_id,
        col(VisitType.deleted_at).is_(None),
        func.lower(VisitType.name) == name.lower(),
    )
    if own_id is not None:
        same = same.where(VisitType.id != own_id)
    if session.exec(same).first() is not None:
        raise AppError("VALIDATION", f"There is already a visit type named {name!r}.")
    return name, minutes, color.lower()


def _new_code(session: Session, clinic_id: uuid.UUID, name: str) -> str:
    """``Follow-up visit`` → ``follow_up_visit`` (``_2``, ``_3``… when taken, retired included)."""
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:50] or "visit"
    taken = set(
        session.exec(
            select(VisitType.code).where(
                VisitType.clinic_id == clinic_id, col(VisitType.code).startswith(base)
            )
        ).all()
    )
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def create_visit_type(session: Session, *, actor: Actor, data: VisitTypeInput) -> VisitTypeRow:
    """A new visit type; its code (what appointments store) comes from the name, once."""
    require(actor, PERMISSION)
    name, minutes, color = _checked(session, actor, data, None)
    row = VisitType(
        clinic_id=actor.clinic_id,
        code=_new_code(session, actor.clinic_id, name),
        name=name,
        duration_minutes=minutes,
        color=color,
        portal_bookable=bool(data.portal_bookable),
        is_active=bool(data.is_active),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    try:
        with session.begin_nested():  # a concurrent twin took the code: refuse, keep the form
            session.add(row)
            session.flush()
    except IntegrityError:
        raise AppError(
            "VERSION_CONFLICT", "Someone added a visit type with this name a moment ago."
        ) from None
    audit.record_by(
        session,
        actor,
        "visit_type.create",
        entity_type="visit_type",
        entity_id=row.id,
        after={"code": row.code, "name": name, "duration_minutes": minutes},
    )
    return _visit_row(row)


def update_visit_type(
    session: Session, *, actor: Actor, visit_type_id: str, version: int, data: VisitTypeInput
) -> VisitTypeRow:
    """Edit or retire/reactivate; the code stays, so booked appointments keep their type."""
    require(actor, PERMISSION)
    row = _locked(session, VisitType, actor, visit_type_id, "Visit type")
    if row.version != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            f"Someone else changed {row.name!r} meanwhile; the list now shows their change.",
        )
    name, minutes, color = _checked(session, actor, data, row.id)
    fields = ("name", "duration_minutes", "color", "portal_bookable", "is_active")
    before = {f: getattr(row, f) for f in fields}
    row.name, row.duration_minutes, row.color = name, minutes, color
    row.portal_bookable, row.is_active = bool(data.portal_bookable), bool(data.is_active)
    after = {f: getattr(row, f) for f in fields}
    if after != before:
        row.version += 1
        row.updated_at, row.updated_by = utcnow(), actor.user_id
        session.add(row)
        audit.record_by(
            session,
            actor,
            "visit_type.update",
            entity_type="visit_type",
            entity_id=row.id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return _visit_row(row)


# ---- clinic policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyForm:
    version: int
    """0 while the clinic runs on the defaults (no row stored yet)."""
    reminder_offsets: str
    reminder_channel: str
    no_show_enabled: bool
    no_show_include_confirmed: bool
    portal_booking_enabled: bool
    portal_booking_horizon_days: int


POLICY_FIELDS = (
    "reminder_offsets_hours",
    "reminder_channel",
    "no_show_enabled",
    "no_show_include_confirmed",
    "portal_booking_enabled",
    "portal_booking_horizon_days",
)


def _policy_form(policy: SchedulingPolicy, stored: bool) -> PolicyForm:
    return PolicyForm(
        version=policy.version if stored else 0,
        reminder_offsets=", ".join(str(h) for h in parse_offsets(policy.reminder_offsets_hours)),
        reminder_channel=policy.reminder_channel,
        no_show_enabled=policy.no_show_enabled,
        no_show_include_confirmed=policy.no_show_include_confirmed,
        portal_booking_enabled=policy.portal_booking_enabled,
        portal_booking_horizon_days=policy.portal_booking_horizon_days,
    )


def read_policy(session: Session, *, actor: Actor) -> PolicyForm:
    require(actor, PERMISSION)
    stored = session.get(SchedulingPolicy, actor.clinic_id)
    return _policy_form(get_policy(session, actor.clinic_id), stored is not None)


@dataclass(frozen=True)
class PolicyInput:
    reminder_offsets: str
    reminder_channel: str
    no_show_enabled: bool
    no_show_include_confirmed: bool
    portal_booking_enabled: bool
    portal_booking_horizon_days: int | str


def update_policy(session: Session, *, actor: Actor, version: int, data: PolicyInput) -> PolicyForm:
    """Validate and store the clinic's policy (the first save creates the row)."""
    require(actor, PERMISSION)
    offsets = parse_offsets(data.reminder_offsets)  # 1–336 hours each, duplicates dropped
    if len(offsets) > MAX_REMINDERS:
        raise AppError("VALIDATION", f"At most {MAX_REMINDERS} reminder times.")
    if data.reminder_channel not in NOTIFICATION_CHANNELS:
        raise AppError("VALIDATION", "Reminders go by SMS, WhatsApp or email.")
    horizon = _whole_number(
        data.portal_booking_horizon_days,
        "Portal booking horizon (days)",
        MIN_HORIZON_DAYS,
        MAX_HORIZON_DAYS,
    )
    row = session.get(SchedulingPolicy, actor.clinic_id, with_for_update=True)
    if (row.version if row else 0) != int(version):
        raise AppError(
            "VERSION_CONFLICT",
            "Someone else changed the scheduling policy meanwhile; the form now shows theirs.",
        )
    created = row is None
    if row is None:
        row = SchedulingPolicy(clinic_id=actor.clinic_id, created_by=actor.user_id)
    before = {f: getattr(row, f) for f in POLICY_FIELDS}
    row.reminder_offsets_hours = ",".join(str(h) for h in offsets)
    row.reminder_channel = data.reminder_channel
    row.no_show_enabled = bool(data.no_show_enabled)
    row.no_show_include_confirmed = bool(data.no_show_include_confirmed)
    row.portal_booking_enabled = bool(data.portal_booking_enabled)
    row.portal_booking_horizon_days = horizon
    after = {f: getattr(row, f) for f in POLICY_FIELDS}
    if not created and after == before:
        return _policy_form(row, True)
    if not created:
        row.version += 1
    row.updated_at, row.updated_by = utcnow(), actor.user_id
    try:
        with session.begin_nested():  # two first saves at once: one wins, one conflicts
            session.add(row)
            session.flush()
    except IntegrityError:
        raise AppError(
            "VERSION_CONFLICT", "Someone else saved the scheduling policy a moment ago."
        ) from None
    audit.record_by(
        session,
        actor,
        "scheduling_policy.update",
        entity_type="scheduling_policy",
        entity_id=actor.clinic_id,
        before=None if created else {k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if created or before[k] != v},
    )
    return _policy_form(row, True)
