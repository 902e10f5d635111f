"""Booking, conflicts, idempotency, versions, lifecycle and slot search (SQLite and Postgres)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from clinic_app.errors import AppError, Forbidden
from clinic_app.services.scheduling import (
    NewBooking,
    add_exception,
    appointment_history,
    book_appointment,
    calendar_events,
    find_slots,
    get_appointment,
    reschedule_appointment,
    transition_appointment,
)
from models import Appointment, AppointmentEvent, AuditEvent, Patient
from tests.scheduling_helpers import World, build_world

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday(weeks_ahead: int = 2) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)


def at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).isoformat()


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def _book(
    world: World, session: Session, start: str, key: str | None = None, **kw: object
) -> object:
    return book_appointment(
        session,
        actor=world.reception,
        data=NewBooking(
            provider_id=str(world.provider.id),
            patient_id=str(world.patient.id),
            starts_at=start,
            idempotency_key=key,
            **kw,  # type: ignore[arg-type]
        ),
    )


def test_book_then_conflict_offers_next_free_times(session: Session, world: World) -> None:
    monday = next_monday()
    first = _book(world, session, at(monday, 9))
    assert first.status == "scheduled" and first.ends_at.endswith("08:20:00Z")  # type: ignore[attr-defined]
    _book(world, session, at(monday, 9, 20))
    with pytest.raises(AppError) as caught:
        _book(world, session, at(monday, 9, 10))
    assert caught.value.code == "APPOINTMENT_CONFLICT"
    labels = [a["starts_at"] for a in caught.value.details["alternatives"]]
    start = datetime.combine(monday, time(9, 40), tzinfo=BERLIN).astimezone(UTC)
    assert labels[0] == start.isoformat().replace("+00:00", "Z")
    assert len(labels) == 3
    # The refused booking left no history or audit row (they ride in the appointment's INSERT).
    audits = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.book")).all()
    history = session.exec(select(AppointmentEvent).where(AppointmentEvent.action == "book")).all()
    assert len(audits) == 2 and len(history) == 2
    mine = [row for row in audits if row.entity_id == first.id]
    assert mine and mine[0].after == {
        "provider_id": str(world.provider.id),
        "starts_at": first.starts_at,
        "ends_at": first.ends_at,
    }
    assert first.id in {str(row.appointment_id) for row in history}
    assert all(row.to_status == "scheduled" and row.new_starts_at for row in history)


def test_idempotency_key_returns_the_first_booking(session: Session, world: World) -> None:
    monday = next_monday()
    one = _book(world, session, at(monday, 10), key="dialog-123")
    two = _book(world, session, at(monday, 10), key="dialog-123")
    assert one.id == two.id  # type: ignore[attr-defined]
    count = session.exec(select(Appointment).where(Appointment.clinic_id == world.clinic.id)).all()
    assert len(count) == 1


def test_outside_hours_and_exceptions(session: Session, world: World) -> None:
    monday = next_monday()
    with pytest.raises(AppError) as caught:
        _book(world, session, at(monday, 7))
    assert caught.value.code == "OUTSIDE_AVAILABILITY"
    assert _book(world, session, at(monday, 7), allow_outside_hours=True).status == "scheduled"  # type: ignore[attr-defined]
    add_exception(
        session,
        actor=world.reception,
        kind="leave",
        provider_id=world.provider.id,
        starts_at=datetime.combine(monday, time(0), tzinfo=BERLIN),
        ends_at=datetime.combine(monday, time(23, 59), tzinfo=BERLIN),
    )
    with pytest.raises(AppError) as caught:
        _book(world, session, at(monday, 11))
    assert caught.value.code == "OUTSIDE_AVAILABILITY"


def test_slot_search_honours_bookings_and_holidays(session: Session, world: World) -> None:
    monday = next_monday()
    _book(world, session, at(monday, 9))
    add_exception(
        session,
        actor=world.reception,
        kind="holiday",
        starts_at=datetime.combine(monday + timedelta(days=1), time(0), tzinfo=BERLIN),
        ends_at=datetime.combine(monday + timedelta(days=2), time(0), tzinfo=BERLIN),
    )
    slots = find_slots(
        session,
        actor=world.reception,
        provider_ids=[world.provider.id],
        visit_type="consultation",
        start_date=monday,
        end_date=monday + timedelta(days=1),
    )
    assert len(slots) == 24 - 1  # 8 h of 20-minute slots on Monday, one booked, Tuesday off
    assert slots[0].label.endswith("09:20")
    long = find_slots(
        session,
        actor=world.reception,
        provider_ids=[world.provider.id],
        visit_type="long",
        start_date=monday,
        end_date=monday,
    )
    assert len(long) == 11  # 40-minute grid from 09:00; the 09:00 slot overlaps the booking
    with pytest.raises(AppError):
        find_slots(
            session,
            actor=world.reception,
            provider_ids=[world.provider.id],
            visit_type="nope",
            start_date=monday,
            end_date=monday,
        )


def test_reschedule_checks_version_conflicts_and_keeps_history(
    session: Session, world: World
) -> None:
    monday = next_monday()
    booked = _book(world, session, at(monday, 9))
    other = _book(world, session, at(monday, 10))
    moved = reschedule_appointment(
        session,
        actor=world.reception,
        appointment_id=booked.id,
        expected_version=1,  # type: ignore[attr-defined]
        starts_at=at(monday, 11),
        ends_at=at(monday, 11, 40),
    )
    assert moved.version == 2 and moved.label.endswith("11:00–11:40")
    with pytest.raises(AppError) as caught:  # the stale version 1 again
        reschedule_appointment(
            session,
            actor=world.doctor,
            appointment_id=booked.id,
            expected_version=1,  # type: ignore[attr-defined]
            starts_at=at(monday, 12),
        )
    assert caught.value.code == "VERSION_CONFLICT"
    assert caught.value.details["current"]["label"].endswith("11:00–11:40")
    assert caught.value.details["changed_by"] == "Rita Desk"
    with pytest.raises(AppError) as caught:  # onto the other appointment
        reschedule_appointment(
            session,
            actor=world.reception,
            appointment_id=booked.id,
            expected_version=2,  # type: ignore[attr-defined]
            starts_at=at(monday, 10, 10),
        )
    assert caught.value.code == "APPOINTMENT_CONFLICT"
    history = appointment_history(session, actor=world.reception, appointment_id=booked.id)  # type: ignore[attr-defined]
    assert [h["action"] for h in history] == ["book", "reschedule"]
    assert history[1]["old"] and history[1]["new"]
    assert other.version == 1  # type: ignore[attr-defined]


def test_reschedule_to_another_provider_checks_their_hours_and_bookings(
    session: Session, world: World
) -> None:
    """Dragging onto another provider's calendar: their hours and bookings, same length."""
    from models import AvailabilityTemplate, Provider

    monday = next_monday()
    other = Provider(clinic_id=world.clinic.id, display_name="Dr. Other")
    session.add(other)
    session.flush()
    session.add(
        AvailabilityTemplate(
            clinic_id=world.clinic.id,
            provider_id=other.id,
            weekday=0,
            start_time=time(12),
            end_time=time(16),
        )
    )
    session.flush()
    booked = _book(world, session, at(monday, 9), ends_at=at(monday, 9, 40))
    taken = book_appointment(
        session,
        actor=world.reception,
        data=NewBooking(provider_id=str(other.id), patient_id=str(world.patient.id),
                        starts_at=at(monday, 13)),
    )  # fmt: skip

    def move(start: str) -> object:
        return reschedule_appointment(
            session,
            actor=world.reception,
            appointment_id=booked.id,  # type: ignore[attr-defined]
            expected_version=1,
            starts_at=start,
            provider_id=str(other.id),
        )

    with pytest.raises(AppError) as caught:  # free in the old calendar, but they are not in
        move(at(monday, 9))
    assert caught.value.code == "OUTSIDE_AVAILABILITY"
    with pytest.raises(AppError) as caught:  # onto their 13:00 visit
        move(at(monday, 12, 40))
    assert caught.value.code == "APPOINTMENT_CONFLICT"
    assert caught.value.details["alternatives"]
    moved = move(at(monday, 14))
    assert moved.provider_name == "Dr. Other" and moved.label.endswith("14:00–14:40")  # type: ignore[attr-defined]
    assert moved.version == 2  # type: ignore[attr-defined]
    events = calendar_events(
        session,
        actor=world.reception,
        provider_ids=[str(world.provider.id), str(other.id)],
        start=at(monday, 0),
        end=at(monday + timedelta(days=1), 0),
        include_availability=False,
    )
    assert {e["id"]: e["resourceId"] for e in events} == {
        booked.id: str(other.id),  # type: ignore[attr-defined]
        taken.id: str(other.id),
    }
    audit = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "appointment.reschedule",
            AuditEvent.entity_id == booked.id,  # type: ignore[attr-defined]
        )
    ).one()
    assert audit.before and audit.after
    assert audit.before["provider_id"] == str(world.provider.id)
    assert audit.after["provider_id"] == str(other.id)
    history = appointment_history(session, actor=world.reception, appointment_id=booked.id)  # type: ignore[attr-defined]
    assert history[-1]["reason"] == f"{world.provider.display_name} → Dr. Other"


def test_lifecycle_transitions_and_illegal_ones(session: Session, world: World) -> None:
    monday = next_monday()
    appt = _book(world, session, at(monday, 9))
    version = 1
    for step in ("arrived", "ready", "in_consultation", "completed"):
        view = transition_appointment(
            session,
            actor=world.doctor,
            appointment_id=appt.id,
            to_status=step,  # type: ignore[attr-defined]
            expected_version=version,
            idempotency_key=f"k-{step}",
        )
        version = view.version
        assert view.status == step
    row = session.get(Appointment, uuid.UUID(appt.id))  # type: ignore[attr-defined]
    assert row is not None and row.arrived_at and row.started_at and row.completed_at
    with pytest.raises(AppError) as caught:
        transition_appointment(
            session,
            actor=world.doctor,
            appointment_id=appt.id,
            to_status="arrived",  # type: ignore[attr-defined]
            expected_version=version,
        )
    assert caught.value.code == "ILLEGAL_TRANSITION"
    # A repeated idempotency key is a no-op, even with the old version.
    again = transition_appointment(
        session,
        actor=world.doctor,
        appointment_id=appt.id,
        to_status="completed",  # type: ignore[attr-defined]
        expected_version=1,
        idempotency_key="k-completed",
    )
    assert again.version == version
    events = session.exec(
        select(AppointmentEvent).where(AppointmentEvent.appointment_id == uuid.UUID(appt.id))
    ).all()  # type: ignore[attr-defined]
    assert len(events) == 5
    assert (
        len(
            session.exec(
                select(AuditEvent).where(AuditEvent.action == "appointment.completed")
            ).all()
        )
        == 1
    )


def test_cancel_needs_a_reason_and_frees_the_slot(session: Session, world: World) -> None:
    monday = next_monday()
    appt = _book(world, session, at(monday, 9))
    with pytest.raises(AppError) as caught:
        transition_appointment(
            session,
            actor=world.reception,
            appointment_id=appt.id,
            to_status="cancelled",
            expected_version=1,  # type: ignore[attr-defined]
        )
    assert caught.value.code == "VALIDATION"
    cancelled = transition_appointment(
        session,
        actor=world.reception,
        appointment_id=appt.id,
        to_status="cancelled",  # type: ignore[attr-defined]
        expected_version=1,
        reason="Patient called",
    )
    assert cancelled.cancel_reason == "Patient called"
    assert _book(world, session, at(monday, 9)).status == "scheduled"  # type: ignore[attr-defined]


def test_permissions_and_clinic_scoping(session: Session, world: World) -> None:
    monday = next_monday()
    with pytest.raises(Forbidden):
        book_appointment(
            session,
            actor=world.accountant,
            data=NewBooking(str(world.provider.id), str(world.patient.id), at(monday, 9)),
        )
    other = build_world(session)
    with pytest.raises(AppError) as caught:  # a provider of another clinic
        book_appointment(
            session,
            actor=world.reception,
            data=NewBooking(str(other.provider.id), str(world.patient.id), at(monday, 9)),
        )
    assert caught.value.code == "NOT_FOUND"
    appt = _book(world, session, at(monday, 9))
    with pytest.raises(AppError) as caught:
        transition_appointment(
            session,
            actor=other.reception,
            appointment_id=appt.id,
            to_status="arrived",
            expected_version=1,  # type: ignore[attr-defined]
        )
    assert caught.value.code == "NOT_FOUND"


def test_a_patient_actor_books_and_cancels_only_their_own_visits(
    session: Session, world: World
) -> None:
    """The portal's rights live in the scheduling service, not in a borrowed staff role."""
    monday = next_monday()
    other = Patient(clinic_id=world.clinic.id, mrn="PAT-X-1", given_name="Ola", family_name="Nord")
    session.add(other)
    session.flush()
    me = dataclasses.replace(world.reception, role="patient", patient_id=world.patient.id)
    with pytest.raises(AppError) as caught:
        book_appointment(
            session, actor=me, data=NewBooking(str(world.provider.id), str(other.id), at(monday, 9))
        )
    assert caught.value.code == "NOT_FOUND"
    mine = book_appointment(
        session,
        actor=me,
        data=NewBooking(str(world.provider.id), str(world.patient.id), at(monday, 9)),
        booked_via="portal",
    )
    theirs = book_appointment(
        session,
        actor=world.reception,
        data=NewBooking(str(world.provider.id), str(other.id), at(monday, 10)),
    )
    with pytest.raises(AppError) as caught:
        get_appointment(session, actor=me, appointment_id=theirs.id)
    assert caught.value.code == "NOT_FOUND"
    with pytest.raises(Forbidden):  # arriving is the desk's step, not the patient's
        transition_appointment(
            session, actor=me, appointment_id=mine.id, to_status="arrived", expected_version=1
        )
    cancelled = transition_appointment(
        session,
        actor=me,
        appointment_id=mine.id,
        to_status="cancelled",
        expected_version=1,
        reason="Feeling better",
    )
    assert cancelled.status == "cancelled"


def test_calendar_events_include_availability_and_status(session: Session, world: World) -> None:
    monday = next_monday()
    _book(world, session, at(monday, 9))
    events = calendar_events(
        session,
        actor=world.reception,
        provider_ids=[str(world.provider.id), "not-a-uuid"],
        start=at(monday, 0),
        end=at(monday + timedelta(days=7), 0),
    )
    appointments = [e for e in events if e.get("display") != "background"]
    shading = [e for e in events if e.get("display") == "background"]
    assert len(appointments) == 1 and appointments[0]["extendedProps"]["status"] == "scheduled"
    assert "Maria Garcia" in appointments[0]["title"]
    assert len(shading) == 5
    # A movable visit follows the calendar's own ``editable`` (the user's right to move it);
    # a cancelled one is pinned whatever the user may do.
    assert "editable" not in appointments[0]
    assert appointments[0]["classNames"] == ("appt-scheduled",)
    transition_appointment(
        session,
        actor=world.reception,
        appointment_id=appointments[0]["id"],
        to_status="cancelled",
        expected_version=appointments[0]["extendedProps"]["version"],
        reason="Feeling better",
    )
    again = calendar_events(
        session,
        actor=world.reception,
        provider_ids=[str(world.provider.id)],
        start=at(monday, 0),
        end=at(monday + timedelta(days=7), 0),
        include_availability=False,
    )
    assert again[0]["editable"] is False
    assert again[0]["classNames"] == ("appt-cancelled", "appt-inactive")


def test_the_database_refuses_an_appointment_longer_than_12_hours(
    session: Session, world: World
) -> None:
    """Range queries rely on this bound to stay on the index (migration 0019)."""
    start = datetime.combine(next_monday(), time(6), tzinfo=UTC)

    def insert(hours: float) -> None:
        with session.begin_nested():
            session.add(
                Appointment(
                    clinic_id=world.clinic.id,
                    provider_id=world.provider.id,
                    patient_id=world.patient.id,
                    starts_at=start,
                    ends_at=start + timedelta(hours=hours),
                )
            )
            session.flush()

    insert(12)
    with pytest.raises(IntegrityError):
        insert(12.5)
    with pytest.raises(AppError) as caught:
        _book(world, session, at(next_monday(3), 8), ends_at=at(next_monday(3), 21))
    assert "at most 12 hours" in caught.value.message


def test_calendar_shows_a_long_visit_that_began_before_the_range(
    session: Session, world: World
) -> None:
    day = next_monday()
    _book(
        world,
        session,
        at(day, 13),
        ends_at=at(day + timedelta(days=1), 0, 30),
        allow_outside_hours=True,
    )
    events = calendar_events(
        session,
        actor=world.reception,
        provider_ids=[str(world.provider.id)],
        start=at(day + timedelta(days=1), 0),
        end=at(day + timedelta(days=2), 0),
        include_availability=False,
    )
    assert [e["extendedProps"]["status"] for e in events] == ["scheduled"]


def test_worklist_scopes_waiting_time_and_actions(session: Session, world: World) -> None:
    from clinic_app.services.worklist import todays_worklist
    from models import Provider

    today = datetime.now(BERLIN).date()
    now = datetime.combine(today, time(12), tzinfo=BERLIN).astimezone(UTC)  # clinic noon
    other = Provider(clinic_id=world.clinic.id, display_name="Dr. Other", branch="North")
    session.add(other)
    session.flush()
    for provider, minutes in ((world.provider, 0), (other, 30)):
        session.add(
            Appointment(
                clinic_id=world.clinic.id,
                provider_id=provider.id,
                patient_id=world.patient.id,
                starts_at=now + timedelta(minutes=minutes),
                ends_at=now + timedelta(minutes=minutes + 20),
                status="arrived",
                arrived_at=now - timedelta(minutes=42),
            )
        )
    session.flush()
    mine = todays_worklist(session, actor=world.doctor, now=now)
    assert mine.scope == "mine" and mine.total == 1
    item = mine.groups[0].items[0]
    assert item.waiting == "42 min" and item.waiting_minutes == 42
    patient = world.patient  # the card reads only the columns it shows, names decrypted
    assert item.patient_name == f"{patient.given_name} {patient.family_name}"
    assert item.patient_initials == (patient.given_name[0] + patient.family_name[0]).upper()
    assert item.mrn == patient.mrn and item.visit_type and item.starts < item.ends
    assert [a["to"] for a in item.actions] == ["ready", "in_consultation"]
    assert todays_worklist(session, actor=world.reception, now=now).scope == "clinic"
    north = todays_worklist(session, actor=world.doctor, now=now, scope="branch", branch="North")
    assert north.total == 1 and north.groups[0].items[0].provider_name == "Dr. Other"
    assert set(north.branches) == {"Main", "North"}
