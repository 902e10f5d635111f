"""Portal self-booking in the browser: Maria books a free time, sees it listed, cancels it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import LocalServer, ServerStartError, local_server
from tests.e2e.test_identity import portal_sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def booking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of its own: the bookings made here must not show on other tests' pages."""
    try:
        with local_server(tmp_path_factory.mktemp("e2e-portal-booking")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def portal_page(browser: Browser, booking_server: LocalServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=booking_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def test_patient_books_a_free_time_and_cancels_it(
    portal_page: Page, booking_server: LocalServer
) -> None:
    page = portal_page
    portal_sign_in(page, booking_server.data_dir)
    booking = page.get_by_test_id("portal-booking")
    expect(booking).to_be_visible()
    # Only the demo clinic's portal-bookable types are offered (not the long procedure).
    expect(booking.get_by_role("radio")).to_have_count(2)
    expect(booking.get_by_text("Long visit / procedure")).to_have_count(0)
    rows_before = page.get_by_test_id("portal-appointment").count()

    booking.get_by_role("radio", name=re.compile("Consultation")).click()
    expect(page.get_by_test_id("portal-slot").first).to_be_visible()
    slot = page.get_by_test_id("portal-slot").first
    # The accessible name says when and with whom, e.g. "09:00, Mon 12 May with Dr. …".
    found = re.match(r"(\d\d:\d\d), (\w+ \d\d \w+) with ", slot.get_attribute("aria-label") or "")
    assert found, slot.get_attribute("aria-label")
    time_label, day_label = found.groups()
    slot.click()
    expect(page.get_by_test_id("portal-chosen-slot")).to_contain_text(
        f"{day_label} at {time_label}"
    )

    # A double click books once (the button is disabled while booking; the key is per slot).
    page.get_by_test_id("portal-book").dblclick()
    expect(page.get_by_test_id("portal-confirm-dialog")).to_be_hidden()
    notice = page.get_by_test_id("portal-booking-notice")
    expect(notice).to_contain_text("Booked: Consultation")
    expect(page.get_by_test_id("portal-appointment")).to_have_count(rows_before + 1)
    row = page.get_by_test_id("portal-appointment").filter(
        has_text=re.compile(rf"{re.escape(day_label)} \d{{4}}, {re.escape(time_label)}")
    )
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Consultation")
    expect(row).to_contain_text("Scheduled")

    # Cancel it with a reason; an empty reason is not sent (the field is required).
    row.get_by_test_id("portal-cancel").click()
    dialog = page.get_by_test_id("portal-cancel-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("portal-cancel-reason").fill("I cannot make it that day")
    page.get_by_test_id("portal-cancel-confirm").click()
    expect(dialog).to_be_hidden()
    expect(notice).to_contain_text("Cancelled:")
    expect(row).to_contain_text("Cancelled")
    expect(row.get_by_test_id("portal-cancel")).to_have_count(0)
