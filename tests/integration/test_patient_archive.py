"""Patient data export: a ZIP job through a real RQ worker, verified member by member."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile

import pytest
from docx import Document
from redis import Redis
from rq import Queue, SimpleWorker
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import Forbidden
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patient_archive import request_patient_archive
from clinic_app.services.patient_summary import request_patient_summary
from clinic_app.settings import get_settings
from clinic_app.storage import get_storage
from models import AuditEvent, Job, Membership, Patient, StoredFile, User


def _actor(email: str) -> Actor:
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        return Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)


def _work(redis_url: str) -> None:
    connection = Redis.from_url(redis_url)
    SimpleWorker(
        [Queue(get_settings().rq_queue, connection=connection)], connection=connection
    ).work(burst=True)
    connection.close()


def test_archive_holds_record_summary_and_files(app_env: str, redis_url: str) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _actor("doctor@demo.clinic")
    with session_scope(clinic_id=doctor.clinic_id) as session:
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        request_patient_summary(session, actor=doctor, patient_id=patient.id)
    _work(redis_url)  # an earlier summary export: it must be inside the archive
    with session_scope(clinic_id=doctor.clinic_id) as session:
        job_id = request_patient_archive(session, actor=doctor, patient_id=patient.id).id
    _work(redis_url)

    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "succeeded", job and job.error
        stored = session.get(StoredFile, uuid.UUID(job.result["file_id"]))
        assert stored is not None and stored.filename == "patient-export-PAT-2026-00001.zip"
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.export_archive")
        ).one()
        assert audit.entity_id == str(patient.id) and audit.actor_user_id == doctor.user_id
    archive = zipfile.ZipFile(io.BytesIO(get_storage().get(stored.storage_key)))
    names = archive.namelist()
    assert names[:2] == ["record.json", "summary.docx"]
    assert any(n.startswith("files/") and n.endswith(".docx") for n in names)
    manifest = json.loads(archive.read("manifest.json"))
    assert [m["name"] for m in manifest["members"]] == [n for n in names if n != "manifest.json"]
    for member in manifest["members"]:
        data = archive.read(member["name"])
        assert hashlib.sha256(data).hexdigest() == member["sha256"]
    record = json.loads(archive.read("record.json"))
    assert record["patient"]["mrn"] == "PAT-2026-00001"
    assert record["patient"]["name"] == "Maria Garcia"
    assert record["patient"]["birth_date"] == "1978-03-14"
    assert len(record["appointments"]) >= 1
    text = "\n".join(p.text for p in Document(io.BytesIO(archive.read("summary.docx"))).paragraphs)
    assert "Maria Garcia" in text


def test_receptionist_cannot_export_and_nothing_is_queued(app_env: str) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
    receptionist = _actor("reception@demo.clinic")
    with session_scope(clinic_id=receptionist.clinic_id) as session:
        patient = session.exec(select(Patient)).first()
        assert patient is not None
        with pytest.raises(Forbidden):
            request_patient_archive(session, actor=receptionist, patient_id=patient.id)
    with session_scope() as session:
        assert session.exec(select(Job)).all() == []
