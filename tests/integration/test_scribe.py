"""The scribe's audio protocol over HTTP and the transcription worker (offline Whisper)."""

from __future__ import annotations

import hashlib
import uuid
import wave
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.services import auth, chart, scribe
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.storage import get_storage
from models import (
    AudioChunk,
    AuditEvent,
    ConsultationSession,
    Membership,
    Patient,
    Transcription,
    User,
)
from tests.audio import silence_wav, speech_wav
from workers.main import run_worker

HEADERS = {"X-Requested-With": "clinic"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def doctor(app_env: str) -> Iterator[tuple[TestClient, str]]:
    """The doctor's signed-in client and a new session for Maria (consent not yet given)."""
    with session_scope() as session:
        load_demo_clinic(session)
        actor = auth.authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
        code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
        token, _ = sessions.complete(session, code=code)
        maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        chart.add_medication(session, actor=actor, patient_id=maria.id, name="Metformin")
        session_id = str(scribe.start_session(session, actor=actor, patient_id=str(maria.id)))
    client = TestClient(build_api(), base_url="http://127.0.0.1")
    client.cookies.set(sessions.COOKIE_NAME, token)
    yield client, session_id
    client.close()


def _the_doctor(session: Session) -> Actor:
    user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)


def row_patient(session: Session) -> str:
    return str(session.exec(select(ConsultationSession)).one().patient_id)


def _consent(session_id: str) -> None:
    with session_scope() as session:
        actor = _the_doctor(session)
        scribe.record_consent(session, actor=actor, session_id=session_id, method="verbal")


def _put(client: TestClient, session_id: str, seq: int, data: bytes, sha: str | None = None):  # type: ignore[no-untyped-def]
    return client.put(
        f"/api/scribe/{session_id}/chunks/{seq}",
        content=data,
        headers={**HEADERS, "X-Chunk-SHA256": sha or _sha(data), "Content-Type": "audio/wav"},
    )


def _pieces(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]


def _send_all(client: TestClient, session_id: str, data: bytes, count: int = 4) -> int:
    pieces = _pieces(data, count)
    for seq, piece in enumerate(pieces):
        assert _put(client, session_id, seq, piece).status_code == 200
    return len(pieces)


def test_chunk_protocol(doctor: tuple[TestClient, str], tmp_path: Path) -> None:
    client, session_id = doctor
    pieces = _pieces(speech_wav(tmp_path / "clip.wav").read_bytes(), 3)

    refused = _put(client, session_id, 0, pieces[0])
    assert refused.status_code == 409 and refused.json()["code"] == "CONSENT_REQUIRED"
    _consent(session_id)

    # Out of order is fine; a repeat is accepted once; a damaged chunk is refused.
    assert _put(client, session_id, 2, pieces[2]).json() == {"seq": 2, "duplicate": False}
    assert _put(client, session_id, 2, pieces[2]).json() == {"seq": 2, "duplicate": True}
    damaged = _put(client, session_id, 1, pieces[1], sha=_sha(b"other"))
    assert damaged.status_code == 400 and damaged.json()["code"] == "CHUNK_CHECKSUM"
    conflict = _put(client, session_id, 2, pieces[1])
    assert conflict.status_code == 409 and conflict.json()["code"] == "CHUNK_CONFLICT"
    too_big = client.put(
        f"/api/scribe/{session_id}/chunks/3",
        content=b"x" * (scribe.MAX_CHUNK_BYTES + 1),
        headers={**HEADERS, "X-Chunk-SHA256": "0" * 64},
    )
    assert too_big.status_code == 413
    assert client.get(f"/api/scribe/{session_id}/chunks").json()["received"] == [2]

    missing = client.post(f"/api/scribe/{session_id}/finish", json={"chunks": 3}, headers=HEADERS)
    assert missing.status_code == 409 and missing.json()["details"]["missing"] == [0, 1]
    assert _put(client, session_id, 0, pieces[0]).status_code == 200
    assert _put(client, session_id, 1, pieces[1]).status_code == 200
    first = client.post(f"/api/scribe/{session_id}/finish", json={"chunks": 3}, headers=HEADERS)
    again = client.post(f"/api/scribe/{session_id}/finish", json={"chunks": 3}, headers=HEADERS)
    assert first.status_code == 200 and first.json() == again.json()
    late = _put(client, session_id, 3, b"late")
    assert late.status_code == 400 and late.json()["code"] == "SESSION_CLOSED"
    with session_scope() as session:
        assert len(session.exec(select(AudioChunk)).all()) == 3
        assert len(session.exec(select(Transcription)).all()) == 1
    # Without a session, or without the header, nothing is accepted.
    anonymous = TestClient(build_api(), base_url="http://127.0.0.1")
    assert _put(anonymous, session_id, 4, b"x").status_code == 401
    no_header = client.put(f"/api/scribe/{session_id}/chunks/4", content=b"x")
    assert no_header.status_code == 403


def test_offline_engine_transcribes_with_the_patients_medicines(
    doctor: tuple[TestClient, str], tmp_path: Path
) -> None:
    client, session_id = doctor
    _consent(session_id)
    clip = speech_wav(tmp_path / "clip.wav")
    with wave.open(str(clip)) as source:
        clip_ms = source.getnframes() * 1000 // source.getframerate()
    count = _send_all(client, session_id, clip.read_bytes())
    response = client.post(
        f"/api/scribe/{session_id}/finish", json={"chunks": count}, headers=HEADERS
    )
    assert response.status_code == 200, response.text
    run_worker(burst=True)
    with session_scope() as session:
        row = session.exec(select(Transcription)).one()
        consultation = session.get(ConsultationSession, uuid.UUID(session_id))
        assert consultation is not None
        assert row.status == "completed", row.error
        text = (row.text or "").lower()
        for word in ("headache", "metformin", "penicillin"):
            assert word in text, text
        assert row.original_text == row.text and row.word_count > 10
        assert row.segments[0]["speaker"] == "A" and row.segments[0]["end_ms"] > 0
        assert abs((row.audio_ms or 0) - clip_ms) < 500
        assert consultation.recording_file_id is not None
        assert consultation.duration_ms == row.audio_ms
        actions = {e.action for e in session.exec(select(AuditEvent)).all()}
        assert {"scribe.session_start", "scribe.consent", "scribe.transcribe"} <= actions

    # The doctor corrects a line and names the speaker; the original stays as transcribed.
    with session_scope() as session:
        doctor = _the_doctor(session)
        scribe.edit_segment(
            session, actor=doctor, session_id=session_id, segment=0,
            text="Good morning. I have had a migraine for three days.", note="patient's word",
        )  # fmt: skip
        scribe.set_speaker(
            session, actor=doctor, session_id=session_id, speaker="A", name="Patient"
        )
        with pytest.raises(AppError) as empty:
            scribe.edit_segment(session, actor=doctor, session_id=session_id, segment=0, text=" ")
        assert empty.value.code == "VALIDATION"
        link = scribe.recording_link(session, actor=doctor, session_id=session_id)
    with session_scope() as session:
        row = session.exec(select(Transcription)).one()
        assert row.manually_corrected and row.original_text and "migraine" not in row.original_text
        assert "migraine" in (row.text or "") and row.segments[0]["speaker"] == "Patient"
        assert row.corrections and row.corrections[0]["note"] == "patient's word"
        assert row.corrections[0]["before"] != row.corrections[0]["after"]
        timeline = chart.open_chart(session, actor=doctor, patient_id=row_patient(session))
        assert any(t["title"].startswith("Consultation recorded") for t in timeline.timeline)
    played = client.get(link)
    assert played.status_code == 200 and played.content == clip.read_bytes()

    # Raw chunks go after the retention period; the verified recording stays playable.
    with session_scope() as session:
        consultation = session.get(ConsultationSession, uuid.UUID(session_id))
        assert consultation is not None and consultation.recording["verified"] is True
        ended = consultation.ended_at
        assert ended is not None
        assert scribe.purge_raw_chunks(session, now=ended + timedelta(days=1)) == 0
        keys = [c.storage_key for c in session.exec(select(AudioChunk)).all()]
        assert scribe.purge_raw_chunks(session, now=ended + timedelta(days=31)) == count
    with session_scope() as session:
        assert session.exec(select(AudioChunk)).all() == []
        assert not any(get_storage().exists(key) for key in keys)
    assert client.get(link).content == clip.read_bytes()


def _corrupt_wav(path: Path) -> Path:
    path.write_bytes(b"RIFF not really audio" * 50)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_corrupt_wav, "decoded"),
        (silence_wav, "No speech"),
    ],
)
def test_bad_audio_fails_clearly_and_can_be_retried(
    doctor: tuple[TestClient, str],
    tmp_path: Path,
    make,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    client, session_id = doctor
    _consent(session_id)
    data = make(tmp_path / "bad.wav").read_bytes()
    count = _send_all(client, session_id, data, count=2)
    assert (
        client.post(
            f"/api/scribe/{session_id}/finish", json={"chunks": count}, headers=HEADERS
        ).status_code
        == 200
    )
    run_worker(burst=True)
    with session_scope() as session:
        row = session.exec(select(Transcription)).one()
        assert row.status == "failed" and message in (row.error or "")
        scribe.retry_transcription(session, actor=_the_doctor(session), session_id=session_id)
    with session_scope() as session:
        rows = session.exec(select(Transcription)).all()
        assert len(rows) == 2 and max(r.retry_count for r in rows) == 1
        assert len(session.exec(select(AudioChunk)).all()) == count  # nothing was lost


def test_live_transcript_while_recording_then_the_final_pass(
    doctor: tuple[TestClient, str], tmp_path: Path
) -> None:
    client, session_id = doctor
    _consent(session_id)
    pieces = _pieces(speech_wav(tmp_path / "clip.wav").read_bytes(), 6)
    for seq in range(3):  # every third chunk queues a live pass over what has arrived
        assert _put(client, session_id, seq, pieces[seq]).status_code == 200
    run_worker(burst=True)
    with session_scope() as session:
        doctor_actor = _the_doctor(session)
        first = scribe.view(session, actor=doctor_actor, session_id=session_id)["live"]
    assert first and "headache" in " ".join(s["text"] for s in first).lower()
    for seq in range(3, len(pieces)):
        assert _put(client, session_id, seq, pieces[seq]).status_code == 200
    run_worker(burst=True)
    with session_scope() as session:
        live = scribe.view(session, actor=_the_doctor(session), session_id=session_id)["live"]
    assert len(live) > len(first) and "penicillin" in " ".join(s["text"] for s in live).lower()

    finished = client.post(
        f"/api/scribe/{session_id}/finish", json={"chunks": len(pieces)}, headers=HEADERS
    )
    assert finished.status_code == 200
    run_worker(burst=True)
    with session_scope() as session:
        data = scribe.view(session, actor=_the_doctor(session), session_id=session_id)
    assert data["transcription_status"] == "completed" and data["live"] == []
    assert "penicillin" in " ".join(s["text"] for s in data["segments"]).lower()
