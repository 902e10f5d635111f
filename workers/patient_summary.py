"""Worker for the patient summary DOCX: progress, render, store once per job."""

from __future__ import annotations

import uuid
from typing import Any

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services.patient_summary import (
    DOCX_CONTENT_TYPE,
    load_patient_summary,
    render_patient_summary_docx,
    summary_filename,
)
from workers.exports import GeneratedFile, store_generated_once

LABEL = "patient-summary"


def patient_summary_docx(ctx: JobContext) -> dict[str, Any]:
    """Build the summary of ``params["patient_id"]`` and store it; returns the file reference."""
    patient_id = ctx.params.get("patient_id")
    if not patient_id:
        raise AppError("JOB_BAD_PARAMS", "The export job has no patient.")

    def generate(clinic_id: uuid.UUID) -> GeneratedFile:
        ctx.progress(10, "Loading the patient record")
        with session_scope(clinic_id=clinic_id) as session:
            summary = load_patient_summary(session, clinic_id=clinic_id, patient_id=patient_id)
        ctx.progress(60, "Building the document")
        data = render_patient_summary_docx(summary)
        return GeneratedFile(summary_filename(summary), DOCX_CONTENT_TYPE, data)

    return store_generated_once(
        ctx, label=LABEL, key_prefix="exports/patient-summary", generate=generate
    )
