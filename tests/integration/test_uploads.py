"""Chunked chart uploads over HTTP: resume after a cut, damaged chunks, limits, verification.

Every test runs on SQLite and PostgreSQL with local storage; one also runs on S3 (moto's HTTP
server). The chunk objects must be gone after a committed ``complete`` and must survive one
that failed, so the upload can always be finished.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import get_engine, session_scope
from clinic_app.security import sessions
from clinic_app.services import auth, chart, uploads
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.storage import get_storage
from clinic_app.storage_s3 import S3Storage
from models import AuditEvent, Patient, PatientFile, StoredFile, UploadChunk
from tests.conftest import clear_app_caches
from tests.integration.s3_server import create_bucket, start_moto, use_s3

CHUNK = 64 * 1024
HEADERS = {"X-Requested-With": "clinic"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def _sign_in() -> tuple[TestClient, str]:
    with session_scope() as session:
        load_demo_clinic(session)
        actor = auth.authenticate(session, email="nurse@demo.clinic", password=DEMO_PASSWORD)
        code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
        token, _ = sessions.complete(session, code=code)
        patient = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        patient_id = str(patient.id)
    client = TestClient(build_api(), base_url="http://127.0.0.1")
    client.cookies.set(sessions.COOKIE_NAME, token)
    return client, patient_id


@pytest.fixture
def signed_in(app_env: str) -> Iterator[tuple[TestClient, str]]:
    """A client with the nurse's session cookie, and Maria's patient id."""
    client, patient_id = _sign_in()
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


def _pieces(data: bytes, chunks: int) -> list[bytes]:
    return [data[i * CHUNK : (i + 1) * CHUNK] for i in range(chunks)]


def _complete(client: TestClient, upload_id: str):  # type: ignore[no-untyped-def]
    return client.post(f"/api/uploads/{upload_id}/complete", headers=HEADERS)


def _chunk_objects(upload_id: str) -> list[str]:
    return [key for key in get_storage().iter_keys() if f"/uploads/{upload_id}/" in key]


def _stored_copy(file_id: uuid.UUID | str) -> bytes:
    """The bytes of the chart file as Storage holds them, checked against its row."""
    with session_scope() as session:
        stored = session.get(StoredFile, uuid.UUID(str(file_id)))
        assert stored is not None
        data = get_storage().get(stored.storage_key)
        assert stored.size == len(data) and stored.sha256 == _sha(data)
        return data


def test_resumed_upload_ends_with_the_same_file(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = _pdf()
    started = _start(client, patient_id, data)
    upload_id, chunks = started["upload_id"], started["chunks"]
    pieces = _pieces(data, chunks)
    # The connection drops after half of the chunks (sent out of order, one twice).
    half = chunks // 2
    for index in reversed(range(half)):
        assert _put(client, upload_id, index, pieces[index]).status_code == 200
    repeated = _put(client, upload_id, 0, pieces[0])  # accepted once
    assert repeated.status_code == 200 and repeated.json()["received"] == list(range(half))
    # Completing now says what is missing and loses nothing.
    early = _complete(client, upload_id)
    assert early.status_code == 409 and early.json()["code"] == "UPLOAD_INCOMPLETE"
    assert early.json()["details"]["missing"] == list(range(half, chunks))
    # Reopened: the server tells which chunks it has; the browser sends the rest.
    state = client.get(f"/api/uploads/{upload_id}").json()
    assert state["received"] == list(range(half)) and state["status"] == "open"
    for index in range(half, chunks):
        assert _put(client, upload_id, index, pieces[index]).status_code == 200
    done = _complete(client, upload_id)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete"
    with session_scope() as session:
        link = session.exec(select(PatientFile)).one()
        assert str(link.file_id) == done.json()["file_id"]
        assert link.thumbnail_file_id is not None  # first PDF page rendered
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.file_upload")
        ).one()
    assert _sha(_stored_copy(link.file_id)) == _sha(data)
    assert _chunk_objects(upload_id) == []  # removed once the file was committed
    # A retried "complete" is harmless; a late chunk is refused.
    again = _complete(client, upload_id)
    assert again.status_code == 200 and again.json()["file_id"] == done.json()["file_id"]
    late = _put(client, upload_id, 0, pieces[0])
    assert late.status_code == 400 and late.json()["code"] == "UPLOAD_CLOSED"


def test_two_chunks_in_flight(signed_in: tuple[TestClient, str]) -> None:
    """What the browser does: two chunks at once, each in its own transaction."""
    client, patient_id = signed_in
    data = os.urandom(6 * CHUNK + 17)
    started = _start(client, patient_id, data, content_type="text/plain", filename="log.txt")
    upload_id, chunks = started["upload_id"], started["chunks"]
    pieces = _pieces(data, chunks)
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(
            pool.map(lambda i: _put(client, upload_id, i, pieces[i]).status_code, range(chunks))
        )
    assert codes == [200] * chunks
    assert client.get(f"/api/uploads/{upload_id}").json()["received"] == list(range(chunks))
    # A retried "complete" racing the first one finds the same file, not a second one.
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: _complete(client, upload_id), range(2)))
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    assert answers[0].json()["file_id"] == answers[1].json()["file_id"]
    assert _stored_copy(answers[0].json()["file_id"]) == data
    with session_scope() as session:
        assert len(session.exec(select(PatientFile)).all()) == 1


def test_damaged_chunk_and_bad_requests_are_refused(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = os.urandom(CHUNK + 100)
    started = _start(client, patient_id, data, content_type="text/plain", filename="notes.txt")
    upload_id = started["upload_id"]
    damaged = _put(client, upload_id, 0, data[:CHUNK], sha=_sha(b"something else"))
    assert damaged.status_code == 400 and damaged.json()["code"] == "CHUNK_CHECKSUM"
    assert "damaged" in damaged.json()["message"]
    flipped = bytes([data[0] ^ 1]) + data[1:CHUNK]  # one bit changed on the way
    assert _put(client, upload_id, 0, flipped, sha=_sha(data[:CHUNK])).status_code == 400
    wrong_size = _put(client, upload_id, 1, data[CHUNK:] + b"x")
    assert wrong_size.json()["code"] == "CHUNK_SIZE"
    assert client.get(f"/api/uploads/{upload_id}").json()["received"] == []  # nothing kept
    assert _chunk_objects(upload_id) == []
    # A chunk already received with other data is refused, the first one kept.
    assert _put(client, upload_id, 0, data[:CHUNK]).status_code == 200
    other = _put(client, upload_id, 0, os.urandom(CHUNK))
    assert other.status_code == 409 and other.json()["code"] == "CHUNK_CONFLICT"
    # Without the anti-forgery header a state change is refused.
    forged = client.put(
        f"/api/uploads/{upload_id}/chunks/1",
        content=data[CHUNK:],
        headers={"X-Chunk-SHA256": _sha(data[CHUNK:])},
    )
    assert forged.status_code == 403
    assert client.get(f"/api/uploads/{upload_id}").json()["received"] == [0]


def test_chunks_that_do_not_make_the_file_are_refused(signed_in: tuple[TestClient, str]) -> None:
    client, patient_id = signed_in
    data = os.urandom(CHUNK + 100)
    keys_before = set(get_storage().iter_keys())
    liar = _start(client, patient_id, data, content_type="text/plain", sha256=_sha(b"other"))
    assert _put(client, liar["upload_id"], 0, data[:CHUNK]).status_code == 200
    assert _put(client, liar["upload_id"], 1, data[CHUNK:]).status_code == 200
    failed = _complete(client, liar["upload_id"])
    assert failed.status_code == 400 and failed.json()["code"] == "UPLOAD_CHECKSUM"
    assert "upload it again" in failed.json()["message"]
    with session_scope() as session:
        assert session.exec(select(PatientFile)).all() == []
        assert session.exec(select(StoredFile)).all() == []
    # Nothing was written but the two chunks, which stay consistent with their rows.
    assert set(get_storage().iter_keys()) - keys_before == set(_chunk_objects(liar["upload_id"]))
    assert len(_chunk_objects(liar["upload_id"])) == 2
    # A new upload of the real file (what the browser starts next) is accepted.
    fresh = _start(client, patient_id, data, content_type="text/plain")
    assert _put(client, fresh["upload_id"], 1, data[CHUNK:]).status_code == 200
    assert _put(client, fresh["upload_id"], 0, data[:CHUNK]).status_code == 200
    done = _complete(client, fresh["upload_id"])
    assert done.status_code == 200 and _stored_copy(done.json()["file_id"]) == data


def test_a_failed_commit_keeps_the_chunks(
    signed_in: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails at the commit of ``complete``: nothing is lost, a retry finishes."""
    client, patient_id = signed_in
    data = os.urandom(2 * CHUNK)
    started = _start(client, patient_id, data, content_type="text/plain")
    upload_id = started["upload_id"]
    for index, piece in enumerate(_pieces(data, 2)):
        assert _put(client, upload_id, index, piece).status_code == 200
    real_complete, real_commit = uploads.complete, Session.commit
    completed: list[uploads.UploadStatus] = []

    def complete(*args: Any, **kwargs: Any) -> uploads.UploadStatus:
        completed.append(real_complete(*args, **kwargs))
        return completed[-1]

    def commit(self: Session) -> None:
        if completed:  # the commit right after the service's work
            completed.clear()
            raise OperationalError("COMMIT", {}, Exception("connection lost"))
        real_commit(self)

    with monkeypatch.context() as patch:
        patch.setattr(uploads, "complete", complete)
        patch.setattr(Session, "commit", commit)
        failed = _complete(client, upload_id)
    assert failed.status_code == 503 and failed.json()["code"] == "DATABASE_UNAVAILABLE"
    assert client.get(f"/api/uploads/{upload_id}").json()["status"] == "open"
    assert len(_chunk_objects(upload_id)) == 2
    done = _complete(client, upload_id)
    assert done.status_code == 200 and _stored_copy(done.json()["file_id"]) == data
    assert _chunk_objects(upload_id) == []


def test_limits_type_and_session(signed_in: tuple[TestClient, str]) -> None:
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
    body.update(size=50 * 1024 * 1024, chunk_size=16 * 1024 * 1024)
    assert client.post("/api/uploads", json=body, headers=HEADERS).json()["code"] == "VALIDATION"
    body.pop("chunk_size")
    default = client.post("/api/uploads", json=body, headers=HEADERS)
    assert default.status_code == 200 and default.json()["chunk_size"] == uploads.DEFAULT_CHUNK
    assert default.json()["chunks"] == 7  # 50 MiB in 8 MiB chunks
    # A body larger than a chunk is refused before it is kept, with or without Content-Length.
    oversized = b"\0" * (uploads.MAX_CHUNK + 2048)
    upload_id = default.json()["upload_id"]
    too_long = _put(client, upload_id, 0, oversized)
    assert too_long.status_code == 413 and too_long.json()["code"] == "CHUNK_SIZE"
    streamed = client.put(
        f"/api/uploads/{upload_id}/chunks/0",
        content=iter([oversized[: uploads.MAX_CHUNK], oversized[uploads.MAX_CHUNK :]]),
        headers={**HEADERS, "X-Chunk-SHA256": _sha(oversized)},
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "CHUNK_SIZE"
    assert client.get(f"/api/uploads/{upload_id}").json()["received"] == []
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
    assert _complete(client, started["upload_id"]).status_code == 200
    with session_scope() as session:
        actor = auth.authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
        view = chart.open_chart(session, actor=actor, patient_id=patient_id)
    past = [item for item in view.timeline if item["kind"] != "appointment"]
    assert past[0]["kind"] == "file" and past[0]["title"] == "File · lab.txt"
    assert view.files[0]["title"] == "lab.txt"


def test_resumed_upload_on_s3(
    app_env: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same flow against an S3 wire endpoint: chunks, resume, verification, clean-up."""
    use_s3(monkeypatch, s3_endpoint, create_bucket(s3_endpoint))
    get_engine().dispose()
    clear_app_caches()
    assert isinstance(get_storage(), S3Storage)
    client, patient_id = _sign_in()
    data = _pdf()
    started = _start(client, patient_id, data)
    upload_id, chunks = started["upload_id"], started["chunks"]
    pieces = _pieces(data, chunks)
    for index in (2, 0):
        assert _put(client, upload_id, index, pieces[index]).status_code == 200
    assert _put(client, upload_id, 1, pieces[1], sha=_sha(b"x")).json()["code"] == "CHUNK_CHECKSUM"
    assert client.get(f"/api/uploads/{upload_id}").json()["received"] == [0, 2]
    assert len(_chunk_objects(upload_id)) == 2
    for index in range(chunks):
        if index not in (0, 2):
            assert _put(client, upload_id, index, pieces[index]).status_code == 200
    done = _complete(client, upload_id)
    assert done.status_code == 200, done.text
    assert _sha(_stored_copy(done.json()["file_id"])) == _sha(data)
    assert _chunk_objects(upload_id) == []
    with session_scope() as session:
        assert len(session.exec(select(UploadChunk)).all()) == chunks
        link = session.exec(select(PatientFile)).one()
        assert link.thumbnail_file_id is not None
    client.close()
