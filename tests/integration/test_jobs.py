"""Jobs end to end: rows, enqueue-after-commit, RQ on a real Redis, retries and the sweeper.

Workers run inline (RQ SimpleWorker in burst mode) on the test Redis; each test runs on SQLite
and on PostgreSQL through ``app_env``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from docx import Document
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session, select

import workers
from clinic_app import jobs
from clinic_app.db import session_scope
from clinic_app.errors import AppError, NotFound
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.settings import get_settings
from clinic_app.storage import get_storage
from models import AuditEvent, Clinic, Job, Membership, Patient, StoredFile, User
from tests.conftest import clear_app_caches
from workers.exports import export_file_id
from workers.main import run_worker

FLAKY = "test_flaky"


@dataclass(frozen=True)
class Demo:
    clinic_id: uuid.UUID
    clinic_name: str
    doctor: Actor
    patient_id: uuid.UUID
    patient_name: str
    patient_mrn: str


def _actor(session: Session, email: str) -> Actor:
    user = session.exec(select(User).where(User.email == email)).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)


@pytest.fixture
def demo(app_env: str) -> Demo:
    with session_scope() as session:
        load_demo_clinic(session)
    with session_scope() as session:
        clinic = session.exec(select(Clinic).where(Clinic.slug == "demo")).one()
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        return Demo(
            clinic_id=clinic.id,
            clinic_name=clinic.name,
            doctor=_actor(session, "doctor@demo.clinic"),
            patient_id=patient.id,
            patient_name=patient.display_name,
            patient_mrn=patient.mrn,
        )


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def queue(app_env: str, redis_client: Redis) -> Queue:
    return Queue(get_settings().rq_queue, connection=redis_client)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries right away, so one burst runs every attempt (the backoff has its own test)."""
    monkeypatch.setattr(jobs, "RETRY_BACKOFF_SECONDS", (0,))


class Flaky:
    """A test-only handler that fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, ctx: jobs.JobContext) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")
        return {"calls": self.calls, "attempt": ctx.attempt}


def _flaky(monkeypatch: pytest.MonkeyPatch, failures: int) -> Flaky:
    handler = Flaky(failures)
    monkeypatch.setitem(workers.HANDLERS, FLAKY, handler)
    return handler


def _work(queue: Queue, *, with_scheduler: bool = False) -> None:
    SimpleWorker([queue], connection=queue.connection).work(
        burst=True, with_scheduler=with_scheduler
    )


def _enqueue(demo: Demo, kind: str = FLAKY, **params: Any) -> uuid.UUID:
    with session_scope() as session:
        job = jobs.enqueue(
            session,
            kind=kind,
            clinic_id=demo.clinic_id,
            created_by=demo.doctor.user_id,
            params=params,
        )
        return job.id


def _job(job_id: uuid.UUID) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _set(job_id: uuid.UUID, **values: Any) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        for name, value in values.items():
            setattr(job, name, value)


def _docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    for section in document.sections:
        parts += [p.text for p in section.header.paragraphs]
    return "\n".join(parts)


def test_enqueue_pushes_only_after_commit(demo: Demo, queue: Queue) -> None:
    with session_scope() as session:
        job = jobs.enqueue(
            session,
            kind=FLAKY,
            clinic_id=demo.clinic_id,
            created_by=demo.doctor.user_id,
            params={"x": 1},
        )
        assert queue.count == 0
        assert not RQJob.exists(str(job.id), connection=queue.connection)
    assert queue.job_ids == [str(job.id)]
    row = _job(job.id)
    assert (row.status, row.attempts, row.params) == ("queued", 0, {"x": 1})
    assert row.max_attempts == get_settings().job_max_attempts

    # A second push of the same id is a no-op: still one RQ job.
    assert jobs.push(job.id, attempts=0, max_attempts=3) is False
    assert queue.job_ids == [str(job.id)]


def test_rolled_back_transaction_enqueues_nothing(demo: Demo, queue: Queue) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        job = jobs.enqueue(
            session, kind=FLAKY, clinic_id=demo.clinic_id, created_by=None, params={}
        )
        raise RuntimeError("handler failed after enqueue")
    assert queue.count == 0
    with session_scope() as session:
        assert session.get(Job, job.id) is None

    # A rolled-back savepoint drops its job; the outer transaction's job is still pushed.
    with session_scope() as session:
        kept = jobs.enqueue(
            session, kind=FLAKY, clinic_id=demo.clinic_id, created_by=None, params={}
        )
        savepoint = session.begin_nested()
        dropped = jobs.enqueue(
            session, kind=FLAKY, clinic_id=demo.clinic_id, created_by=None, params={}
        )
        savepoint.rollback()
    assert queue.job_ids == [str(kept.id)]
    assert not RQJob.exists(str(dropped.id), connection=queue.connection)


def test_redis_down_at_commit_keeps_the_job_for_the_sweeper(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_url = get_settings().redis_url
    monkeypatch.setenv("CLINIC_REDIS_URL", "redis://127.0.0.1:1/0")
    clear_app_caches()
    with caplog.at_level(logging.WARNING, logger="clinic_app.jobs"):
        job_id = _enqueue(demo)  # commits without raising
    assert "sweeper will push it" in caplog.text
    assert _job(job_id).status == "queued"
    assert queue.count == 0

    monkeypatch.setenv("CLINIC_REDIS_URL", real_url)
    clear_app_caches()
    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
    assert queue.job_ids == [str(job_id)]


def test_patient_summary_docx_job_end_to_end(demo: Demo, queue: Queue) -> None:
    with session_scope() as session:
        job = request_patient_summary(session, actor=demo.doctor, patient_id=demo.patient_id)
        job_id = job.id
        assert queue.count == 0
    assert queue.count == 1

    _work(queue)

    row = _job(job_id)
    assert row.status == "succeeded", row.error
    assert (row.progress, row.attempts, row.error) == (100, 1, None)
    assert row.finished_at is not None
    assert row.result["filename"] == f"patient-summary-{demo.patient_mrn}.docx"
    with session_scope() as session:
        files = session.exec(select(StoredFile)).all()
        audit_actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert len(files) == 1
    stored = files[0]
    assert str(stored.id) == row.result["file_id"] == str(export_file_id(job_id, "patient-summary"))
    assert stored.clinic_id == demo.clinic_id
    assert stored.storage_key.startswith(f"{demo.clinic_id}/exports/patient-summary/")
    data = get_storage().get(stored.storage_key)
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert len(data) == stored.size
    text = _docx_text(data)
    assert demo.patient_name in text
    assert demo.patient_mrn in text
    assert demo.clinic_name in text
    assert "patient.export_summary" in audit_actions

    view = jobs.job_view(row)
    assert view["status"] == "succeeded"
    assert view["finished"] is True
    assert view["result"]["file_id"] == str(stored.id)
    assert datetime.fromisoformat(view["finished_at"]).tzinfo is not None


def test_progress_is_committed_while_the_handler_runs(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def handler(ctx: jobs.JobContext) -> dict[str, Any]:
        ctx.progress(40, "Halfway there")
        row = _job(ctx.job_id)  # another session: sees only committed data
        seen.update(status=row.status, progress=row.progress, message=row.message)
        return {}

    monkeypatch.setitem(workers.HANDLERS, "test_progress", handler)
    _enqueue(demo, kind="test_progress")
    _work(queue)
    assert seen == {"status": "running", "progress": 40, "message": "Halfway there"}


def test_heartbeat_thread_keeps_a_long_job_alive(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "heartbeat_interval", lambda: 0.05)
    beats: list[datetime] = []

    def handler(ctx: jobs.JobContext) -> dict[str, Any]:
        started = _job(ctx.job_id).heartbeat_at
        assert started is not None
        for _ in range(200):  # wait (at most ~10 s) for the thread to beat
            current = _job(ctx.job_id).heartbeat_at
            assert current is not None
            if current > started:
                beats.append(current)
                break
            time.sleep(0.05)
        return {}

    monkeypatch.setitem(workers.HANDLERS, "test_long", handler)
    job_id = _enqueue(demo, kind="test_long")
    _work(queue)
    assert beats, "the heartbeat never advanced while the handler ran"
    assert _job(job_id).status == "succeeded"


def test_failing_job_fails_after_max_attempts_then_retry_succeeds(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch, no_backoff: None
) -> None:
    max_attempts = get_settings().job_max_attempts
    handler = _flaky(monkeypatch, failures=max_attempts)
    job_id = _enqueue(demo)

    _work(queue)

    row = _job(job_id)
    assert row.status == "failed"
    assert row.attempts == max_attempts == handler.calls
    assert row.error == f"RuntimeError: boom {max_attempts}"
    assert row.finished_at is not None
    assert jobs.job_view(row)["can_retry"] is True

    with session_scope() as session:
        retried = jobs.retry(session, actor=demo.doctor, job_id=str(job_id))
        assert (retried.status, retried.attempts) == ("queued", max_attempts)
        assert queue.count == 0
    assert queue.job_ids == [str(job_id)]

    _work(queue)

    row = _job(job_id)
    assert row.status == "succeeded"
    assert row.attempts == max_attempts + 1
    assert row.error is None
    assert row.result == {"calls": max_attempts + 1, "attempt": max_attempts + 1}
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "job.retry")).one()
    assert event.actor_user_id == demo.doctor.user_id
    assert event.before is not None and event.before["status"] == "failed"


def test_retry_waits_for_the_backoff_in_rq_scheduler(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    _flaky(monkeypatch, failures=1)
    job_id = _enqueue(demo)
    before = datetime.now(UTC)

    _work(queue, with_scheduler=True)

    row = _job(job_id)
    assert (row.status, row.attempts, row.error) == ("queued", 1, "RuntimeError: boom 1")
    assert row.message is not None and f"{jobs.backoff_seconds(1)} s" in row.message
    registry = ScheduledJobRegistry(queue=queue)
    due = registry.get_scheduled_time(str(job_id))
    expected = before + timedelta(seconds=jobs.backoff_seconds(1))
    assert expected - timedelta(seconds=2) <= due <= expected + timedelta(seconds=10)
    assert queue.count == 0
    with session_scope() as session:
        assert jobs.sweep_stale(session) == 0  # a retry waiting for its time is left alone

    # Time passes: the retry is due, the scheduler of the next worker run queues it.
    rq_job = RQJob.fetch(str(job_id), connection=queue.connection)
    registry.schedule(rq_job, datetime.now(UTC) - timedelta(seconds=1))
    _work(queue, with_scheduler=True)

    row = _job(job_id)
    assert (row.status, row.attempts) == ("succeeded", 2)


def test_sweeper_pushes_a_retry_the_scheduler_left_overdue(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    _flaky(monkeypatch, failures=1)
    job_id = _enqueue(demo)
    _work(queue)
    registry = ScheduledJobRegistry(queue=queue)
    rq_job = RQJob.fetch(str(job_id), connection=queue.connection)
    overdue = timedelta(seconds=get_settings().job_stale_after_seconds + 5)
    registry.schedule(rq_job, datetime.now(UTC) - overdue)

    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
    assert queue.job_ids == [str(job_id)]
    assert str(job_id) not in registry.get_job_ids()

    _work(queue)  # no scheduler needed
    assert _job(job_id).status == "succeeded"


def test_retry_is_scoped_to_the_actors_clinic(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch, no_backoff: None
) -> None:
    _flaky(monkeypatch, failures=99)
    job_id = _enqueue(demo)
    _work(queue)
    assert _job(job_id).status == "failed"

    with session_scope() as session:
        other = Clinic(name="Other Clinic", slug="other")
        session.add(other)
        session.flush()
        stranger = Actor(uuid.uuid4(), other.id, "clinic_admin", "Eve Other", "eve@other.clinic")
        with pytest.raises(NotFound):
            jobs.retry(session, actor=stranger, job_id=job_id)
        with pytest.raises(NotFound):
            jobs.get_job(session, job_id=job_id, clinic_id=other.id)
        with pytest.raises(NotFound):
            jobs.get_job(session, job_id="not-a-uuid", clinic_id=demo.clinic_id)
        patient_actor = Actor(demo.doctor.user_id, demo.clinic_id, "patient", "P", "p@x")
        with pytest.raises(AppError) as denied:
            jobs.retry(session, actor=patient_actor, job_id=job_id)
        assert denied.value.code == "FORBIDDEN"
    assert _job(job_id).status == "failed"
    assert queue.count == 0


def test_only_failed_jobs_can_be_retried(demo: Demo, queue: Queue) -> None:
    job_id = _enqueue(demo)
    with session_scope() as session, pytest.raises(AppError) as refused:
        jobs.retry(session, actor=demo.doctor, job_id=job_id)
    assert refused.value.code == "JOB_NOT_FAILED"
    assert queue.job_ids == [str(job_id)]


def _simulate_dead_worker(queue: Queue, job_id: uuid.UUID, *, attempts: int) -> None:
    """The worker took the RQ job, marked the row running, then died an hour ago."""
    rq_job = RQJob.fetch(str(job_id), connection=queue.connection)
    queue.remove(rq_job)
    rq_job.set_status(JobStatus.STARTED)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    _set(job_id, status="running", attempts=attempts, started_at=long_ago, heartbeat_at=long_ago)


def test_sweeper_requeues_a_running_job_whose_worker_died(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    _flaky(monkeypatch, failures=0)
    job_id = _enqueue(demo)
    _simulate_dead_worker(queue, job_id, attempts=1)
    assert queue.count == 0

    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
        assert queue.count == 0  # pushed after the sweep commits
    row = _job(job_id)
    assert (row.status, row.attempts) == ("queued", 1)
    assert queue.job_ids == [str(job_id)]

    _work(queue)
    row = _job(job_id)
    assert (row.status, row.attempts, row.progress) == ("succeeded", 2, 100)


def test_sweeper_fails_a_dead_job_without_attempts_left(demo: Demo, queue: Queue) -> None:
    job_id = _enqueue(demo)
    max_attempts = get_settings().job_max_attempts
    _simulate_dead_worker(queue, job_id, attempts=max_attempts)
    _set(job_id, progress=30)

    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
    row = _job(job_id)
    assert row.status == "failed"
    assert row.error is not None and "stopped responding" in row.error
    assert row.progress == 30
    assert queue.count == 0

    with session_scope() as session:  # a fresh heartbeat is left alone
        assert jobs.sweep_stale(session) == 0


def test_sweeper_repushes_queued_jobs_after_redis_is_flushed(
    demo: Demo, queue: Queue, redis_client: Redis
) -> None:
    with session_scope() as session:
        job_id = request_patient_summary(session, actor=demo.doctor, patient_id=demo.patient_id).id
    assert queue.count == 1
    redis_client.flushdb()
    assert queue.count == 0

    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
    assert queue.job_ids == [str(job_id)]
    with session_scope() as session:
        assert jobs.sweep_stale(session) == 0  # already waiting in Redis: not pushed twice
    assert queue.count == 1

    _work(queue)
    assert _job(job_id).status == "succeeded"


def test_running_the_same_job_twice_creates_one_file(demo: Demo, queue: Queue) -> None:
    with session_scope() as session:
        job_id = request_patient_summary(session, actor=demo.doctor, patient_id=demo.patient_id).id
    _work(queue)
    first = _job(job_id)
    assert first.status == "succeeded"

    workers.run_job(str(job_id))  # a duplicate delivery of a finished job does nothing
    assert _job(job_id).attempts == 1

    # The success write was lost after the file was stored: the job runs again.
    _set(job_id, status="queued", progress=0, result={})
    with session_scope() as session:
        assert jobs.sweep_stale(session) == 1
    _work(queue)

    second = _job(job_id)
    assert (second.status, second.attempts) == ("succeeded", 2)
    assert second.result == first.result
    with session_scope() as session:
        assert len(session.exec(select(StoredFile)).all()) == 1


def test_run_worker_sweeps_at_start_and_works_the_queue(
    demo: Demo, queue: Queue, redis_client: Redis
) -> None:
    with session_scope() as session:
        job_id = request_patient_summary(session, actor=demo.doctor, patient_id=demo.patient_id).id
    redis_client.flushdb()  # Redis restarted empty: only the row knows about the job

    run_worker(burst=True)

    row = _job(job_id)
    assert (row.status, row.progress) == ("succeeded", 100)


def test_unknown_kind_fails_with_a_clear_error(demo: Demo, queue: Queue, no_backoff: None) -> None:
    job_id = _enqueue(demo, kind="no_such_kind")
    _work(queue)
    row = _job(job_id)
    assert row.status == "failed"
    assert row.error is not None and "cannot run 'no_such_kind' jobs" in row.error


def test_an_attempt_taken_over_by_the_sweeper_does_not_overwrite_the_row(
    demo: Demo, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome: dict[str, Any] = {}

    def handler(ctx: jobs.JobContext) -> dict[str, Any]:
        # Meanwhile the sweeper decided this worker was dead and gave the job to another one.
        _set(ctx.job_id, status="queued", message="handed over")
        try:
            ctx.progress(50, "still working")
        except jobs.JobSuperseded:
            outcome["superseded"] = True
            raise
        return {"late": True}

    monkeypatch.setitem(workers.HANDLERS, "test_taken_over", handler)
    job_id = _enqueue(demo, kind="test_taken_over")
    _work(queue)

    assert outcome == {"superseded": True}
    row = _job(job_id)
    assert (row.status, row.message, row.progress, row.result) == ("queued", "handed over", 0, {})
    assert row.error is None
