"""A worker process whose patient-summary handler pauses after its first progress report.

Used by the fault tests: the test SIGKILLs this process while the job is half done. The pause
is test scaffolding only; the handler it wraps is the real one.
"""

from __future__ import annotations

import sys
import time

import workers
from clinic_app.jobs import JobContext
from clinic_app.services.patient_summary import PATIENT_SUMMARY_KIND
from workers.main import run_worker
from workers.patient_summary import patient_summary_docx


def _paused(ctx: JobContext) -> dict[str, object]:
    ctx.progress(5, "test: pausing so the worker can be killed")
    time.sleep(600)
    return patient_summary_docx(ctx)


if __name__ == "__main__":
    workers.HANDLERS[PATIENT_SUMMARY_KIND] = _paused
    run_worker(burst="--burst" in sys.argv)
