"""Chunked chart uploads over HTTP: resume after a cut, damaged chunks, limits, verification."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.security import sessions
from clinic_app.services import auth, chart
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.storage import get_storage
from models import AuditEvent, Patient, PatientFile, StoredFile

CHUNK = 64 * 1024
HEADERS = {"X-Requested-With": "clinic"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def signed_in(app_env: str) -> Iterator[tuple[TestClient, str]]:
    """A client with the nurse's session cookie, and Maria's patient id."""
    with session_scope() as session:
        load_demo_clinic(session)
        actor = auth.authenticate(session, email="nurse@demo.clinic", password=DEMO_PASSWORD)
        code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
        token, _ = sessions.complete(session, code=code)
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        patient_id = str(patient.id)
    client = TestClient(build_api(), base_url="http://127.0.0.1")
    client.cookies.set(sessions.COOKIE_NAME, token)
    yield client, patient_id
    client.close()


def _pdf() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(out, format="PDF")
    return out.getvalue() + os.urandom(3 * CHUNK)  # trailing bytes: pdfium still reads page 1


def _start(client: TestClient, patient_id: str, data: bytes, **extra: object) -> dict:
    body = {
        "patient_id": patient_id,
        "filename": "ecg.pdf",
        "content_type": "application/pdf",
        "size": len(data),
        "sha256": _sha(data),
        "chunk_size": CHUNK,
        **extra,
    }
    response = client.post("/api/uploads", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def _put(client: TestClient, upload_id: str, index: int, chunk: bytes, sha: str | None = None):  # type: ignore[no-untyped-def]
    return client.put(
        f"/api/uploads/{upload_id}/chunks/{index}",
        content=chunk,
        headers={**HEADERS, "X-Chunk-SHA256": sha or _sha(chunk)},
    )


def test_resumed_upload_ends_with_the_same_file(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = _pdf()
    started = _start(client, patient_id, data)
    upload_id, chunks = started["upload_id"], started["chunks"]
    pieces = [data[i * CHUNK : (i + 1) * CHUNK] for i in range(chunks)]
    # The connection drops after half of the chunks (sent out of order, one twice).
    half = chunks // 2
    for index in reversed(range(half)):
        assert _put(client, upload_id, index, pieces[index]).status_code == 200
    assert _put(client, upload_id, 0, pieces[0]).status_code == 200  # repeated: accepted once
    # Completing now says what is missing and loses nothing.
    early = client.post(f"/api/uploads/{upload_id}/complete", headers=HEADERS)
    assert early.status_code == 409 and early.json()["code"] == "UPLOAD_INCOMPLETE"
    # Reopened: the server tells which chunks it has; the browser sends the rest.
    state = client.get(f"/api/uploads/{upload_id}").json()
    assert state["received"] == list(range(half))
    for index in range(half, chunks):
        assert _put(client, upload_id, index, pieces[index]).status_code == 200
    done = client.post(f"/api/uploads/{upload_id}/complete", headers=HEADERS)
    assert done.status_code == 200, done.text
    with session_scope() as session:
        link = session.exec(select(PatientFile)).one()
        stored = session.get(StoredFile, link.file_id)
        assert stored is not None and stored.sha256 == _sha(data) and stored.size == len(data)
        assert get_storage().get(stored.storage_key) == data
        assert link.thumbnail_file_id is not None  # first PDF page rendered
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.file_upload")
        ).one()
    # A retried "complete" is harmless.
    assert client.post(f"/api/uploads/{upload_id}/complete", headers=HEADERS).status_code == 200


def test_damaged_chunk_and_bad_requests_are_refused(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = os.urandom(CHUNK + 100)
    started = _start(client, patient_id, data, content_type="text/plain", filename="notes.txt")
    upload_id = started["upload_id"]
    damaged = _put(client, upload_id, 0, data[:CHUNK], sha=_sha(b"something else"))
    assert damaged.status_code == 400 and damaged.json()["code"] == "CHUNK_CHECKSUM"
    assert "damaged" in damaged.json()["message"]
    wrong_size = _put(client, upload_id, 1, data[CHUNK:] + b"x")
    assert wrong_size.json()["code"] == "CHUNK_SIZE"
    # Without the anti-forgery header a state change is refused.
    forged = client.put(
        f"/api/uploads/{upload_id}/chunks/0",
        content=data[:CHUNK],
        headers={"X-Chunk-SHA256": _sha(data[:CHUNK])},
    )
    assert forged.status_code == 403
    # Chunks that do not add up to the announced file are refused at completion.
    liar = _start(client, patient_id, data, content_type="text/plain", sha256=_sha(b"other"))
    assert _put(client, liar["upload_id"], 0, data[:CHUNK]).status_code == 200
    assert _put(client, liar["upload_id"], 1, data[CHUNK:]).status_code == 200
    failed = client.post(f"/api/uploads/{liar['upload_id']}/complete", headers=HEADERS)
    assert failed.json()["code"] == "UPLOAD_CHECKSUM"
    with session_scope() as session:
        assert session.exec(select(PatientFile)).all() == []


def test_limits_type_and_session(
    signed_in: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, patient_id = signed_in
    body = {
        "patient_id": patient_id,
        "filename": "x.exe",
        "content_type": "application/x-msdownload",
        "size": 10,
        "sha256": "0" * 64,
    }
    refused = client.post("/api/uploads", json=body, headers=HEADERS)
    assert refused.status_code == 415 and refused.json()["code"] == "UPLOAD_TYPE"
    body.update(content_type="application/pdf", size=51 * 1024 * 1024)
    too_big = client.post("/api/uploads", json=body, headers=HEADERS)
    assert too_big.status_code == 413 and "50 MB" in too_big.json()["message"]
    body.update(size=10, patient_id="00000000-0000-0000-0000-000000000000")
    assert client.post("/api/uploads", json=body, headers=HEADERS).status_code == 404
    client.cookies.clear()
    body.update(patient_id=patient_id)
    anonymous = client.post("/api/uploads", json=body, headers=HEADERS)
    assert anonymous.status_code == 401


def test_uploaded_file_is_on_the_timeline(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = b"Lab report: HbA1c 6.1%\n" * 10
    started = _start(client, patient_id, data, content_type="text/plain", filename="lab.txt")
    assert _put(client, started["upload_id"], 0, data).status_code == 200
    assert (
        client.post(f"/api/uploads/{started['upload_id']}/complete", headers=HEADERS).status_code
        == 200
    )
    with session_scope() as session:
        actor = auth.authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
        view = chart.open_chart(session, actor=actor, patient_id=patient_id)
    past = [item for item in view.timeline if item["kind"] != "appointment"]
    assert past[0]["kind"] == "file" and past[0]["title"] == "File · lab.txt"
    assert view.files[0]["title"] == "lab.txt"
