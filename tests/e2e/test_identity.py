"""Sign-in in a real browser: password + TOTP, the patient portal's one-time code, sign-out."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from clinic_app.local_server import LocalServer
from clinic_app.services.demo import DEMO_PORTAL_EMAIL
from tests.e2e.test_shell import at, nav, sign_in

pytestmark = pytest.mark.e2e

NEW_EMAIL = "mfa.tester@demo.clinic"
NEW_PASSWORD = "a passphrase long enough"


def _sign_out(page: Page) -> None:
    page.get_by_test_id("sign-out").filter(visible=True).first.click()
    page.wait_for_url(at("login"))


def test_admin_adds_a_member_who_signs_in_with_totp(page: Page) -> None:
    sign_in(page, "admin@demo.clinic")
    nav(page, "admin")
    expect(page.get_by_test_id("permission-matrix")).to_contain_text("prescription:sign")
    form = page.locator("form").filter(has=page.get_by_test_id("member-add"))
    form.locator("input[name=full_name]").fill("Mia Tester")
    form.locator("input[name=email]").fill(NEW_EMAIL)
    form.locator("input[name=password]").fill("short")
    page.get_by_test_id("member-add").click()
    expect(page.get_by_test_id("member-form-error")).to_contain_text("at least 12 characters")
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    page.get_by_test_id("member-add").click()
    expect(page.get_by_test_id("member-row").filter(has_text=NEW_EMAIL)).to_have_count(1)
    _sign_out(page)

    # The new member turns on two-step verification on their account page.
    page.get_by_test_id("login-email").fill(NEW_EMAIL)
    page.get_by_test_id("login-password").fill(NEW_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    page.wait_for_url(at("worklist"))
    page.goto("/account")
    page.get_by_test_id("account-start-mfa").click()
    secret = page.locator("code").filter(has_text=re.compile(r"^[A-Z2-7]{32}$")).first.inner_text()
    # The previous step's code (accepted: ±1 step) leaves the current one for the sign-in below.
    page.get_by_test_id("account-code").fill(pyotp.TOTP(secret).at(time.time() - 30))
    page.get_by_test_id("account-code-submit").click()
    expect(page.get_by_test_id("account-recovery-codes").locator("code")).to_have_count(10)
    expect(page.get_by_test_id("mfa-status")).to_have_text("On")
    _sign_out(page)

    page.get_by_test_id("login-email").fill(NEW_EMAIL)
    page.get_by_test_id("login-password").fill(NEW_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    expect(page.get_by_test_id("login-code")).to_be_visible()
    page.get_by_test_id("login-code").fill("000000")
    page.get_by_test_id("login-code").press("Enter")
    expect(page.get_by_test_id("login-error")).to_contain_text("not valid")
    page.get_by_test_id("login-code").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("login-code").press("Enter")
    page.wait_for_url(at("worklist"))
    expect(page.get_by_test_id("current-user").filter(visible=True)).to_contain_text("Mia Tester")

    # The session cookie is HttpOnly: page scripts cannot read it.
    assert "clinic_session" not in page.evaluate("document.cookie")
    cookie = next(c for c in page.context.cookies() if c["name"] == "clinic_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def _portal_codes(data_dir: Path) -> list[str]:
    """Every sign-in code the outbox has delivered to Maria, oldest first."""
    outbox = data_dir / "outbox" / "email.jsonl"
    if not outbox.exists():
        return []
    codes = []
    for line in outbox.read_text().splitlines():
        message = json.loads(line)
        if message["to"] == DEMO_PORTAL_EMAIL and "sign-in code" in message["subject"]:
            match = re.search(r"\b(\d{6})\b", message["body"])
            if match:
                codes.append(match.group(1))
    return codes


def _new_portal_code(data_dir: Path, seen: int) -> str:
    """Wait for the code sent after `seen` earlier ones: the worker delivers it a moment later,
    and an earlier test's code is still in the outbox."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        codes = _portal_codes(data_dir)
        if len(codes) > seen:
            return codes[-1]
        time.sleep(0.3)
    raise AssertionError(f"no new portal code in {data_dir / 'outbox'}")


def portal_sign_in(page: Page, data_dir: Path) -> None:
    """Maria signs in to the portal with the code from the outbox."""
    seen = len(_portal_codes(data_dir))
    page.goto("/portal/login")
    page.get_by_test_id("portal-email").fill(DEMO_PORTAL_EMAIL)
    page.get_by_test_id("portal-send").click()
    expect(page.get_by_test_id("portal-sent")).to_be_visible()
    page.get_by_test_id("portal-code").fill(_new_portal_code(data_dir, seen))
    page.get_by_test_id("portal-verify").click()
    page.wait_for_url(at("portal"))


def test_patient_signs_in_to_the_portal_with_a_code(page: Page, app_server: LocalServer) -> None:
    portal_sign_in(page, app_server.data_dir)
    expect(page.get_by_test_id("portal-name")).to_have_text("Maria Garcia")
    expect(page.get_by_test_id("portal-appointment").first).to_be_visible()

    # A patient session opens no staff page.
    page.goto("/worklist")
    page.wait_for_url(at("login"))

    page.goto("/portal")
    page.get_by_test_id("portal-sign-out").click()
    page.wait_for_url(at("portal/login"))
    page.goto("/portal")
    page.wait_for_url(at("portal/login"))


def test_security_headers_on_pages_and_routes(page: Page) -> None:
    for path in ("/login", "/health/live"):
        response = page.request.get(path)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
