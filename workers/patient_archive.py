"""Worker for the patient data export ZIP."""

from __future__ import annotations

import uuid
from typing import Any

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services.patient_archive import ZIP_CONTENT_TYPE, build_patient_archive
from workers.exports import GeneratedFile, store_generated_once


def patient_archive_zip(ctx: JobContext) -> dict[str, Any]:
    patient_id = ctx.params.get("patient_id")
    if not patient_id:
        raise AppError("JOB_BAD_PARAMS", "The export job has no patient.")

    def generate(clinic_id: uuid.UUID) -> GeneratedFile:
        ctx.progress(10, "Collecting the patient's records and files")
        with session_scope(clinic_id=clinic_id) as session:
            filename, data = build_patient_archive(
                session, clinic_id=clinic_id, patient_id=patient_id
            )
        return GeneratedFile(filename, ZIP_CONTENT_TYPE, data)

    return store_generated_once(
        ctx, label="patient-archive", key_prefix="exports/patient-archive", generate=generate
    )
