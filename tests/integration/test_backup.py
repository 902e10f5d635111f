"""Backup → wipe → restore: every table's rows and every file's SHA-256 come back identical.

Runs SQLite + local files and PostgreSQL (pg_dump/pg_restore) + S3 (moto on loopback); damaged,
partial and tampered archives are refused before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from clinic_app import migrations
from clinic_app.backup import BackupError, create_backup, restore_backup
from clinic_app.cli import main as clinic_main
from clinic_app.db import make_engine, session_scope
from clinic_app.services.demo import load_demo_clinic
from clinic_app.settings import Settings
from clinic_app.storage import LocalStorage, Storage, save_file
from clinic_app.storage_s3 import S3Storage
from models import Clinic
from tests.conftest import PG_ADMIN_URL, PG_HOST, clear_app_caches
from tests.integration.s3_server import create_bucket, start_moto, use_s3


@dataclass
class Install:
    """One installation: its settings and file store."""

    settings: Settings
    storage: Storage
    env: dict[str, str]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def _fresh_pg(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"


def _install(
    kind: str, tmp_path: Path, label: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Install:
    data_dir = tmp_path / label
    if kind == "sqlite":
        settings = Settings(data_dir=data_dir)
        env = {"CLINIC_DATA_DIR": str(data_dir), "CLINIC_STORAGE_BACKEND": "local"}
        return Install(settings, LocalStorage(settings.storage_dir), env)
    url = _fresh_pg(f"clinic_backup_{label}_{os.getpid()}")
    bucket = create_bucket(s3_endpoint)
    use_s3(monkeypatch, s3_endpoint, bucket)
    settings = Settings(data_dir=data_dir, database_url=url)
    env = {"CLINIC_DATA_DIR": str(data_dir), "CLINIC_DATABASE_URL": url, "CLINIC_S3_BUCKET": bucket}
    return Install(settings, S3Storage.from_settings(settings), env)


@pytest.fixture(params=["sqlite", "postgres+s3"])
def installs(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Install, Install]]:
    kind = "sqlite" if request.param == "sqlite" else "postgres"
    source = _install(kind, tmp_path, "source", s3_endpoint, monkeypatch)
    target = _install(kind, tmp_path, "target", s3_endpoint, monkeypatch)
    yield source, target
    clear_app_caches()


def _populate(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo clinic plus two stored files, written through the app's own code."""
    migrations.upgrade_head(install.settings.effective_database_url)
    monkeypatch.delenv("CLINIC_DATABASE_URL", raising=False)
    for name, value in install.env.items():
        monkeypatch.setenv(name, value)
    clear_app_caches()
    with session_scope() as session:
        load_demo_clinic(session)
    with session_scope() as session:
        clinic = session.exec(select(Clinic)).one()
        for name, data in [("a.docx", b"PK\x03\x04 docx"), ("scan.pdf", os.urandom(200_000))]:
            save_file(
                session,
                clinic_id=clinic.id,
                data=data,
                filename=name,
                content_type="application/octet-stream",
                created_by=None,
                key_prefix="exports",
            )


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(
                        sa.select(table).order_by(*[c for c in table.primary_key.columns])
                    )
                ]
                for table in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _files(storage: Storage) -> dict[str, str]:
    return {key: hashlib.sha256(storage.get(key)).hexdigest() for key in storage.iter_keys()}


def test_round_trip_restores_every_row_and_file(
    installs: tuple[Install, Install], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = installs
    _populate(source, monkeypatch)
    archive = tmp_path / "backup.tar"
    summary = create_backup(source.settings, source.storage, archive)
    assert summary.files == 2 and summary.file_bytes > 200_000

    restore_backup(target.settings, target.storage, archive)

    before = _rows(source.settings.effective_database_url)
    after = _rows(target.settings.effective_database_url)
    assert sum(len(rows) for rows in before.values()) > 10
    assert after == before
    assert _files(target.storage) == _files(source.storage)
    assert len(_files(target.storage)) == 2
    assert migrations.current_revision(target.settings.effective_database_url) == (
        summary.schema_revision
    )


def _rewrite(archive: Path, out: Path, change: str) -> None:
    """Copy ``archive`` altering one file member (``tamper``) or dropping one (``drop``)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        dropped = False
        for member in src:
            handle = src.extractfile(member)
            data = handle.read() if handle else b""
            if member.name.startswith("files/") and not dropped:
                dropped = True
                if change == "drop":
                    continue
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "partial"),
        ("tamper", "Checksum mismatch"),
        ("drop", "partial"),
    ],
)
def test_damaged_archive_is_refused_and_nothing_is_written(
    installs: tuple[Install, Install],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
    message: str,
) -> None:
    source, target = installs
    _populate(source, monkeypatch)
    archive = tmp_path / "backup.tar"
    create_backup(source.settings, source.storage, archive)
    bad = tmp_path / "bad.tar"
    if damage == "truncate":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    else:
        _rewrite(archive, bad, damage)

    with pytest.raises(BackupError, match=message):
        restore_backup(target.settings, target.storage, bad)
    engine = make_engine(target.settings.effective_database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == set()
    finally:
        engine.dispose()
    assert list(target.storage.iter_keys()) == []


def test_restore_refuses_a_non_empty_installation(
    installs: tuple[Install, Install], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _target = installs
    _populate(source, monkeypatch)
    archive = tmp_path / "backup.tar"
    create_backup(source.settings, source.storage, archive)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(source.settings, source.storage, archive)


def test_cli_backup_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Install(
        Settings(data_dir=tmp_path / "a"),
        LocalStorage(tmp_path / "a" / "files"),
        {"CLINIC_DATA_DIR": str(tmp_path / "a")},
    )
    _populate(source, monkeypatch)
    archive = tmp_path / "cli.tar"
    assert clinic_main(["backup", "--output", str(archive)]) == 0
    assert "2 files" in capsys.readouterr().out

    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "b"))
    monkeypatch.delenv("CLINIC_DATABASE_URL", raising=False)
    clear_app_caches()
    assert clinic_main(["restore", str(archive)]) == 0
    assert clinic_main(["restore", str(archive)]) == 2  # now it is not empty
    assert "not empty" in capsys.readouterr().err
    assert clinic_main(["restore", str(tmp_path / f"{uuid.uuid4()}.tar")]) == 2
    assert "does not exist" in capsys.readouterr().err
