"""Browser-test fixtures: the production build started by `clinic up`, driven by Debian Chromium.

The server runs with the embedded defaults (SQLite, local files, the Redis that `clinic up`
starts itself) in a temporary data dir, so the tests prove the no-env-var path end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from clinic_app.local_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LocalServer,
    ServerStartError,
    local_server,
)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """`clinic up` on a free port with a fresh data dir (demo clinic loaded on first run)."""
    try:
        with local_server(tmp_path_factory.mktemp("e2e")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing — run `bash scripts/install.sh`", pytrace=False)
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, app_server: LocalServer) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) per test."""
    context = browser.new_context(base_url=app_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()
