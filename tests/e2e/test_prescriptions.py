"""A doctor prescribes through an allergy warning; the patient sees it in the portal; the QR
verification page confirms it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from clinic_app.local_server import LocalServer
from clinic_app.services.demo import DEMO_PASSWORD
from tests.e2e.test_identity import portal_sign_in
from tests.e2e.test_shell import nav, sign_in

pytestmark = pytest.mark.e2e


def _open_marias_chart(page: Page) -> None:
    nav(page, "patients")
    page.get_by_test_id("patient-search").fill("Maria")
    page.get_by_test_id("patient-row").filter(has_text="Maria Garcia").first.click()
    page.get_by_test_id("open-chart").click()
    page.wait_for_url(re.compile(r"/chart/?\?patient="))


def prescribe_amoxicillin_despite_allergy(page: Page) -> str:
    """Doctor: allergy on the chart, draft, warning acknowledged, step-up, signed. Returns RX no."""
    sign_in(page, "doctor@demo.clinic")
    _open_marias_chart(page)
    page.get_by_test_id("allergy-substance").fill("Penicillin")
    page.get_by_test_id("allergy-add").click()
    expect(page.get_by_test_id("allergy-badge")).to_contain_text("1 allergy")

    page.get_by_test_id("chart-prescriptions").click()
    page.wait_for_url(re.compile(r"/prescriptions/?\?patient="))
    page.get_by_test_id("rx-new").click()
    page.wait_for_url(re.compile(r"/prescriptions/?\?rx="))
    number = page.get_by_test_id("rx-number").inner_text()
    expect(page.get_by_test_id("rx-allergies")).to_contain_text("Penicillin")

    page.get_by_test_id("rx-med-search").fill("amoxicillin 500 capsule")
    page.get_by_test_id("rx-med-option").first.click()
    expect(page.get_by_test_id("rx-picked")).to_contain_text("amoxicillin 500 mg capsule")
    page.get_by_test_id("rx-dose").fill("1")
    page.locator("select[name=dose_unit]").select_option("capsule")
    page.get_by_test_id("rx-days").fill("7")
    page.get_by_test_id("rx-add-item").click()
    item = page.get_by_test_id("rx-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Take 1 capsule by mouth three times a day for 7 days.")
    expect(item).to_contain_text("21 capsule")

    warning = page.get_by_test_id("rx-warning")
    expect(warning).to_contain_text("penicillin")
    # Signing without a reason is refused, nothing is lost.
    page.get_by_test_id("rx-sign").click()
    expect(page.get_by_test_id("rx-error")).to_contain_text("reason for each warning")
    page.get_by_test_id("rx-ack").fill("Tolerated amoxicillin in 2024; rash was to flucloxacillin")
    page.get_by_test_id("rx-sign").click()
    page.get_by_test_id("stepup-password").fill("wrong password")
    page.get_by_test_id("stepup-sign").click()
    expect(page.get_by_test_id("stepup-error")).to_contain_text("not correct")
    page.get_by_test_id("stepup-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("stepup-sign").click()
    expect(page.get_by_test_id("rx-notice")).to_contain_text("Signed")
    expect(page.get_by_test_id("rx-pdf")).to_be_visible(timeout=60_000)
    return number


def test_doctor_prescribes_with_a_warning_and_the_patient_sees_it(
    page: Page, app_server: LocalServer
) -> None:
    number = prescribe_amoxicillin_despite_allergy(page)
    with page.context.expect_event(
        "request", predicate=lambda request: "/api/files/" in request.url
    ) as opened:
        page.get_by_test_id("rx-pdf").click()
    pdf = page.request.get(opened.value.url)
    assert pdf.ok and pdf.body().startswith(b"%PDF")

    page.context.clear_cookies()
    portal_sign_in(page, app_server.data_dir)
    row = page.get_by_test_id("portal-prescription").filter(has_text=number)
    expect(row).to_contain_text("amoxicillin")
    row.focus()
    page.keyboard.press("Enter")  # keyboard users open it too
    detail = page.get_by_test_id("portal-rx-detail")
    expect(detail).to_contain_text("Take 1 capsule by mouth three times a day for 7 days.")
    expect(detail).to_contain_text("Dr. Amina Okafor")


def test_verification_page_for_a_genuine_and_a_forged_code(page: Page) -> None:
    sign_in(page, "doctor@demo.clinic")
    nav(page, "prescriptions")
    page.get_by_test_id("rx-row").filter(has_text="Signed").first.get_by_role("link").click()
    link = page.get_by_test_id("rx-verify-link")
    href = link.get_attribute("href")
    assert href and href.startswith("/verify?t=")
    page.context.clear_cookies()  # the check needs no sign-in
    page.goto(href)
    result = page.get_by_test_id("verify-result")
    expect(result).to_have_attribute("data-state", "valid")
    expect(result).not_to_contain_text("Maria")
    page.goto(href[:-4] + "AAAA")
    expect(result).to_have_attribute("data-state", "invalid")
    expect(result).to_contain_text("Not a valid prescription")
