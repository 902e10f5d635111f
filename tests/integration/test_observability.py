"""JSON logs with correlation ids, no PHI in logs, and the Prometheus ``/metrics`` route."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.observability import (
    JsonFormatter,
    correlation_scope,
    register_shared_collector,
)
from clinic_app.security.actor import Actor
from clinic_app.services.demo import DEMO_PATIENTS, load_demo_clinic
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.services.patients import NewPatient, get_patient, register_patient, search_patients
from clinic_app.settings import get_settings
from models import AuditEvent, Job, Membership, Patient, User
from tests.conftest import clear_app_caches


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged (DEBUG and up, every logger) as JSON lines into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(previous)


def _doctor() -> Actor:
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        return Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)


def test_log_line_is_json_with_correlation_id_and_no_unsafe_extras(json_log: io.StringIO) -> None:
    log = logging.getLogger("clinic_app.test")
    with correlation_scope("abc123"):
        log.info("opened chart", extra={"job_id": "j-1", "patient_name": "Maria Garcia"})
    try:
        raise ValueError("Maria Garcia's phone is +1 555 0101")
    except ValueError:
        log.exception("failed")
    first, second = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert first["msg"] == "opened chart" and first["correlation_id"] == "abc123"
    assert first["job_id"] == "j-1" and "patient_name" not in first
    assert second["error"] == "ValueError" and "correlation_id" not in second
    assert "Maria" not in json_log.getvalue()


def test_whole_flows_log_no_phi(app_env: str, redis_url: str, json_log: io.StringIO) -> None:
    """Sign-in data, search, chart open, registration, a failed insert and the DOCX job."""
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    with correlation_scope() as cid:
        with session_scope(clinic_id=doctor.clinic_id) as session:
            rows = search_patients(session, actor=doctor, query="garcia")
            get_patient(session, actor=doctor, patient_id=rows[0].id)
            register_patient(
                session,
                actor=doctor,
                data=NewPatient(given_name="Zelda", family_name="Quinterra", phone="+1 555 0199"),
            )
            job = request_patient_summary(session, actor=doctor, patient_id=rows[0].id)
        # A constraint violation with PHI in the statement's parameters, logged with traceback.
        with pytest.raises(IntegrityError), session_scope() as session:
            first = session.exec(select(Patient)).first()
            assert first is not None
            session.add(
                Patient(
                    clinic_id=first.clinic_id,
                    mrn=first.mrn,
                    given_name="Zelda",
                    family_name="Quinterra",
                    phone="+1 555 0199",
                )
            )
            try:
                session.flush()
            except IntegrityError as exc:
                logging.getLogger("clinic_app.test").exception("insert failed")
                logging.getLogger("clinic_app.test").warning("insert failed: %s", exc)
                raise
    client = Redis.from_url(redis_url)
    SimpleWorker([Queue(get_settings().rq_queue, connection=client)], connection=client).work(
        burst=True
    )
    client.close()

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line.get("correlation_id") == cid for line in lines), "worker lines carry the id"
    forbidden = ["Zelda", "Quinterra", "555 0199"]
    for _mrn, given, family, born, _sex, phone in DEMO_PATIENTS:
        forbidden += [given, family, phone, born.isoformat()]
    leaks = [word for word in forbidden if word in text]
    assert leaks == [], f"PHI in logs: {leaks}"
    with session_scope() as session:
        stored = session.get(Job, job.id)
        assert stored is not None and stored.status == "succeeded"
        assert stored.correlation_id == cid
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.read")).one()
        assert audit.correlation_id == cid


def test_metrics_route_counts_jobs_and_honours_the_token(
    app_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_shared_collector()
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    with session_scope(clinic_id=doctor.clinic_id) as session:
        patient = session.exec(select(Patient)).first()
        assert patient is not None
        request_patient_summary(session, actor=doctor, patient_id=patient.id)
    with TestClient(build_api()) as client:
        body = client.get("/metrics").text
    assert 'clinic_jobs{kind="patient_summary_docx",status="queued"} 1.0' in body
    assert f'clinic_queue_depth{{queue="{get_settings().rq_queue}"}} 1.0' in body
    assert "clinic_event_latency_seconds" in body

    token = uuid.uuid4().hex
    monkeypatch.setenv("CLINIC_METRICS_TOKEN", token)
    clear_app_caches()
    with TestClient(build_api()) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "clinic_jobs" in ok.text
