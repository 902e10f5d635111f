"""Record with Chromium's fake microphone, lose the network mid-recording, reload, and end with
every chunk on the server, the whole recording transcribed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright, expect

from clinic_app.local_server import CHROMIUM, CHROMIUM_ARGS, LocalServer
from tests.audio import speech_wav
from tests.e2e.test_shell import nav, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def mic_page(
    playwright_instance: Playwright, app_server: LocalServer, tmp_path: Path
) -> Iterator[Page]:
    """A browser whose microphone plays a spoken consultation (espeak-ng) once, then silence."""
    clip = speech_wav(tmp_path / "voice.wav")
    looped = tmp_path / "mic.wav"
    # Chromium's fake capture wants 48 kHz; a little silence first so recording starts clean.
    subprocess.run(
        ["sox", str(clip), "-r", "48000", "-c", "1", str(looped), "pad", "1", "0"],
        check=True,
        timeout=60,
    )
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={looped}%noloop",
        ],
    )
    context = browser.new_context(base_url=app_server.url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["microphone"])
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()
    browser.close()


def _pending(page: Page) -> int:
    return int(page.get_by_test_id("scribe-pending").get_attribute("data-count") or 0)


def test_recording_survives_a_network_cut_and_a_reload(mic_page: Page) -> None:
    page = mic_page
    sign_in(page, "doctor@demo.clinic")
    nav(page, "patients")
    page.get_by_test_id("patient-search").fill("Aiko")
    page.get_by_test_id("patient-row").filter(has_text="Aiko Tanaka").first.click()
    page.get_by_test_id("open-chart").click()
    page.get_by_test_id("chart-scribe").click()
    page.wait_for_url(re.compile(r"/scribe/?\?session="))
    expect(page.get_by_test_id("scribe-start")).to_have_count(0)  # no recording before consent
    page.get_by_test_id("scribe-consent").click()
    page.get_by_test_id("scribe-start").click()
    expect(page.get_by_test_id("scribe-status")).to_have_text("Recording")

    page.wait_for_timeout(4_000)
    page.context.set_offline(True)  # the network drops mid-recording
    page.wait_for_timeout(10_000)  # past the end of the spoken clip
    page.get_by_test_id("scribe-stop").click()
    expect(page.get_by_test_id("scribe-pending")).to_contain_text("waiting to upload")
    assert _pending(page) >= 1
    recorded_ms = page.evaluate("window.ClinicScribe.recordedMs()")

    # Back online, and the tab reloads before the queue drains: the audio is in IndexedDB.
    page.context.set_offline(False)
    page.reload()
    expect(page.get_by_test_id("scribe-transcript")).to_be_visible(timeout=120_000)
    assert _pending(page) == 0
    text = page.get_by_test_id("scribe-transcript").inner_text().lower()
    # The engine writes a spoken number as a word or in digits, depending on its context.
    for words in ("headache", r"(three|3) days", "penicillin"):
        assert re.search(words, text), text
    seconds = page.get_by_test_id("scribe-audio-seconds").get_attribute("data-ms")
    assert seconds is not None and abs(int(seconds) - recorded_ms) < 500, (seconds, recorded_ms)
