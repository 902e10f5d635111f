"""Scale-out: `clinic up --processes 2` behind nginx; a tab survives the death of its backend.

Each backend process is killed in turn (SIGKILL to its whole process group, as a crash would);
the tab reconnects through nginx to the other process, stays signed in, keeps what it showed,
and its next event works. The supervisor restarts the dead process.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from clinic_app.local_server import LocalServer, ServerStartError, http_get, local_server
from clinic_app.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scaled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    try:
        with local_server(
            tmp_path_factory.mktemp("scale"), args=["--processes", "2", "--workers", "1"]
        ) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def scaled_page(browser: Browser, scaled_server: LocalServer) -> Iterator[Page]:
    context = browser.new_context(base_url=scaled_server.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def _pid(server: LocalServer, index: int) -> int:
    return int((server.data_dir / "run" / f"app-{index}.pid").read_text())


def _wait_restarted(server: LocalServer, index: int, old_pid: int) -> None:
    port = int(server.url.rsplit(":", 1)[1]) + index
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pid_file = server.data_dir / "run" / f"app-{index}.pid"
        if pid_file.exists() and _pid(server, index) != old_pid:
            try:
                if http_get(f"http://127.0.0.1:{port}/ping")[0] == 200:
                    return
            except OSError:
                pass
        time.sleep(0.5)
    pytest.fail(f"app-{index} was not restarted:\n{server.log_tail()}")


def test_tab_keeps_its_state_when_its_backend_dies(
    scaled_page: Page, scaled_server: LocalServer
) -> None:
    page = scaled_page
    page.goto("/login")
    page.get_by_test_id("login-email").fill("doctor@demo.clinic")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/worklist")
    page.goto("/patients")  # served by nginx from the static build
    page.get_by_test_id("patient-row").first.click()
    expect(page.get_by_test_id("patient-detail")).to_contain_text("Maria Garcia")

    for index, query, expected in ((1, "smith", "John Smith"), (2, "tanaka", "Aiko Tanaka")):
        old_pid = _pid(scaled_server, index)
        os.killpg(old_pid, signal.SIGKILL)
        page.get_by_test_id("patient-search").fill(query)
        expect(page.get_by_test_id("patient-row")).to_have_count(1)
        expect(page.get_by_test_id("patient-row")).to_contain_text(expected)
        expect(page.get_by_test_id("patient-detail")).to_contain_text("Maria Garcia")
        expect(page.get_by_test_id("current-user")).to_contain_text("Dr. Amina Okafor")
        _wait_restarted(scaled_server, index, old_pid)
    assert "restarting app-1" in scaled_server.log_tail(400)
    assert "restarting app-2" in scaled_server.log_tail(400)


def test_static_pages_and_api_go_through_nginx(scaled_server: LocalServer) -> None:
    status, _ = http_get(f"{scaled_server.url}/health/ready")
    assert status == 200
    status, body = http_get(f"{scaled_server.url}/login")
    assert status == 200 and b"<html" in body.lower()
    config = Path(scaled_server.data_dir / "nginx" / "nginx.conf").read_text()
    assert config.count("server 127.0.0.1:") == 2 and "proxy_set_header Upgrade" in config
