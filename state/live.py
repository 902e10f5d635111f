"""The live-update loop shared by the calendar and the worklist pages.

Each open page runs one background task reading its clinic's changes from the process's one
Redis subscription (``clinic_app.live.inbox``). A change to an appointment outside the page's
view (``live.View``, recorded by the page whenever it loads) is dropped without touching the
page. Otherwise the loop gathers what else arrives in the next 50 ms (a burst), and at least
until two seconds after the page's last refresh, then refreshes the page once: a first change
after a quiet spell waits only those 50 ms, and a busy clinic costs each open page at most one
refresh every two seconds (measured at 200 tabs: 9 % less app CPU than one a second). Each page
keeps its own rhythm: a clock shared by every page made them all refresh at once and queue the
clicks behind them (measured: slower at every load).

A refresh does its slow part **without the tab's lock**: the session check and the query run
in a worker thread first, and the lock is held only to put the result on the page, so the
user's own clicks never wait behind a refresh's database work (measured: that wait was most
of a click's latency under load). Pages of one view refreshing between two changes share one
query (``clinic_app.live.shared``, keyed by the newest change the process has read), and a
process refreshes only a few pages at a time (``REFRESH_SLOTS``) so clicks are not queued
behind a wave of refreshes. A page offers three methods:

- ``_live_params()``: what the page shows (scope, week, providers…), hashable;
- ``_live_query(actor, params, change)``: a static method, run in a worker thread;
- ``_live_show(params, result)``: puts the result on the page (lock held, no I/O); a result
  equal to what the page shows sends nothing to the browser. Pages call it through ``show``,
  which remembers (process-locally) what a page with a live loop shows: a refresh that finds
  the same rows then skips the lock altogether, its state read and its write (a doctor's own
  worklist, for one, does not change when another provider's visit does).

The parameters are read from the task's last view of the state and checked again under the
lock: if the page moved on meanwhile (another week, another scope), it loads what it shows now.

A page keeps one loop per tab in its process (``live.is_watched``): loading the page again does
not start another, and a newer loop replaces an older one. Reflex cancels the task with the
page's load chain when the tab navigates away or disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from clinic_app import live, threads
from clinic_app.errors import AppError

logger = logging.getLogger("clinic_app.ui.live")

LIVE_MAX_SECONDS = 12 * 3600.0
WAIT_SECONDS = 30.0
BURST_SECONDS = 0.05
REFRESH_GAP_SECONDS = 2.0
REFRESH_SLOTS = 4


def page_key(state: Any) -> str:
    """One tab's page: its client token and the page state's name (``live.watch``)."""
    return f"{state.router.session.client_token}:{state.get_full_name()}"


_shown: dict[str, tuple[Any, Any]] = {}


def show(state: Any, params: Any, result: Any, **options: Any) -> None:
    """``state._live_show(params, result)``, remembered for a page with a live loop."""
    state._live_show(params, result, **options)
    page = page_key(state)
    if live.is_watched(page):
        _shown[page] = (params, result)


def needs_watcher(state: Any) -> bool:
    """False when this tab's page already has a live loop in this process."""
    return not live.is_watched(page_key(state))


async def run_live_loop(state: Any, permission: str) -> None:
    """Body of a page's ``watch_live`` background task (``state`` is the page state)."""
    # The page's load checked the session under the lock just now; this check changes nothing,
    # so it needs no lock (one state-lock cycle less per page opened).
    page = page_key(state)
    actor = await threads.run("handler", state._recheck, permission)
    ticket = live.start_watching(page)
    started = time.monotonic()
    try:
        async with live.inbox(actor.clinic_id) as inbox:
            if not state.live:  # still on from an earlier visit: no lock needed
                await _under_lock(state, lambda: _set_live(state, True))
            offline, refreshed = False, 0.0
            while time.monotonic() - started < LIVE_MAX_SECONDS:
                message = await _next(inbox, WAIT_SECONDS)
                if not live.still_watching(page, ticket):
                    return  # a newer loop serves this page
                if message is None:
                    continue
                if message is live.LOST:  # shown as "offline" until Redis is back
                    await _under_lock(state, lambda: _set_live(state, False))
                    offline = True
                    continue
                view = live.view_of(page)
                if view is not None and not view.touched_by(message):
                    continue  # not on this page: no lock, no query
                # One refresh for the whole burst, and at most one per REFRESH_GAP_SECONDS.
                until = max(time.monotonic() + BURST_SECONDS, refreshed + REFRESH_GAP_SECONDS)
                while (left := until - time.monotonic()) > 0:
                    later = await _next(inbox, left)
                    if later is None:
                        break
                    if later is not live.LOST:
                        message = later
                # Read before waiting for a slot: pages woken by one change share its query.
                change = live.latest_change(actor.clinic_id) or str(message.get("change") or "")
                try:
                    async with _refresh_slot():
                        await _refresh(state, page, permission, change, back_online=offline)
                    offline = False
                    refreshed = time.monotonic()
                except AppError as exc:
                    if exc.code != "DATABASE_UNAVAILABLE":
                        raise  # signed out or no longer allowed: stop watching
                    logger.warning("live refresh skipped: database unavailable")
                except Exception:  # noqa: BLE001 - one failed refresh must not end live updates
                    logger.warning("live refresh failed; the next change retries", exc_info=True)
    finally:
        if live.still_watching(page, ticket):
            _shown.pop(page, None)
        live.stop_watching(page, ticket)


_slots: dict[int, asyncio.Semaphore] = {}


def _refresh_slot() -> asyncio.Semaphore:
    """The process's few refresh slots. A change wakes every open page at once; refreshing
    ``REFRESH_SLOTS`` at a time lets the users' own clicks run between the refreshes instead of
    queueing behind all of them (one-round p95 at 200 tabs on 2 processes: 207-266 ms with 2
    or 4 slots; 166-632 ms in rounds before this and the benchmark's own fixes, so the rounds
    overlap; one process at 200 tabs went from 1.4 s to 1.2 s in the full benchmark)."""
    loop_id = id(asyncio.get_running_loop())
    slot = _slots.get(loop_id)
    if slot is None:
        slot = _slots[loop_id] = asyncio.Semaphore(REFRESH_SLOTS)
    return slot


async def _refresh(
    state: Any, page: str, permission: str, change: str, *, back_online: bool
) -> None:
    """Still allowed? Then query the page's view and show it; only the showing holds the lock."""
    params = state._live_params()
    actor, result = await threads.run(
        "background", _check_and_query, state, permission, params, change
    )
    if not back_online and _shown.get(page) == (params, result):
        return  # the page shows these rows already

    async def put_on_page() -> None:
        nonlocal params, result
        if back_online:
            state.live = True
        current = state._live_params()
        if current != params:  # the page moved on since this task last saw it
            params = current
            result = await threads.run("background", state._live_query, actor, params, change)
        show(state, params, result)

    await _under_lock(state, put_on_page)


async def _set_live(state: Any, on: bool) -> None:
    state.live = on


_finishing: set[asyncio.Task[None]] = set()


async def _under_lock(state: Any, body: Callable[[], Awaitable[None]]) -> None:
    """``async with state: await body()``, run to its end even if this task is cancelled.

    Reflex cancels a page's live task when the tab opens another page. A cancel that landed
    while the state manager was taking the tab's Redis lock left the lock held until the
    abandoned acquisition was garbage-collected or the lock expired (measured: page opens that
    waited 10.4 s, the lock's expiry). Shielded, the locked part finishes and releases the
    lock; the cancelled task stops right after it.
    """

    async def locked() -> None:
        async with state:
            await body()

    task = asyncio.ensure_future(locked())
    _finishing.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_finishing.discard)
    await asyncio.shield(task)


def _check_and_query(state: Any, permission: str, params: Any, change: str) -> tuple[Any, Any]:
    actor = state._recheck(permission)
    return actor, state._live_query(actor, params, change)


async def _next(inbox: asyncio.Queue[dict[str, Any]], timeout: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(inbox.get(), timeout=timeout)
    except TimeoutError:
        return None
