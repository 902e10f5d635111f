"""The System page and /metrics against the running production build."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from clinic_app.local_server import LocalServer
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


def test_a_dependency_going_down_shows_on_an_open_page_without_a_reload(
    page: Page, app_server: LocalServer
) -> None:
    """One watcher per app process writes a changed banner to every tab it serves."""
    sign_in(page, "nurse@demo.clinic")
    banner = page.get_by_test_id("dependency-banner")
    expect(banner).to_have_count(0)
    files = app_server.data_dir / "files"
    assert files.is_dir(), f"no local file store at {files}"
    moved = files.with_name("files-moved-away")
    files.rename(moved)
    files.write_text("not a directory: the storage check fails")  # root ignores chmod
    try:
        # Each app process checks every 15 s.
        expect(banner).to_contain_text("File storage is unavailable", timeout=40_000)
    finally:
        files.unlink()
        moved.rename(files)
    expect(banner).to_have_count(0, timeout=40_000)


def _live_pages(page: Page) -> int:
    found = re.search(r"^clinic_live_pages (\d+)", page.request.get("/metrics").text(), re.M)
    assert found, "clinic_live_pages missing from /metrics"
    return int(float(found.group(1)))


def test_leaving_a_live_page_ends_its_live_updates(page: Page) -> None:
    """Navigation supersedes the page's load chain, and with it the live loop it started: a
    tab on the patient list costs nothing when the worklist changes."""
    sign_in(page, "doctor@demo.clinic")  # lands on the worklist, which watches live
    expect(page.get_by_test_id("live-badge")).to_be_visible()
    before = _live_pages(page)
    assert before > 0
    nav(page, "patients")
    _wait_for(lambda: _live_pages(page) == before - 1, page)
    nav(page, "worklist")
    expect(page.get_by_test_id("live-badge")).to_be_visible()
    _wait_for(lambda: _live_pages(page) == before, page)


def _wait_for(condition: Callable[[], bool], page: Page, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(200)
