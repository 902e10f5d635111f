"""Open pages refreshing after the same change share one query (``clinic_app.live.shared``);
a page wakes only for changes inside its view (``clinic_app.live.View``)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from clinic_app import live
from clinic_app.redis_conn import get_redis
from tests.async_run import run_async
from tests.conftest import clear_app_caches, until_subscribed


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


def test_every_published_message_carries_a_change_id(app_on_redis: str) -> None:
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
    assert [m["kind"] for m in seen] == ["appointment", "appointment"]
    assert len({m["change"] for m in seen}) == 2 and all(len(m["change"]) == 32 for m in seen)


WEEK = live.View(
    start=datetime(2030, 1, 7, tzinfo=UTC),
    end=datetime(2030, 1, 14, tzinfo=UTC),
    provider_ids=frozenset({"dr-a", "dr-b"}),
)


def _booked(provider: str, starts: str, ends: str, **was: str) -> dict[str, str]:
    return {
        "kind": "appointment",
        "provider_id": provider,
        "starts_at": starts,
        "ends_at": ends,
        **was,
    }


def test_a_page_wakes_only_for_changes_in_its_view() -> None:
    assert WEEK.touched_by(_booked("dr-a", "2030-01-08T09:00:00Z", "2030-01-08T09:20:00Z"))
    assert not WEEK.touched_by(_booked("dr-c", "2030-01-08T09:00:00Z", "2030-01-08T09:20:00Z"))
    assert not WEEK.touched_by(_booked("dr-a", "2030-02-08T09:00:00Z", "2030-02-08T09:20:00Z"))
    # A visit running into the week from the night before, and one ending as the week starts.
    assert WEEK.touched_by(_booked("dr-b", "2030-01-06T23:00:00Z", "2030-01-07T01:00:00Z"))
    assert not WEEK.touched_by(_booked("dr-b", "2030-01-06T23:00:00Z", "2030-01-07T00:00:00Z"))


def test_a_move_wakes_the_pages_showing_where_it_was() -> None:
    moved_away = _booked(
        "dr-c",
        "2030-03-01T09:00:00Z",
        "2030-03-01T09:20:00Z",
        was_provider_id="dr-a",
        was_starts_at="2030-01-08T09:00:00Z",
        was_ends_at="2030-01-08T09:20:00Z",
    )
    assert WEEK.touched_by(moved_away)
    every_provider = live.View(start=WEEK.start, end=WEEK.end)
    assert every_provider.touched_by(
        _booked("dr-z", "2030-01-08T09:00:00Z", "2030-01-08T09:20:00Z")
    )


def test_other_changes_and_odd_messages_always_wake_the_page() -> None:
    assert WEEK.touched_by({"kind": "availability"})
    assert WEEK.touched_by(_booked("dr-a", "not a time", "2030-01-08T09:20:00Z"))


def test_open_pages_of_a_clinic_share_one_subscription(app_on_redis: str) -> None:
    """Two pages, one hub: each gets every message; the hub goes when the last page closes."""
    clinic = uuid.uuid4()

    async def scenario() -> list[list[str]]:
        async with live.inbox(clinic) as first, live.inbox(clinic) as second:
            assert len([k for k in live._hubs if k[1] == str(clinic)]) == 1
            await until_subscribed(live.channel_name(clinic))
            live.publish_now(clinic, {"kind": "appointment", "id": "a"})
            live.publish_now(clinic, {"kind": "appointment", "id": "b"})
            got = [
                [(await asyncio.wait_for(q.get(), 5))["id"] for _ in range(2)]
                for q in (first, second)
            ]
        assert not [k for k in live._hubs if k[1] == str(clinic)]
        return got

    assert run_async(scenario()) == [["a", "b"], ["a", "b"]]


def test_pages_hear_when_redis_is_lost_and_when_it_is_back(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Redis: every inbox gets LOST; once it answers again, a "reconnected" change that
    every view refreshes for (changes made meanwhile were missed)."""
    monkeypatch.setattr(live, "RECONNECT_SECONDS", 0.2)
    monkeypatch.setenv("CLINIC_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    clear_app_caches()
    clinic = uuid.uuid4()

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        async with live.inbox(clinic) as page:
            lost = await asyncio.wait_for(page.get(), 10)
            monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
            clear_app_caches()
            back = await asyncio.wait_for(page.get(), 10)
        return lost, back

    try:
        lost, back = run_async(scenario())
    finally:
        clear_app_caches()
    assert lost is live.LOST
    assert back["kind"] == "reconnected" and WEEK.touched_by(back)
