"""From a finished transcript to a signed, exported report: draft, look at the evidence of a
sentence, add a line, sign with step-up, export the DOCX, share it with the patient."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from clinic_app.local_server import PROJECT_ROOT, LocalServer
from clinic_app.services.demo import DEMO_PASSWORD
from tests.e2e.test_identity import portal_sign_in
from tests.e2e.test_shell import sign_in

pytestmark = pytest.mark.e2e

# A finished consultation for Maria, written straight into the server's database (recording
# and transcribing are covered by test_scribe; this test starts where they end).
SEED = """
import uuid
from sqlmodel import select
from clinic_app.db import session_scope
from clinic_app.services import scribe
from models import Membership, Patient, Transcription, User
from clinic_app.security.actor import Actor
turns = [
    ("A", "Good morning. What brings you in today?"),
    ("B", "I have had a cough for two weeks and I take lisinopril 10 milligrams every day."),
    ("A", "Any fever?"),
    ("B", "No fever."),
    ("A", "This is acute bronchitis. I will prescribe azithromycin 500 milligrams once a day."),
    ("A", "Come back in two weeks."),
]
with session_scope() as s:
    user = s.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
    m = s.exec(select(Membership).where(Membership.user_id == user.id)).one()
    actor = Actor(user.id, m.clinic_id, m.role, user.full_name, user.email)
    maria = s.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
    sid = scribe.start_session(s, actor=actor, patient_id=str(maria.id))
    segments = [{"id": n, "start_ms": n * 4000, "end_ms": n * 4000 + 3500, "text": t,
                 "speaker": w, "confidence": 0.9, "words": []} for n, (w, t) in enumerate(turns)]
    text = " ".join(t for _, t in turns)
    s.add(Transcription(clinic_id=actor.clinic_id, session_id=sid, status="completed",
                        engine="seed", segments=segments, text=text, original_text=text))
print(sid)
"""


def _seed(server: LocalServer) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
    env["CLINIC_DATA_DIR"] = str(server.data_dir)
    done = subprocess.run(
        [sys.executable, "-c", SEED], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_transcript_to_signed_exported_report(page: Page, app_server: LocalServer) -> None:
    session_id = _seed(app_server)
    sign_in(page, "doctor@demo.clinic")
    page.goto(f"/scribe?session={session_id}")
    page.get_by_test_id("scribe-draft-report").click()
    page.wait_for_url(re.compile(r"/reports/?\?report="))
    expect(page.get_by_test_id("report-status")).to_contain_text(
        "review before signing", timeout=60_000
    )
    expect(page.get_by_test_id("report-draft-banner")).to_be_visible()
    sentences = page.get_by_test_id("sentence")
    expect(sentences.first).to_have_text(re.compile("Cough for two weeks"))
    expect(page.get_by_test_id("report-scores")).to_contain_text("100%")

    # The evidence of a sentence lights up in the transcript.
    sentences.filter(has_text="Takes lisinopril").click()
    expect(page.get_by_test_id("evidence-mark")).to_contain_text("lisinopril 10 milligrams")

    # The doctor adds a line to the plan; the diff shows it.
    page.get_by_test_id("section-add").nth(3).click()
    page.get_by_test_id("add-text").fill("Paracetamol as needed for fever.")
    page.get_by_test_id("add-save").click()
    expect(sentences.filter(has_text="Paracetamol")).to_have_count(1)
    page.screenshot(path=str(app_server.data_dir.parent / "report-review.png"), full_page=True)
    page.get_by_test_id("report-toggle-changes").click()
    expect(page.get_by_test_id("report-change")).to_contain_text("Paracetamol")

    # Sign with the password again.
    page.get_by_test_id("report-sign").click()
    page.get_by_test_id("stepup-password").fill("wrong password")
    page.get_by_test_id("stepup-sign").click()
    expect(page.get_by_test_id("stepup-error")).to_be_visible()
    page.get_by_test_id("stepup-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("stepup-sign").click()
    expect(page.get_by_test_id("report-signed")).to_contain_text("SHA-256")
    expect(page.get_by_test_id("section-add")).to_have_count(0)  # nothing editable any more

    page.get_by_test_id("report-export").click()
    expect(page.get_by_test_id("report-download")).to_be_visible(timeout=60_000)
    page.get_by_test_id("report-share").click()
    expect(page.get_by_text("Shared with the patient")).to_be_visible()
    page.screenshot(path=str(app_server.data_dir.parent / "report-signed.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_test_id("report-download").click()
    assert download.value.suggested_filename.endswith(".docx")

    # Maria reads it in her portal.
    page.context.clear_cookies()
    portal_sign_in(page, app_server.data_dir)
    shared = page.get_by_test_id("portal-report")
    expect(shared.first).to_contain_text("Acute bronchitis.")
    with page.expect_download() as mine:
        shared.first.get_by_role("button", name="Download").click()
    assert mine.value.suggested_filename.endswith(".docx")
