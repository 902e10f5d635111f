"""LocalStorage keeps bytes inside its root, writes atomically, and save_file records them."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from clinic_app import storage
from clinic_app.errors import AppError
from clinic_app.storage import LocalStorage, attachment_disposition, get_storage, save_file
from models import Clinic, StoredFile
from tests.conftest import clear_app_caches


def _leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.startswith(".upload-")]


def test_put_get_exists_delete(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "files")
    key = "clinic/exports/report.docx"
    assert store.exists(key) is False

    store.put(key, b"first", "application/octet-stream")
    assert store.exists(key) is True
    assert store.get(key) == b"first"
    assert (tmp_path / "files" / key).read_bytes() == b"first"

    store.put(key, b"second", "application/octet-stream")
    assert store.get(key) == b"second"

    store.delete(key)
    assert store.exists(key) is False
    store.delete(key)  # deleting twice is not an error: retries must be safe


def test_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    for index in range(3):
        store.put(f"a/b/{index}", b"x" * 1000, "text/plain")
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["0", "1", "2"]


def test_failed_write_keeps_old_bytes_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path)
    store.put("k/file", b"old", "text/plain")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(AppError) as raised:
        store.put("k/file", b"new", "text/plain")
    assert raised.value.code == "STORAGE_UNAVAILABLE"
    monkeypatch.undo()

    assert store.get("k/file") == b"old"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../../x", "", "a/.."])
def test_bad_keys_are_rejected(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "root")
    for call in (
        lambda: store.put(key, b"x", "text/plain"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(AppError) as info:
            call()
        assert info.value.code == "STORAGE_BAD_KEY"
    assert not (tmp_path / "x").exists()


def test_missing_key_is_storage_not_found(tmp_path: Path) -> None:
    with pytest.raises(AppError) as info:
        LocalStorage(tmp_path).get("clinic/nothing-here")
    assert info.value.code == "STORAGE_NOT_FOUND"


def test_check_writes_nothing_permanent(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "new-root")
    store.check()
    assert list((tmp_path / "new-root").iterdir()) == []


def test_check_fails_when_root_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(OSError):
        LocalStorage(blocker).check()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.docx", 'attachment; filename="report.docx"'),
        (
            'evil"; filename=x.html\r\nSet-Cookie: a=b',
            'attachment; filename="evil__ filename_x.htmlSet-Cookie_ a_b"; '
            "filename*=UTF-8''evil%22%3B%20filename%3Dx.htmlSet-Cookie%3A%20a%3Db",
        ),
        (
            "Résumé.pdf",
            "attachment; filename=\"Resume.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf",
        ),
        ("", 'attachment; filename="download"'),
        (
            "医療.pdf",
            "attachment; filename=\"download.pdf\"; filename*=UTF-8''%E5%8C%BB%E7%99%82.pdf",
        ),
    ],
)
def test_attachment_disposition_is_safe(filename: str, expected: str) -> None:
    value = attachment_disposition(filename)
    assert value == expected
    assert "\r" not in value and "\n" not in value


@pytest.fixture
def local_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLINIC_STORAGE_BACKEND", "local")
    clear_app_caches()
    yield tmp_path / "var"
    clear_app_caches()


def test_save_file_writes_bytes_and_row(session: Session, local_data_dir: Path) -> None:
    clinic = Clinic(name="Storage Clinic", slug=f"storage-{uuid.uuid4().hex[:8]}")
    session.add(clinic)
    session.flush()
    data = b"%PDF-1.7 fake but real bytes\n" * 50

    stored = save_file(
        session,
        clinic_id=clinic.id,
        data=data,
        filename="summary.pdf",
        content_type="application/pdf",
        created_by=None,
        key_prefix="/exports/",
    )

    assert stored.storage_key == f"{clinic.id}/exports/{stored.id}"
    assert get_storage().get(stored.storage_key) == data
    assert (local_data_dir / "files" / stored.storage_key).read_bytes() == data
    row = session.exec(select(StoredFile).where(StoredFile.id == stored.id)).one()
    assert row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert (row.filename, row.content_type, row.clinic_id) == (
        "summary.pdf",
        "application/pdf",
        clinic.id,
    )
    assert row.deleted_at is None


def test_save_file_with_same_id_reuses_key(session: Session, local_data_dir: Path) -> None:
    """A retried write with the same file_id overwrites the same object, not a second one."""
    clinic = Clinic(name="Retry Clinic", slug=f"retry-{uuid.uuid4().hex[:8]}")
    session.add(clinic)
    session.flush()
    file_id = uuid.uuid4()
    stored = save_file(
        session,
        clinic_id=clinic.id,
        data=b"v1",
        filename="a.txt",
        content_type="text/plain",
        created_by=None,
        key_prefix="exports",
        file_id=file_id,
    )
    assert stored.id == file_id
    files = [p for p in (local_data_dir / "files").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [str(file_id)]
    assert os.path.getsize(files[0]) == 2
