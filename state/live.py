"""The live-update loop shared by the calendar and the worklist pages.

Each open page runs one background task reading its clinic's changes from the process's one
Redis subscription (``clinic_app.live.inbox``). A change to an appointment outside the page's
view (``live.View``, recorded by the page whenever it loads) is dropped without touching the
page. Otherwise the loop gathers what else arrives in the next 50 ms (a burst), and at least
until a second after the page's last refresh, then calls the page's ``_refresh(actor, change)``
once, in a worker thread (it queries the database): a busy clinic costs each open page at most
one refresh a second, and pages of one view refreshing between two changes share one query
(``clinic_app.live.shared``, keyed by the newest change the process has read). Each page
keeps its own rhythm: a clock shared by every page made them all refresh at once and queue the
clicks behind them (measured: slower at every load). A refresh that finds the same rows sends
nothing to the browser.

A page keeps one loop per tab in its process (``live.is_watched``): loading the page again does
not start another, and a newer loop replaces an older one. Reflex cancels the task with the
page's load chain when the tab navigates away or disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from clinic_app import live
from clinic_app.errors import AppError

logger = logging.getLogger("clinic_app.ui.live")

LIVE_MAX_SECONDS = 12 * 3600.0
WAIT_SECONDS = 30.0
BURST_SECONDS = 0.05
REFRESH_GAP_SECONDS = 1.0


def page_key(state: Any) -> str:
    """One tab's page: its client token and the page state's name (``live.watch``)."""
    return f"{state.router.session.client_token}:{state.get_full_name()}"


def needs_watcher(state: Any) -> bool:
    """False when this tab's page already has a live loop in this process."""
    return not live.is_watched(page_key(state))


async def run_live_loop(state: Any, permission: str) -> None:
    """Body of a page's ``watch_live`` background task (``state`` is the page state)."""
    async with state:
        actor = state._require(permission)
        page = page_key(state)
    ticket = live.start_watching(page)
    started = time.monotonic()
    try:
        async with live.inbox(actor.clinic_id) as inbox:
            if not state.live:  # still on from an earlier visit: no lock needed
                async with state:
                    state.live = True
            offline, refreshed = False, 0.0
            while time.monotonic() - started < LIVE_MAX_SECONDS:
                message = await _next(inbox, WAIT_SECONDS)
                if not live.still_watching(page, ticket):
                    return  # a newer loop serves this page
                if message is None:
                    continue
                if message is live.LOST:  # shown as "offline" until Redis is back
                    async with state:
                        state.live = False
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
                change = live.latest_change(actor.clinic_id) or str(message.get("change") or "")
                try:
                    async with state:
                        if offline:
                            state.live, offline = True, False
                        await asyncio.to_thread(_refresh, state, permission, change)
                    refreshed = time.monotonic()
                except AppError:
                    raise  # signed out or no longer allowed: stop watching
                except Exception:  # noqa: BLE001 - one failed refresh must not end live updates
                    logger.warning("live refresh failed; the next change retries", exc_info=True)
    finally:
        live.stop_watching(page, ticket)


async def _next(inbox: asyncio.Queue[dict[str, Any]], timeout: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(inbox.get(), timeout=timeout)
    except TimeoutError:
        return None


def _refresh(state: Any, permission: str, change: str) -> None:
    """Still allowed? Then reload the page's view (runs in a worker thread, lock held)."""
    state._refresh(state._require(permission), change)
