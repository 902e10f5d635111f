"""Health endpoints against real dependencies, including a Redis we stop and a dead database."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import get_engine
from clinic_app.services.health import check_dependencies, describe_error
from clinic_app.settings import get_settings
from tests.conftest import clear_app_caches
from tests.integration.s3_server import free_port


def _reconfigure() -> None:
    """Apply changed env vars: close the old engine's connections, then forget cached clients."""
    get_engine().dispose()
    clear_app_caches()


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build_api()) as test_client:
        yield test_client


@pytest.fixture
def private_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real redis-server of our own, so the test can stop it."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        for _ in range(100):
            try:
                if probe.ping():
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        else:
            pytest.fail("private redis-server did not start")
        yield process, url
    finally:
        probe.close()
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


def _assert_check(result: dict[str, Any], name: str, ok: bool) -> None:
    check = result["checks"][name]
    assert check["ok"] is ok, result
    assert isinstance(check["ms"], float)
    assert check["ms"] >= 0
    if ok:
        assert check["error"] is None
    else:
        assert isinstance(check["error"], str) and check["error"]


def test_live_answers_without_dependencies(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_DATABASE_URL", f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("CLINIC_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    clear_app_caches()
    try:
        response = client.get("/health/live")
    finally:
        clear_app_caches()
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_ready_when_all_dependencies_answer(app_env: str, client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "storage"}
    for name in ("database", "redis", "storage"):
        _assert_check(body, name, ok=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_ready_is_503_when_redis_stops(
    app_env: str,
    client: TestClient,
    private_redis: tuple[subprocess.Popen[bytes], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, url = private_redis
    monkeypatch.setenv("CLINIC_REDIS_URL", url)
    _reconfigure()
    up = client.get("/health/ready")
    assert up.status_code == 200, up.text

    process.terminate()
    process.wait(timeout=10)
    down = client.get("/health/ready")

    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "degraded"
    _assert_check(body, "redis", ok=False)
    assert body["checks"]["redis"]["error"] == "connection refused"
    _assert_check(body, "database", ok=True)
    _assert_check(body, "storage", ok=True)


def test_ready_is_503_quickly_when_database_unreachable(
    app_env: str, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "CLINIC_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/clinic"
    )
    _reconfigure()
    started = time.monotonic()
    response = client.get("/health/ready")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    _assert_check(body, "database", ok=False)
    assert body["checks"]["database"]["error"] == "connection refused"
    _assert_check(body, "redis", ok=True)
    _assert_check(body, "storage", ok=True)
    assert elapsed < 5, f"/health/ready took {elapsed:.1f}s with the database down"


def test_hanging_redis_is_reported_within_the_deadline(
    app_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts TCP but never answers must not hold the check past the deadline."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever reads or replies
        monkeypatch.setenv("CLINIC_REDIS_URL", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        _reconfigure()
        started = time.monotonic()
        result = check_dependencies()
        elapsed = time.monotonic() - started

    assert result["status"] == "degraded"
    _assert_check(result, "redis", ok=False)
    assert result["checks"]["redis"]["error"] == "timed out"
    _assert_check(result, "database", ok=True)
    _assert_check(result, "storage", ok=True)
    # The Redis client would wait 5 s for a reply; the promise is an answer in about 3 s.
    assert elapsed < 4, f"check_dependencies took {elapsed:.1f}s"


def test_storage_failure_is_reported(app_env: str) -> None:
    storage_dir = get_settings().storage_dir
    storage_dir.parent.mkdir(parents=True, exist_ok=True)
    storage_dir.write_text("a file where the storage directory should be")
    result = check_dependencies()
    assert result["status"] == "degraded"
    _assert_check(result, "storage", ok=False)
    assert result["checks"]["storage"]["error"] == "file exists"
    _assert_check(result, "database", ok=True)
    _assert_check(result, "redis", ok=True)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (TimeoutError("timed out"), "timed out"),
        (RuntimeError('database "x" does not exist'), "does not exist"),
        (RuntimeError("password authentication failed for user"), "authentication failed"),
        (NotADirectoryError(20, "Not a directory", "/secret/path"), "not a directory"),
        (RuntimeError("something odd"), "RuntimeError"),
    ],
)
def test_describe_error_is_short_and_human(exc: BaseException, expected: str) -> None:
    assert describe_error(exc) == expected
