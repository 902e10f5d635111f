"""A doctor copies the SOAP template, reshapes it, sees a bad template refused with the reason
(nothing typed is lost), saves it, and finds it in the list."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from clinic_app.local_server import LocalServer
from tests.e2e.test_shell import nav, sign_in

pytestmark = pytest.mark.e2e


def test_doctor_makes_their_own_template(page: Page, app_server: LocalServer) -> None:
    sign_in(page, "doctor@demo.clinic")
    nav(page, "templates")
    rows = page.get_by_test_id("template-row")
    expect(rows.filter(has_text="Psychiatry intake")).to_have_count(1)
    rows.filter(has_text="SOAP note").get_by_test_id("template-open").click()
    expect(page.get_by_text("not yours to change")).to_be_visible()
    expect(page.get_by_test_id("template-save")).to_have_count(0)

    page.get_by_test_id("template-copy").click()
    expect(page.get_by_test_id("template-notice")).to_contain_text("yours to change")
    page.get_by_test_id("template-name").fill("Sports medicine SOAP")
    page.get_by_test_id("section-add-row").click()
    titles = page.get_by_test_id("section-title")
    expect(titles).to_have_count(5)
    titles.nth(4).fill("")  # a section with no title is refused…
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-error")).to_contain_text("title")
    expect(page.get_by_test_id("template-name")).to_have_value("Sports medicine SOAP")
    titles.nth(4).fill("Return to play")  # …and fixed without retyping the rest
    page.get_by_test_id("section-down").nth(3).click()  # Plan below the new section
    expect(titles.nth(3)).to_have_value("Return to play")
    expect(titles.nth(4)).to_have_value("Plan")
    preview = page.get_by_test_id("preview-section")
    expect(preview.nth(4)).to_contain_text("Plan")
    page.screenshot(path=str(app_server.data_dir.parent / "template-editor.png"), full_page=True)
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-notice")).to_contain_text("Saved — version 1")
    page.get_by_role("button", name="All templates").click()
    mine = rows.filter(has_text="Sports medicine SOAP")
    expect(mine).to_contain_text("me")
    mine.get_by_test_id("template-open").click()
    expect(page.get_by_test_id("section-title").nth(4)).to_have_value("Plan")
