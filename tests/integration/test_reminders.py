"""Reminders through the outbox (run twice → one message), signed links, the no-show job."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app import jobs
from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services.reminders import mark_no_shows, parse_offsets, send_due_reminders
from clinic_app.settings import get_settings
from models import Appointment, AuditEvent, Notification, SchedulingPolicy
from tests.scheduling_helpers import World, build_world
from workers.scheduling import queue_tick


@pytest.fixture
def queue(app_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    monkeypatch.setattr(jobs, "RETRY_BACKOFF_SECONDS", (0,))
    client = Redis.from_url(redis_url)
    yield Queue(get_settings().rq_queue, connection=client)
    client.close()


def _world_with_appointment(
    starts_in: timedelta, status: str = "scheduled"
) -> tuple[World, Appointment]:
    with session_scope() as session:
        world = build_world(session)
        start = datetime.now(UTC).replace(microsecond=0) + starts_in
        appointment = Appointment(
            clinic_id=world.clinic.id,
            provider_id=world.provider.id,
            patient_id=world.patient.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=20),
            status=status,
        )
        session.add(appointment)
    return world, appointment


def _outbox(channel: str) -> list[dict[str, object]]:
    path = get_settings().outbox_dir / f"{channel}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_offsets_parse() -> None:
    assert parse_offsets("2, 24h;48") == [48, 24, 2]
    with pytest.raises(AppError):
        parse_offsets("soon")


def test_tick_job_twice_sends_one_reminder_with_links(queue: Queue) -> None:
    _world, appointment = _world_with_appointment(timedelta(hours=20))
    assert queue_tick() is True
    assert queue_tick() is False  # the same period: another worker already queued it
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue_tick(now=datetime.now(UTC).timestamp() + 3600) is True  # a later period
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    with session_scope() as session:
        rows = session.exec(
            select(Notification).where(Notification.purpose == "appointment_reminder")
        ).all()
    assert len(rows) == 1
    assert rows[0].dedupe_key.startswith(f"reminder:{appointment.id}:24h:")
    sent = _outbox("sms")
    assert len(sent) == 1 and "Confirm or cancel" in str(sent[0]["body"])


def test_booked_three_hours_ahead_gets_only_the_two_hour_reminder(app_env: str) -> None:
    _world, appointment = _world_with_appointment(timedelta(hours=1, minutes=50))
    for _ in range(2):
        with session_scope() as session:
            send_due_reminders(session)
    with session_scope() as session:
        keys = [n.dedupe_key for n in session.exec(select(Notification)).all()]
    assert keys == [keys[0]] and ":2h:" in keys[0]


def test_moved_appointment_gets_a_new_reminder(app_env: str) -> None:
    _world, appointment = _world_with_appointment(timedelta(hours=20))
    with session_scope() as session:
        send_due_reminders(session)
    with session_scope() as session:
        row = session.get(Appointment, appointment.id)
        assert row is not None
        row.starts_at = row.starts_at + timedelta(hours=1)
        row.ends_at = row.ends_at + timedelta(hours=1)
        session.add(row)
    with session_scope() as session:
        send_due_reminders(session)
        assert len(session.exec(select(Notification)).all()) == 2


def test_signed_link_confirms_then_cancels(app_env: str) -> None:
    _world, appointment = _world_with_appointment(timedelta(hours=20))
    with session_scope() as session:
        send_due_reminders(session)
        body = session.exec(select(Notification)).one().body
    link = re.search(r"(/appointments/respond\?token=\S+)", body)
    assert link is not None
    with TestClient(build_api()) as client:
        page = client.get(link.group(1))
        assert page.status_code == 200 and "Confirm appointment" in page.text
        with session_scope() as session:  # GET changed nothing
            assert session.get(Appointment, appointment.id).status == "scheduled"  # type: ignore[union-attr]
        token = re.search(r"name='token' value='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
        confirmed = client.post("/appointments/respond", data={"token": token, "action": "confirm"})
        assert "your appointment is confirmed" in confirmed.text
        again = client.post("/appointments/respond", data={"token": token, "action": "confirm"})
        assert again.status_code == 200
        cancelled = client.post("/appointments/respond", data={"token": token, "action": "cancel"})
        assert "is cancelled" in cancelled.text
        bad = client.get("/appointments/respond?token=" + token[:-3] + "xyz")
        assert bad.status_code == 403 and "not valid" in bad.text
    with session_scope() as session:
        row = session.get(Appointment, appointment.id)
        assert row is not None and row.status == "cancelled" and row.cancel_reason
        actions = {a.action for a in session.exec(select(AuditEvent)).all()}
    assert {"appointment.confirmed", "appointment.cancelled"} <= actions


def test_nightly_no_show_follows_clinic_policy(app_env: str) -> None:
    world, unconfirmed = _world_with_appointment(timedelta(days=-2))
    with session_scope() as session:
        start = datetime.now(UTC) - timedelta(days=2, hours=-1)
        confirmed = Appointment(
            clinic_id=world.clinic.id,
            provider_id=world.provider.id,
            patient_id=world.patient.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=20),
            status="confirmed",
        )
        today = Appointment(
            clinic_id=world.clinic.id,
            provider_id=world.provider.id,
            patient_id=world.patient.id,
            starts_at=datetime.now(UTC) + timedelta(minutes=5),
            ends_at=datetime.now(UTC) + timedelta(minutes=25),
        )
        session.add(confirmed)
        session.add(today)
    with session_scope() as session:
        assert mark_no_shows(session) == 1
    with session_scope() as session:
        assert mark_no_shows(session) == 0  # idempotent
        assert session.get(Appointment, unconfirmed.id).status == "no_show"  # type: ignore[union-attr]
        assert session.get(Appointment, confirmed.id).status == "confirmed"  # type: ignore[union-attr]
        session.add(SchedulingPolicy(clinic_id=world.clinic.id, no_show_include_confirmed=True))
    with session_scope() as session:
        assert mark_no_shows(session) == 1
        assert session.get(Appointment, today.id).status == "scheduled"  # type: ignore[union-attr]
