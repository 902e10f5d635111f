"""The System page and /metrics against the running production build."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_shell import at, nav, sign_in

pytestmark = pytest.mark.e2e


def test_admin_sees_dependencies_workers_and_metrics(page: Page) -> None:
    sign_in(page, "admin@demo.clinic")
    nav(page, "system")
    expect(page.get_by_test_id("page-title")).to_have_text("System")
    checks = page.get_by_test_id("system-check")
    expect(checks).to_have_count(3)
    for name in ("Database", "Redis", "Storage"):
        expect(page.get_by_test_id("system-health")).to_contain_text(name)
    expect(page.get_by_test_id("system-health").locator("svg.lucide-circle-x")).to_have_count(0)
    expect(page.get_by_test_id("system-worker").first).to_be_visible()
    expect(page.get_by_test_id("system-no-failed")).to_be_visible()
    page.get_by_test_id("system-refresh").click()
    expect(page.get_by_test_id("system-worker").first).to_be_visible()

    body = page.request.get("/metrics").text()
    # Events of this very session were timed by the instrumented event processor.
    assert re.search(
        r'clinic_event_latency_seconds_count\{handler="SystemState\.load"\} [1-9]', body
    )
    assert re.search(r"clinic_websocket_clients [1-9]", body)
    assert "clinic_jobs" in body


def test_doctor_cannot_open_system(page: Page) -> None:
    sign_in(page, "doctor@demo.clinic")
    expect(page.get_by_test_id("nav-system")).to_have_count(0)
    page.goto("/system")
    expect(page.get_by_test_id("forbidden")).to_be_visible()
    expect(page).to_have_url(at("system"))
