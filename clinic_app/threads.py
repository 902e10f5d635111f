"""The threads that run blocking work (database, password hashing) off an app process's loop.

One app process serves many tabs from one event loop, and all its threads share one GIL. With
Python's default pool (six threads on two cores) a busy process's handlers, live refreshes and
event loop shared the GIL seven ways: a handler took about ten times its CPU time in wall time,
and the event loop waited for the GIL after every Redis round trip, so tab locks were held
longer and clicks queued behind them. Small pools serve the same work as short queues instead
(measured in the load benchmark, README "Operations"):

- ``"handler"``: the UI's own event handlers (a click, a page load), two threads, so one slow
  query does not stop the process;
- ``"background"``: live refreshes and the dependency check, one thread of its own, so a busy
  clinic's refreshes never queue in front of a click.

Each call runs in a copy of the caller's context (as ``asyncio.to_thread`` does): the tab's
state lock and the log correlation id go with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, ParamSpec, TypeVar

Pool = Literal["handler", "background"]
SIZES: dict[Pool, int] = {"handler": 2, "background": 1}

P = ParamSpec("P")
T = TypeVar("T")
_pools: dict[tuple[int, Pool], ThreadPoolExecutor] = {}
_guard = threading.Lock()


def _executor(pool: Pool) -> ThreadPoolExecutor:
    key = (os.getpid(), pool)  # a forked server worker makes its own threads
    with _guard:
        executor = _pools.get(key)
        if executor is None:
            executor = _pools[key] = ThreadPoolExecutor(SIZES[pool], thread_name_prefix=pool)
        return executor


async def run(pool: Pool, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in one of ``pool``'s threads, awaited from the event loop."""
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor(pool), call)
