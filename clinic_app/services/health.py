"""Is each dependency usable right now? Used by ``/health/ready`` and the UI's "down" banner.

The three checks run in parallel daemon threads under one deadline, so a dependency that hangs
(a black-holed host, a Redis that accepts but never answers) makes the answer "timed out" within
~3 s instead of blocking the caller; a late check finishes in the background and is ignored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypedDict

import sqlalchemy as sa

from clinic_app.db import get_engine
from clinic_app.errors import AppError
from clinic_app.redis_conn import get_redis
from clinic_app.storage import get_storage

DEADLINE_SECONDS = 2.5


class CheckResult(TypedDict):
    ok: bool
    ms: float
    error: str | None


def _check_database() -> None:
    with get_engine().connect() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def _check_redis() -> None:
    if not get_redis().ping():
        raise RuntimeError("no reply to PING")


def _check_storage() -> None:
    get_storage().check()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "storage": _check_storage,
}

# Phrases found in driver messages, mapped to what an operator needs to read.
_PHRASES = (
    ("refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("no such file", "not running (socket missing)"),
    ("name or service not known", "unknown host"),
    ("could not translate host name", "unknown host"),
    ("temporary failure in name resolution", "unknown host"),
    ("authentication", "authentication failed"),
    ("password", "authentication failed"),
    ("does not exist", "does not exist"),
    ("permission denied", "permission denied"),
    ("read-only file system", "read-only"),
    ("no space left", "disk full"),
)


def describe_error(exc: BaseException) -> str:
    """A short, human description of why a dependency failed (no hosts, paths or tracebacks)."""
    if isinstance(exc, AppError) and exc.details.get("reason"):
        return str(exc.details["reason"])
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for link in chain:
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, TimeoutError):
            return "timed out"
    text = " ".join(str(link) for link in chain).lower()
    for phrase, description in _PHRASES:
        if phrase in text:
            return description
    for link in chain:
        if isinstance(link, OSError) and link.strerror:  # strerror never holds the path
            return link.strerror.lower()
    return type(exc).__name__


def _run(check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    error: str | None = None
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported, never raised
        error = describe_error(exc)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return {"ok": error is None, "ms": elapsed, "error": error}


def check_dependencies() -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "checks": {name: {"ok", "ms", "error"}}}`` within ~3 s."""
    results: dict[str, CheckResult] = {}
    lock = threading.Lock()

    def worker(name: str, check: Callable[[], None]) -> None:
        result = _run(check)
        with lock:
            results[name] = result

    started = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(name, check), name=f"health-{name}", daemon=True)
        for name, check in CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

    waited = round((time.perf_counter() - started) * 1000, 1)
    with lock:
        checks: dict[str, CheckResult] = {
            name: results.get(name, {"ok": False, "ms": waited, "error": "timed out"})
            for name in CHECKS
        }
    status = "ok" if all(check["ok"] for check in checks.values()) else "degraded"
    return {"status": status, "checks": checks}
