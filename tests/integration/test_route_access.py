"""Every HTTP route, called as every persona: allowed or refused as the matrix says.

Personas: anonymous, each demo staff role, the portal patient, and a doctor of another clinic
(who must get NOT_FOUND for clinic A's ids, never data). Refused calls change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlmodel import func, select
from starlette.testclient import TestClient

from clinic_app.api.downloads import make_download_url
from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.permissions import MATRIX
from clinic_app.services import auth, clinics
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.storage import save_file
from models import Membership, Patient, Upload, User

HEADERS = {"X-Requested-With": "clinic"}
STAFF = {
    "reception@demo.clinic": "receptionist",
    "doctor@demo.clinic": "doctor",
    "nurse@demo.clinic": "nurse",
    "admin@demo.clinic": "clinic_admin",
    "pharmacy@demo.clinic": "pharmacist",
}
OTHER_DOCTOR = "doctor@other.clinic"


@pytest.fixture
def world(app_env: str) -> Iterator[dict[str, object]]:
    """Clinic A (demo) and clinic B with one doctor; a cookie for every persona."""
    with session_scope() as session:
        load_demo_clinic(session)
        clinics.create_clinic(
            session,
            name="Other",
            slug="other",
            timezone="UTC",
            admin_email=OTHER_DOCTOR,
            admin_name="Dr. Other",
            admin_password="another long password",
        )
        other = session.exec(select(User).where(User.email == OTHER_DOCTOR)).one()
        membership = session.exec(select(Membership).where(Membership.user_id == other.id)).one()
        membership.role = "doctor"
        session.add(membership)
        maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        stored = save_file(
            session,
            clinic_id=maria.clinic_id,
            data=b"%PDF-1.4 test",
            filename="a.pdf",
            content_type="application/pdf",
            created_by=None,
            key_prefix="test",
        )
        cookies: dict[str, str | None] = {"anonymous": None}
        for email in [*STAFF, OTHER_DOCTOR]:
            password = "another long password" if email == OTHER_DOCTOR else DEMO_PASSWORD
            actor = auth.authenticate(session, email=email, password=password)
            code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
            cookies[email], _ = sessions.complete(session, code=code)
        portal = session.exec(select(User).where(User.email == "maria@demo.patient")).one()
        code = sessions.begin(session, user_id=portal.id, clinic_id=maria.clinic_id, kind="patient")
        cookies["patient"], _ = sessions.complete(session, code=code)
        doctor = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        download = make_download_url(stored, user_id=doctor.id)
        maria_id = str(maria.id)
    client = TestClient(build_api(), base_url="http://127.0.0.1")
    yield {"client": client, "cookies": cookies, "maria": maria_id, "download": download}
    client.close()


def _as(world: dict[str, object], persona: str) -> TestClient:
    client = world["client"]
    cookies = world["cookies"]
    assert isinstance(client, TestClient) and isinstance(cookies, dict)
    client.cookies.clear()
    if cookies[persona]:
        client.cookies.set(sessions.COOKIE_NAME, cookies[persona])
    return client


def _uploads() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(Upload)).one())


def _expected_upload_status(persona: str) -> int:
    if persona in ("anonymous", "patient"):
        return 401  # a portal session is not a staff session
    if persona == OTHER_DOCTOR:
        return 404  # clinic A's patient does not exist for clinic B
    return 200 if STAFF[persona] in MATRIX["patient:upload"] else 403


@pytest.mark.parametrize("persona", ["anonymous", "patient", OTHER_DOCTOR, *STAFF])
def test_upload_routes_per_persona(world: dict[str, object], persona: str) -> None:
    client = _as(world, persona)
    data = b"x" * 65536
    body = {
        "patient_id": world["maria"],
        "filename": "note.pdf",
        "content_type": "application/pdf",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunk_size": 65536,
    }
    before = _uploads()
    response = client.post("/api/uploads", json=body, headers=HEADERS)
    expected = _expected_upload_status(persona)
    assert response.status_code == expected, (persona, response.text)
    if expected != 200:
        assert _uploads() == before  # a refused call writes nothing
        assert set(response.json()) >= {"code", "message", "correlationId"}
        return
    upload_id = response.json()["upload_id"]
    # Another clinic's doctor cannot see or feed this upload.
    stranger = _as(world, OTHER_DOCTOR)
    assert stranger.get(f"/api/uploads/{upload_id}", headers=HEADERS).status_code == 404
    put = stranger.put(
        f"/api/uploads/{upload_id}/chunks/0",
        content=data,
        headers={**HEADERS, "X-Chunk-SHA256": body["sha256"]},
    )
    assert put.status_code == 404


@pytest.mark.parametrize("persona", ["anonymous", "patient", OTHER_DOCTOR, "nurse@demo.clinic"])
def test_routes_without_a_session_rule(world: dict[str, object], persona: str) -> None:
    """Health is public; a download link works only by its signed token, for anyone holding
    it (minted after the app checked access), and a forged one fails for everyone."""
    client = _as(world, persona)
    assert client.get("/health/live").status_code == 200
    download = world["download"]
    assert isinstance(download, str)
    good = client.get(download, follow_redirects=False)
    assert good.status_code == 200 and good.content.startswith(b"%PDF")
    forged = client.get(download[:-4] + "AAAA", follow_redirects=False)
    assert forged.status_code in (400, 403)
    assert client.get("/auth/session?code=guess", follow_redirects=False).status_code in (
        303,
        400,
    )


def test_a_revoked_session_is_refused_on_its_next_check(world: dict[str, object]) -> None:
    """The per-event check (one round trip on PostgreSQL) sees a revocation at once."""
    cookies = world["cookies"]
    assert isinstance(cookies, dict)
    token = cookies["doctor@demo.clinic"]
    with session_scope() as session:
        actor = auth.actor_for_token(session, token=token)
        assert actor.role == "doctor" and actor.email == "doctor@demo.clinic"
        active = sessions.resolve(session, token=token)
    with session_scope() as session:
        sessions.revoke(session, session_id=active.id, reason="test")
    with session_scope() as session, pytest.raises(AppError) as refused:
        auth.actor_for_token(session, token=token)
    assert refused.value.code == "SESSION_EXPIRED"
    with session_scope() as session, pytest.raises(AppError):
        auth.actor_for_token(session, token="not a session")
