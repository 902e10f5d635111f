"""A live refresh queries without the tab's lock and holds the lock only to show the result;
a refresh that finds what the page already shows takes no lock at all.

Uses a stand-in page state (the real ones need a Reflex app): it records whether the lock is
held at each step, as ``async with state`` does for a background task's state proxy.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

from clinic_app import live, threads
from state import live as live_loop
from tests.async_run import run_async
from tests.conftest import until_subscribed


class FakePage:
    def __init__(self, params: tuple[str, str]) -> None:
        self.router = SimpleNamespace(session=SimpleNamespace(client_token="tab-1"))
        self.params = params
        self.locked = False
        self.live = False
        self.calls: list[tuple[str, bool, Any]] = []  # (step, lock held, detail)

    async def __aenter__(self) -> FakePage:
        self.locked = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.locked = False

    @classmethod
    def get_full_name(cls) -> str:
        return "state.fake_page"

    def _live_params(self) -> tuple[str, str]:
        return self.params

    def _recheck(self, permission: str) -> str:
        self.calls.append(("recheck", self.locked, permission))
        return "actor"

    def _live_query(self, actor: str, params: tuple[str, str], change: str) -> str:
        self.calls.append(("query", self.locked, params))
        return f"rows of {params[0]}"

    def _live_show(self, params: tuple[str, str], result: str) -> None:
        self.calls.append(("show", self.locked, (params, result)))


PAGE = "tab-1:state.fake_page"


def test_the_session_check_and_the_query_run_without_the_lock() -> None:
    page = FakePage(("mine", "north"))
    run_async(live_loop._refresh(page, PAGE, "appointment:read", "c1", back_online=False))
    assert page.calls == [
        ("recheck", False, "appointment:read"),
        ("query", False, ("mine", "north")),
        ("show", True, (("mine", "north"), "rows of mine")),
    ]
    assert page.live is False  # only a page coming back online turns the badge on here


def test_a_page_that_moved_on_meanwhile_shows_what_it_shows_now() -> None:
    page = FakePage(("mine", "north"))

    original = page._recheck

    def recheck_then_the_user_changes_scope(permission: str) -> str:
        page.params = ("branch", "north")  # a click lands between the query and the lock
        return original(permission)

    page._recheck = recheck_then_the_user_changes_scope  # type: ignore[method-assign]
    run_async(live_loop._refresh(page, PAGE, "appointment:read", "c2", back_online=True))
    shown = [detail for step, _locked, detail in page.calls if step == "show"]
    assert shown == [(("branch", "north"), "rows of branch")]
    assert page.live is True


def test_a_refresh_that_finds_what_the_page_shows_takes_no_lock() -> None:
    page = FakePage(("mine", "north"))
    ticket = live.start_watching(PAGE)  # a page with a live loop
    try:
        live_loop.show(page, page.params, "rows of mine")  # the page's own load
        run_async(live_loop._refresh(page, PAGE, "appointment:read", "c3", back_online=False))
        assert [step for step, _locked, _detail in page.calls] == ["show", "recheck", "query"]

        page.params = ("clinic", "north")  # the user widened the scope: new rows, new lock
        live_loop.show(page, page.params, "rows of clinic")
        page.calls.clear()
        page._live_query = lambda *_args: "rows of clinic, one more"  # type: ignore[method-assign]
        run_async(live_loop._refresh(page, PAGE, "appointment:read", "c4", back_online=False))
        shown = [(locked, detail) for step, locked, detail in page.calls if step == "show"]
        assert shown == [(True, (("clinic", "north"), "rows of clinic, one more"))]

        page.calls.clear()  # coming back online always takes the lock (the badge turns on)
        run_async(live_loop._refresh(page, PAGE, "appointment:read", "c5", back_online=True))
        assert [step for step, _locked, _detail in page.calls][-1] == "show"
        assert page.live is True
    finally:
        live_loop._shown.pop(PAGE, None)
        live.stop_watching(PAGE, ticket)


def test_a_page_without_a_live_loop_is_not_remembered() -> None:
    page = FakePage(("mine", "north"))
    live_loop.show(page, page.params, "rows of mine")
    assert PAGE not in live_loop._shown


def test_background_work_runs_one_at_a_time_and_keeps_the_callers_context() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="")
    running, most = 0, 0
    guard = threading.Lock()

    def job() -> str:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with guard:
            running -= 1
        return marker.get()

    async def main() -> list[str]:
        marker.set("tab-7")
        return list(await asyncio.gather(*(threads.run("background", job) for _ in range(4))))

    assert run_async(main()) == ["tab-7"] * 4
    assert most == 1  # refreshes queue behind each other, never beside a click's thread

    running, most = 0, 0

    async def handlers() -> None:
        await asyncio.gather(*(threads.run("handler", job) for _ in range(4)))

    run_async(handlers())
    assert most == threads.SIZES["handler"] == 2


class SlowLockPage(FakePage):
    """Taking the lock takes a while, as taking a tab's Redis lock does under load."""

    def __init__(self, params: tuple[str, str]) -> None:
        super().__init__(params)
        self.taking_lock = asyncio.Event()

    async def __aenter__(self) -> FakePage:
        self.taking_lock.set()
        await asyncio.sleep(0.2)
        return await super().__aenter__()


def test_a_refresh_cancelled_while_taking_the_lock_finishes_and_releases_it() -> None:
    """The tab opened another page just as its live loop was taking the lock: the locked part
    still runs to its end, so the lock is released, not left to expire under the next click."""
    page = SlowLockPage(("mine", "north"))

    async def scenario() -> bool:
        refresh = asyncio.create_task(
            live_loop._refresh(page, PAGE, "appointment:read", "c4", back_online=False)
        )
        await page.taking_lock.wait()
        refresh.cancel()
        try:
            await refresh
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the refresh was not cancelled")
        shown = ("show", True, (("mine", "north"), "rows of mine"))
        for _ in range(100):  # the locked part may still be running
            if shown in page.calls and not page.locked:
                return True
            await asyncio.sleep(0.01)
        return False

    assert run_async(scenario()), f"not shown, or the lock kept: {page.calls}"


class CountingPage(FakePage):
    """One of many open pages of a clinic; counts how many hold their lock at once."""

    def __init__(self, tab: str, clinic: uuid.UUID, holding: list[int]) -> None:
        super().__init__(("mine", "north"))
        self.router = SimpleNamespace(session=SimpleNamespace(client_token=tab))
        self.clinic = clinic
        self.holding = holding  # [now, most]

    async def __aenter__(self) -> FakePage:
        self.holding[0] += 1
        self.holding[1] = max(self.holding[1], self.holding[0])
        await asyncio.sleep(0.05)  # long enough for the other pages to pile up
        return await super().__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        self.holding[0] -= 1
        await super().__aexit__(*exc)

    def _recheck(self, permission: str) -> Any:  # type: ignore[override]
        super()._recheck(permission)
        return SimpleNamespace(clinic_id=self.clinic)


def test_a_change_refreshes_every_open_page_a_few_at_a_time(app_on_redis: str) -> None:
    clinic = uuid.uuid4()
    holding = [0, 0]
    pages = [CountingPage(f"tab-{n}", clinic, holding) for n in range(3 * live_loop.REFRESH_SLOTS)]

    async def scenario() -> list[bool]:
        loops = [asyncio.create_task(live_loop.run_live_loop(p, "appointment:read")) for p in pages]
        try:
            await until_subscribed(live.channel_name(clinic))
            while holding[0]:  # the loops turning their "live" badge on
                await asyncio.sleep(0.01)
            holding[1] = 0
            live.publish_now(clinic, {"kind": "appointment", "id": "a"})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if all(any(step == "show" for step, *_ in p.calls) for p in pages):
                    break
                await asyncio.sleep(0.02)
            return [any(step == "show" for step, *_ in p.calls) for p in pages]
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    refreshed = run_async(scenario())
    assert all(refreshed)
    assert 1 < holding[1] <= live_loop.REFRESH_SLOTS
