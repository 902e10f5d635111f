"""S3Storage over real HTTP against moto's S3 server on loopback (boto3 → HTTP → moto)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from clinic_app.errors import AppError
from clinic_app.settings import Settings
from clinic_app.storage import attachment_disposition, get_storage
from clinic_app.storage_s3 import S3Storage
from tests.conftest import clear_app_caches
from tests.integration.s3_server import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    create_bucket,
    free_port,
    start_moto,
    use_s3,
)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def _settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        storage_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def s3(s3_endpoint: str) -> S3Storage:
    return S3Storage.from_settings(_settings(s3_endpoint, create_bucket(s3_endpoint)))


def test_put_get_exists_delete(s3: S3Storage) -> None:
    key = "clinic-a/exports/summary.docx"
    assert s3.exists(key) is False
    s3.put(key, b"\x00binary\xffbytes", "application/octet-stream")
    assert s3.exists(key) is True
    assert s3.get(key) == b"\x00binary\xffbytes"

    s3.put(key, b"replaced", "text/plain")
    assert s3.get(key) == b"replaced"
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentType"] == "text/plain"

    s3.delete(key)
    assert s3.exists(key) is False
    s3.delete(key)  # idempotent, like LocalStorage


def test_missing_key_is_storage_not_found(s3: S3Storage) -> None:
    with pytest.raises(AppError) as info:
        s3.get("clinic-a/never-written")
    assert info.value.code == "STORAGE_NOT_FOUND"


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../b"])
def test_bad_keys_are_rejected(s3: S3Storage, key: str) -> None:
    with pytest.raises(AppError) as info:
        s3.put(key, b"x", "text/plain")
    assert info.value.code == "STORAGE_BAD_KEY"


def test_check_passes_for_existing_bucket_and_fails_for_missing(
    s3: S3Storage, s3_endpoint: str
) -> None:
    s3.check()
    missing = S3Storage.from_settings(_settings(s3_endpoint, "no-such-bucket-here"))
    with pytest.raises(AppError) as info:
        missing.check()
    assert info.value.code == "STORAGE_UNAVAILABLE"
    assert info.value.details == {"reason": "bucket not found"}


def test_presigned_url_downloads_over_http_and_expires_within_five_minutes(
    s3: S3Storage,
) -> None:
    data = b"%PDF-1.7 presigned bytes"
    s3.put("clinic-a/rx/1", data, "application/pdf")

    url = s3.presigned_url(
        "clinic-a/rx/1",
        filename="Rezept Müller.pdf",
        content_type="application/pdf",
        expires_in=3600,
    )

    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert int(query["X-Amz-Expires"][0]) == 300
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.read() == data
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"] == attachment_disposition(
            "Rezept Müller.pdf"
        )


def test_presigned_url_keeps_shorter_expiry(s3: S3Storage) -> None:
    url = s3.presigned_url("clinic-a/x", filename="x", content_type="text/plain", expires_in=60)
    assert url is not None
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]


def test_presigned_url_with_tampered_signature_is_refused(s3: S3Storage) -> None:
    s3.put("clinic-a/rx/2", b"secret", "text/plain")
    url = s3.presigned_url("clinic-a/rx/2", filename="a", content_type="text/plain", expires_in=60)
    assert url is not None
    forged = url.replace("clinic-a/rx/2", "clinic-a/rx/1")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(forged, timeout=5)
    assert info.value.code == 403


def test_unreachable_endpoint_is_storage_unavailable() -> None:
    dead = S3Storage.from_settings(_settings(f"http://127.0.0.1:{free_port()}", "bucket"))
    calls = (
        lambda: dead.put("a/b", b"x", "text/plain"),
        lambda: dead.get("a/b"),
        lambda: dead.exists("a/b"),
        lambda: dead.delete("a/b"),
        dead.check,
    )
    for call in calls:
        with pytest.raises(AppError) as info:
            call()
        assert info.value.code == "STORAGE_UNAVAILABLE"
        assert info.value.message.startswith("File storage is unavailable")
        assert info.value.details == {"reason": "connection refused"}
        assert "127.0.0.1" not in str(info.value)


def test_get_storage_returns_s3_when_configured(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket = create_bucket(s3_endpoint)
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "var"))
    use_s3(monkeypatch, s3_endpoint, bucket)
    clear_app_caches()
    try:
        store = get_storage()
        assert isinstance(store, S3Storage)
        assert store.bucket == bucket
        store.put("clinic-a/via-settings", b"configured", "text/plain")
        reader = S3Storage.from_settings(_settings(s3_endpoint, bucket))
        assert reader.get("clinic-a/via-settings") == b"configured"
        assert not (tmp_path / "var" / "files").exists()  # nothing went to local disk
    finally:
        clear_app_caches()
