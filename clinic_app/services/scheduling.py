"""Scheduling: providers, visit types, availability, slot search, booking, moves, lifecycle.

Invariants the database keeps (not just this code):

* No two active appointments of one provider overlap. PostgreSQL: the exclusion constraint
  ``ex_appointments_no_overlap`` (btree_gist over provider + ``tstzrange``), so of two
  concurrent bookings of one slot exactly one commits. SQLite: bookings and moves run in a
  ``BEGIN IMMEDIATE`` transaction (``session_scope(immediate=True)``), which serialises the
  overlap check with the insert.
* A booking's idempotency key is unique per clinic: a double click or a retried request
  returns the appointment created the first time.
* Edits carry the ``version`` the user saw; a stale version is ``VERSION_CONFLICT`` with the
  other person's change in ``details``.

Every write appends an ``appointment_events`` row (history: reschedules keep the old times),
writes an audit row and announces itself to open pages after commit (``clinic_app.live``).
"""

from __future__ import annotations

import time as time_module
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from clinic_app import audit, db, live
from clinic_app.errors import AppError, Forbidden, NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services.availability import (
    Exception_,
    Interval,
    WeeklyHours,
    as_utc,
    free_slots,
    inside,
    working_windows,
)
from clinic_app.timeutil import zone_named
from models import (
    ACTIVE_APPOINTMENT_STATUSES,
    EXCEPTION_KINDS,
    MAX_APPOINTMENT_HOURS,
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    AvailabilityTemplate,
    Clinic,
    Patient,
    Provider,
    SchedulingPolicy,
    User,
    VisitType,
)
from models.base import new_id, utcnow

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
STATUS_COLORS = {
    "scheduled": "#64748b",
    "confirmed": "#2563eb",
    "arrived": "#d97706",
    "ready": "#ea580c",
    "in_consultation": "#0d9488",
    "completed": "#16a34a",
    "cancelled": "#dc2626",
    "no_show": "#9f1239",
}

# The lifecycle: only these moves are allowed.
TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"confirmed", "arrived", "cancelled", "no_show"}),
    "confirmed": frozenset({"arrived", "cancelled", "no_show"}),
    "arrived": frozenset({"ready", "in_consultation", "cancelled"}),
    "ready": frozenset({"in_consultation", "arrived", "cancelled"}),
    "in_consultation": frozenset({"completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}
# The timestamp column each status sets when entered.
STATUS_TIMESTAMPS = {
    "confirmed": "confirmed_at",
    "arrived": "arrived_at",
    "ready": "ready_at",
    "in_consultation": "started_at",
    "completed": "completed_at",
    "cancelled": "cancelled_at",
}
MOVABLE_STATUSES = frozenset({"scheduled", "confirmed"})


def _event_style(status: str) -> dict[str, Any]:
    """A calendar event's colour and CSS classes by status. Only a visit that can no longer
    move says so: a movable one follows the calendar's own ``editable`` (the user's right)."""
    inactive = () if status in ACTIVE_APPOINTMENT_STATUSES else ("appt-inactive",)
    style: dict[str, Any] = {
        "color": STATUS_COLORS.get(status, "#64748b"),
        "classNames": (f"appt-{status}", *inactive),
    }
    if status not in MOVABLE_STATUSES:
        style["editable"] = False
    return style


_EVENT_STYLE = {status: _event_style(status) for status in STATUS_LABELS}
ALTERNATIVES = 3
ALTERNATIVE_SEARCH_DAYS = 21
MAX_RANGE_DAYS = 62
MAX_LENGTH = timedelta(hours=MAX_APPOINTMENT_HOURS)
DEFAULT_VISIT_MINUTES = 20


# ---- helpers ---------------------------------------------------------------------------------


_ZONE_CACHE: dict[uuid.UUID, tuple[float, ZoneInfo]] = {}
ZONE_CACHE_SECONDS = 30.0


def clinic_zone(session: Session, clinic_id: uuid.UUID) -> ZoneInfo:
    """The clinic's timezone, cached per process for 30 s (it changes about never).

    Saves a round trip on every calendar read and booking; a changed timezone shows everywhere
    within 30 s.
    """
    now = time_module.monotonic()
    cached = _ZONE_CACHE.get(clinic_id)
    if cached is not None and now - cached[0] < ZONE_CACHE_SECONDS:
        return cached[1]
    clinic = session.get(Clinic, clinic_id)
    zone = zone_named(clinic.timezone if clinic else "UTC")
    if clinic is not None:
        _ZONE_CACHE[clinic_id] = (now, zone)
    return zone


def parse_id(value: str | uuid.UUID | None, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(what) from None


def parse_instant(value: str | datetime, zone: ZoneInfo | None = None) -> datetime:
    """An ISO time from the browser (with offset, or naive = clinic wall time) as UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise AppError("VALIDATION", "That date and time could not be read.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str:
    if not moment:
        return ""
    if moment.tzinfo is not UTC:  # PostgreSQL already answers in UTC (``db.make_engine``)
        moment = as_utc(moment)
    return moment.isoformat().replace("+00:00", "Z")


def _clean(text: str | None, limit: int) -> str | None:
    value = " ".join((text or "").split())[:limit]
    return value or None


def get_policy(session: Session, clinic_id: uuid.UUID) -> SchedulingPolicy:
    """The clinic's policy row, or the defaults (not stored) when it has none."""
    policy = session.get(SchedulingPolicy, clinic_id)
    return policy if policy is not None else SchedulingPolicy(clinic_id=clinic_id)


# ---- statements of the hot paths ---------------------------------------------------------------
# Built once with bind parameters and run through Core: building a select and loading ORM rows
# cost more than the query itself on a small result, and every booking and calendar read runs
# these. Only plain columns are read, so no field nobody shows is decrypted.


def _typed_null(column: Any) -> Any:
    """A NULL that reads back as ``column``'s type (SQLite needs the type to parse times)."""
    return sa.type_coerce(sa.null(), column.type)


def _of_providers(column: Any, one: bool) -> Any:
    """``column = :provider_id`` for one provider (the usual week view and every booking: no IN
    list to expand on each read), else ``column IN :provider_ids``."""
    if one:
        return column == sa.bindparam("provider_id")
    return column.in_(sa.bindparam("provider_ids", expanding=True))


_T, _E = AvailabilityTemplate, AvailabilityException


def _availability(one: bool) -> Any:
    """Weekly hours and exceptions in one round trip: a template row has no ``kind``, an
    exception row has nothing else. A booking, a slot search and the calendar shading all read
    both."""
    return sa.union_all(
        sa.select(
            col(_T.provider_id),
            col(_T.weekday),
            col(_T.start_time),
            col(_T.end_time),
            col(_T.valid_from),
            col(_T.valid_until),
            _typed_null(col(_E.kind)).label("kind"),
            _typed_null(col(_E.starts_at)).label("starts_at"),
            _typed_null(col(_E.ends_at)).label("ends_at"),
        ).where(
            col(_T.clinic_id) == sa.bindparam("clinic_id"),
            _of_providers(col(_T.provider_id), one),
            col(_T.deleted_at).is_(None),
        ),
        sa.select(
            col(_E.provider_id),
            _typed_null(col(_T.weekday)),
            _typed_null(col(_T.start_time)),
            _typed_null(col(_T.end_time)),
            _typed_null(col(_T.valid_from)),
            _typed_null(col(_T.valid_until)),
            col(_E.kind),
            col(_E.starts_at),
            col(_E.ends_at),
        ).where(
            col(_E.clinic_id) == sa.bindparam("clinic_id"),
            or_(_of_providers(col(_E.provider_id), one), col(_E.provider_id).is_(None)),
            col(_E.deleted_at).is_(None),
            col(_E.starts_at) < sa.bindparam("end"),
            col(_E.ends_at) > sa.bindparam("start_bound"),
        ),
    )


_AVAILABILITY, _AVAILABILITY_ONE = _availability(one=False), _availability(one=True)


def _calendar_rows(one: bool) -> Any:
    """A calendar's appointments with patient names (``one``: see ``_of_providers``)."""
    return (
        sa.select(
            col(Appointment.id),
            col(Appointment.provider_id),
            col(Appointment.status),
            col(Appointment.visit_type),
            col(Appointment.version),
            col(Appointment.starts_at),
            col(Appointment.ends_at),
            col(Patient.given_name),
            col(Patient.family_name),
        )
        .join(Patient, col(Patient.id) == col(Appointment.patient_id))
        .where(
            col(Appointment.clinic_id) == sa.bindparam("clinic_id"),
            _of_providers(col(Appointment.provider_id), one),
            col(Appointment.deleted_at).is_(None),
            col(Appointment.starts_at) < sa.bindparam("hi"),
            col(Appointment.ends_at) > sa.bindparam("lo"),
            col(Appointment.starts_at) > sa.bindparam("lo_bound"),  # ≤ 12 h long: on the index
        )
        .order_by(col(Appointment.starts_at))
    )


_CALENDAR_ROWS, _CALENDAR_ROWS_ONE = _calendar_rows(one=False), _calendar_rows(one=True)
_EVENT_TABLE: sa.Table = AppointmentEvent.__table__  # type: ignore[attr-defined]
_APPOINTMENTS: sa.Table = Appointment.__table__  # type: ignore[attr-defined]
# A booking's provider, patient and visit type: each on its own, and all three in one statement
# (a booking's happy path) under the same conditions.
_ACTIVE_PROVIDER = (
    col(Provider.id) == sa.bindparam("provider_id"),
    col(Provider.clinic_id) == sa.bindparam("clinic_id"),
    col(Provider.is_active).is_(True),
    col(Provider.deleted_at).is_(None),
)
_LIVE_PATIENT = (
    col(Patient.id) == sa.bindparam("patient_id"),
    col(Patient.clinic_id) == sa.bindparam("clinic_id"),
    col(Patient.deleted_at).is_(None),
)
_ACTIVE_VISIT_TYPE = (
    col(VisitType.clinic_id) == sa.bindparam("clinic_id"),
    col(VisitType.code) == sa.bindparam("code"),
    col(VisitType.is_active).is_(True),
    col(VisitType.deleted_at).is_(None),
)
_PATIENT_COLUMNS = (col(Patient.mrn), col(Patient.given_name), col(Patient.family_name))
_VISIT_TYPE_COLUMNS = (
    col(VisitType.code),
    col(VisitType.name),
    col(VisitType.duration_minutes),
    col(VisitType.color),
    col(VisitType.portal_bookable),
)
_PROVIDER_REF = sa.select(col(Provider.id), col(Provider.display_name)).where(*_ACTIVE_PROVIDER)
_PATIENT_REF = sa.select(*_PATIENT_COLUMNS).where(*_LIVE_PATIENT)
_VISIT_TYPE = sa.select(*_VISIT_TYPE_COLUMNS).where(*_ACTIVE_VISIT_TYPE)
_BOOKING_REFS = (
    sa.select(col(Provider.display_name), *_PATIENT_COLUMNS, *_VISIT_TYPE_COLUMNS)
    .select_from(Provider)
    .join(Patient, sa.true())
    .join(VisitType, sa.true())
    .where(*_ACTIVE_PROVIDER, *_LIVE_PATIENT, *_ACTIVE_VISIT_TYPE)
)
_REFS_WIDTH = 1 + len(_PATIENT_COLUMNS) + len(_VISIT_TYPE_COLUMNS)
# A booking's references and its provider's hours in one round trip: one row per template or
# exception (the references repeated), or one row with no hours when the provider has none.
_refs, _hours = _BOOKING_REFS.subquery("refs"), _AVAILABILITY_ONE.subquery("hours")
_BOOKING_REFS_AND_HOURS = sa.select(*_refs.c, *_hours.c).select_from(
    _refs.outerjoin(_hours, sa.true())
)

# ---- providers, visit types -----------------------------------------------------------------


@dataclass(frozen=True)
class ProviderView:
    id: str
    name: str
    kind: str
    branch: str
    specialty: str
    color: str
    user_id: str


def list_providers(
    session: Session,
    *,
    actor: Actor | None,
    clinic_id: uuid.UUID | None = None,
    branch: str | None = None,
    include_rooms: bool = True,
) -> list[ProviderView]:
    """Active providers; ``actor=None`` with ``clinic_id`` is for callers that checked access
    themselves (the portal's booking form)."""
    if actor is not None:
        require(actor, "appointment:read")
        clinic_id = actor.clinic_id
    statement = select(Provider).where(
        Provider.clinic_id == clinic_id,
        col(Provider.deleted_at).is_(None),
        col(Provider.is_active).is_(True),
    )
    if branch:
        statement = statement.where(Provider.branch == branch)
    if not include_rooms:
        statement = statement.where(Provider.kind == "doctor")
    rows = session.exec(statement.order_by(col(Provider.kind), col(Provider.display_name))).all()
    return [
        ProviderView(
            id=str(p.id),
            name=p.display_name,
            kind=p.kind,
            branch=p.branch,
            specialty=p.specialty or "",
            color=p.color,
            user_id=str(p.user_id or ""),
        )
        for p in rows
    ]


@dataclass(frozen=True)
class VisitTypeView:
    code: str
    name: str
    duration_minutes: int
    color: str
    portal_bookable: bool


def list_visit_types(
    session: Session, *, actor: Actor | None, clinic_id: uuid.UUID | None = None
) -> list[VisitTypeView]:
    """Active visit types (a clinic with none configured gets one 20-minute consultation)."""
    if actor is not None:
        require(actor, "appointment:read")
        clinic_id = actor.clinic_id
    rows = session.exec(
        select(VisitType)
        .where(
            VisitType.clinic_id == clinic_id,
            col(VisitType.is_active).is_(True),
            col(VisitType.deleted_at).is_(None),
        )
        .order_by(col(VisitType.name))
    ).all()
    if not rows:
        return [
            VisitTypeView("consultation", "Consultation", DEFAULT_VISIT_MINUTES, "#0d9488", False)
        ]
    return [
        VisitTypeView(v.code, v.name, v.duration_minutes, v.color, v.portal_bookable) for v in rows
    ]


def _visit_type(session: Session, clinic_id: uuid.UUID, code: str) -> VisitTypeView:
    """One active visit type by code (bookings look up one, not the whole list)."""
    found = db.rows(session, _VISIT_TYPE, {"clinic_id": clinic_id, "code": code})
    row = found[0] if found else None
    if row is not None:
        return VisitTypeView(*row)
    for visit in list_visit_types(session, actor=None, clinic_id=clinic_id):
        if visit.code == code:  # the built-in default of a clinic with no visit types
            return visit
    raise AppError("VALIDATION", "Choose one of the clinic's visit types.")


def active_provider(
    session: Session, clinic_id: uuid.UUID, provider_id: str | uuid.UUID, *, lock: bool = False
) -> Provider:
    """An active provider of the clinic (a foreign or made-up id is NOT_FOUND).

    ``lock`` holds the row until commit (PostgreSQL), so two saves of one provider's hours run
    one after the other and the second sees the first's template.
    """
    statement = select(Provider).where(*_ACTIVE_PROVIDER)
    provider = session.exec(
        statement.with_for_update() if lock else statement,
        params={"provider_id": parse_id(provider_id, "Provider"), "clinic_id": clinic_id},
    ).first()
    if provider is None:
        raise NotFound("Provider")
    return provider


# ---- availability -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateInput:
    weekday: int
    start: time
    end: time
    valid_from: date | None = None
    valid_until: date | None = None


def set_weekly_hours(
    session: Session,
    *,
    actor: Actor,
    provider_id: str | uuid.UUID,
    hours: Sequence[TemplateInput],
) -> int:
    """Replace a provider's weekly template (old rows are soft-deleted, so history stays)."""
    require(actor, "availability:manage")
    provider = active_provider(session, actor.clinic_id, provider_id)
    for row in hours:
        if not 0 <= row.weekday <= 6:
            raise AppError("VALIDATION", "Weekday must be 0 (Monday) to 6 (Sunday).")
        if row.start == row.end:
            raise AppError("VALIDATION", "A session needs a start and a different end time.")
        if row.valid_from and row.valid_until and row.valid_until < row.valid_from:
            raise AppError("VALIDATION", "'Valid until' is before 'valid from'.")
    now = utcnow()
    old = session.exec(
        select(AvailabilityTemplate).where(
            AvailabilityTemplate.provider_id == provider.id,
            col(AvailabilityTemplate.deleted_at).is_(None),
        )
    ).all()
    for template in old:
        template.deleted_at = now
        template.updated_by = actor.user_id
        session.add(template)
    for row in hours:
        session.add(
            AvailabilityTemplate(
                clinic_id=actor.clinic_id,
                provider_id=provider.id,
                weekday=row.weekday,
                start_time=row.start,
                end_time=row.end,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                created_by=actor.user_id,
                updated_by=actor.user_id,
            )
        )
    audit.record(
        session,
        action="availability.set_hours",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="provider",
        entity_id=provider.id,
        after={"sessions": len(hours)},
    )
    live.publish_after_commit(session, actor.clinic_id, {"kind": "availability"})
    return len(hours)


def add_exception(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    provider_id: str | uuid.UUID | None = None,
    note: str | None = None,
) -> uuid.UUID:
    """Leave / holiday / blocked hours (remove time) or an extra session (adds time)."""
    require(actor, "availability:manage")
    if kind not in EXCEPTION_KINDS:
        raise AppError("VALIDATION", "Kind must be leave, holiday, blocked or extra.")
    start, end = as_utc(starts_at), as_utc(ends_at)
    if end <= start:
        raise AppError("VALIDATION", "The end must be after the start.")
    provider = active_provider(session, actor.clinic_id, provider_id) if provider_id else None
    if kind == "extra" and provider is None:
        raise AppError("VALIDATION", "An extra session belongs to one provider.")
    row = AvailabilityException(
        clinic_id=actor.clinic_id,
        provider_id=provider.id if provider else None,
        kind=kind,
        starts_at=start,
        ends_at=end,
        note=_clean(note, 200),
        created_by=actor.user_id,
        updated_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="availability.exception",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="availability_exception",
        entity_id=row.id,
        after={"kind": kind, "starts_at": iso(start), "ends_at": iso(end)},
    )
    live.publish_after_commit(session, actor.clinic_id, {"kind": "availability"})
    return row.id


def provider_windows(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    provider_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    zone: ZoneInfo | None = None,
) -> dict[uuid.UUID, list[Interval]]:
    """Working windows per provider in [start, end) (UTC), exceptions applied."""
    zone = zone or clinic_zone(session, clinic_id)
    if not provider_ids:
        return {}
    found = db.rows(
        session,
        _AVAILABILITY_ONE if len(provider_ids) == 1 else _AVAILABILITY,
        {
            "clinic_id": clinic_id,
            "provider_id": provider_ids[0],
            "provider_ids": list(provider_ids),
            "end": end,
            "start_bound": start - timedelta(days=1),
        },
    )
    return _windows(found, provider_ids, start=start, end=end, zone=zone)


def _windows(
    hours: Sequence[Any],
    provider_ids: Sequence[uuid.UUID],
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> dict[uuid.UUID, list[Interval]]:
    """Working windows from rows with ``_AVAILABILITY``'s columns: a template has no ``kind``,
    an exception has one; a row with neither (a booking's provider without hours) is skipped."""
    templates = [row for row in hours if row.kind is None and row.provider_id is not None]
    exceptions = [row for row in hours if row.kind is not None]
    result: dict[uuid.UUID, list[Interval]] = {}
    for pid in provider_ids:
        weekly = [
            WeeklyHours(row.weekday, row.start_time, row.end_time, row.valid_from, row.valid_until)
            for row in templates
            if row.provider_id == pid
        ]
        excs = [
            Exception_(row.kind, row.starts_at, row.ends_at)
            for row in exceptions
            if row.provider_id in (pid, None)
            and not (row.kind == "extra" and row.provider_id is None)
        ]
        result[pid] = working_windows(weekly, excs, zone=zone, start=start, end=end)
    return result


def busy_intervals(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    provider_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> dict[uuid.UUID, list[Interval]]:
    statement = select(Appointment.provider_id, Appointment.starts_at, Appointment.ends_at).where(
        Appointment.clinic_id == clinic_id,
        col(Appointment.provider_id).in_(provider_ids),
        col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
        col(Appointment.deleted_at).is_(None),
        col(Appointment.starts_at) < end,
        col(Appointment.ends_at) > start,
        col(Appointment.starts_at) > start - MAX_LENGTH,  # stays on the index
    )
    if exclude is not None:
        statement = statement.where(Appointment.id != exclude)
    result: dict[uuid.UUID, list[Interval]] = {pid: [] for pid in provider_ids}
    for pid, s, e in session.exec(statement).all():
        result.setdefault(pid, []).append((as_utc(s), as_utc(e)))
    return result


@dataclass(frozen=True)
class Slot:
    provider_id: str
    provider_name: str
    starts_at: str
    ends_at: str
    label: str


def _slot_label(start: datetime, zone: ZoneInfo) -> str:
    return start.astimezone(zone).strftime("%a %d %b, %H:%M")


def find_slots(
    session: Session,
    *,
    actor: Actor | None,
    clinic_id: uuid.UUID | None = None,
    provider_ids: Sequence[str | uuid.UUID],
    visit_type: str,
    start_date: date,
    end_date: date,
    now: datetime | None = None,
    limit: int = 200,
    exclude_appointment: uuid.UUID | None = None,
) -> list[Slot]:
    """Free slots for the providers, visit type and (clinic-local) date range, earliest first."""
    if actor is not None:
        require(actor, "appointment:read")
        clinic_id = actor.clinic_id
    assert clinic_id is not None
    if end_date < start_date:
        raise AppError("VALIDATION", "The end date is before the start date.")
    if (end_date - start_date).days > MAX_RANGE_DAYS:
        raise AppError("VALIDATION", f"Search at most {MAX_RANGE_DAYS} days at a time.")
    zone = clinic_zone(session, clinic_id)
    providers = {
        p.id: p for p in (active_provider(session, clinic_id, pid) for pid in provider_ids)
    }
    visit = _visit_type(session, clinic_id, visit_type)
    start = datetime.combine(start_date, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(end_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    ids = list(providers)
    windows = provider_windows(
        session, clinic_id=clinic_id, provider_ids=ids, start=start, end=end, zone=zone
    )
    busy = busy_intervals(
        session,
        clinic_id=clinic_id,
        provider_ids=ids,
        start=start,
        end=end,
        exclude=exclude_appointment,
    )
    length = timedelta(minutes=visit.duration_minutes)
    not_before = now or utcnow()
    found: list[tuple[datetime, str, Slot]] = []
    for pid in ids:
        for s, e in free_slots(windows[pid], busy[pid], length=length, not_before=not_before):
            slot = Slot(str(pid), providers[pid].display_name, iso(s), iso(e), _slot_label(s, zone))
            found.append((s, providers[pid].display_name, slot))
    found.sort(key=lambda item: (item[0], item[1]))
    return [slot for _s, _n, slot in found[: max(1, limit)]]


def next_free_alternatives(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    provider_id: uuid.UUID,
    length: timedelta,
    after: datetime,
    exclude_appointment: uuid.UUID | None = None,
    count: int = ALTERNATIVES,
) -> list[dict[str, str]]:
    """The next free slots of the same length after ``after`` (for APPOINTMENT_CONFLICT)."""
    zone = clinic_zone(session, clinic_id)
    provider = session.get(Provider, provider_id)
    not_before = max(as_utc(after), utcnow())
    # Windows from the start of that local day, so alternatives stay on the session's grid.
    start = datetime.combine(not_before.astimezone(zone).date(), time(0), tzinfo=zone)
    start = start.astimezone(UTC)
    end = start + timedelta(days=ALTERNATIVE_SEARCH_DAYS)
    windows = provider_windows(
        session, clinic_id=clinic_id, provider_ids=[provider_id], start=start, end=end, zone=zone
    )[provider_id]
    busy = busy_intervals(
        session,
        clinic_id=clinic_id,
        provider_ids=[provider_id],
        start=start,
        end=end,
        exclude=exclude_appointment,
    )[provider_id]
    slots = free_slots(windows, busy, length=length, not_before=not_before)[:count]
    return [
        {
            "provider_id": str(provider_id),
            "provider_name": provider.display_name if provider else "",
            "starts_at": iso(s),
            "ends_at": iso(e),
            "label": _slot_label(s, zone),
        }
        for s, e in slots
    ]


# ---- booking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewBooking:
    provider_id: str
    patient_id: str
    starts_at: str | datetime
    visit_type: str = "consultation"
    ends_at: str | datetime | None = None
    notes: str | None = None
    idempotency_key: str | None = None
    allow_outside_hours: bool = False


@dataclass(frozen=True)
class AppointmentView:
    id: str
    version: int
    status: str
    status_label: str
    provider_id: str
    provider_name: str
    patient_id: str
    patient_name: str
    mrn: str
    visit_type: str
    starts_at: str
    ends_at: str
    label: str
    notes: str
    cancel_reason: str
    allowed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PatientRef:
    """What a booking shows of its patient: only the name is decrypted, not the whole record."""

    id: uuid.UUID
    mrn: str
    display_name: str


@dataclass(frozen=True)
class ProviderRef:
    """What a booking needs of its provider: no whole row."""

    id: uuid.UUID
    display_name: str


class AppointmentFacts(Protocol):
    """What a view and a live message read of an appointment: a loaded row or a new booking."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def clinic_id(self) -> uuid.UUID: ...
    @property
    def provider_id(self) -> uuid.UUID: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def visit_type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def cancel_reason(self) -> str | None: ...


@dataclass(frozen=True)
class NewAppointment:
    """A booking's row before it exists: plain values, not an ORM object (building one costs
    more than the booking's own Python work). Its fields are ``appointments`` columns."""

    clinic_id: uuid.UUID
    provider_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    visit_type: str
    notes: str | None
    idempotency_key: str | None
    booked_via: str
    created_by: uuid.UUID
    created_at: datetime
    id: uuid.UUID = field(default_factory=new_id)
    status: str = "scheduled"
    version: int = 1
    cancel_reason: str | None = None

    def row(self) -> db.Row:
        values = dict(vars(self))
        values |= {
            "status_changed_at": self.created_at,
            "updated_at": self.created_at,
            "updated_by": self.created_by,
        }
        return db.Row(_APPOINTMENTS, values)


def _provider_ref(
    session: Session, clinic_id: uuid.UUID, provider_id: str | uuid.UUID | None
) -> ProviderRef:
    """``active_provider``'s id and name only (a booking needs no whole row)."""
    pid = parse_id(provider_id, "Provider")
    found = db.rows(session, _PROVIDER_REF, {"provider_id": pid, "clinic_id": clinic_id})
    if not found:
        raise NotFound("Provider")
    return ProviderRef(*found[0])


@dataclass(frozen=True)
class _BookingRefs:
    provider: ProviderRef
    patient: PatientRef
    visit: VisitTypeView
    hours: Sequence[Any] | None  # rows with the hours around the start (``_windows``), or None


def _booking_refs(
    session: Session, clinic_id: uuid.UUID, data: NewBooking, start: datetime
) -> _BookingRefs:
    """A booking's provider, patient, visit type and the provider's hours around ``start``,
    in one round trip (hours up to ``MAX_LENGTH`` after it: no booking is longer).

    When one of them is missing (or the clinic has no visit types of its own), the lookups one
    by one say which, with their own error or the built-in default visit type; the hours are
    then looked up when they are checked.
    """
    provider_id = parse_id(data.provider_id, "Provider")
    patient_id = parse_id(data.patient_id, "Patient")
    found = db.rows(
        session,
        _BOOKING_REFS_AND_HOURS,
        {
            "provider_id": provider_id,
            "patient_id": patient_id,
            "clinic_id": clinic_id,
            "code": data.visit_type,
            "end": start + MAX_LENGTH,
            "start_bound": start - timedelta(days=1),
        },
    )
    if not found:
        return _BookingRefs(
            _provider_ref(session, clinic_id, provider_id),
            _patient_ref(session, clinic_id, patient_id),
            _visit_type(session, clinic_id, data.visit_type),
            None,
        )
    name, mrn, given, family, *visit = found[0][:_REFS_WIDTH]
    return _BookingRefs(
        ProviderRef(provider_id, name),
        PatientRef(patient_id, mrn, f"{given} {family}"),
        VisitTypeView(*visit),
        found,  # each row also carries the hours' columns, by name
    )


def _patient_ref(
    session: Session, clinic_id: uuid.UUID, patient_id: str | uuid.UUID | None
) -> PatientRef:
    pid = parse_id(patient_id, "Patient")
    found = db.rows(session, _PATIENT_REF, {"patient_id": pid, "clinic_id": clinic_id})
    if not found:
        raise NotFound("Patient")
    mrn, given, family = found[0]
    return PatientRef(pid, mrn, f"{given} {family}")


def _view(
    appointment: AppointmentFacts,
    patient: Patient | PatientRef,
    provider: Provider | ProviderRef,
    zone: ZoneInfo,
) -> AppointmentView:
    start = as_utc(appointment.starts_at).astimezone(zone)
    end = as_utc(appointment.ends_at).astimezone(zone)
    return AppointmentView(
        id=str(appointment.id),
        version=appointment.version,
        status=appointment.status,
        status_label=STATUS_LABELS.get(appointment.status, appointment.status),
        provider_id=str(provider.id),
        provider_name=provider.display_name,
        patient_id=str(patient.id),
        patient_name=patient.display_name,
        mrn=patient.mrn,
        visit_type=appointment.visit_type,
        starts_at=iso(appointment.starts_at),
        ends_at=iso(appointment.ends_at),
        label=f"{start.strftime('%a %d %b %Y, %H:%M')}–{end.strftime('%H:%M')}",
        notes=appointment.notes or "",
        cancel_reason=appointment.cancel_reason or "",
        allowed=sorted(TRANSITIONS.get(appointment.status, frozenset())),
    )


def _load(
    session: Session, clinic_id: uuid.UUID, appointment_id: str | uuid.UUID
) -> tuple[Appointment, Patient, Provider]:
    aid = parse_id(appointment_id, "Appointment")
    found = session.exec(
        select(Appointment, Patient, Provider)
        .join(Patient, col(Patient.id) == col(Appointment.patient_id))
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            Appointment.id == aid,
            Appointment.clinic_id == clinic_id,
            col(Appointment.deleted_at).is_(None),
        )
    ).first()
    if found is None:
        raise NotFound("Appointment")
    return found[0], found[1], found[2]


def _require_staff_or_self(actor: Actor, permission: str) -> None:
    """Staff need ``permission``; a patient (portal self-booking) needs ``appointment:self_book``
    and may then touch only their own visits (``_own_visit``)."""
    require(actor, permission if actor.patient_id is None else "appointment:self_book")


def _own_visit(actor: Actor, patient_id: uuid.UUID) -> None:
    if actor.patient_id is not None and patient_id != actor.patient_id:
        raise NotFound("Appointment")


def get_appointment(
    session: Session, *, actor: Actor, appointment_id: str | uuid.UUID
) -> AppointmentView:
    _require_staff_or_self(actor, "appointment:read")
    appointment, patient, provider = _load(session, actor.clinic_id, appointment_id)
    _own_visit(actor, patient.id)
    return _view(appointment, patient, provider, clinic_zone(session, actor.clinic_id))


def _overlapping(
    session: Session,
    provider_id: uuid.UUID,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> Appointment | None:
    statement = select(Appointment).where(
        Appointment.provider_id == provider_id,
        col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
        col(Appointment.deleted_at).is_(None),
        col(Appointment.starts_at) < end,
        col(Appointment.ends_at) > start,
        col(Appointment.starts_at) > start - MAX_LENGTH,  # stays on the index
    )
    if exclude is not None:
        statement = statement.where(Appointment.id != exclude)
    return session.exec(statement.limit(1)).first()


def _conflict(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    provider: Provider | ProviderRef,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> AppError:
    alternatives = next_free_alternatives(
        session,
        clinic_id=clinic_id,
        provider_id=provider.id,
        length=end - start,
        after=start,
        exclude_appointment=exclude,
    )
    hint = " Pick one of the next free times." if alternatives else ""
    return AppError(
        "APPOINTMENT_CONFLICT",
        f"{provider.display_name} already has an appointment at that time.{hint}",
        {"alternatives": alternatives},
    )


def _is_exclusion_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23P01" or "ex_appointments_no_overlap" in str(
        exc
    )


def _check_times(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    provider: Provider | ProviderRef,
    start: datetime,
    end: datetime,
    allow_outside_hours: bool,
    hours: Sequence[Any] | None = None,
) -> None:
    """``hours``: the provider's ``_AVAILABILITY`` rows covering [start, end) when the caller
    has them already (a booking reads them with its references)."""
    if end <= start:
        raise AppError("VALIDATION", "The appointment must end after it starts.")
    if end - start > MAX_LENGTH:
        raise AppError(
            "VALIDATION", f"An appointment can last at most {MAX_APPOINTMENT_HOURS} hours."
        )
    if start < utcnow() - timedelta(hours=12):
        raise AppError("VALIDATION", "That time is in the past.")
    if not allow_outside_hours:
        if hours is None:
            windows = provider_windows(
                session, clinic_id=clinic_id, provider_ids=[provider.id], start=start, end=end
            )[provider.id]
        else:
            zone = clinic_zone(session, clinic_id)
            windows = _windows(hours, [provider.id], start=start, end=end, zone=zone)[provider.id]
        if not inside(windows, start, end):
            raise AppError(
                "OUTSIDE_AVAILABILITY",
                f"{provider.display_name} is not working at that time (leave, holiday or "
                "outside their hours). Choose a shaded free time or book outside hours.",
            )


def book_appointment(
    session: Session, *, actor: Actor, data: NewBooking, booked_via: str = "staff"
) -> AppointmentView:
    """Book one appointment; a repeated idempotency key returns the first booking.

    A patient actor (the portal) may book only for themself; the portal service checks the
    clinic's self-booking policy and offers only free slots before it calls this.
    """
    _require_staff_or_self(actor, "appointment:create")
    _own_visit(actor, parse_id(data.patient_id, "Patient"))
    key = _clean(data.idempotency_key, 80)
    if key:
        existing = session.exec(
            select(Appointment).where(
                Appointment.clinic_id == actor.clinic_id, Appointment.idempotency_key == key
            )
        ).first()
        if existing is not None:
            return get_appointment(session, actor=actor, appointment_id=existing.id)
    zone = clinic_zone(session, actor.clinic_id)
    start = parse_instant(data.starts_at, zone)
    refs = _booking_refs(session, actor.clinic_id, data, start)
    provider, patient, visit = refs.provider, refs.patient, refs.visit
    end = (
        parse_instant(data.ends_at, zone)
        if data.ends_at
        else start + timedelta(minutes=visit.duration_minutes)
    )
    _check_times(
        session,
        clinic_id=actor.clinic_id,
        provider=provider,
        start=start,
        end=end,
        allow_outside_hours=data.allow_outside_hours,
        hours=refs.hours,
    )
    # PostgreSQL's exclusion constraint refuses an overlap at the INSERT below; SQLite has no
    # such constraint, so there the check runs first, inside the BEGIN IMMEDIATE write lock.
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    if on_sqlite and _overlapping(session, provider.id, start, end) is not None:
        raise _conflict(session, clinic_id=actor.clinic_id, provider=provider, start=start, end=end)
    appointment = NewAppointment(
        clinic_id=actor.clinic_id,
        provider_id=provider.id,
        patient_id=patient.id,
        starts_at=start,
        ends_at=end,
        visit_type=visit.code,
        notes=(data.notes or "").strip()[:2000] or None,
        idempotency_key=key,
        booked_via=booked_via,
        created_by=actor.user_id,
        created_at=utcnow(),
    )
    history = _event(
        appointment,
        actor_user_id=actor.user_id,
        action="book",
        to_status="scheduled",
        new=(start, end),
        idempotency_key=key,
    )
    audit_row = audit.entry(
        action="appointment.book",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="appointment",
        entity_id=appointment.id,
        after={"provider_id": str(provider.id), "starts_at": iso(start), "ends_at": iso(end)},
    )
    if not db.insert_unless_conflict(session, appointment.row(), then=[history, audit_row]):
        # Refused by the overlap constraint, or a concurrent twin with the same key committed
        # first (the INSERT waited for it): return the twin's booking, else the conflict.
        if key:
            twin = session.exec(
                select(Appointment.id).where(
                    Appointment.clinic_id == actor.clinic_id, Appointment.idempotency_key == key
                )
            ).first()
            if twin is not None:
                return get_appointment(session, actor=actor, appointment_id=twin)
        raise _conflict(session, clinic_id=actor.clinic_id, provider=provider, start=start, end=end)
    _announce(session, appointment, "booked")
    return _view(appointment, patient, provider, zone)


def _event(
    appointment: AppointmentFacts,
    *,
    actor_user_id: uuid.UUID | None,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    old: tuple[datetime, datetime] | None = None,
    new: tuple[datetime, datetime] | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> db.Row:
    """One history row. A plain INSERT, not an ORM object: history rows are never read back in
    the transaction that writes them, and skipping the unit of work is a measurable part of
    booking throughput."""
    return db.Row(
        _EVENT_TABLE,
        {
            "id": uuid.uuid4(),
            "clinic_id": appointment.clinic_id,
            "appointment_id": appointment.id,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "old_starts_at": old[0] if old else None,
            "old_ends_at": old[1] if old else None,
            "new_starts_at": new[0] if new else None,
            "new_ends_at": new[1] if new else None,
            "reason": reason,
            "actor_user_id": actor_user_id,
            "idempotency_key": idempotency_key,
            "created_at": utcnow(),
        },
    )


def _announce(
    session: Session,
    appointment: AppointmentFacts,
    what: str,
    was: tuple[uuid.UUID, datetime, datetime] | None = None,
) -> None:
    """Tell open pages after commit; ``was`` (provider, start, end) is where a moved visit was,
    so the pages showing its old place refresh too (``live.View``)."""
    message = {
        "kind": "appointment",
        "what": what,
        "id": str(appointment.id),
        "provider_id": str(appointment.provider_id),
        "starts_at": iso(appointment.starts_at),
        "ends_at": iso(appointment.ends_at),
    }
    if was is not None:
        message |= {
            "was_provider_id": str(was[0]),
            "was_starts_at": iso(was[1]),
            "was_ends_at": iso(was[2]),
        }
    live.publish_after_commit(session, appointment.clinic_id, message)


def _version_conflict(
    session: Session, appointment: Appointment, patient: Patient, provider: Provider
) -> AppError:
    """VERSION_CONFLICT with what the other person changed, for the dialog."""
    zone = clinic_zone(session, appointment.clinic_id)
    changed_by = session.get(User, appointment.updated_by) if appointment.updated_by else None
    current = _view(appointment, patient, provider, zone)
    who = changed_by.full_name if changed_by else "Someone else"
    return AppError(
        "VERSION_CONFLICT",
        f"{who} changed this appointment a moment ago: it is now {current.status_label.lower()}, "
        f"{current.label}. Review it and try again.",
        {
            "current": current.__dict__,
            "changed_by": who,
            "changed_at": iso(appointment.updated_at),
        },
    )


def reschedule_appointment(
    session: Session,
    *,
    actor: Actor,
    appointment_id: str | uuid.UUID,
    expected_version: int,
    starts_at: str | datetime,
    ends_at: str | datetime | None = None,
    provider_id: str | uuid.UUID | None = None,
    allow_outside_hours: bool = False,
) -> AppointmentView:
    """Move (drag) or resize an appointment, with the same checks as a new booking."""
    require(actor, "appointment:update")
    appointment, patient, provider = _load(session, actor.clinic_id, appointment_id)
    if appointment.version != expected_version:
        raise _version_conflict(session, appointment, patient, provider)
    if appointment.status not in MOVABLE_STATUSES:
        raise AppError(
            "APPOINTMENT_NOT_MOVABLE",
            f"A {STATUS_LABELS[appointment.status].lower()} appointment cannot be moved.",
        )
    zone = clinic_zone(session, actor.clinic_id)
    target = active_provider(session, actor.clinic_id, provider_id) if provider_id else provider
    old = (as_utc(appointment.starts_at), as_utc(appointment.ends_at))
    start = parse_instant(starts_at, zone)
    end = parse_instant(ends_at, zone) if ends_at else start + (old[1] - old[0])
    if (start, end) == old and target.id == provider.id:
        return _view(appointment, patient, provider, zone)
    _check_times(
        session,
        clinic_id=actor.clinic_id,
        provider=target,
        start=start,
        end=end,
        allow_outside_hours=allow_outside_hours,
    )
    if _overlapping(session, target.id, start, end, exclude=appointment.id) is not None:
        raise _conflict(
            session,
            clinic_id=actor.clinic_id,
            provider=target,
            start=start,
            end=end,
            exclude=appointment.id,
        )
    try:
        # The savepoint opens before the change, so a refused UPDATE rolls back only itself.
        with session.begin_nested():
            appointment.starts_at, appointment.ends_at = start, end
            appointment.provider_id = target.id
            appointment.version += 1
            appointment.updated_at = utcnow()
            appointment.updated_by = actor.user_id
            session.add(appointment)
            session.flush()
    except IntegrityError as exc:
        if _is_exclusion_violation(exc):
            raise _conflict(
                session,
                clinic_id=actor.clinic_id,
                provider=target,
                start=start,
                end=end,
                exclude=appointment.id,
            ) from None
        raise
    db.insert_row(
        session,
        _event(
            appointment,
            actor_user_id=actor.user_id,
            action="reschedule",
            old=old,
            new=(start, end),
            # History rows have no provider columns: a move to a colleague says so in words.
            reason=(
                f"{provider.display_name} → {target.display_name}"
                if target.id != provider.id
                else None
            ),
        ),
    )
    audit.record(
        session,
        action="appointment.reschedule",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="appointment",
        entity_id=appointment.id,
        before={"starts_at": iso(old[0]), "ends_at": iso(old[1]), "provider_id": str(provider.id)},
        after={"starts_at": iso(start), "ends_at": iso(end), "provider_id": str(target.id)},
    )
    _announce(session, appointment, "moved", was=(provider.id, *old))
    return _view(appointment, patient, target, zone)


def apply_transition(
    session: Session,
    appointment: Appointment,
    *,
    to_status: str,
    actor_user_id: uuid.UUID | None,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Change status if the lifecycle allows it (shared by staff, patients' links, jobs)."""
    current = appointment.status
    if to_status not in TRANSITIONS.get(current, frozenset()):
        raise AppError(
            "ILLEGAL_TRANSITION",
            f"A {STATUS_LABELS.get(current, current).lower()} appointment cannot become "
            f"{STATUS_LABELS.get(to_status, to_status).lower()}.",
            {"from": current, "to": to_status},
        )
    if to_status == "cancelled" and not _clean(reason, 300):
        raise AppError("VALIDATION", "Give a reason for the cancellation.")
    now = utcnow()
    appointment.status = to_status
    appointment.status_changed_at = now
    column = STATUS_TIMESTAMPS.get(to_status)
    if column:
        setattr(appointment, column, now)
    if to_status == "cancelled":
        appointment.cancel_reason = _clean(reason, 300)
    appointment.version += 1
    appointment.updated_at = now
    appointment.updated_by = actor_user_id
    session.add(appointment)
    from clinic_app.services import chart  # chart reads scheduling's labels: import here

    if to_status == "in_consultation":
        chart.encounter_for_appointment(session, appointment, actor_user_id=actor_user_id)
    elif to_status == "completed":
        chart.close_encounter_for_appointment(session, appointment, actor_user_id=actor_user_id)
    db.insert_row(
        session,
        _event(
            appointment,
            actor_user_id=actor_user_id,
            action="transition",
            from_status=current,
            to_status=to_status,
            reason=_clean(reason, 300),
            idempotency_key=idempotency_key,
        ),
    )
    audit.record(
        session,
        action=f"appointment.{to_status}",
        actor_user_id=actor_user_id,
        clinic_id=appointment.clinic_id,
        entity_type="appointment",
        entity_id=appointment.id,
        before={"status": current},
        after={"status": to_status, "reason": _clean(reason, 300)},
    )
    _announce(session, appointment, to_status)


def transition_appointment(
    session: Session,
    *,
    actor: Actor,
    appointment_id: str | uuid.UUID,
    to_status: str,
    expected_version: int,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> AppointmentView:
    """One lifecycle step (arrive, ready, start, complete, cancel…), audited and timestamped.

    A repeated ``idempotency_key`` (a double click) returns the current state unchanged.
    """
    _require_staff_or_self(actor, "appointment:transition")
    if actor.patient_id is not None and to_status != "cancelled":
        raise Forbidden()  # patients may cancel their own visits, nothing else
    appointment, patient, provider = _load(session, actor.clinic_id, appointment_id)
    _own_visit(actor, patient.id)
    zone = clinic_zone(session, actor.clinic_id)
    key = _clean(idempotency_key, 80)
    if key:
        done = session.exec(
            select(AppointmentEvent.id).where(
                AppointmentEvent.appointment_id == appointment.id,
                AppointmentEvent.idempotency_key == key,
            )
        ).first()
        if done is not None:
            return _view(appointment, patient, provider, zone)
    if appointment.version != expected_version:
        raise _version_conflict(session, appointment, patient, provider)
    apply_transition(
        session,
        appointment,
        to_status=to_status,
        actor_user_id=actor.user_id,
        reason=reason,
        idempotency_key=key,
    )
    session.flush()
    return _view(appointment, patient, provider, zone)


def appointment_history(
    session: Session, *, actor: Actor, appointment_id: str | uuid.UUID
) -> list[dict[str, str]]:
    """The appointment's events, oldest first (times in the clinic's zone)."""
    require(actor, "appointment:read")
    appointment, _patient, _provider = _load(session, actor.clinic_id, appointment_id)
    zone = clinic_zone(session, actor.clinic_id)
    rows = session.exec(
        select(AppointmentEvent)
        .where(AppointmentEvent.appointment_id == appointment.id)
        .order_by(col(AppointmentEvent.created_at), col(AppointmentEvent.id))
    ).all()

    def local(moment: datetime | None) -> str:
        return as_utc(moment).astimezone(zone).strftime("%d %b %H:%M") if moment else ""

    return [
        {
            "action": e.action,
            "at": local(e.created_at),
            "from_status": e.from_status or "",
            "to_status": e.to_status or "",
            "old": f"{local(e.old_starts_at)}–{local(e.old_ends_at)}" if e.old_starts_at else "",
            "new": f"{local(e.new_starts_at)}–{local(e.new_ends_at)}" if e.new_starts_at else "",
            "reason": e.reason or "",
        }
        for e in rows
    ]


# ---- calendar read side ----------------------------------------------------------------------


def calendar_events(
    session: Session,
    *,
    actor: Actor,
    provider_ids: Iterable[str | uuid.UUID],
    start: str | datetime,
    end: str | datetime,
    include_availability: bool = True,
) -> list[dict[str, Any]]:
    """Appointments (and availability shading) in [start, end) as FullCalendar event dicts.

    Only ids of the actor's clinic are used (others are dropped); patient names come from the
    Patient model so the Patients issue's decryption applies.
    """
    require(actor, "appointment:read")
    zone = clinic_zone(session, actor.clinic_id)
    lo, hi = parse_instant(start, zone), parse_instant(end, zone)
    if hi <= lo or hi - lo > timedelta(days=MAX_RANGE_DAYS):
        raise AppError("VALIDATION", "That date range cannot be shown.")
    wanted: list[uuid.UUID] = []
    for value in provider_ids:
        try:
            wanted.append(parse_id(value, "Provider"))
        except NotFound:
            continue
    if not wanted:
        return []
    # Every query below filters by the actor's clinic, so a foreign id simply finds nothing.
    ids = list(dict.fromkeys(wanted))
    rows = db.rows(
        session,
        _CALENDAR_ROWS_ONE if len(ids) == 1 else _CALENDAR_ROWS,
        {
            "clinic_id": actor.clinic_id,
            "provider_id": ids[0],
            "provider_ids": ids,
            "lo": lo,
            "hi": hi,
            "lo_bound": lo - MAX_LENGTH,
        },
    )
    events: list[dict[str, Any]] = []
    resource_ids = {pid: str(pid) for pid in ids}
    for aid, pid, status, visit_type, version, starts_at, ends_at, given, family in rows:
        events.append(
            {
                "id": str(aid),
                "resourceId": resource_ids[pid],
                "title": f"{given} {family} · {visit_type.replace('_', ' ')}",
                "start": iso(starts_at),
                "end": iso(ends_at),
                **(_EVENT_STYLE.get(status) or _event_style(status)),
                "extendedProps": {"status": status, "version": version},
            }
        )
    if include_availability:
        windows = provider_windows(
            session, clinic_id=actor.clinic_id, provider_ids=ids, start=lo, end=hi, zone=zone
        )
        for pid, intervals in windows.items():
            for s, e in intervals:
                events.append(
                    {
                        "id": f"avail-{pid}-{iso(s)}",
                        "resourceId": str(pid),
                        "start": iso(s),
                        "end": iso(e),
                        "display": "background",
                        "overlap": True,  # appointments may be dropped onto working hours
                        "backgroundColor": "#ccfbf1",
                        "classNames": ["availability"],
                    }
                )
    return events
