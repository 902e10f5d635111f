"""Restart Redis (losing everything in it) while jobs are queued and the app is serving.

Health turns degraded while Redis is down and ok again after, without restarting anything; the
worker's sweeper re-enqueues the queued jobs from their database rows and every one finishes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.settings import get_settings
from models import Job, Membership, Patient, User
from tests.conftest import clear_app_caches
from tests.integration.s3_server import free_port
from workers.main import sweep_once


class RedisServer:
    """A redis-server of our own on a fixed port, so the test can stop and start it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = Redis.from_url(self.url, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                if probe.ping():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(app_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    monkeypatch.setenv("CLINIC_REDIS_URL", server.url)
    clear_app_caches()
    yield server
    server.stop()


def _doctor() -> Actor:
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        return Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)


def _ready(client: TestClient) -> tuple[int, bool]:
    response = client.get("/health/ready")
    return response.status_code, bool(response.json()["checks"]["redis"]["ok"])


def test_redis_restart_loses_no_queued_job(redis_server: RedisServer) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    with session_scope(clinic_id=doctor.clinic_id) as session:
        patients = session.exec(select(Patient)).all()
        job_ids = [
            request_patient_summary(session, actor=doctor, patient_id=p.id).id for p in patients
        ]
    queue = Queue(get_settings().rq_queue, connection=Redis.from_url(redis_server.url))
    assert queue.count == 3

    with TestClient(build_api()) as client:
        assert _ready(client) == (200, True)
        redis_server.stop()
        assert _ready(client) == (503, False)  # degraded, says which, nothing crashes
        redis_server.start()  # empty: the pushed jobs are gone
        assert _ready(client) == (200, True)  # recovered without restarting the app
    assert Queue(get_settings().rq_queue, connection=Redis.from_url(redis_server.url)).count == 0

    assert sweep_once() == 3  # every queued row is pushed again
    connection = Redis.from_url(redis_server.url)
    SimpleWorker(
        [Queue(get_settings().rq_queue, connection=connection)], connection=connection
    ).work(burst=True)
    with session_scope() as session:
        jobs = [session.get(Job, job_id) for job_id in job_ids]
    assert [job.status for job in jobs if job] == ["succeeded"] * 3
