"""RQ entry point: ``run_job`` runs one attempt of a job row; the real work lives in services.

RQ only carries the job id. Status, progress, attempts, errors and results live on the
``jobs`` row (see ``clinic_app.jobs``), which is what the UI shows and what retries rely on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from clinic_app import jobs
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.observability import correlation_scope
from clinic_app.services.notifications import DELIVER_KIND
from clinic_app.services.patient_archive import PATIENT_ARCHIVE_KIND
from clinic_app.services.patient_summary import PATIENT_SUMMARY_KIND
from clinic_app.services.prescription_documents import RENDER_KIND as PRESCRIPTION_DOCUMENTS_KIND
from clinic_app.services.records import EXPORT_KIND as RECORD_EXPORT_KIND
from clinic_app.services.reports import DRAFT_KIND as REPORT_DRAFT_KIND
from clinic_app.services.reports import EXPORT_KIND as REPORT_EXPORT_KIND
from clinic_app.services.scribe import LIVE_KIND, TRANSCRIBE_KIND
from clinic_app.settings import get_settings
from workers.notifications import deliver_notification
from workers.patient_archive import patient_archive_zip
from workers.patient_summary import patient_summary_docx
from workers.prescriptions import prescription_documents
from workers.records import record_export
from workers.reports import draft_report, export_report
from workers.scribe import transcribe_live, transcribe_session

logger = logging.getLogger(__name__)

Handler = Callable[[JobContext], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    PATIENT_SUMMARY_KIND: patient_summary_docx,
    PATIENT_ARCHIVE_KIND: patient_archive_zip,
    DELIVER_KIND: deliver_notification,
    PRESCRIPTION_DOCUMENTS_KIND: prescription_documents,
    TRANSCRIBE_KIND: transcribe_session,
    LIVE_KIND: transcribe_live,
    REPORT_DRAFT_KIND: draft_report,
    REPORT_EXPORT_KIND: export_report,
    RECORD_EXPORT_KIND: record_export,
}


class _Heartbeat:
    """Keeps ``heartbeat_at`` fresh while a handler runs, so the sweeper leaves the job alone."""

    def __init__(self, ctx: JobContext, interval: float) -> None:
        self._ctx = ctx
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{ctx.job_id}", daemon=True
        )

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not jobs.touch(self._ctx):
                    logger.warning("Job %s was taken over; heartbeat stops", self._ctx.job_id)
                    return
            except Exception:
                logger.warning("Heartbeat of job %s failed", self._ctx.job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 15)


def heartbeat_interval() -> float:
    """A few beats per stale period, so one slow write does not look like a dead worker."""
    return max(1.0, get_settings().job_stale_after_seconds / 4)


def run_job(job_id: str) -> None:
    """Run one attempt of the job row ``job_id`` (safe to call twice: a finished job is skipped).

    On failure the row keeps a short error and goes back to ``queued`` while attempts remain
    (else ``failed``); the exception is re-raised so RQ logs it and its ``Retry`` re-runs the
    job after the backoff.
    """
    ctx = jobs.claim(job_id)
    if ctx is None:
        return
    # The id of the UI event that enqueued the job: one action is followed across processes.
    with correlation_scope(ctx.correlation_id):
        _run_attempt(ctx)


def _run_attempt(ctx: JobContext) -> None:
    logger.info(
        "Job %s (%s) attempt %s of %s started", ctx.job_id, ctx.kind, ctx.attempt, ctx.max_attempts
    )
    try:
        with _Heartbeat(ctx, heartbeat_interval()):
            handler = HANDLERS.get(ctx.kind)
            if handler is None:
                raise AppError(
                    "JOB_UNKNOWN_KIND", f"This worker cannot run '{ctx.kind}' jobs; is it updated?"
                )
            result = handler(ctx)
            if not isinstance(result, dict):
                raise TypeError(f"handler for {ctx.kind!r} returned {type(result).__name__}")
        stored = jobs.mark_succeeded(ctx, result)  # a result that cannot be stored is a failure
    except jobs.JobSuperseded:
        logger.warning("Job %s attempt %s was superseded; dropping it", ctx.job_id, ctx.attempt)
        return
    except Exception as exc:
        logger.exception(
            "Job %s (%s) attempt %s of %s failed",
            ctx.job_id,
            ctx.kind,
            ctx.attempt,
            ctx.max_attempts,
        )
        if jobs.mark_attempt_failed(ctx, exc) is None:
            logger.warning("Job %s attempt %s was superseded", ctx.job_id, ctx.attempt)
            return
        raise
    if stored:
        logger.info("Job %s (%s) succeeded", ctx.job_id, ctx.kind)
    else:
        logger.warning("Job %s attempt %s finished after being superseded", ctx.job_id, ctx.attempt)


__all__ = ["HANDLERS", "Handler", "JobContext", "heartbeat_interval", "run_job"]
