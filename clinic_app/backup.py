"""Backups: one archive holding a consistent database dump and every stored file, with checksums.

Layout of the archive (a plain tar; the database dump and most files are compressed already):

    database/clinic.sqlite | database/clinic.pgdump   the dump (SQLite online backup / pg_dump -Fc)
    files/<storage key>                               every object of the file store
    manifest.json                                     written LAST: format, schema revision,
                                                      size + SHA-256 of every member

Because the manifest is the last member, a truncated archive has none and is refused as partial.
``restore_backup`` reads the whole archive once to verify every checksum before it writes
anything, and only restores into an empty installation. Encryption and signing keys are never in
the archive (they live in settings / data_dir); the README says how to keep them.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from clinic_app import migrations
from clinic_app.db import make_engine
from clinic_app.errors import AppError
from clinic_app.settings import Settings
from clinic_app.storage import Storage

FORMAT = "clinic-backup/1"
MANIFEST = "manifest.json"
DB_MEMBERS = {"sqlite": "database/clinic.sqlite", "postgresql": "database/clinic.pgdump"}
FILES_PREFIX = "files/"
READ_BLOCK = 1024 * 1024


class BackupError(AppError):
    """A backup could not be written or an archive cannot be restored; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__("BACKUP_INVALID", message)


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    schema_revision: str | None
    database_bytes: int
    files: int
    file_bytes: int


def _engine_name(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _libpq_url(url: str) -> str:
    """pg_dump/pg_restore want a libpq URL, not SQLAlchemy's ``postgresql+psycopg://``."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("Only a SQLite database file can be backed up.")
    return Path(database)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _dump_database(url: str, target: Path) -> None:
    """A consistent snapshot: SQLite's online backup API, or pg_dump (one MVCC snapshot)."""
    if _engine_name(url) == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    result = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), _libpq_url(url)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def create_backup(settings: Settings, storage: Storage, output: Path) -> BackupSummary:
    """Write the archive to ``output`` (via a temp file, so a failed backup leaves nothing)."""
    url = settings.effective_database_url
    engine = _engine_name(url)
    output.parent.mkdir(parents=True, exist_ok=True)
    revision = migrations.current_revision(url)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "schema_revision": revision,
        "database": {"engine": engine},
        "files": [],
    }
    with tempfile.TemporaryDirectory(prefix="clinic-backup-") as work:
        dump = Path(work) / "dump"
        _dump_database(url, dump)
        partial = output.with_name(output.name + ".partial")
        file_bytes = 0
        try:
            with tarfile.open(partial, "w") as archive:
                db_member = DB_MEMBERS[engine]
                archive.add(dump, arcname=db_member)
                manifest["database"].update(
                    member=db_member, size=dump.stat().st_size, sha256=_sha256_file(dump)
                )
                for key in sorted(storage.iter_keys()):
                    data = storage.get(key)
                    _add_bytes(archive, FILES_PREFIX + key, data)
                    manifest["files"].append(
                        {"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    )
                    file_bytes += len(data)
                _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
            partial.replace(output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupSummary(
        path=output,
        schema_revision=revision,
        database_bytes=int(manifest["database"]["size"]),
        files=len(manifest["files"]),
        file_bytes=file_bytes,
    )


def _read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
    except KeyError:
        raise BackupError(
            "The archive has no manifest: it is partial (cut off while writing or copying)."
        ) from None
    handle = archive.extractfile(member)
    if handle is None:
        raise BackupError("The archive's manifest is not a file.")
    try:
        manifest: dict[str, Any] = json.loads(handle.read())
    except ValueError:
        raise BackupError("The archive's manifest is damaged.") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}; expected {FORMAT}.")
    return manifest


def _expected_members(manifest: dict[str, Any]) -> dict[str, tuple[int, str]]:
    database = manifest.get("database") or {}
    expected = {str(database.get("member")): (int(database["size"]), str(database["sha256"]))}
    for entry in manifest.get("files") or []:
        expected[FILES_PREFIX + str(entry["key"])] = (int(entry["size"]), str(entry["sha256"]))
    return expected


def _stream_sha256(handle: io.BufferedReader | Any) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for block in iter(lambda: handle.read(READ_BLOCK), b""):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def verify_archive(path: Path) -> dict[str, Any]:
    """Check every member against the manifest; raise BackupError naming the first problem."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist.")
    try:
        with tarfile.open(path, "r") as archive:
            manifest = _read_manifest(archive)
            expected = _expected_members(manifest)
            seen: set[str] = set()
            for member in archive:
                if member.name == MANIFEST:
                    continue
                if member.name not in expected:
                    raise BackupError(
                        f"Unexpected member {member.name!r}: the archive was altered."
                    )
                handle = archive.extractfile(member)
                if handle is None:
                    raise BackupError(f"{member.name} is not a file.")
                size, sha = _stream_sha256(handle)
                if (size, sha) != expected[member.name]:
                    raise BackupError(
                        f"Checksum mismatch for {member.name}: the archive is damaged or tampered."
                    )
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"The archive cannot be read ({exc}); it is partial or damaged.") from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            f"The archive is partial: {len(missing)} member(s) missing ({missing[0]})."
        )
    return manifest


def _database_is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
        return not tables
    finally:
        engine.dispose()


def _storage_is_empty(storage: Storage) -> bool:
    return next(iter(storage.iter_keys()), None) is None


def _members(archive: tarfile.TarFile, prefix: str) -> Iterator[tuple[str, bytes]]:
    for member in archive:
        if member.name.startswith(prefix):
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name.removeprefix(prefix), handle.read()


def _restore_database(url: str, archive: tarfile.TarFile, member: str, work: Path) -> None:
    target = work / "dump"
    handle = archive.extractfile(member)
    if handle is None:
        raise BackupError(f"{member} is not a file.")
    with target.open("wb") as out:
        shutil.copyfileobj(handle, out, READ_BLOCK)
    if _engine_name(url) == "sqlite":
        destination = _sqlite_path(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(target)
        restored = sqlite3.connect(destination)
        try:
            with restored:
                source.backup(restored)
        finally:
            restored.close()
            source.close()
        return
    result = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            _libpq_url(url),
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def restore_backup(settings: Settings, storage: Storage, path: Path) -> dict[str, Any]:
    """Restore ``path`` into this (empty) installation after verifying the whole archive."""
    manifest = verify_archive(path)
    url = settings.effective_database_url
    engine = _engine_name(url)
    if manifest["database"]["engine"] != engine:
        raise BackupError(
            f"The archive holds a {manifest['database']['engine']} database but this installation "
            f"uses {engine}; restore into the same kind of database."
        )
    if not _database_is_empty(url):
        raise BackupError("The database is not empty: restore only into a fresh installation.")
    if not _storage_is_empty(storage):
        raise BackupError("The file store is not empty: restore only into a fresh installation.")
    with tarfile.open(path, "r") as archive, tempfile.TemporaryDirectory() as work:
        _restore_database(url, archive, str(manifest["database"]["member"]), Path(work))
    with tarfile.open(path, "r") as archive:
        for key, data in _members(archive, FILES_PREFIX):
            storage.put(key, data, "application/octet-stream")
    migrations.upgrade_head(url)  # an archive from an older release comes up to this schema
    return manifest
