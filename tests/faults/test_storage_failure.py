"""Storage write failures: a clear, retryable error and never a row pointing at a missing file.

Local disk that cannot be written (the storage directory is a regular file, which stops root
too) and S3 answering with an error (the bucket is gone, moto on loopback).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.settings import get_settings
from clinic_app.storage import STORAGE_UNAVAILABLE_MESSAGE, save_file
from models import Clinic, StoredFile
from tests.conftest import clear_app_caches
from tests.integration.s3_server import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    create_bucket,
    start_moto,
    use_s3,
)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def _clinic_id() -> uuid.UUID:
    with session_scope() as session:
        clinic = Clinic(name="Fault Clinic", slug=f"fault-{uuid.uuid4().hex[:6]}", timezone="UTC")
        session.add(clinic)
        session.flush()
        return clinic.id


def _save(clinic_id: uuid.UUID) -> None:
    with session_scope() as session:
        save_file(
            session,
            clinic_id=clinic_id,
            data=b"report bytes",
            filename="report.docx",
            content_type="application/octet-stream",
            created_by=None,
            key_prefix="exports",
        )


def _assert_refused_cleanly(clinic_id: uuid.UUID) -> None:
    with pytest.raises(AppError) as raised:
        _save(clinic_id)
    assert raised.value.code == "STORAGE_UNAVAILABLE"
    assert raised.value.message == STORAGE_UNAVAILABLE_MESSAGE
    with session_scope() as session:
        assert session.exec(select(StoredFile)).all() == []


def test_unwritable_local_storage(app_env: str) -> None:
    clinic_id = _clinic_id()
    storage_dir = get_settings().storage_dir
    storage_dir.parent.mkdir(parents=True, exist_ok=True)
    storage_dir.write_text("not a directory")  # every write below it fails, even as root
    _assert_refused_cleanly(clinic_id)
    storage_dir.unlink()
    _save(clinic_id)  # the same call works once the disk is back
    with session_scope() as session:
        assert len(session.exec(select(StoredFile)).all()) == 1


def test_s3_error(app_env: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic_id = _clinic_id()
    bucket = create_bucket(s3_endpoint)
    use_s3(monkeypatch, s3_endpoint, bucket)
    clear_app_caches()
    boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ).delete_bucket(Bucket=bucket)
    _assert_refused_cleanly(clinic_id)
