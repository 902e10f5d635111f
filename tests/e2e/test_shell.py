"""The UI shell in headless Chromium against the production build (`clinic up`).

Logs in as the demo doctor, opens every page of the nav, exports a patient summary as DOCX
through the real worker and downloads it; a receptionist gets the 403 view on /admin.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from docx import Document
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import LocalServer
from clinic_app.services.auth import LOGIN_FAILED_MESSAGE
from clinic_app.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# nav key → (page heading, test id of its main content)
PAGES = {
    "calendar": ("Calendar", "calendar-column"),
    "worklist": ("Worklist", "worklist-item"),
    "patients": ("Patients", "patient-row"),
    "scribe": ("Scribe", "scribe-sessions"),
    "records": ("Records", "records-no-patient"),
    "reports": ("Reports", "page-title"),
    "templates": ("Report templates", "template-row"),
    "prescriptions": ("Prescriptions", "rx-queue"),
}


def at(route: str) -> re.Pattern[str]:
    """The URL of a page (the production build serves routes with a trailing slash)."""
    return re.compile(rf"/{route}/?$")


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")  # Enter submits the form
    page.wait_for_url(at("worklist"))


def nav(page: Page, key: str) -> None:
    page.get_by_test_id(f"nav-{key}").filter(visible=True).first.click()
    page.wait_for_url(at(key))


def test_login_shows_one_generic_error(page: Page) -> None:
    page.goto("/login")
    expect(page.get_by_test_id("demo-logins")).to_contain_text("doctor@demo.clinic")
    page.get_by_test_id("login-email").fill("doctor@demo.clinic")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text(LOGIN_FAILED_MESSAGE)
    # What was typed stays in the form.
    expect(page.get_by_test_id("login-email")).to_have_value("doctor@demo.clinic")
    page.get_by_test_id("login-email").fill("nobody@demo.clinic")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text(LOGIN_FAILED_MESSAGE)
    expect(page).to_have_url(at("login"))


def test_prerendered_sign_in_forms_never_submit_natively(
    browser: Browser, app_server: LocalServer
) -> None:
    """Before React takes over (here: never, JavaScript is off), Enter must not send the form
    as a GET, which would put the password in the URL and the proxy's log."""
    context = browser.new_context(base_url=app_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login")
        expect(page.get_by_test_id("login-submit")).to_be_disabled()
        page.get_by_test_id("login-password").press("Enter")
        page.wait_for_timeout(500)
        assert "password" not in page.url
        page.goto("/portal/login")
        expect(page.get_by_test_id("portal-send")).to_be_disabled()
        page.get_by_test_id("portal-email").press("Enter")
        page.wait_for_timeout(500)
        assert "email" not in page.url
    finally:
        context.close()


def test_signed_out_pages_go_to_login(page: Page) -> None:
    page.goto("/patients")
    page.wait_for_url(at("login"))
    page.goto("/")
    page.wait_for_url(at("login"))


def test_doctor_opens_every_page_and_exports_a_docx(page: Page) -> None:
    sign_in(page, "doctor@demo.clinic")
    expect(page.get_by_test_id("clinic-name").first).to_have_text("Demo Family Clinic")
    expect(page.get_by_test_id("current-user")).to_contain_text("Dr. Amina Okafor")
    expect(page.get_by_test_id("current-user")).to_contain_text("Doctor")
    # Admin is not in a doctor's nav.
    expect(page.get_by_test_id("nav-admin")).to_have_count(0)

    for key, (heading, content) in PAGES.items():
        nav(page, key)
        expect(page.get_by_test_id("page-title")).to_have_text(heading)
        expect(page.get_by_test_id(content).first).to_be_visible()
        expect(page).to_have_title(f"{heading} · Clinic")
    nav(page, "worklist")
    expect(page.get_by_test_id("worklist-item")).to_have_count(3)

    nav(page, "patients")
    page.get_by_test_id("patient-search").fill("garcia")
    expect(page.get_by_test_id("patient-row")).to_have_count(1)
    page.get_by_test_id("patient-row").first.click()
    detail = page.get_by_test_id("patient-detail")
    expect(detail).to_contain_text("Maria Garcia")
    expect(detail).to_contain_text("PAT-2026-00001")

    page.get_by_test_id("export-docx").click()
    expect(page.get_by_test_id("export-progress")).to_be_visible()
    expect(page.get_by_test_id("export-progress").get_by_role("progressbar")).to_be_visible()
    link = page.get_by_test_id("download-link")
    expect(link).to_be_visible(timeout=60_000)
    href = link.get_attribute("href")
    assert href and re.match(r"^/api/files/[0-9a-f-]{36}/download\?token=", href)

    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith(DOCX_TYPE)
    body = response.body()
    assert body[:2] == b"PK"
    text = "\n".join(p.text for p in Document(io.BytesIO(body)).paragraphs)
    assert "Maria Garcia" in text and "PAT-2026-00001" in text

    # The signed link is the only way in: a tampered token is refused.
    assert page.request.get(href[:-4] + "AAAA").status in (400, 401, 403, 404, 410)

    # Everything held on the patient, as a ZIP (the DOCX just made is inside).
    page.get_by_test_id("export-zip").click()
    expect(link).to_have_attribute("download", "patient-export-PAT-2026-00001.zip", timeout=60_000)
    archive = zipfile.ZipFile(io.BytesIO(page.request.get(link.get_attribute("href") or "").body()))
    assert {"record.json", "summary.docx", "manifest.json"} <= set(archive.namelist())

    page.get_by_test_id("sign-out").click()
    page.wait_for_url(at("login"))
    page.goto("/patients")
    page.wait_for_url(at("login"))


def test_receptionist_gets_403_on_admin(page: Page) -> None:
    sign_in(page, "reception@demo.clinic")
    expect(page.get_by_test_id("nav-admin")).to_have_count(0)
    page.goto("/admin")
    forbidden = page.get_by_test_id("forbidden")
    expect(forbidden).to_contain_text("You don't have access to this page")
    expect(forbidden).to_contain_text("Receptionist")
    expect(page.get_by_test_id("admin-members")).to_have_count(0)


def test_admin_sees_the_team(page: Page) -> None:
    sign_in(page, "admin@demo.clinic")
    nav(page, "admin")
    for email in ("doctor@", "nurse@", "reception@", "admin@"):
        expect(page.get_by_test_id("member-row").filter(has_text=email)).to_have_count(1)


def test_tablet_layout_has_top_nav(page: Page) -> None:
    page.set_viewport_size({"width": 820, "height": 1180})
    sign_in(page, "nurse@demo.clinic")
    expect(page.get_by_test_id("sidebar")).to_be_hidden()
    expect(page.get_by_test_id("topbar")).to_be_visible()
    nav(page, "patients")
    expect(page.get_by_test_id("page-title")).to_have_text("Patients")
