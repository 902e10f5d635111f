"""Our synchronous event handlers run in a worker thread, never on the event loop."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from reflex_base.event import EventHandler

from clinic_app.api.reflex_hooks import off_loop
from tests.async_run import run_async


class FakeState:
    def __init__(self) -> None:
        self.threads: list[int] = []
        self.steps: list[str] = []


def save(state: FakeState, note: str) -> str:
    state.threads.append(threading.get_ident())
    state.steps.append(note)
    return "done"


def save_in_steps(state: FakeState, note: str) -> Generator[Any, None, str]:
    state.threads.append(threading.get_ident())
    state.steps.append("saving")
    yield None  # the browser sees "saving" before the slow part
    state.threads.append(threading.get_ident())
    state.steps.append(note)
    return "redirect"


async def read_cached(state: FakeState) -> str:
    return "async"


def reflex_builtin(state: FakeState) -> None:
    state.threads.append(threading.get_ident())


for fn in (save, save_in_steps, read_cached):
    fn.__module__ = "state.fake"


def test_a_sync_handler_of_ours_runs_in_a_worker_thread() -> None:
    handler = EventHandler(fn=save)
    moved = off_loop(handler)
    assert moved is not handler and off_loop(handler) is moved  # wrapped once, then cached
    assert moved.fn.__qualname__ == "save"  # metrics and logs still name the handler
    state = FakeState()

    async def run() -> tuple[int, Any]:
        return threading.get_ident(), await moved.fn(state, note="x")

    loop_thread, result = run_async(run())
    assert result == "done" and state.steps == ["x"]
    assert state.threads and state.threads[0] != loop_thread


def test_each_step_of_a_sync_generator_runs_off_the_loop_and_keeps_its_yields() -> None:
    moved = off_loop(EventHandler(fn=save_in_steps))
    state = FakeState()

    async def run() -> tuple[int, list[Any]]:
        return threading.get_ident(), [item async for item in moved.fn(state, note="saved")]

    loop_thread, items = run_async(run())
    assert items == [None, "redirect"]  # the flush, then the return value, in order
    assert state.steps == ["saving", "saved"]
    assert loop_thread not in state.threads


def test_async_handlers_and_reflex_builtins_are_left_alone() -> None:
    for fn in (read_cached, reflex_builtin):
        handler = EventHandler(fn=fn)
        assert off_loop(handler) is handler
