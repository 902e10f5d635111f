"""Worker for printable prescriptions: the PDF and the DOCX of a signed prescription."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services import prescription_documents as documents
from clinic_app.services.prescriptions import details
from models import Prescription
from workers.exports import GeneratedFile, store_generated_once


def prescription_documents(ctx: JobContext) -> dict[str, Any]:
    """Render both copies, store each once per job, and link them to the prescription."""
    rx_id = ctx.params.get("prescription_id")
    if not rx_id:
        raise AppError("JOB_BAD_PARAMS", "The job has no prescription.")
    ctx.progress(10, "Loading the prescription")
    with session_scope(clinic_id=ctx.clinic_id) as session:
        rx = session.exec(
            select(Prescription).where(
                Prescription.id == uuid.UUID(str(rx_id)), Prescription.clinic_id == ctx.clinic_id
            )
        ).first()
        if rx is None or not rx.content_hash:
            raise AppError("JOB_BAD_PARAMS", "The prescription is missing or not signed.")
        info = details(session, rx)
        url = documents.verification_url(documents.verification_token(rx))

    def pdf(_clinic: uuid.UUID) -> GeneratedFile:
        ctx.progress(30, "Building the PDF")
        data = documents.render_pdf(info, url=url)
        return GeneratedFile(documents.filename(info, "pdf"), documents.PDF_CONTENT_TYPE, data)

    def docx(_clinic: uuid.UUID) -> GeneratedFile:
        ctx.progress(60, "Building the DOCX")
        data = documents.render_docx(info, url=url)
        return GeneratedFile(documents.filename(info, "docx"), documents.DOCX_CONTENT_TYPE, data)

    pdf_file = store_generated_once(ctx, label="rx-pdf", key_prefix="prescriptions", generate=pdf)
    docx_file = store_generated_once(
        ctx, label="rx-docx", key_prefix="prescriptions", generate=docx
    )
    with session_scope(clinic_id=ctx.clinic_id) as session:
        rx = session.get(Prescription, uuid.UUID(str(rx_id)))
        assert rx is not None
        rx.pdf_file_id = uuid.UUID(pdf_file["file_id"])
        rx.docx_file_id = uuid.UUID(docx_file["file_id"])
        session.add(rx)
    return {"pdf_file_id": pdf_file["file_id"], "docx_file_id": docx_file["file_id"]}
