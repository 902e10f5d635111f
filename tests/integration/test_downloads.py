"""The download route: signed, clinic-scoped, audited, never a public path."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app.api.downloads import DOWNLOAD_PURPOSE, make_download_url
from clinic_app.api.routes import build_api
from clinic_app.db import get_engine, session_scope
from clinic_app.errors import AppError
from clinic_app.security import signing
from clinic_app.storage import attachment_disposition, get_storage, save_file
from clinic_app.storage_s3 import S3Storage
from models import AuditEvent, Clinic, StoredFile, User
from tests.conftest import clear_app_caches
from tests.integration.s3_server import create_bucket, free_port, start_moto, use_s3

DATA = b"%PDF-1.7\n" + bytes(range(256)) * 20
FILENAME = 'Befund "Müller".pdf'


@dataclass(frozen=True)
class World:
    clinic_a: uuid.UUID
    clinic_b: uuid.UUID
    user_id: uuid.UUID
    file_a: StoredFile
    file_b: StoredFile


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def _reconfigure() -> None:
    """Apply changed env vars: close the old engine's connections, then forget cached clients."""
    get_engine().dispose()
    clear_app_caches()


def _make_world() -> World:
    suffix = uuid.uuid4().hex[:8]
    with session_scope() as session:
        clinic_a = Clinic(name="Clinic A", slug=f"a-{suffix}")
        clinic_b = Clinic(name="Clinic B", slug=f"b-{suffix}")
        user = User(email=f"doc-{suffix}@a.clinic", full_name="Dr. A")
        session.add_all([clinic_a, clinic_b, user])
        session.flush()
        file_a = save_file(
            session,
            clinic_id=clinic_a.id,
            data=DATA,
            filename=FILENAME,
            content_type="application/pdf",
            created_by=user.id,
            key_prefix="exports",
        )
        file_b = save_file(
            session,
            clinic_id=clinic_b.id,
            data=b"clinic B only",
            filename="b.txt",
            content_type="text/plain",
            created_by=None,
            key_prefix="exports",
        )
        return World(clinic_a.id, clinic_b.id, user.id, file_a, file_b)


@pytest.fixture
def world(app_env: str) -> World:
    return _make_world()


@pytest.fixture
def client(app_env: str) -> Iterator[TestClient]:
    with TestClient(build_api(), follow_redirects=False) as test_client:
        yield test_client


def _audit_rows(file_id: uuid.UUID) -> list[AuditEvent]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "file.download", AuditEvent.entity_id == str(file_id)
                )
            ).all()
        )


def _assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "details", "correlationId"}
    assert body["message"]
    assert len(body["correlationId"]) == 32
    assert response.headers["X-Correlation-ID"] == body["correlationId"]
    assert "Traceback" not in response.text


def test_local_download_returns_bytes_with_safe_headers_and_audits(
    world: World, client: TestClient
) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    assert url.startswith(f"/api/files/{world.file_a.id}/download?token=")

    response = client.get(url, headers={"User-Agent": "pytest-agent"})

    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == attachment_disposition(FILENAME)
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="Befund _Muller_.pdf"; filename*=UTF-8'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [row] = _audit_rows(world.file_a.id)
    assert row.actor_user_id == world.user_id
    assert row.clinic_id == world.clinic_a
    assert row.entity_type == "file"
    assert row.user_agent == "pytest-agent"
    assert row.correlation_id == response.headers["X-Correlation-ID"]


@pytest.mark.parametrize(
    ("stored_type", "served_type"),
    [
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ("text/html;\r\n x=1", "application/octet-stream"),
        ("text/html\nX-Evil: 1", "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
    ],
)
def test_odd_content_types_are_served_as_bytes(
    app_env: str, client: TestClient, stored_type: str, served_type: str
) -> None:
    with session_scope() as session:
        clinic = Clinic(name="Types", slug=f"types-{uuid.uuid4().hex[:8]}")
        session.add(clinic)
        session.flush()
        stored = save_file(
            session,
            clinic_id=clinic.id,
            data=b"<script>alert(1)</script>",
            filename="x.html",
            content_type=stored_type,
            created_by=None,
            key_prefix="uploads",
        )
    response = client.get(make_download_url(stored, user_id=_make_world().user_id))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == served_type
    assert "X-Evil" not in response.headers
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_each_download_is_audited(world: World, client: TestClient) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    assert len(_audit_rows(world.file_a.id)) == 2


def test_expired_link_is_403(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    monkeypatch.setattr(signing, "_now", lambda: time.time() + 301)
    _assert_error(client.get(url), 403, "LINK_EXPIRED")
    assert _audit_rows(world.file_a.id) == []


def test_link_lifetime_is_at_most_five_minutes(world: World) -> None:
    token = parse_qs(urlsplit(make_download_url(world.file_a, user_id=world.user_id)).query)
    claims_at = time.time()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signing, "_now", lambda: claims_at + 299)
        assert signing.verify(DOWNLOAD_PURPOSE, token["token"][0])["file_id"] == str(
            world.file_a.id
        )
        patch.setattr(signing, "_now", lambda: claims_at + 301)
        with pytest.raises(AppError) as info:
            signing.verify(DOWNLOAD_PURPOSE, token["token"][0])
        assert info.value.code == "LINK_EXPIRED"


def test_tampered_or_missing_token_is_403(world: World, client: TestClient) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    index = url.index("token=") + len("token=") + 5
    tampered = url[:index] + ("A" if url[index] != "A" else "B") + url[index + 1 :]
    _assert_error(client.get(tampered), 403, "LINK_INVALID")
    _assert_error(client.get(f"/api/files/{world.file_a.id}/download"), 403, "LINK_INVALID")
    assert _audit_rows(world.file_a.id) == []


def test_token_for_one_file_does_not_open_another(world: World, client: TestClient) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    other = url.replace(str(world.file_a.id), str(world.file_b.id))
    _assert_error(client.get(other), 403, "LINK_INVALID")
    assert _audit_rows(world.file_b.id) == []


def test_file_of_another_clinic_is_404(world: World, client: TestClient) -> None:
    """A token scoped to clinic B never reaches clinic A's file, and says only "not found"."""
    token = signing.sign(
        DOWNLOAD_PURPOSE,
        {
            "file_id": str(world.file_a.id),
            "clinic_id": str(world.clinic_b),
            "user_id": str(world.user_id),
        },
        60,
    )
    response = client.get(f"/api/files/{world.file_a.id}/download?token={token}")
    _assert_error(response, 404, "NOT_FOUND")
    assert DATA not in response.content
    assert _audit_rows(world.file_a.id) == []


def test_soft_deleted_file_is_404(world: World, client: TestClient) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    with session_scope() as session:
        row = session.get(StoredFile, world.file_a.id)
        assert row is not None
        row.deleted_at = datetime.now(UTC)
        session.add(row)
    _assert_error(client.get(url), 404, "NOT_FOUND")
    assert _audit_rows(world.file_a.id) == []


def test_missing_bytes_is_404_and_not_audited(world: World, client: TestClient) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    get_storage().delete(world.file_a.storage_key)
    response = client.get(url)
    _assert_error(response, 404, "STORAGE_NOT_FOUND")
    assert response.json()["details"] == {}  # the storage key stays on the server
    assert _audit_rows(world.file_a.id) == []


def test_database_down_is_503(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_download_url(world.file_a, user_id=world.user_id)
    get_engine().dispose()
    monkeypatch.setenv(
        "CLINIC_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/clinic"
    )
    clear_app_caches()
    _assert_error(client.get(url), 503, "DATABASE_UNAVAILABLE")


def test_s3_download_redirects_to_presigned_url(
    app_env: str,
    client: TestClient,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_s3(monkeypatch, s3_endpoint, create_bucket(s3_endpoint))
    _reconfigure()
    assert isinstance(get_storage(), S3Storage)
    world = _make_world()

    response = client.get(make_download_url(world.file_a, user_id=world.user_id))

    assert response.status_code == 307
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert location.startswith(s3_endpoint + "/")
    assert int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0]) <= 300
    with urllib.request.urlopen(location, timeout=5) as s3_response:
        assert s3_response.read() == DATA
        assert s3_response.headers["Content-Disposition"] == attachment_disposition(FILENAME)
        assert s3_response.headers["Content-Type"] == "application/pdf"
    [row] = _audit_rows(world.file_a.id)
    assert row.correlation_id == response.headers["X-Correlation-ID"]


def test_s3_missing_object_is_404_not_a_redirect(
    app_env: str, client: TestClient, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(monkeypatch, s3_endpoint, create_bucket(s3_endpoint))
    _reconfigure()
    world = _make_world()
    get_storage().delete(world.file_a.storage_key)
    _assert_error(
        client.get(make_download_url(world.file_a, user_id=world.user_id)), 404, "STORAGE_NOT_FOUND"
    )
    assert _audit_rows(world.file_a.id) == []


def test_s3_unreachable_is_503(
    app_env: str, client: TestClient, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(monkeypatch, s3_endpoint, create_bucket(s3_endpoint))
    _reconfigure()
    world = _make_world()
    monkeypatch.setenv("CLINIC_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    _reconfigure()
    response = client.get(make_download_url(world.file_a, user_id=world.user_id))
    _assert_error(response, 503, "STORAGE_UNAVAILABLE")
    assert response.json()["details"] == {}
    assert _audit_rows(world.file_a.id) == []
