"""Workers for reports: draft a report from its transcript, and render its DOCX (and PDF)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from clinic_app.ai import drafting
from clinic_app.ai.drafters import get_drafter
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services import report_documents, reports
from models import Report
from models.base import utcnow
from workers.exports import GeneratedFile, store_generated_once


def _set(report_id: uuid.UUID, clinic_id: uuid.UUID, **values: Any) -> None:
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Report, report_id)
        if row is None or row.status == "signed":
            return
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def draft_report(ctx: JobContext) -> dict[str, Any]:
    """Draft every section (or one, to regenerate it), verify each sentence, store the draft.

    An engine that gives up (unreachable, refusing, bad output) ends the report as ``failed``
    with its message, not as a retried job: the doctor sees why and can draft again.
    """
    report_id = uuid.UUID(str(ctx.params.get("report_id")))
    only = ctx.params.get("section_id")
    clinic_id = ctx.clinic_id
    if clinic_id is None:
        raise AppError("JOB_BAD_PARAMS", "The job has no clinic.")
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Report, report_id)
        if row is None:
            raise AppError("JOB_BAD_PARAMS", "The report is missing.")
        if row.status == "signed":
            return {"skipped": "signed"}
        sections, prompt, utterances, names = reports.drafting_inputs(session, row=row)
        previous = reports.copy_content(row.content) if only else None
        row.status = "generating"
        session.add(row)
    wanted = [s for s in sections if not only] or [
        s for s in drafting.leaf_sections(sections) if s.id == only
    ]
    drafter = get_drafter(drug_names=names, sections=list(drafting.leaf_sections(sections)))
    timings: dict[str, int] = {}
    started = time.perf_counter()
    last = [started]

    def progress(done: int, total: int, section: drafting.TemplateSection) -> None:
        now = time.perf_counter()
        timings[section.id] = int((now - last[0]) * 1000)
        last[0] = now
        ctx.progress(5 + 90 * done // max(total, 1), f"Drafted {section.title} ({done}/{total})")
        _set(
            report_id,
            clinic_id,
            progress={"job_id": str(ctx.job_id), "done": done, "total": total, "section": only},
        )

    try:
        drafted = drafting.draft_report(
            wanted,
            utterances,
            drafter,
            template_prompt=prompt,
            drug_names=names,
            progress=progress,
        )
    except AppError as exc:
        _set(report_id, clinic_id, status="failed" if not only else "completed", error=exc.message)
        return {"status": "failed", "error": exc.message}
    fresh = reports.content_from_draft(drafted, utterances)
    content = fresh if previous is None else reports.with_sections_from(previous, fresh)
    draft_ms = int((time.perf_counter() - started) * 1000)
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Report, report_id)
        if row is None or row.status == "signed":
            return {"skipped": "signed"}
        row.content = content
        if previous is None:
            row.draft_content = content
        row.rendered_text = reports.render_text(content)
        row.scores = reports.score(content)
        row.engine, row.model, row.prompt_version = (
            drafter.name,
            drafter.model,
            drafter.prompt_version,
        )
        row.timings = {
            "finished_at": utcnow().isoformat(),
            "draft_ms": draft_ms,
            "sections": timings,
        }
        row.status, row.error = "completed", None
        row.version += 1
        session.add(row)
    return {"status": "completed", "sections": len(drafted), "draft_ms": draft_ms}


def export_report(ctx: JobContext) -> dict[str, Any]:
    """The DOCX of a signed report (stored once per job) and, when asked, its PDF through
    LibreOffice. A server without LibreOffice still gets the DOCX and a clear PDF message."""
    report_id = uuid.UUID(str(ctx.params.get("report_id")))
    ctx.progress(10, "Loading the report")
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(Report, report_id)
        if row is None or row.clinic_id != ctx.clinic_id or row.status != "signed":
            raise AppError("JOB_BAD_PARAMS", "The report is missing or not signed.")
        document = reports.document_for(session, row)

    def docx(_clinic: uuid.UUID) -> GeneratedFile:
        ctx.progress(40, "Building the DOCX")
        data = report_documents.render_docx(document)
        name = report_documents.filename(document, "docx")
        return GeneratedFile(name, report_documents.DOCX_CONTENT_TYPE, data)

    stored = store_generated_once(ctx, label="report-docx", key_prefix="reports", generate=docx)
    result: dict[str, Any] = {"docx_file_id": stored["file_id"]}
    pdf_id = None
    if ctx.params.get("pdf"):
        try:

            def pdf(_clinic: uuid.UUID) -> GeneratedFile:
                ctx.progress(70, "Converting to PDF")
                data = report_documents.docx_to_pdf(report_documents.render_docx(document))
                name = report_documents.filename(document, "pdf")
                return GeneratedFile(name, "application/pdf", data)

            pdf_id = store_generated_once(
                ctx, label="report-pdf", key_prefix="reports", generate=pdf
            )["file_id"]
            result["pdf_file_id"] = pdf_id
        except AppError as exc:
            result["pdf_error"] = exc.message
    with session_scope(clinic_id=ctx.clinic_id) as session:
        row = session.get(Report, report_id)
        assert row is not None
        row.docx_file_id = uuid.UUID(stored["file_id"])
        if pdf_id:
            row.pdf_file_id = uuid.UUID(pdf_id)
        session.add(row)
    return result
