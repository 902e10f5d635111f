"""Store a job's generated file exactly once, whatever happens between attempts.

Every attempt of a job writes under the same file id (derived from the job id), and an attempt
first looks for a file an earlier attempt stored but could not report: a retry or a worker that
died after storing never makes a second file or row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.storage import save_file
from models import StoredFile

_FILE_ID_NAMESPACE = uuid.UUID("6f1c1e52-8d0a-4c53-9a53-2f0f5d1f7a10")


@dataclass(frozen=True)
class GeneratedFile:
    filename: str
    content_type: str
    data: bytes


def export_file_id(job_id: uuid.UUID, label: str) -> uuid.UUID:
    """The same file id for every attempt of a job."""
    return uuid.uuid5(_FILE_ID_NAMESPACE, f"{label}:{job_id}")


def _stored(session: Session, file_id: uuid.UUID, clinic_id: uuid.UUID) -> dict[str, Any] | None:
    existing = session.get(StoredFile, file_id)
    if existing is None or existing.clinic_id != clinic_id:
        return None
    return {"file_id": str(existing.id), "filename": existing.filename}


def store_generated_once(
    ctx: JobContext,
    *,
    label: str,
    key_prefix: str,
    generate: Callable[[uuid.UUID], GeneratedFile],
) -> dict[str, Any]:
    """Run ``generate(clinic_id)`` and store its file once; returns the job result."""
    if ctx.clinic_id is None:
        raise AppError("JOB_BAD_PARAMS", "The export job has no clinic.")
    clinic_id = ctx.clinic_id
    file_id = export_file_id(ctx.job_id, label)
    with session_scope(clinic_id=clinic_id) as session:
        done = _stored(session, file_id, clinic_id)
    if done is not None:
        return done  # an earlier attempt stored it and then lost its success write
    generated = generate(clinic_id)
    ctx.progress(90, "Storing the file")
    with session_scope(clinic_id=clinic_id) as session:
        done = _stored(session, file_id, clinic_id)
        if done is not None:
            return done
        stored = save_file(
            session,
            clinic_id=clinic_id,
            data=generated.data,
            filename=generated.filename,
            content_type=generated.content_type,
            created_by=ctx.created_by,
            key_prefix=key_prefix,
            file_id=file_id,
        )
        return {"file_id": str(stored.id), "filename": stored.filename}
