"""Portal self-booking (SQLite and Postgres): policy, visit types, horizon, own patient only,
idempotent double clicks, a slot someone else took, and cancelling one's own appointment."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from clinic_app.errors import AppError, Forbidden
from clinic_app.security.actor import Actor
from clinic_app.services import portal, portal_booking
from clinic_app.services.scheduling import NewBooking, book_appointment
from models import (
    Appointment,
    AppointmentEvent,
    AuditEvent,
    Clinic,
    Membership,
    Patient,
    Provider,
    SchedulingPolicy,
    User,
)
from tests.scheduling_helpers import World, build_world

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday(weeks_ahead: int = 1) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)


def at(day: date, hour: int, minute: int = 0) -> str:
    """A clinic wall time as the UTC ISO string slots carry."""
    moment = datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def portal_actor(session: Session, clinic: Clinic, patient: Patient) -> Actor:
    user = User(email=f"p-{uuid.uuid4().hex[:8]}@patient.test", full_name=f"Patient {patient.mrn}")
    session.add(user)
    session.flush()
    session.add(
        Membership(user_id=user.id, clinic_id=clinic.id, role="patient", patient_id=patient.id)
    )
    session.flush()
    return Actor(user.id, clinic.id, "patient", user.full_name, user.email, patient_id=patient.id)


def enable(session: Session, clinic: Clinic, *, horizon_days: int = 60) -> None:
    session.add(
        SchedulingPolicy(
            clinic_id=clinic.id,
            portal_booking_enabled=True,
            portal_booking_horizon_days=horizon_days,
        )
    )
    session.flush()


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def maria(session: Session, world: World) -> Actor:
    return portal_actor(session, world.clinic, world.patient)


@pytest.fixture
def john(session: Session, world: World) -> Actor:
    patient = Patient(clinic_id=world.clinic.id, mrn="PAT-2026-99002", given_name="John",
                      family_name="Smith")  # fmt: skip
    session.add(patient)
    session.flush()
    return portal_actor(session, world.clinic, patient)


def _book(session: Session, actor: Actor, world: World, start: str, key: str = "k1") -> object:
    return portal_booking.book(
        session,
        actor=actor,
        visit_type="long",
        provider_id=str(world.provider.id),
        starts_at=start,
        idempotency_key=key,
    )


def _appointments(session: Session, world: World) -> list[Appointment]:
    return list(
        session.exec(select(Appointment).where(Appointment.clinic_id == world.clinic.id)).all()
    )


def _code(call: object) -> str:
    with pytest.raises(AppError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


def test_disabled_clinic_offers_nothing_and_refuses(
    session: Session, world: World, maria: Actor
) -> None:
    options = portal_booking.booking_options(session, actor=maria)
    assert options.enabled is False and options.visit_types == [] and options.providers == []
    monday = next_monday()
    assert (
        _code(lambda: portal_booking.open_slots(session, actor=maria, visit_type="long"))
        == "PORTAL_BOOKING_OFF"
    )
    assert _code(lambda: _book(session, maria, world, at(monday, 9))) == "PORTAL_BOOKING_OFF"
    assert _appointments(session, world) == []
    # Upcoming appointments show, but without an online cancel.
    book_appointment(
        session,
        actor=world.reception,
        data=NewBooking(str(world.provider.id), str(world.patient.id), at(monday, 9)),
    )
    (item,) = portal.overview(session, actor=maria).upcoming
    assert item.can_cancel is False
    assert (
        _code(
            lambda: portal_booking.cancel(
                session, actor=maria, appointment_id=item.id, expected_version=1, reason="ill"
            )
        )
        == "PORTAL_BOOKING_OFF"
    )


def test_only_portal_bookable_types_and_doctors_are_offered(
    session: Session, world: World, maria: Actor
) -> None:
    enable(session, world.clinic)
    room = Provider(clinic_id=world.clinic.id, display_name="Room 1", kind="room")
    session.add(room)
    session.flush()
    options = portal_booking.booking_options(session, actor=maria)
    assert options.enabled
    assert [v.code for v in options.visit_types] == ["long"]
    assert [p.name for p in options.providers] == ["Dr. Test Provider"]
    assert options.timezone == "Europe/Berlin"

    monday = next_monday()
    with pytest.raises(AppError) as caught:
        portal_booking.open_slots(session, actor=maria, visit_type="consultation")
    assert caught.value.code == "VISIT_TYPE_NOT_BOOKABLE"
    with pytest.raises(AppError) as caught:
        portal_booking.book(
            session,
            actor=maria,
            visit_type="consultation",
            provider_id=str(world.provider.id),
            starts_at=at(monday, 9),
            idempotency_key="k",
        )
    assert caught.value.code == "VISIT_TYPE_NOT_BOOKABLE"
    with pytest.raises(AppError) as caught:  # a room is not bookable by patients
        portal_booking.open_slots(session, actor=maria, visit_type="long", provider_id=str(room.id))
    assert caught.value.code == "NOT_FOUND"
    assert _appointments(session, world) == []


def test_slots_show_times_only_within_the_horizon(
    session: Session, world: World, maria: Actor
) -> None:
    enable(session, world.clinic, horizon_days=10)
    monday = next_monday()
    book_appointment(  # another patient's visit: its time is simply not offered
        session,
        actor=world.reception,
        data=NewBooking(str(world.provider.id), str(world.patient.id), at(monday, 9)),
    )
    window = portal_booking.open_slots(
        session, actor=maria, visit_type="long", start_date=monday - timedelta(days=7)
    )
    today = datetime.now(BERLIN).date()
    assert window.first_date >= today and window.last_date <= today + timedelta(days=10)
    starts = [s.starts_at for s in window.slots]
    assert starts and at(monday, 9) not in starts
    if window.first_date <= monday <= window.last_date:
        assert at(monday, 9, 40) in starts  # 40-minute grid from 09:00
    assert "Maria" not in repr(window) and "Garcia" not in repr(window)
    later = portal_booking.open_slots(
        session, actor=maria, visit_type="long", start_date=today + timedelta(days=30)
    )
    assert later.last_date == today + timedelta(days=10) and later.has_later is False
    assert all(
        datetime.fromisoformat(s.starts_at.replace("Z", "+00:00")).astimezone(BERLIN).date()
        <= today + timedelta(days=10)
        for s in later.slots
    )


def test_beyond_horizon_past_and_odd_times_are_refused(
    session: Session, world: World, maria: Actor
) -> None:
    enable(session, world.clinic, horizon_days=5)
    far = next_monday(weeks_ahead=2)
    assert _code(lambda: _book(session, maria, world, at(far, 9))) == "BEYOND_HORIZON"
    yesterday = datetime.now(BERLIN).date() - timedelta(days=1)
    assert _code(lambda: _book(session, maria, world, at(yesterday, 10))) == "VALIDATION"
    session.delete(session.get(SchedulingPolicy, world.clinic.id))
    session.flush()
    enable(session, world.clinic)
    monday = next_monday()
    # Inside working hours but not on the slot grid: not a time the portal offers.
    assert _code(lambda: _book(session, maria, world, at(monday, 9, 7))) == "APPOINTMENT_CONFLICT"
    assert _code(lambda: _book(session, maria, world, at(monday, 7))) == "APPOINTMENT_CONFLICT"
    assert _appointments(session, world) == []


def test_books_for_the_signed_in_patient_only_and_audits_the_portal_user(
    session: Session, world: World, maria: Actor
) -> None:
    enable(session, world.clinic)
    monday = next_monday()
    booked = _book(session, maria, world, at(monday, 9, 40))
    (appointment,) = _appointments(session, world)
    assert booked.id == str(appointment.id)  # type: ignore[attr-defined]
    assert booked.visit_type == "Long visit"  # type: ignore[attr-defined]
    assert appointment.patient_id == maria.patient_id
    assert appointment.booked_via == "portal"
    assert appointment.visit_type == "long"
    assert appointment.created_by == maria.user_id
    audit_row = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "appointment.book", AuditEvent.entity_id == str(appointment.id)
        )
    ).one()
    assert audit_row.actor_user_id == maria.user_id
    event = session.exec(
        select(AppointmentEvent).where(AppointmentEvent.appointment_id == appointment.id)
    ).one()
    assert event.actor_user_id == maria.user_id
    # Staff go through the calendar, not the portal; a portal session without a patient finds
    # nothing.
    with pytest.raises(Forbidden):
        _book(session, world.reception, world, at(monday, 10, 20))
    orphan = Actor(maria.user_id, maria.clinic_id, "patient", "x", "x@y", patient_id=None)
    assert _code(lambda: _book(session, orphan, world, at(monday, 10, 20))) == "NOT_FOUND"
    # Another clinic's doctor is not found from this clinic's portal.
    other = build_world(session)
    assert (
        _code(
            lambda: portal_booking.book(
                session,
                actor=maria,
                visit_type="long",
                provider_id=str(other.provider.id),
                starts_at=at(monday, 10, 20),
                idempotency_key="x",
            )
        )
        == "NOT_FOUND"
    )
    view = portal.overview(session, actor=maria)
    (item,) = view.upcoming
    assert item.id == str(appointment.id) and item.can_cancel and item.visit_type == "Long visit"


def test_double_click_books_once_and_keys_are_per_patient(
    session: Session, world: World, maria: Actor, john: Actor
) -> None:
    enable(session, world.clinic)
    monday = next_monday()
    first = _book(session, maria, world, at(monday, 11), key="same-key")
    again = _book(session, maria, world, at(monday, 11), key="same-key")
    assert first == again
    assert len(_appointments(session, world)) == 1
    # John's tab happens to send the same key: he gets his own booking, never Maria's.
    johns = _book(session, john, world, at(monday, 11, 40), key="same-key")
    assert johns.id != first.id  # type: ignore[attr-defined]
    rows = {a.patient_id for a in _appointments(session, world)}
    assert rows == {maria.patient_id, john.patient_id}


def test_a_slot_someone_else_took_is_a_clear_conflict(
    session: Session, world: World, maria: Actor, john: Actor
) -> None:
    enable(session, world.clinic)
    monday = next_monday()
    offered = portal_booking.open_slots(session, actor=maria, visit_type="long", start_date=monday)
    assert at(monday, 13) in [s.starts_at for s in offered.slots]
    _book(session, john, world, at(monday, 13), key="john")  # John is faster
    with pytest.raises(AppError) as caught:
        _book(session, maria, world, at(monday, 13), key="maria")
    assert caught.value.code == "APPOINTMENT_CONFLICT"
    assert caught.value.message == portal_booking.SLOT_TAKEN_MESSAGE
    assert "John" not in caught.value.message and caught.value.details == {}
    fresh = portal_booking.open_slots(session, actor=maria, visit_type="long", start_date=monday)
    assert at(monday, 13) not in [s.starts_at for s in fresh.slots]
    assert [a.patient_id for a in _appointments(session, world)] == [john.patient_id]


def test_cancel_own_upcoming_appointment_only(
    session: Session, world: World, maria: Actor, john: Actor
) -> None:
    enable(session, world.clinic)
    monday = next_monday()
    booked = _book(session, maria, world, at(monday, 13, 40))
    johns = _book(session, john, world, at(monday, 15), key="j")
    mine: str = booked.id  # type: ignore[attr-defined]

    def cancel(actor: Actor, appointment_id: str, version: int = 1, reason: str = "ill") -> str:
        return portal_booking.cancel(
            session,
            actor=actor,
            appointment_id=appointment_id,
            expected_version=version,
            reason=reason,
        )

    assert _code(lambda: cancel(maria, johns.id)) == "NOT_FOUND"  # type: ignore[attr-defined]
    assert _code(lambda: cancel(maria, "not-an-id")) == "NOT_FOUND"
    assert _code(lambda: cancel(maria, mine, reason="   ")) == "VALIDATION"
    assert _code(lambda: cancel(maria, mine, version=7)) == "VERSION_CONFLICT"
    with pytest.raises(Forbidden):
        cancel(world.reception, mine)

    label = cancel(maria, mine, reason="I feel better")
    assert "Mon" in label
    assert cancel(maria, mine, reason="I feel better") == label  # a double click: no-op
    appointment = session.get(Appointment, uuid.UUID(mine))
    assert appointment is not None and appointment.status == "cancelled"
    assert appointment.cancel_reason == "Patient (portal): I feel better"
    assert appointment.updated_by == maria.user_id
    cancelled = session.exec(
        select(AuditEvent).where(AuditEvent.action == "appointment.cancelled")
    ).all()
    assert [row.actor_user_id for row in cancelled] == [maria.user_id]
    johns_row = session.get(Appointment, uuid.UUID(johns.id))  # type: ignore[attr-defined]
    assert johns_row is not None and johns_row.status == "scheduled"
    # The freed time is offered again.
    fresh = portal_booking.open_slots(session, actor=maria, visit_type="long", start_date=monday)
    assert at(monday, 13, 40) in [s.starts_at for s in fresh.slots]


def test_started_or_past_appointments_cannot_be_cancelled_online(
    session: Session, world: World, maria: Actor
) -> None:
    enable(session, world.clinic)
    start = datetime.now(UTC) - timedelta(hours=1)
    appointment = Appointment(
        clinic_id=world.clinic.id,
        provider_id=world.provider.id,
        patient_id=world.patient.id,
        starts_at=start,
        ends_at=start + timedelta(minutes=20),
    )
    session.add(appointment)
    session.flush()
    assert portal_booking.can_cancel(appointment) is False
    assert (
        _code(
            lambda: portal_booking.cancel(
                session,
                actor=maria,
                appointment_id=str(appointment.id),
                expected_version=1,
                reason="late",
            )
        )
        == "CANCEL_NOT_ALLOWED"
    )
    assert session.get(Appointment, appointment.id).status == "scheduled"  # type: ignore[union-attr]
