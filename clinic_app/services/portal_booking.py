"""Patient self-booking in the portal: free times, book for oneself, cancel one's own visit.

Optional per clinic (``SchedulingPolicy.portal_booking_enabled``), only for visit types the
clinic marked ``portal_bookable``, only up to ``portal_booking_horizon_days`` ahead, only with
doctors (not rooms). The patient is always ``actor.patient_id``: no function takes a patient id.

The booking itself is ``scheduling.book_appointment`` / ``transition_appointment`` (overlap
check, exclusion constraint, idempotency, history, audit, live update), called with the
patient's own actor: the scheduling service lets a patient (``appointment:self_book``) book and
cancel only their own visits, and this module adds the clinic's portal rules on top.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services import scheduling
from clinic_app.services.scheduling import NewBooking, clinic_zone, get_policy, iso, parse_instant
from clinic_app.timeutil import as_utc
from models import Appointment, SchedulingPolicy
from models.base import utcnow

BOOKED_VIA = "portal"
SLOT_WINDOW_DAYS = 7
CANCELLABLE_STATUSES = frozenset({"scheduled", "confirmed"})
BOOKING_OFF_MESSAGE = "Online booking is not available at this clinic. Please call the clinic."
SLOT_TAKEN_MESSAGE = (
    "Sorry, that time was just taken by someone else. The free times below are up to date."
)
CANCEL_TOO_LATE_MESSAGE = (
    "This appointment can no longer be cancelled online. Please call the clinic."
)


@dataclass(frozen=True)
class BookableType:
    code: str
    name: str
    duration_minutes: int


@dataclass(frozen=True)
class BookableProvider:
    id: str
    name: str
    specialty: str


@dataclass(frozen=True)
class BookingOptions:
    enabled: bool
    visit_types: list[BookableType]
    providers: list[BookableProvider]
    first_date: date
    last_date: date
    timezone: str


@dataclass(frozen=True)
class PortalSlot:
    """A free time: who and when, nothing about anyone else's appointments."""

    provider_id: str
    provider_name: str
    starts_at: str
    day: str
    time: str


@dataclass(frozen=True)
class SlotWindow:
    first_date: date
    last_date: date
    slots: list[PortalSlot]
    has_earlier: bool
    has_later: bool


@dataclass(frozen=True)
class Booked:
    id: str
    label: str
    provider_name: str
    visit_type: str


def _policy(session: Session, actor: Actor) -> SchedulingPolicy:
    require(actor, "portal:self")
    if actor.patient_id is None:
        raise NotFound("Patient record")
    return get_policy(session, actor.clinic_id)


def _enabled_policy(session: Session, actor: Actor) -> SchedulingPolicy:
    policy = _policy(session, actor)
    if not policy.portal_booking_enabled:
        raise AppError("PORTAL_BOOKING_OFF", BOOKING_OFF_MESSAGE)
    return policy


def _dates(session: Session, actor: Actor, policy: SchedulingPolicy) -> tuple[date, date]:
    """Today and the last bookable day, in the clinic's timezone."""
    today = utcnow().astimezone(clinic_zone(session, actor.clinic_id)).date()
    return today, today + timedelta(days=max(0, policy.portal_booking_horizon_days))


def _bookable_types(session: Session, clinic_id: uuid.UUID) -> list[BookableType]:
    return [
        BookableType(v.code, v.name, v.duration_minutes)
        for v in scheduling.list_visit_types(session, actor=None, clinic_id=clinic_id)
        if v.portal_bookable
    ]


def _bookable_type(session: Session, clinic_id: uuid.UUID, code: str) -> BookableType:
    for visit in _bookable_types(session, clinic_id):
        if visit.code == code:
            return visit
    raise AppError("VISIT_TYPE_NOT_BOOKABLE", "This visit type cannot be booked online.")


def _doctors(session: Session, clinic_id: uuid.UUID) -> list[scheduling.ProviderView]:
    return scheduling.list_providers(session, actor=None, clinic_id=clinic_id, include_rooms=False)


def _doctor_ids(session: Session, clinic_id: uuid.UUID, provider_id: str | None) -> list[str]:
    """All doctors for "any", else the one asked for (another clinic's or a room: not found)."""
    doctors = [p.id for p in _doctors(session, clinic_id)]
    if not provider_id:
        return doctors
    if provider_id not in doctors:
        raise NotFound("Doctor")
    return [provider_id]


def booking_options(session: Session, *, actor: Actor) -> BookingOptions:
    """What the booking form offers; ``enabled`` is False when there is nothing to book."""
    policy = _policy(session, actor)
    today, last = _dates(session, actor, policy)
    zone = clinic_zone(session, actor.clinic_id)
    if not policy.portal_booking_enabled:
        return BookingOptions(False, [], [], today, last, zone.key)
    types = _bookable_types(session, actor.clinic_id)
    providers = [
        BookableProvider(p.id, p.name, p.specialty) for p in _doctors(session, actor.clinic_id)
    ]
    return BookingOptions(bool(types and providers), types, providers, today, last, zone.key)


def open_slots(
    session: Session,
    *,
    actor: Actor,
    visit_type: str,
    provider_id: str | None = None,
    start_date: date | None = None,
    days: int = SLOT_WINDOW_DAYS,
) -> SlotWindow:
    """Free times in a window of ``days`` (clamped to today … horizon), earliest first.

    For "any doctor" (``provider_id`` None) each time appears once, with the first free doctor.
    """
    policy = _enabled_policy(session, actor)
    _bookable_type(session, actor.clinic_id, visit_type)
    ids = _doctor_ids(session, actor.clinic_id, provider_id)
    today, last = _dates(session, actor, policy)
    first = min(max(start_date or today, today), last)
    end = min(first + timedelta(days=max(1, days) - 1), last)
    found = scheduling.find_slots(
        session,
        actor=None,
        clinic_id=actor.clinic_id,
        provider_ids=ids,
        visit_type=visit_type,
        start_date=first,
        end_date=end,
        limit=5000,
    )
    zone = clinic_zone(session, actor.clinic_id)
    seen: set[str] = set()
    slots: list[PortalSlot] = []
    for slot in found:
        if slot.starts_at in seen:
            continue
        seen.add(slot.starts_at)
        local = parse_instant(slot.starts_at).astimezone(zone)
        if local.date() > last:
            continue  # a session running past midnight into the day after the horizon
        slots.append(
            PortalSlot(
                slot.provider_id,
                slot.provider_name,
                slot.starts_at,
                local.strftime("%a %d %b"),
                local.strftime("%H:%M"),
            )
        )
    return SlotWindow(first, end, slots, first > today, end < last)


def _own_booking(session: Session, actor: Actor, key: str | None) -> Appointment | None:
    if not key:
        return None
    return session.exec(
        select(Appointment).where(
            Appointment.clinic_id == actor.clinic_id,
            Appointment.idempotency_key == key,
            Appointment.patient_id == actor.patient_id,
        )
    ).first()


def _booked(view: scheduling.AppointmentView, type_name: str) -> Booked:
    return Booked(view.id, view.label, view.provider_name, type_name)


def book(
    session: Session,
    *,
    actor: Actor,
    visit_type: str,
    provider_id: str,
    starts_at: str,
    idempotency_key: str,
) -> Booked:
    """Book a free slot for the signed-in patient; a repeated key returns the first booking.

    The time must be one ``open_slots`` offers right now (so no odd times, no past, nothing
    past the horizon); a time someone else took is ``APPOINTMENT_CONFLICT``.
    """
    policy = _enabled_policy(session, actor)
    visit = _bookable_type(session, actor.clinic_id, visit_type)
    if not provider_id or not starts_at:
        raise AppError("VALIDATION", "Pick one of the free times.")
    # Namespaced per portal user: a key can never find another patient's booking.
    key = f"portal:{actor.user_id.hex}:{(idempotency_key or '').strip()[:40]}"
    earlier = _own_booking(session, actor, key)
    if earlier is not None:
        view = scheduling.get_appointment(session, actor=actor, appointment_id=earlier.id)
        return _booked(view, visit.name)
    ids = _doctor_ids(session, actor.clinic_id, provider_id)
    zone = clinic_zone(session, actor.clinic_id)
    start = parse_instant(starts_at, zone)
    today, last = _dates(session, actor, policy)
    day = start.astimezone(zone).date()
    if day > last:
        raise AppError(
            "BEYOND_HORIZON",
            f"Online booking is open up to {policy.portal_booking_horizon_days} days ahead.",
        )
    if day < today or start <= utcnow():
        raise AppError("VALIDATION", "That time is in the past. Please pick another time.")
    free = scheduling.find_slots(
        session,
        actor=None,
        clinic_id=actor.clinic_id,
        provider_ids=ids,
        visit_type=visit.code,
        start_date=day,
        end_date=day,
        limit=5000,
    )
    if not any(s.starts_at == iso(start) and s.provider_id == ids[0] for s in free):
        raise AppError("APPOINTMENT_CONFLICT", SLOT_TAKEN_MESSAGE)
    try:
        view = scheduling.book_appointment(
            session,
            actor=actor,
            data=NewBooking(
                provider_id=ids[0],
                patient_id=str(actor.patient_id),
                starts_at=start,
                visit_type=visit.code,
                idempotency_key=key,
            ),
            booked_via=BOOKED_VIA,
        )
    except AppError as exc:
        if exc.code in {"APPOINTMENT_CONFLICT", "OUTSIDE_AVAILABILITY"}:
            raise AppError("APPOINTMENT_CONFLICT", SLOT_TAKEN_MESSAGE) from None
        raise
    if view.patient_id != str(actor.patient_id):  # cannot happen: the key is namespaced
        raise NotFound("Appointment")
    return _booked(view, visit.name)


def can_cancel(appointment: Appointment, *, now: datetime | None = None) -> bool:
    """Online cancellation: a scheduled or confirmed visit, until it starts (no policy cut-off)."""
    return appointment.status in CANCELLABLE_STATUSES and as_utc(appointment.starts_at) > (
        now or utcnow()
    )


def cancel(
    session: Session,
    *,
    actor: Actor,
    appointment_id: str,
    expected_version: int,
    reason: str,
) -> str:
    """Cancel one of the patient's own upcoming appointments; returns its time label.

    Cancelling an appointment that is already cancelled is a no-op (a double click).
    """
    _enabled_policy(session, actor)
    aid = parse_id(appointment_id, "Appointment")
    appointment = session.exec(
        select(Appointment).where(
            Appointment.id == aid,
            Appointment.clinic_id == actor.clinic_id,
            Appointment.patient_id == actor.patient_id,
            col(Appointment.deleted_at).is_(None),
        )
    ).first()
    if appointment is None:
        raise NotFound("Appointment")
    if appointment.status == "cancelled":
        return scheduling.get_appointment(session, actor=actor, appointment_id=aid).label
    if not can_cancel(appointment):
        raise AppError("CANCEL_NOT_ALLOWED", CANCEL_TOO_LATE_MESSAGE)
    text = " ".join((reason or "").split())
    if not text:
        raise AppError("VALIDATION", "Please tell the clinic why you cancel (a few words).")
    try:
        view = scheduling.transition_appointment(
            session,
            actor=actor,
            appointment_id=aid,
            to_status="cancelled",
            expected_version=expected_version,
            reason=f"Patient (portal): {text}"[:300],
            idempotency_key=f"portal-cancel:{aid.hex}:{expected_version}",
        )
    except AppError as exc:
        if exc.code == "VERSION_CONFLICT":
            raise AppError(
                "VERSION_CONFLICT",
                "The clinic changed this appointment a moment ago. Check it and try again.",
            ) from None
        raise
    return view.label
