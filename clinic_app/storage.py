"""Object storage: a local directory by default, S3 (boto3) when configured.

Bytes never reach the browser by a public path: downloads go through the authorised route in
``clinic_app/api/downloads.py``, which streams local files or redirects to a short-lived S3 URL.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from sqlmodel import Session

from clinic_app.errors import AppError
from clinic_app.settings import get_settings
from models import StoredFile


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def iter_keys(self) -> Iterator[str]:
        """Every stored key (for backups), in no particular order."""
        ...

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        """A direct, short-lived URL, or None when the app must stream the bytes itself."""
        ...

    def check(self) -> None:
        """Raise when the store cannot be used (for /health/ready)."""
        ...


def _safe_key(key: str) -> str:
    """Keys are relative paths; refusing ``..`` and absolute keys keeps LocalStorage in its root."""
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise AppError("STORAGE_BAD_KEY", "Invalid storage key.", {"key": key})
    return key


def attachment_disposition(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value that is safe for any user-supplied name.

    Quotes, backslashes and control characters cannot break out of the header; non-ASCII names
    keep their spelling through ``filename*`` (RFC 6266) with an ASCII fallback for old clients.
    """
    name = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C").strip()
    name = name.replace("/", "_").replace("\\", "_") or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch if ch.isalnum() or ch in " ._-()" else "_" for ch in ascii_name)
    fallback = fallback.strip()
    if not fallback or fallback.startswith("."):  # "医療.pdf" -> "download.pdf", never hidden
        fallback = "download" + fallback
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


STORAGE_UNAVAILABLE_MESSAGE = "File storage is unavailable right now; nothing was saved. Try again."


def _write_failed(exc: OSError) -> AppError:
    """A disk problem (full, read-only, missing directory) as a clear, retryable error."""
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return AppError("STORAGE_UNAVAILABLE", STORAGE_UNAVAILABLE_MESSAGE, {"reason": reason})


class LocalStorage:
    """Files under a directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        except OSError as exc:
            raise _write_failed(exc) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _write_failed(exc) from exc
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise AppError(
                "STORAGE_NOT_FOUND", "The stored file is missing.", {"key": key}
            ) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith((".upload-", ".health-")):
                yield path.relative_to(self.root).as_posix()

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        return None

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".health-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()


@functools.cache
def get_storage() -> Storage:
    settings = get_settings()
    if settings.storage_backend == "s3":
        from clinic_app.storage_s3 import S3Storage

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.storage_dir)


def save_file(
    session: Session,
    *,
    clinic_id: uuid.UUID,
    data: bytes,
    filename: str,
    content_type: str,
    created_by: uuid.UUID | None,
    key_prefix: str,
    file_id: uuid.UUID | None = None,
) -> StoredFile:
    """Store the bytes first, then add the metadata row (flushed, committed by the caller).

    A failed write leaves no row; a failed commit leaves an orphan object, never a row
    pointing at nothing. Passing ``file_id`` makes a retried write reuse the same key.
    """
    file_id = file_id or uuid.uuid4()
    key = f"{clinic_id}/{key_prefix.strip('/')}/{file_id}"
    get_storage().put(key, data, content_type)
    stored = StoredFile(
        id=file_id,
        clinic_id=clinic_id,
        storage_key=key,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_by=created_by,
    )
    session.add(stored)
    session.flush()
    return stored
