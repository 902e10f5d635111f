"""Calendar and worklist in the browser: book, drag to move, see it live in another context."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import LocalServer, ServerStartError, local_server
from clinic_app.services.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of its own: these tests book appointments that other pages' tests must not see."""
    try:
        with local_server(tmp_path_factory.mktemp("e2e-scheduling")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


LIVE_SECONDS = 2.0


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    page.wait_for_url(re.compile(r"/worklist/?$"))


def _slot_point(page: Page, column: object, day: str, hhmm: str) -> tuple[float, float]:
    """Screen point of a time slot in the day column of one provider's calendar."""
    expect(column.locator(".fc-timeGridDay-view")).to_have_count(1)  # type: ignore[attr-defined]
    lane = column.locator(f"td.fc-timegrid-slot-lane[data-time='{hhmm}:00']")  # type: ignore[attr-defined]
    lane.scroll_into_view_if_needed()
    day_col = column.locator(f"td.fc-timegrid-col[data-date='{day}']")  # type: ignore[attr-defined]
    lane_box, day_box = lane.bounding_box(), day_col.bounding_box()
    assert lane_box and day_box
    return day_box["x"] + day_box["width"] / 2, lane_box["y"] + lane_box["height"] / 2


def test_book_drag_and_see_it_live_in_another_context(
    browser: Browser, sched_server: LocalServer
) -> None:
    app_server = sched_server
    desk_context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1400, "height": 1000}
    )
    doctor_context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1280, "height": 900}
    )
    try:
        desk_context.set_default_timeout(20_000)
        doctor_context.set_default_timeout(20_000)
        desk, doctor = desk_context.new_page(), doctor_context.new_page()

        _sign_in(doctor, "doctor@demo.clinic")  # the doctor's worklist: their own patients today
        items = doctor.get_by_test_id("worklist-item")
        expect(items).to_have_count(3)
        expect(doctor.get_by_test_id("scope-mine")).to_have_attribute("data-state", "on")

        _sign_in(desk, "reception@demo.clinic")
        desk.get_by_test_id("nav-calendar").filter(visible=True).first.click()
        desk.wait_for_url(re.compile(r"/calendar/?$"))
        desk.get_by_test_id("cal-view-day").click()
        okafor = desk.locator("[data-testid='calendar-column'][data-provider]").filter(
            has_text="Dr. Amina Okafor"
        )
        today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
        expect(okafor.locator(f"td.fc-timegrid-col[data-date='{today}']")).to_have_count(1)

        # Click the free 12:40 slot → booking dialog → search the patient → book.
        x, y = _slot_point(desk, okafor, today, "12:40")
        desk.mouse.click(x, y)
        dialog = desk.get_by_test_id("booking-dialog")
        expect(dialog).to_be_visible()
        expect(desk.get_by_test_id("booking-when")).to_contain_text("12:40–13:00")
        desk.get_by_test_id("booking-patient-search").fill("garcia")
        desk.get_by_test_id("patient-result").first.click()
        expect(desk.get_by_test_id("booking-patient")).to_have_text("Maria Garcia")
        desk.get_by_test_id("booking-submit").click()
        if desk.get_by_test_id("booking-outside-hours").count():  # a weekend: book anyway
            desk.get_by_test_id("booking-outside-hours").click()
            desk.get_by_test_id("booking-submit").click()
        expect(desk.get_by_test_id("calendar-flash")).to_contain_text("Booked Maria Garcia")
        expect(dialog).to_be_hidden()
        event = okafor.locator(".fc-event").filter(has_text="12:40")
        expect(event).to_have_count(1)

        # Live: the doctor's worklist (another browser context) shows it within 2 seconds.
        expect(items).to_have_count(4, timeout=LIVE_SECONDS * 1000)
        expect(items.filter(has_text="12:40")).to_have_count(1)

        # Drag the appointment to 13:20; the worklist follows.
        box = event.bounding_box()
        assert box is not None
        tx, ty = _slot_point(desk, okafor, today, "13:20")
        start_x, start_y = box["x"] + box["width"] / 2, box["y"] + 4
        end_y = ty - box["height"] / 2 + 4
        desk.mouse.move(start_x, start_y)
        desk.mouse.down()
        for step in range(1, 21):  # a human-speed drag: FullCalendar tracks pointer moves
            desk.mouse.move(
                start_x + (tx - start_x) * step / 20, start_y + (end_y - start_y) * step / 20
            )
            desk.wait_for_timeout(25)
        desk.mouse.up()
        expect(desk.get_by_test_id("calendar-flash")).to_contain_text("Moved Maria Garcia")
        expect(okafor.locator(".fc-event").filter(has_text="13:20")).to_have_count(1)
        expect(items.filter(has_text="13:20")).to_have_count(1, timeout=LIVE_SECONDS * 1000)
        expect(items.filter(has_text="12:40")).to_have_count(0)

        # The doctor moves the patient along: Arrived is one click and shows on the calendar.
        card = items.filter(has_text="13:20")
        card.get_by_test_id("worklist-action").filter(has_text="Arrived").click()
        expect(
            doctor.locator("[data-testid='worklist-item'][data-status='arrived']")
        ).to_have_count(1)
        expect(doctor.get_by_test_id("waiting-time")).to_have_count(1)
        desk.screenshot(path=str(app_server.data_dir.parent / "calendar.png"), full_page=True)
        doctor.screenshot(path=str(app_server.data_dir.parent / "worklist.png"), full_page=True)
    finally:
        desk_context.close()
        doctor_context.close()


def _open_booking(page: Page, hhmm: str) -> None:
    page.goto("/calendar")
    page.get_by_test_id("cal-view-day").click()
    okafor = page.locator("[data-testid='calendar-column']").filter(has_text="Dr. Amina Okafor")
    today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    expect(okafor.locator(f"td.fc-timegrid-col[data-date='{today}']")).to_have_count(1)
    x, y = _slot_point(page, okafor, today, hhmm)
    page.mouse.click(x, y)
    expect(page.get_by_test_id("booking-dialog")).to_be_visible()
    page.get_by_test_id("booking-patient-search").fill("tanaka")
    page.get_by_test_id("patient-result").first.click()


def _submit(page: Page) -> None:
    page.get_by_test_id("booking-submit").click()
    if page.get_by_test_id("booking-outside-hours").count():  # a weekend: book anyway
        page.get_by_test_id("booking-outside-hours").click()
        page.get_by_test_id("booking-submit").click()


def test_same_slot_from_two_desks_offers_next_free_times(
    browser: Browser, sched_server: LocalServer
) -> None:
    app_server = sched_server
    contexts = [
        browser.new_context(base_url=app_server.url, viewport={"width": 1400, "height": 1000})
        for _ in range(2)
    ]
    try:
        first, second = (context.new_page() for context in contexts)
        for page in (first, second):
            page.set_default_timeout(20_000)
            _sign_in(page, "reception@demo.clinic")
            _open_booking(page, "15:00")
        _submit(first)
        expect(first.get_by_test_id("calendar-flash")).to_contain_text("Booked Aiko Tanaka")
        second.get_by_test_id("booking-submit").click()
        expect(second.get_by_test_id("booking-error")).to_contain_text("already has an appointment")
        alternatives = second.get_by_test_id("alternative")
        expect(alternatives.first).to_be_visible()
        alternatives.first.click()
        _submit(second)
        expect(second.get_by_test_id("calendar-flash")).to_contain_text("Booked Aiko Tanaka")
        second.screenshot(path=str(app_server.data_dir.parent / "calendar-conflict.png"))
    finally:
        for context in contexts:
            context.close()


def test_time_off_removes_working_hours_shading(
    browser: Browser, sched_server: LocalServer
) -> None:
    context = browser.new_context(
        base_url=sched_server.url, viewport={"width": 1400, "height": 1000}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "reception@demo.clinic")
        page.goto("/calendar")
        page.get_by_test_id("cal-view-week").click()
        page.get_by_test_id("cal-next").click()
        today = datetime.now(ZoneInfo("Europe/Berlin")).date()
        monday = today.fromordinal(today.toordinal() + 7 - today.weekday())
        weber = page.locator("[data-testid='calendar-column']").filter(has_text="Dr. Jonas Weber")
        expect(
            weber.locator(f"td.fc-timegrid-col[data-date='{monday.isoformat()}']")
        ).to_have_count(1)
        shading = weber.locator(".fc-bg-event.availability")
        expect(shading).to_have_count(4)  # Monday to Thursday
        page.get_by_test_id("time-off").click()
        page.get_by_test_id("exception-provider").select_option(label="Dr. Jonas Weber")
        page.get_by_test_id("exception-kind").select_option("leave")
        page.locator("input[name='starts_at']").fill(f"{monday.isoformat()}T00:00")
        page.locator("input[name='ends_at']").fill(f"{monday.isoformat()}T23:59")
        page.get_by_test_id("exception-submit").click()
        expect(page.get_by_test_id("calendar-flash")).to_have_text("Working hours updated.")
        expect(shading).to_have_count(3)
    finally:
        context.close()
