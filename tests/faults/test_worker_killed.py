"""SIGKILL a worker in the middle of a DOCX export or a transcription: the job completes
exactly once elsewhere.

Real processes: a worker (RQ SimpleWorker, `workers.main.run_worker`) on the test Redis and
database, killed with SIGKILL while its job reports progress; a second worker's stale-job
sweeper re-queues the job once the heartbeat is older than the stale limit and runs it. The
export ends with one file row and one stored object.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.security.actor import Actor
from clinic_app.services import scribe
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.settings import PROJECT_ROOT, get_settings
from clinic_app.storage import get_storage
from models import Job, Membership, Patient, StoredFile, Transcription, User
from tests.audio import speech_wav
from tests.conftest import clear_app_caches

STALE_SECONDS = 10  # the smallest the setting allows


def _doctor() -> Actor:
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        return Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)


def _job(job_id: uuid.UUID) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _worker(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_killed_worker_job_completes_once_on_another_worker(
    app_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_JOB_STALE_AFTER_SECONDS", str(STALE_SECONDS))
    clear_app_caches()
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    with session_scope(clinic_id=doctor.clinic_id) as session:
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        job_id = request_patient_summary(session, actor=doctor, patient_id=patient.id).id

    doomed = _worker("tests.faults.slow_worker", "summary")
    try:
        _wait_for(lambda: _job(job_id).progress == 5, 60, "the first worker to start the job")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
    assert _job(job_id).status == "running"  # nobody said otherwise: the worker just vanished

    time.sleep(STALE_SECONDS + 1)  # the heartbeat is now stale
    rescuer = _worker("clinic_app.cli", "worker", "--burst")
    try:
        assert rescuer.wait(timeout=120) == 0
    finally:
        if rescuer.poll() is None:
            os.killpg(rescuer.pid, signal.SIGKILL)

    job = _job(job_id)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    with session_scope() as session:
        files = session.exec(
            select(StoredFile).where(StoredFile.clinic_id == doctor.clinic_id)
        ).all()
    assert len(files) == 1 and job.result["file_id"] == str(files[0].id)
    assert sorted(get_storage().iter_keys()) == [files[0].storage_key]
    assert get_settings().job_stale_after_seconds == STALE_SECONDS


def test_killed_transcription_completes_once_on_another_worker(
    app_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLINIC_JOB_STALE_AFTER_SECONDS", str(STALE_SECONDS))
    clear_app_caches()
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    data = speech_wav(tmp_path / "clip.wav").read_bytes()
    with session_scope(clinic_id=doctor.clinic_id) as session:
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        session_id = str(scribe.start_session(session, actor=doctor, patient_id=str(patient.id)))
        scribe.record_consent(session, actor=doctor, session_id=session_id, method="verbal")
        half = len(data) // 2
        for seq, piece in enumerate((data[:half], data[half:])):
            scribe.put_chunk(
                session, actor=doctor, session_id=session_id, seq=seq, data=piece,
                sha256=hashlib.sha256(piece).hexdigest(), mime="audio/wav",
            )  # fmt: skip
        transcription_id = scribe.finish(session, actor=doctor, session_id=session_id, chunks=2)
    with session_scope() as session:
        job_id = session.get(Transcription, transcription_id).job_id  # type: ignore[union-attr]
    assert job_id is not None

    doomed = _worker("tests.faults.slow_worker", "transcription")
    try:
        _wait_for(lambda: _job(job_id).progress == 35, 120, "the worker to start transcribing")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
    time.sleep(STALE_SECONDS + 1)
    rescuer = _worker("clinic_app.cli", "worker", "--burst")
    try:
        assert rescuer.wait(timeout=300) == 0
    finally:
        if rescuer.poll() is None:
            os.killpg(rescuer.pid, signal.SIGKILL)

    job = _job(job_id)
    assert job.status == "succeeded" and job.attempts == 2, job.error
    with session_scope() as session:
        rows = session.exec(select(Transcription)).all()
        files = session.exec(select(StoredFile)).all()
    assert len(rows) == 1 and rows[0].status == "completed" and "headache" in (rows[0].text or "")
    assert len(files) == 1  # the joined recording, stored once across both attempts
