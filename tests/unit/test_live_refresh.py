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
from types import SimpleNamespace
from typing import Any

from clinic_app import live, threads
from state import live as live_loop
from tests.async_run import run_async


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
