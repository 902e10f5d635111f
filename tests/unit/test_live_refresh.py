"""A live refresh queries without the tab's lock and holds the lock only to show the result.

Uses a stand-in page state (the real ones need a Reflex app): it records whether the lock is
held at each step, as ``async with state`` does for a background task's state proxy.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

from clinic_app import threads
from state import live as live_loop
from tests.async_run import run_async


class FakePage:
    def __init__(self, params: tuple[str, str]) -> None:
        self.params = params
        self.locked = False
        self.live = False
        self.calls: list[tuple[str, bool, Any]] = []  # (step, lock held, detail)

    async def __aenter__(self) -> FakePage:
        self.locked = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.locked = False

    def _live_params(self) -> tuple[str, str]:
        return self.params

    def _recheck(self, permission: str) -> str:
        self.calls.append(("recheck", self.locked, permission))
        return "actor"

    def _live_query(self, actor: str, params: tuple[str, str], change: str) -> str:
        self.calls.append(("query", self.locked, params))
        return f"rows of {params[0]} at {change}"

    def _live_show(self, params: tuple[str, str], result: str) -> None:
        self.calls.append(("show", self.locked, (params, result)))


def test_the_session_check_and_the_query_run_without_the_lock() -> None:
    page = FakePage(("mine", "north"))
    run_async(live_loop._refresh(page, "appointment:read", "c1", back_online=False))
    assert page.calls == [
        ("recheck", False, "appointment:read"),
        ("query", False, ("mine", "north")),
        ("show", True, (("mine", "north"), "rows of mine at c1")),
    ]
    assert page.live is False  # only a page coming back online turns the badge on here


def test_a_page_that_moved_on_meanwhile_shows_what_it_shows_now() -> None:
    page = FakePage(("mine", "north"))

    original = page._recheck

    def recheck_then_the_user_changes_scope(permission: str) -> str:
        page.params = ("branch", "north")  # a click lands between the query and the lock
        return original(permission)

    page._recheck = recheck_then_the_user_changes_scope  # type: ignore[method-assign]
    run_async(live_loop._refresh(page, "appointment:read", "c2", back_online=True))
    shown = [detail for step, _locked, detail in page.calls if step == "show"]
    assert shown == [(("branch", "north"), "rows of branch at c2")]
    assert page.live is True


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
