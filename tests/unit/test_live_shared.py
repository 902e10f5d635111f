"""Open pages refreshing after the same change share one query (``clinic_app.live.shared``)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from clinic_app import live
from clinic_app.redis_conn import get_redis
from tests.conftest import clear_app_caches


def test_concurrent_refreshes_for_one_change_compute_once() -> None:
    calls: list[int] = []
    change = uuid.uuid4().hex
    results: list[object] = []
    start = threading.Barrier(8)

    def slow_query() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.05)  # long enough for the other seven to arrive and wait
        return {"rows": 3}

    def tab() -> None:
        start.wait()
        results.append(live.shared(("worklist", "clinic-a", change), slow_query))

    threads = [threading.Thread(target=tab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [{"rows": 3}] * 8


def test_a_new_change_or_another_view_queries_again() -> None:
    calls: list[str] = []

    def query(label: str) -> str:
        calls.append(label)
        return label

    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    assert live.shared(("calendar", "week-1", first), lambda: query("a")) == "a"
    assert live.shared(("calendar", "week-1", first), lambda: query("b")) == "a"
    assert live.shared(("calendar", "week-1", second), lambda: query("c")) == "c"
    assert live.shared(("calendar", "week-2", second), lambda: query("d")) == "d"
    assert calls == ["a", "c", "d"]


def test_old_results_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ("worklist", "clinic-b", uuid.uuid4().hex)
    assert live.shared(key, lambda: "old") == "old"
    later = time.monotonic() + live.SHARED_SECONDS + 1
    monkeypatch.setattr(live.time, "monotonic", lambda: later)
    assert live.shared(key, lambda: "new") == "new"


def test_every_published_message_carries_a_change_id(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
    clear_app_caches()
    try:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        clinic = uuid.uuid4()
        pubsub.subscribe(live.channel_name(clinic))
        assert live.publish_now(clinic, {"kind": "appointment"})
        assert live.publish_now(clinic, {"kind": "appointment"})
        seen = []
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            message = live.decode(pubsub.get_message(timeout=0.5))
            if message is not None:
                seen.append(message)
        pubsub.close()
    finally:
        clear_app_caches()
    assert [m["kind"] for m in seen] == ["appointment", "appointment"]
    assert len({m["change"] for m in seen}) == 2 and all(len(m["change"]) == 32 for m in seen)
