"""Worker for the patient summary DOCX: progress, render, store once per job."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services.patient_summary import (
    DOCX_CONTENT_TYPE,
    load_patient_summary,
    render_patient_summary_docx,
    summary_filename,
)
from clinic_app.storage import save_file
from models import StoredFile

KEY_PREFIX = "exports/patient-summary"
_FILE_ID_NAMESPACE = uuid.UUID("6f1c1e52-8d0a-4c53-9a53-2f0f5d1f7a10")


def export_file_id(job_id: uuid.UUID) -> uuid.UUID:
    """The same file id for every attempt of a job: a retry reuses one key and one row."""
    return uuid.uuid5(_FILE_ID_NAMESPACE, f"patient-summary:{job_id}")


def _stored(session: Session, file_id: uuid.UUID, clinic_id: uuid.UUID) -> dict[str, Any] | None:
    existing = session.get(StoredFile, file_id)
    if existing is None or existing.clinic_id != clinic_id:
        return None
    return {"file_id": str(existing.id), "filename": existing.filename}


def patient_summary_docx(ctx: JobContext) -> dict[str, Any]:
    """Build the summary of ``params["patient_id"]`` and store it; returns the file reference."""
    patient_id = ctx.params.get("patient_id")
    if ctx.clinic_id is None or not patient_id:
        raise AppError("JOB_BAD_PARAMS", "The export job has no clinic or patient.")
    clinic_id = ctx.clinic_id
    file_id = export_file_id(ctx.job_id)

    ctx.progress(10, "Loading the patient record")
    with session_scope(clinic_id=clinic_id) as session:
        done = _stored(session, file_id, clinic_id)
        if done is not None:
            return done  # an earlier attempt stored it and then lost its success write
        summary = load_patient_summary(session, clinic_id=clinic_id, patient_id=patient_id)

    ctx.progress(60, "Building the document")
    data = render_patient_summary_docx(summary)

    ctx.progress(90, "Storing the document")
    with session_scope(clinic_id=clinic_id) as session:
        done = _stored(session, file_id, clinic_id)
        if done is not None:
            return done
        stored = save_file(
            session,
            clinic_id=clinic_id,
            data=data,
            filename=summary_filename(summary),
            content_type=DOCX_CONTENT_TYPE,
            created_by=ctx.created_by,
            key_prefix=KEY_PREFIX,
            file_id=file_id,
        )
        return {"file_id": str(stored.id), "filename": stored.filename}
