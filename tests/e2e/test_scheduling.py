"""Calendar and worklist in the browser: book, drag to move, see it live in another context."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import PROJECT_ROOT, LocalServer, ServerStartError, local_server
from clinic_app.services.demo import DEMO_PASSWORD
from state.live import REFRESH_GAP_SECONDS


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of its own: these tests book appointments that other pages' tests must not see."""
    try:
        with local_server(tmp_path_factory.mktemp("e2e-scheduling")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


# A change shows at the page's next refresh: within 50 ms after a quiet spell, and at most
# REFRESH_GAP_SECONDS after the page's previous refresh; the rest is the browser's margin.
LIVE_SECONDS = REFRESH_GAP_SECONDS + 1.0


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-password").press("Enter")
    page.wait_for_url(re.compile(r"/worklist/?$"))


@contextmanager
def _reception_calendar(browser: Browser, server: LocalServer) -> Iterator[Page]:
    """The receptionist's calendar in a fresh browser context, closed afterwards."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "reception@demo.clinic")
        page.goto("/calendar")
        yield page
    finally:
        context.close()


def _slot_point(page: Page, column: object, day: str, hhmm: str) -> tuple[float, float]:
    """Screen point of a time slot in the day column of one provider's calendar."""
    expect(column.locator(".fc-timeGridDay-view")).to_have_count(1)  # type: ignore[attr-defined]
    lane = column.locator(f"td.fc-timegrid-slot-lane[data-time='{hhmm}:00']")  # type: ignore[attr-defined]
    lane.scroll_into_view_if_needed()
    day_col = column.locator(f"td.fc-timegrid-col[data-date='{day}']")  # type: ignore[attr-defined]
    lane_box, day_box = lane.bounding_box(), day_col.bounding_box()
    assert lane_box and day_box
    return day_box["x"] + day_box["width"] / 2, lane_box["y"] + lane_box["height"] / 2


def _drag(page: Page, event: object, to: tuple[float, float]) -> None:
    """Drag an event by its top edge so that edge lands in the slot at ``to``."""
    box = event.bounding_box()  # type: ignore[attr-defined]
    assert box is not None
    tx, ty = to
    start_x, start_y = box["x"] + box["width"] / 2, box["y"] + 4
    end_y = ty - box["height"] / 2 + 4
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    for step in range(1, 21):  # a human-speed drag: FullCalendar tracks pointer moves
        page.mouse.move(
            start_x + (tx - start_x) * step / 20, start_y + (end_y - start_y) * step / 20
        )
        page.wait_for_timeout(25)
    page.mouse.up()


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
        _drag(desk, event, _slot_point(desk, okafor, today, "13:20"))
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
    with _reception_calendar(browser, sched_server) as page:
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


# Where a patient's visits on one day are, read straight from the server's database.
WHERE = """
import sys
from datetime import date
from zoneinfo import ZoneInfo
from sqlmodel import select
from clinic_app.db import session_scope
from clinic_app.timeutil import as_utc
from models import Appointment, Patient, Provider
mrn, day = sys.argv[1], date.fromisoformat(sys.argv[2])
with session_scope() as s:
    rows = s.exec(
        select(Appointment.starts_at, Provider.display_name)
        .join(Provider, Provider.id == Appointment.provider_id)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(Patient.mrn == mrn)
    ).all()
for starts_at, provider in rows:
    local = as_utc(starts_at).astimezone(ZoneInfo("Europe/Berlin"))
    if local.date() == day:
        print(f"{local:%H:%M} {provider}")
"""


def _visits(server: LocalServer, mrn: str, day: date) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
    env["CLINIC_DATA_DIR"] = str(server.data_dir)
    done = subprocess.run(
        [sys.executable, "-c", WHERE, mrn, day.isoformat()], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return sorted(done.stdout.split("\n")[:-1])


def _book_in(page: Page, column: object, day: str, hhmm: str, patient: str) -> None:
    x, y = _slot_point(page, column, day, hhmm)
    page.mouse.click(x, y)
    expect(page.get_by_test_id("booking-dialog")).to_be_visible()
    page.get_by_test_id("booking-patient-search").fill(patient.split()[-1])
    page.get_by_test_id("patient-result").first.click()
    page.get_by_test_id("booking-submit").click()
    expect(page.get_by_test_id("calendar-flash")).to_contain_text(f"Booked {patient}")
    expect(page.get_by_test_id("booking-dialog")).to_be_hidden()


def test_drag_onto_another_providers_calendar_moves_the_visit(
    browser: Browser, sched_server: LocalServer
) -> None:
    with _reception_calendar(browser, sched_server) as page:
        page.get_by_test_id("cal-view-day").click()
        # Next week's Tuesday: both doctors work (Dr. Weber Mon–Thu 09–17), nothing booked yet.
        today = datetime.now(ZoneInfo("Europe/Berlin")).date()
        tuesday = today + timedelta(days=8 - today.weekday())
        for _ in range((tuesday - today).days):
            page.get_by_test_id("cal-next").click()
        day = tuesday.isoformat()
        columns = page.locator("[data-testid='calendar-column']")
        okafor = columns.filter(has_text="Dr. Amina Okafor")
        weber = columns.filter(has_text="Dr. Jonas Weber")
        for column in (okafor, weber):
            expect(column.locator(f"td.fc-timegrid-col[data-date='{day}']")).to_have_count(1)
        _book_in(page, okafor, day, "10:00", "Maria Garcia")
        _book_in(page, okafor, day, "11:00", "John Smith")
        visits = ".fc-timegrid-event"  # appointments, not the working-hours shading
        maria = okafor.locator(visits).filter(has_text="Maria Garcia")
        expect(maria).to_have_count(1)

        # Okafor 10:00 → Weber 14:00, a free slot in his hours: the visit is his now.
        _drag(page, maria, _slot_point(page, weber, day, "14:00"))
        expect(page.get_by_test_id("calendar-flash")).to_contain_text(
            "Moved Maria Garcia to Dr. Jonas Weber · "
        )
        moved = weber.locator(visits).filter(has_text="Maria Garcia")
        expect(moved).to_have_count(1)  # the server's copy only, not also the dropped one
        expect(moved).to_contain_text("14:00")
        expect(maria).to_have_count(0)
        assert _visits(sched_server, "PAT-2026-00001", tuesday) == ["14:00 Dr. Jonas Weber"]
        page.screenshot(path=str(sched_server.data_dir.parent / "calendar-cross-provider.png"))

        # Okafor 11:00 → onto Weber's 14:00 visit: refused, it stays with Okafor at 11:00.
        john = okafor.locator(visits).filter(has_text="John Smith")
        _drag(page, john, _slot_point(page, weber, day, "14:00"))
        expect(page.get_by_test_id("error-message")).to_contain_text(
            "Dr. Jonas Weber already has an appointment at that time."
        )
        expect(weber.locator(visits).filter(has_text="John Smith")).to_have_count(0)
        expect(john).to_have_count(1)
        expect(john).to_contain_text("11:00")
        expect(weber.locator(visits)).to_have_count(1)
        assert _visits(sched_server, "PAT-2026-00002", tuesday) == ["11:00 Dr. Amina Okafor"]
        page.screenshot(path=str(sched_server.data_dir.parent / "calendar-cross-refused.png"))

        # Refused within one calendar too (after her hours): it snaps back to 11:00.
        _drag(page, john, _slot_point(page, okafor, day, "18:20"))
        expect(page.get_by_test_id("error-message")).to_contain_text("is not working at that time")
        expect(john).to_contain_text("11:00")
