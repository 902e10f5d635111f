"""Worker for drawing records: the rendered PNG, its thumbnail, and the record's DOCX."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services import drawing_render, record_documents, records
from clinic_app.services.prescription_documents import DOCX_CONTENT_TYPE
from models import MedicalRecord, RecordFile
from workers.exports import GeneratedFile, store_generated_once


def record_export(ctx: JobContext) -> dict[str, Any]:
    """Render once per job (a retried job reuses what an earlier attempt stored)."""
    record_id = uuid.UUID(str(ctx.params.get("record_id")))
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(MedicalRecord, record_id)
        if row is None or row.clinic_id != ctx.clinic_id:
            raise AppError("JOB_BAD_PARAMS", "The record is missing.")
        background = records.background_image(session, row)
        data = dict(row.drawing_data)
        info = record_documents.printout(session, row)
    ctx.progress(20, "Drawing the record")
    png = drawing_render.render_png(data, background, scale=2.0)
    stem = info["number"].replace(" ", "-")

    image = store_generated_once(
        ctx,
        label="record-png",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(f"{stem}.png", "image/png", png),
    )
    thumbnail = store_generated_once(
        ctx,
        label="record-thumb",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(
            f"{stem}-thumb.png", "image/png", drawing_render.thumbnail_png(png)
        ),
    )
    ctx.progress(60, "Writing the DOCX")
    docx = store_generated_once(
        ctx,
        label="record-docx",
        key_prefix="records",
        generate=lambda _c: GeneratedFile(
            f"{stem}.docx", DOCX_CONTENT_TYPE, record_documents.render_docx(info, png)
        ),
    )
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(MedicalRecord, record_id)
        assert row is not None
        row.image_file_id = uuid.UUID(image["file_id"])
        row.thumbnail_file_id = uuid.UUID(thumbnail["file_id"])
        row.docx_file_id = uuid.UUID(docx["file_id"])
        session.add(row)
        for stored in (image, docx):
            file_id = uuid.UUID(stored["file_id"])
            exists = session.exec(
                select(RecordFile).where(
                    RecordFile.record_id == record_id, RecordFile.file_id == file_id
                )
            ).first()
            if exists is None:
                session.add(
                    RecordFile(
                        clinic_id=row.clinic_id, record_id=record_id, file_id=file_id, role="export"
                    )
                )
    return {"image_file_id": image["file_id"], "docx_file_id": docx["file_id"]}
