"""Scheduling setup in the browser: a receptionist gives a doctor Friday hours and adds a visit
type; the calendar then shades the new hours and books the new type with its length."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from clinic_app.local_server import LocalServer, ServerStartError, local_server
from clinic_app.services.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def setup_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of its own: these tests change working hours other pages' tests rely on."""
    try:
        with local_server(tmp_path_factory.mktemp("e2e-scheduling-setup")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    page.wait_for_url(re.compile(r"/worklist/?$"))


def _next_monday() -> date:
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    return today + timedelta(days=7 - today.weekday())


def _click_slot(column: Locator, day: date, hhmm: str) -> None:
    """Click a time slot of one day in a provider's week view."""
    lane = column.locator(f"td.fc-timegrid-slot-lane[data-time='{hhmm}:00']")
    lane.scroll_into_view_if_needed()
    day_col = column.locator(f"td.fc-timegrid-col[data-date='{day.isoformat()}']")
    lane_box, day_box = lane.bounding_box(), day_col.bounding_box()
    assert lane_box and day_box
    column.page.mouse.click(
        day_box["x"] + day_box["width"] / 2, lane_box["y"] + lane_box["height"] / 2
    )


def test_receptionist_sets_hours_and_a_visit_type_the_calendar_uses(
    browser: Browser, setup_server: LocalServer
) -> None:
    context = browser.new_context(
        base_url=setup_server.url, viewport={"width": 1400, "height": 1000}
    )
    shots = setup_server.data_dir.parent
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "reception@demo.clinic")
        page.get_by_test_id("nav-scheduling-setup").filter(visible=True).first.click()
        page.wait_for_url(re.compile(r"/scheduling-setup/?$"))
        expect(page.get_by_test_id("page-title")).to_have_text("Scheduling setup")

        # Weekly hours: Dr. Weber works Mon–Thu; give him Friday 08:00–12:00 and 13:00–17:00.
        page.get_by_test_id("hours-provider").select_option(label="Dr. Jonas Weber")
        friday = page.get_by_test_id("day-4")
        expect(friday).to_contain_text("Not working")
        expect(page.get_by_test_id("day-0").get_by_test_id("session-start")).to_have_value("09:00")
        save = page.get_by_test_id("hours-save")
        expect(save).to_be_disabled()  # nothing to save yet
        friday.get_by_test_id("session-add").click()
        expect(friday.get_by_test_id("session")).to_have_count(1)
        friday.get_by_test_id("session-start").fill("08:00")
        friday.get_by_test_id("session-end").fill("12:00")
        expect(friday.get_by_test_id("session-end")).to_have_value("12:00")
        friday.get_by_test_id("session-add").click()  # offered after the first one
        expect(friday.get_by_test_id("session")).to_have_count(2)
        expect(friday.get_by_test_id("session-start").nth(1)).to_have_value("13:00")
        expect(friday.get_by_test_id("session-end").nth(1)).to_have_value("17:00")
        expect(page.get_by_test_id("hours-provider")).to_be_disabled()  # unsaved edits
        # A mistake first: overlapping sessions are refused next to the form, nothing is lost.
        friday.get_by_test_id("session-start").nth(1).fill("11:00")
        expect(friday.get_by_test_id("session-start").nth(1)).to_have_value("11:00")
        save.click()
        expect(page.get_by_test_id("hours-error")).to_contain_text("Friday: sessions overlap")
        page.screenshot(path=str(shots / "scheduling-setup-hours-error.png"), full_page=True)
        friday.get_by_test_id("session-start").nth(1).fill("13:00")
        expect(friday.get_by_test_id("session-start").nth(1)).to_have_value("13:00")
        save.click()
        expect(page.get_by_test_id("hours-notice")).to_contain_text(
            "Saved Dr. Jonas Weber's hours: 6 sessions a week"
        )
        expect(page.get_by_test_id("hours-error")).to_have_count(0)
        expect(save).to_be_disabled()
        page.screenshot(path=str(shots / "scheduling-setup-hours.png"), full_page=True)

        # Visit types: add "Vaccination", 10 minutes; a bad length is refused in the dialog.
        page.get_by_test_id("tab-visit-types").click()
        expect(page.get_by_test_id("visit-row")).to_have_count(3)
        page.get_by_test_id("visit-new").click()
        dialog = page.get_by_test_id("visit-dialog")
        expect(dialog).to_be_visible()
        page.get_by_test_id("visit-name").fill("Vaccination")
        page.get_by_test_id("visit-minutes").fill("500")
        page.get_by_test_id("visit-minutes").press("Enter")  # the keyboard submits the form
        expect(page.get_by_test_id("visit-error")).to_contain_text("5 to 480")
        expect(page.get_by_test_id("visit-name")).to_have_value("Vaccination")
        page.get_by_test_id("visit-minutes").fill("10")
        page.get_by_test_id("visit-submit").click()
        expect(dialog).to_be_hidden()
        row = page.get_by_test_id("visit-row").filter(has_text="Vaccination")
        expect(row).to_contain_text("10 min")
        expect(row).to_contain_text("vaccination")
        page.screenshot(path=str(shots / "scheduling-setup-visit-types.png"), full_page=True)
        page.get_by_test_id("tab-policy").click()
        expect(page.get_by_test_id("policy-offsets")).to_have_value("24, 2")
        page.screenshot(path=str(shots / "scheduling-setup-policy.png"), full_page=True)

        # The calendar: next week Weber is shaded Mon–Thu plus two Friday sessions…
        page.get_by_test_id("nav-calendar").filter(visible=True).first.click()
        page.wait_for_url(re.compile(r"/calendar/?$"))
        page.get_by_test_id("cal-view-week").click()
        page.get_by_test_id("cal-next").click()
        monday = _next_monday()
        friday_date = monday + timedelta(days=4)
        weber = page.locator("[data-testid='calendar-column']").filter(has_text="Dr. Jonas Weber")
        expect(weber.locator(f"td.fc-timegrid-col[data-date='{friday_date}']")).to_have_count(1)
        expect(weber.locator(".fc-bg-event.availability")).to_have_count(6)
        # …and booking Friday 13:00 offers the new type, which sets a 10-minute visit.
        _click_slot(weber, friday_date, "13:00")
        expect(page.get_by_test_id("booking-dialog")).to_be_visible()
        page.get_by_test_id("booking-visit-type").click()
        page.get_by_role("option", name="Vaccination (10 min)").click()
        expect(page.get_by_test_id("booking-when")).to_contain_text("13:00–13:10")
        page.screenshot(path=str(shots / "scheduling-setup-calendar.png"))
    finally:
        context.close()


def test_exceptions_listed_and_removed(browser: Browser, setup_server: LocalServer) -> None:
    context = browser.new_context(
        base_url=setup_server.url, viewport={"width": 1280, "height": 900}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "admin@demo.clinic")
        page.goto("/scheduling-setup")
        page.get_by_test_id("tab-exceptions").click()
        expect(page.get_by_test_id("exc-empty")).to_be_visible()
        monday = _next_monday().isoformat()
        page.get_by_test_id("exception-provider").select_option(label="Dr. Jonas Weber")
        page.get_by_test_id("exception-kind").select_option("leave")
        page.locator("input[name='starts_at']").fill(f"{monday}T08:00")
        page.locator("input[name='ends_at']").fill(f"{monday}T12:00")
        page.locator("input[name='note']").fill("Conference")
        page.get_by_test_id("exception-submit").click()
        row = page.get_by_test_id("exception-row")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Dr. Jonas Weber")
        expect(row).to_contain_text("08:00–12:00")
        expect(page.locator("input[name='note']")).to_have_value("")  # a fresh form
        page.screenshot(path=str(setup_server.data_dir.parent / "scheduling-setup-exc.png"))
        row.get_by_test_id("exception-remove").click()
        page.get_by_test_id("exception-remove-confirm").click()
        expect(page.get_by_test_id("exception-notice")).to_contain_text("Removed: Leave")
        expect(page.get_by_test_id("exc-empty")).to_be_visible()
    finally:
        context.close()


def test_doctor_has_no_link_and_gets_the_403_view(
    browser: Browser, setup_server: LocalServer
) -> None:
    context = browser.new_context(base_url=setup_server.url)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "doctor@demo.clinic")
        expect(page.get_by_test_id("nav-calendar").filter(visible=True)).to_have_count(1)
        expect(page.get_by_test_id("nav-scheduling-setup")).to_have_count(0)
        page.goto("/scheduling-setup")
        expect(page.get_by_text("You don't have access to this page")).to_be_visible()
        expect(page.get_by_test_id("hours-save")).to_have_count(0)
    finally:
        context.close()
