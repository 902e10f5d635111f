"""A worker process that stalls half-way through one job, so a fault test can SIGKILL it.

``python -m tests.faults.slow_worker summary``: the patient-summary handler pauses after its
first progress report. ``… transcription``: the speech engine hangs, so the transcription job
stops after it stored the joined recording. The pauses are test scaffolding only; the handlers
around them are the real ones.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import workers
from clinic_app.ai import speech
from clinic_app.jobs import JobContext
from clinic_app.services.patient_summary import PATIENT_SUMMARY_KIND
from workers.main import run_worker
from workers.patient_summary import patient_summary_docx


def _paused(ctx: JobContext) -> dict[str, object]:
    ctx.progress(5, "test: pausing so the worker can be killed")
    time.sleep(600)
    return patient_summary_docx(ctx)


class _HangingEngine:
    name = "hanging"
    model = "test"

    def transcribe(self, audio: np.ndarray, *, language: str, prompt: str) -> speech.SpeechResult:
        time.sleep(600)
        raise AssertionError("killed before this")


if __name__ == "__main__":
    if "transcription" in sys.argv:
        speech.get_engine = lambda: _HangingEngine()  # type: ignore[assignment]
    else:
        workers.HANDLERS[PATIENT_SUMMARY_KIND] = _paused
    run_worker(burst="--burst" in sys.argv)
