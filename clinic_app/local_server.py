"""Start `clinic up` in a subprocess and wait until it serves: for browser tests and benchmarks."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clinic_app.settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (installed by scripts/install.sh); browser tests and benchmarks drive it."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Headless, and nothing that phones home (the machine has no internet)."""


class ServerStartError(RuntimeError):
    """`clinic up` exited or did not become ready; the message holds the log tail."""


@dataclass(frozen=True)
class LocalServer:
    url: str
    data_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


SERVER_PORTS = (20000, 32000)
"""Below Linux's ephemeral range (32768-60999): no outgoing connection takes one meanwhile."""
PORTS_PER_SERVER = 5  # the public port, then up to 4 app processes (scale-out)


def free_port() -> int:
    """A port free for a server, with the ``PORTS_PER_SERVER - 1`` ports after it free too."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(*SERVER_PORTS)
        if all(_bindable(port) for port in range(first, first + PORTS_PER_SERVER)):
            return first
    raise RuntimeError(f"no {PORTS_PER_SERVER} free ports in a row in {SERVER_PORTS}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _is_ready(server: LocalServer) -> bool:
    try:
        status, body = http_get(f"{server.url}/health/ready")
        page_status, _ = http_get(f"{server.url}/login")
        return status == 200 and page_status == 200 and json.loads(body)["status"] == "ok"
    except (OSError, ValueError, KeyError):
        return False


@contextmanager
def local_server(
    base_dir: Path,
    *,
    args: Sequence[str] = (),
    timeout_s: float = 300,
    settings: Mapping[str, str] | None = None,
) -> Iterator[LocalServer]:
    """`clinic up ARGS` in ``base_dir`` on a free port; stopped on exit.

    Embedded defaults unless ``settings`` (``CLINIC_*`` variables) say otherwise, e.g. a
    PostgreSQL URL; the caller's own ``CLINIC_*`` environment is never inherited.
    """
    port = free_port()
    server = LocalServer(f"http://127.0.0.1:{port}", base_dir / "var", base_dir / "clinic-up.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
    env.update(settings or {})
    env.update({"CLINIC_DATA_DIR": str(server.data_dir), "CLINIC_PORT": str(port)})
    base_dir.mkdir(parents=True, exist_ok=True)
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "clinic_app.cli", "up", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _is_ready(server):
            if process.poll() is not None:
                raise ServerStartError(f"`clinic up` exited early:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"not ready after {timeout_s:.0f} s:\n{server.log_tail()}")
            time.sleep(1)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
