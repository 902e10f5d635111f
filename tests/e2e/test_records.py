"""A doctor draws a line and a circle with the mouse on a body chart, the drawing autosaves,
survives a reload, the form is filled, the record is signed and its DOCX holds the image."""

from __future__ import annotations

import io
import re

import docx
import pytest
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import LocalServer
from clinic_app.services.demo import DEMO_PASSWORD
from tests.e2e.test_prescriptions import _open_marias_chart
from tests.e2e.test_shell import sign_in

pytestmark = pytest.mark.e2e


def _drawn(page: Page, x: int, y: int, painted: bool = True) -> bool:
    """Does stage point (x, y) of the drawing layer (Konva's second canvas) become ``painted``?

    Waits up to 5 s: the canvas repaints on a later animation frame than the click.
    """
    return bool(
        page.wait_for_function(
            """([x, y, painted]) => {
                const canvas = document.querySelectorAll('[data-testid=drawing-editor] canvas')[1];
                if (!canvas) return false;
                const ratio = canvas.width / canvas.clientWidth;
                const px = canvas.getContext('2d').getImageData(x * ratio, y * ratio, 1, 1).data;
                return (px[3] > 0) === painted;
            }""",
            arg=[x, y, painted],
            timeout=5_000,
        )
    )


def test_draw_on_a_body_chart_reload_sign_and_export(page: Page, app_server: LocalServer) -> None:
    sign_in(page, "doctor@demo.clinic")
    _open_marias_chart(page)
    drawings = page.get_by_test_id("chart-records")
    expect(drawings).to_have_attribute("href", re.compile(r"patient=.+"))  # the chart has loaded
    drawings.click()
    page.wait_for_url(re.compile(r"/records/?\?patient=."))
    expect(page.get_by_test_id("record-background")).to_be_visible()
    page.get_by_test_id("record-background").select_option("template:body_front")
    page.get_by_test_id("record-form").select_option(label="Wound assessment")
    page.get_by_test_id("record-create").click()
    page.wait_for_url(re.compile(r"/records/?\?record="), timeout=40_000)
    stage = page.get_by_test_id("drawing-editor").locator("canvas").first
    expect(stage).to_be_visible()
    box = stage.bounding_box()
    assert box is not None

    # A pen line across the chest, then a circle on the belly.
    page.mouse.move(box["x"] + 200, box["y"] + 300)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + 200 + step * 20, box["y"] + 300, steps=2)
    page.mouse.up()
    page.get_by_test_id("tool-circle").click()
    page.mouse.move(box["x"] + 380, box["y"] + 420)
    page.mouse.down()
    page.mouse.move(box["x"] + 410, box["y"] + 420, steps=5)
    page.mouse.up()
    assert _drawn(page, 300, 300) and _drawn(page, 410, 420)
    expect(page.get_by_test_id("record-saved")).to_contain_text("Saved", timeout=10_000)

    # Undo/redo work on the canvas; the form autosaves on blur.
    page.get_by_test_id("tool-undo").click()
    assert _drawn(page, 410, 420, painted=False)
    page.get_by_test_id("tool-redo").click()
    assert _drawn(page, 410, 420)
    site = page.get_by_test_id("record-field").filter(has_text="Site").locator("input")
    site.fill("left knee")
    site.blur()
    expect(page.get_by_test_id("record-saved")).to_contain_text("Saved", timeout=10_000)
    page.wait_for_timeout(2500)  # the canvas's debounced save after redo
    page.screenshot(path=str(app_server.data_dir.parent / "record-editor.png"), full_page=True)

    page.reload()
    expect(page.get_by_test_id("drawing-editor").locator("canvas").first).to_be_visible()
    page.wait_for_timeout(500)
    assert _drawn(page, 300, 300) and _drawn(page, 410, 420)
    expect(
        page.get_by_test_id("record-field").filter(has_text="Site").locator("input")
    ).to_have_value("left knee")

    page.get_by_test_id("record-sign").click()
    page.get_by_test_id("stepup-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("stepup-sign").click()
    expect(page.get_by_test_id("record-signed")).to_contain_text("SHA-256")
    expect(page.get_by_test_id("tool-pen")).to_have_count(0)  # read-only once signed
    for _ in range(30):
        page.get_by_test_id("record-refresh").click()
        if page.get_by_test_id("record-download").count():
            break
        page.wait_for_timeout(1000)
    with page.expect_download() as download:
        page.get_by_test_id("record-download").click()
    document = docx.Document(io.BytesIO(download.value.path().read_bytes()))
    assert len(document.inline_shapes) == 1
    cells = "\n".join(c.text for t in document.tables for r in t.rows for c in r.cells)
    assert "left knee" in cells

    # The chart's timeline shows the signed drawing with its thumbnail.
    page.goto("/records?patient=x")  # any page change, then back to the chart
    _open_marias_chart(page)
    expect(page.get_by_test_id("timeline-thumbnail").first).to_be_visible()


def _stroke(page: Page, y: int) -> None:
    box = page.get_by_test_id("drawing-editor").locator("canvas").first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 150, box["y"] + y)
    page.mouse.down()
    page.mouse.move(box["x"] + 350, box["y"] + y, steps=8)
    page.mouse.up()


def test_two_tabs_conflict_shows_both_and_the_user_picks(
    page: Page, browser: Browser, app_server: LocalServer
) -> None:
    sign_in(page, "doctor@demo.clinic")
    _open_marias_chart(page)
    drawings = page.get_by_test_id("chart-records")
    expect(drawings).to_have_attribute("href", re.compile(r"patient=.+"))
    drawings.click()
    expect(page.get_by_test_id("record-background")).to_be_visible()
    page.get_by_test_id("record-background").select_option("template:head")
    page.get_by_test_id("record-create").click()
    page.wait_for_url(re.compile(r"/records/?\?record="), timeout=40_000)
    url = page.url

    other = browser.new_context(base_url=app_server.url, viewport={"width": 1280, "height": 800})
    tab = other.new_page()
    sign_in(tab, "doctor@demo.clinic")
    tab.goto(url)
    expect(tab.get_by_test_id("drawing-editor").locator("canvas").first).to_be_visible()

    _stroke(page, 100)  # the first tab saves first
    expect(page.get_by_test_id("record-saved")).to_contain_text("Saved", timeout=10_000)
    _stroke(tab, 300)  # the second tab still has the old version
    expect(tab.get_by_test_id("record-conflict")).to_be_visible(timeout=10_000)
    expect(tab.get_by_test_id("conflict-preview-mine")).to_be_visible()
    expect(tab.get_by_test_id("conflict-preview-drawing")).to_be_visible()
    tab.screenshot(path=str(app_server.data_dir.parent / "record-conflict.png"), full_page=True)
    tab.get_by_test_id("conflict-mine").click()
    expect(tab.get_by_test_id("record-conflict")).to_have_count(0)
    expect(tab.get_by_test_id("record-saved")).to_contain_text("Saved")
    other.close()

    page.reload()
    expect(page.get_by_test_id("drawing-editor").locator("canvas").first).to_be_visible()
    page.wait_for_timeout(500)
    assert _drawn(page, 250, 300) and _drawn(page, 250, 100, painted=False)  # the kept version
