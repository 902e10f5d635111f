"""Run a coroutine to completion from a test, whatever the main thread's event loop is doing."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a fresh thread that owns its own loop.

    Playwright's sync API (browser tests earlier in the same run) leaves a running loop in the
    main thread, where ``asyncio.run`` refuses to start. Reflex keeps its handler registry in
    context variables, so the thread runs in a copy of this context.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coroutine).result()
