"""Notification outbox: queued in the caller's transaction, sent once by a real RQ worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from threading import Thread
from typing import Any

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlmodel import select

from clinic_app import jobs
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services.notifications import queue_notification
from clinic_app.settings import get_settings
from models import Job, Notification
from tests.conftest import clear_app_caches


@pytest.fixture
def queue(app_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    monkeypatch.setattr(jobs, "RETRY_BACKOFF_SECONDS", (0,))
    client = Redis.from_url(redis_url)
    yield Queue(get_settings().rq_queue, connection=client)
    client.close()


def _work(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def _queue_reminder(key: str, channel: str = "email", recipient: str = "maria@example.org") -> None:
    with session_scope() as session:
        queue_notification(
            session,
            clinic_id=None,
            channel=channel,
            recipient=recipient,
            subject="Your appointment tomorrow",
            body="See you at 09:00.",
            purpose="reminder",
            dedupe_key=key,
        )


def _outbox(channel: str) -> list[dict[str, Any]]:
    path = get_settings().outbox_dir / f"{channel}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_key_queued_twice_is_sent_once(queue: Queue) -> None:
    _queue_reminder("reminder:24h:appt-1")
    _queue_reminder("reminder:24h:appt-1")
    _work(queue)
    _work(queue)
    sent = _outbox("email")
    assert [m["to"] for m in sent] == ["maria@example.org"]
    assert sent[0]["subject"] == "Your appointment tomorrow"
    with session_scope() as session:
        rows = session.exec(select(Notification)).all()
        assert [(r.status, r.attempts) for r in rows] == [("sent", 1)]
        assert rows[0].sent_at is not None


def test_rolled_back_caller_queues_nothing(queue: Queue) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        queue_notification(
            session,
            clinic_id=None,
            channel="sms",
            recipient="+49 151 000",
            subject="",
            body="code 123456",
            purpose="otp",
            dedupe_key="otp:1",
        )
        raise RuntimeError("the caller failed after queuing")
    _work(queue)
    assert _outbox("sms") == []
    with session_scope() as session:
        assert session.exec(select(Notification)).all() == []
        assert session.exec(select(Job)).all() == []


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Gateway.fail_first > 0:
            _Gateway.fail_first -= 1
            self.send_response(503)
        else:
            _Gateway.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway(app_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/send"
    monkeypatch.setenv("CLINIC_SMS_BACKEND", "webhook")
    monkeypatch.setenv("CLINIC_SMS_WEBHOOK_URL", url)
    clear_app_caches()
    _Gateway.received = []
    yield url
    server.shutdown()


def test_gateway_failure_is_retried_and_recorded(gateway: str, queue: Queue) -> None:
    _Gateway.fail_first = 1
    _queue_reminder("reminder:2h:appt-2", channel="whatsapp", recipient="+49 151 111")
    _work(queue)
    assert _Gateway.received == [
        {"channel": "whatsapp", "to": "+49 151 111", "body": "See you at 09:00."}
    ]
    with session_scope() as session:
        row = session.exec(select(Notification)).one()
        assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_gateway_down_for_every_attempt_marks_it_failed(gateway: str, queue: Queue) -> None:
    _Gateway.fail_first = 99
    _queue_reminder("reminder:2h:appt-3", channel="sms", recipient="+49 151 222")
    _work(queue)
    with session_scope() as session:
        row = session.exec(select(Notification)).one()
        assert row.status == "failed"
        assert row.attempts == get_settings().job_max_attempts
        assert row.last_error and "503" in row.last_error
        job = session.exec(select(Job)).one()
        assert job.status == "failed"
    assert _Gateway.received == []


def test_unknown_channel_and_empty_recipient_are_refused(app_env: str) -> None:
    with session_scope() as session:
        with pytest.raises(AppError, match="channel"):
            queue_notification(
                session,
                clinic_id=None,
                channel="pigeon",
                recipient="x",
                subject="",
                body="",
                purpose="t",
                dedupe_key=str(uuid.uuid4()),
            )
        with pytest.raises(AppError, match="recipient"):
            queue_notification(
                session,
                clinic_id=None,
                channel="email",
                recipient="  ",
                subject="",
                body="",
                purpose="t",
                dedupe_key=str(uuid.uuid4()),
            )
