"""Concurrent bookings of one slot: the database lets exactly one through (Postgres and SQLite)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services.scheduling import NewBooking, book_appointment, reschedule_appointment
from models import Appointment
from tests.scheduling_helpers import build_world

THREADS = 50


def _monday() -> datetime:
    today = datetime.now(UTC).date()
    day = today + timedelta(days=(7 - today.weekday()) % 7 + 14)
    return datetime.combine(day, time(10), tzinfo=ZoneInfo("Europe/Berlin"))


def test_fifty_threads_book_one_slot_exactly_one_wins(app_env: str) -> None:
    with session_scope() as session:
        world = build_world(session)
    start = _monday()
    barrier = threading.Barrier(THREADS)
    results: list[str] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            with session_scope(clinic_id=world.clinic.id, immediate=True) as session:
                book_appointment(
                    session,
                    actor=world.reception,
                    data=NewBooking(
                        provider_id=str(world.provider.id),
                        patient_id=str(world.patient.id),
                        starts_at=start + timedelta(minutes=index % 3),  # overlapping, not equal
                        idempotency_key=f"race-{index}",
                    ),
                )
            outcome = "ok"
        except AppError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 - any other failure is a test failure below
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results.count("ok") == 1, results
    assert results.count("APPOINTMENT_CONFLICT") == THREADS - 1, results
    with session_scope() as session:
        rows = session.exec(
            select(Appointment).where(Appointment.clinic_id == world.clinic.id)
        ).all()
    assert len(rows) == 1


def test_concurrent_moves_onto_one_slot(app_env: str) -> None:
    with session_scope() as session:
        world = build_world(session)
    start = _monday()
    ids = []
    for hour in range(4):
        with session_scope(immediate=True) as session:
            view = book_appointment(
                session,
                actor=world.reception,
                data=NewBooking(
                    str(world.provider.id), str(world.patient.id), start + timedelta(hours=hour + 1)
                ),
            )
            ids.append(view.id)
    barrier = threading.Barrier(len(ids))
    results: list[str] = []

    def move(appointment_id: str) -> None:
        barrier.wait()
        try:
            with session_scope(immediate=True) as session:
                reschedule_appointment(
                    session,
                    actor=world.reception,
                    appointment_id=appointment_id,
                    expected_version=1,
                    starts_at=start,
                )
            results.append("ok")
        except AppError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=move, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["APPOINTMENT_CONFLICT"] * 3 + ["ok"], results


def test_postgres_exclusion_constraint_refuses_overlap_written_directly(postgres_url: str) -> None:
    """Even code that skips the service cannot store overlapping active appointments."""
    import pytest
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from tests.conftest import engine_for

    connection = engine_for(postgres_url).connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        world = build_world(session)
        start = _monday()

        def row(status: str, minutes: int) -> Appointment:
            return Appointment(
                clinic_id=world.clinic.id,
                provider_id=world.provider.id,
                patient_id=world.patient.id,
                starts_at=start + timedelta(minutes=minutes),
                ends_at=start + timedelta(minutes=minutes + 30),
                status=status,
            )

        session.add(row("scheduled", 0))
        session.flush()
        session.add(row("cancelled", 10))  # inactive rows may overlap
        session.add(row("scheduled", 30))  # touching is fine ([) ranges)
        session.flush()
        with (
            pytest.raises(IntegrityError, match="ex_appointments_no_overlap"),
            session.begin_nested(),
        ):
            session.add(row("confirmed", 15))
            session.flush()
    finally:
        session.close()
        transaction.rollback()
        connection.close()
