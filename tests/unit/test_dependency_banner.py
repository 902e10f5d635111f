"""The dependency banner: one check per process, shown by every page load, pushed on change.

Driven through Reflex's own event processing (the harness of ``test_state_access``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from state import base
from state.base import AppState, describe_health
from state.login import LoginState
from state.worklist import WorklistState
from tests.async_run import run_async
from tests.unit.test_state_access import App, demo_db, run  # noqa: F401  (demo_db: fixture)

REDIS_DOWN = {"status": "degraded", "checks": {"redis": {"ok": False}, "database": {"ok": True}}}
ALL_UP = {"status": "ok", "checks": {"redis": {"ok": True}, "database": {"ok": True}}}


@pytest.fixture
def banner(monkeypatch: pytest.MonkeyPatch) -> base._Banner:
    fresh = base._Banner()
    monkeypatch.setattr(base, "_banner", fresh)
    return fresh


def test_pages_show_the_newest_banner_when_they_load(demo_db: str, banner: base._Banner) -> None:  # noqa: F811
    banner.text = describe_health(REDIS_DOWN)

    async def scenario(app: App) -> None:
        await app.call("tab-login", LoginState.load)
        assert (await app.state("tab-login", AppState)).banner == banner.text
        await app.sign_in("tab-doctor", "doctor@demo.clinic")  # ends with the worklist's load
        assert (await app.state("tab-doctor", AppState)).banner == banner.text
        banner.text = ""  # everything is back: the next page load clears it
        await app.call("tab-doctor", WorklistState.load)
        assert (await app.state("tab-doctor", AppState)).banner == ""

    run(scenario)


def test_a_changed_banner_is_written_to_every_tab_of_the_process(
    demo_db: str,  # noqa: F811
    banner: base._Banner,
) -> None:
    async def scenario(app: App) -> None:
        await app.call("tab-a", LoginState.load)
        await app.call("tab-b", LoginState.load)
        manager = app.processor._root_context.state_manager  # type: ignore[union-attr]
        failing = "tab-gone"

        @asynccontextmanager
        async def modify_state(token: Any) -> AsyncIterator[Any]:
            if token.ident == failing:
                raise ConnectionError("Redis went away")
            async with manager.modify_state(token) as root:
                yield root

        process = SimpleNamespace(
            event_namespace=SimpleNamespace(
                token_to_sid={"tab-a": "s1", failing: "s2", "tab-b": "s3"}
            ),
            modify_state=modify_state,
        )
        text = describe_health(REDIS_DOWN)
        await base._push_banner(process, text)  # one tab failing does not stop the others
        assert (await app.state("tab-a", AppState)).banner == text
        assert (await app.state("tab-b", AppState)).banner == text

    run(scenario)


def test_the_watcher_checks_on_a_timer_and_pushes_only_changes(
    monkeypatch: pytest.MonkeyPatch, banner: base._Banner
) -> None:
    reports = [ALL_UP, ALL_UP, REDIS_DOWN, REDIS_DOWN, ALL_UP]
    pushed: list[str] = []

    class Shutdown(Exception):
        pass

    def check() -> dict[str, Any]:
        if not reports:
            raise Shutdown  # ends the endless loop here
        return reports.pop(0)

    async def push(_app: Any, text: str) -> None:
        pushed.append(text)

    monkeypatch.setattr(base, "_check_dependencies", check)
    monkeypatch.setattr(base, "_push_banner", push)
    monkeypatch.setattr(base, "HEALTH_INTERVAL_SECONDS", 0.0)
    with pytest.raises(Shutdown):
        run_async(base.watch_dependencies(object()))
    assert pushed == [describe_health(REDIS_DOWN), ""]
    assert banner.text == ""
