"""The chart in a real browser: register a patient, add an allergy, upload a PDF, timeline."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_shell import at, nav, sign_in

pytestmark = pytest.mark.e2e


def _pdf(path: Path) -> Path:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (600, 400), (20, 120, 200)).save(out, format="PDF")
    path.write_bytes(out.getvalue() * 1 + b"%" + b"0" * (2_500_000))  # > 2 chunks of 1 MiB
    return path


def test_register_add_allergy_upload_pdf(page: Page, tmp_path: Path) -> None:
    sign_in(page, "doctor@demo.clinic")
    nav(page, "patients")
    page.get_by_test_id("new-patient").click()
    page.get_by_test_id("reg-given").fill("Lena")
    page.get_by_test_id("reg-family").fill("Schmidt")
    page.get_by_test_id("reg-dob").fill("1990-05-01")
    page.get_by_test_id("reg-phone").fill("+49 30 1234567")
    page.get_by_test_id("register-submit").click()
    page.wait_for_url(re.compile(r"/chart/?\?patient="))
    expect(page.get_by_test_id("chart-name")).to_have_text("Lena Schmidt")

    page.get_by_test_id("allergy-substance").fill("Penicillin")
    page.get_by_test_id("allergy-add").click()
    expect(page.get_by_test_id("allergy-row")).to_contain_text("Penicillin")
    expect(page.get_by_test_id("allergy-badge")).to_contain_text("1 allergy")

    page.get_by_test_id("file-input").set_input_files(str(_pdf(tmp_path / "ecg.pdf")))
    expect(page.get_by_test_id("upload-label")).to_have_text(
        "ecg.pdf uploaded and verified", timeout=60_000
    )
    expect(page.get_by_test_id("file-row")).to_contain_text("ecg.pdf")
    timeline = page.get_by_test_id("timeline-item")
    expect(timeline.filter(has_text="File · ecg.pdf")).to_have_count(1)
    expect(timeline.filter(has_text="Allergy recorded · Penicillin")).to_have_count(1)
    page.get_by_test_id("timeline-filter-file").click()
    expect(timeline).to_have_count(1)

    # Registering her again is caught as a possible duplicate.
    nav(page, "patients")
    page.get_by_test_id("new-patient").click()
    page.get_by_test_id("reg-given").fill("Lena")
    page.get_by_test_id("reg-family").fill("Schmidt")
    page.get_by_test_id("reg-dob").fill("1990-05-01")
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("register-error")).to_contain_text("may already be registered")
    page.get_by_test_id("use-existing").first.click()
    expect(page.get_by_test_id("patient-detail-name")).to_have_text("Lena Schmidt")
    expect(page).to_have_url(at("patients"))
