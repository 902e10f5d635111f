"""The live-update loop shared by the calendar and the worklist pages.

Each open page runs one background task holding a Redis pub/sub subscription for the clinic
(``clinic_app.live``). A message about an appointment outside the page's view (``live.View``,
recorded by the page whenever it loads) is dropped without touching the page. Otherwise the
loop gathers what else arrives until the next tick of a one-second clock shared by the
process, then calls the page's ``_refresh(actor, change)`` once, in a worker thread (it queries
the database): a busy clinic costs each open page at most one refresh a second, and pages
showing one view refresh on the same tick and share one query (``clinic_app.live.shared``;
``change`` is the id of the last message seen). A newer watcher (page reload, navigation
back) stops the older one through a generation counter; Reflex cancels the task when the tab
disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from clinic_app import live
from clinic_app.errors import AppError

logger = logging.getLogger("clinic_app.ui.live")

LIVE_MAX_SECONDS = 12 * 3600.0
WAIT_SECONDS = 5.0
RECONNECT_SECONDS = 5.0
REFRESH_TICK_SECONDS = 1.0


def page_key(state: Any) -> str:
    """One tab's page: its client token and the page state's name (``live.watch``)."""
    return f"{state.router.session.client_token}:{state.get_full_name()}"


async def run_live_loop(state: Any, permission: str) -> None:
    """Body of a page's ``watch_live`` background task (``state`` is the page state)."""
    async with state:
        actor = state._require(permission)
        state._live_generation += 1
        generation = state._live_generation
        clinic_id = actor.clinic_id
        page = page_key(state)
    started = time.monotonic()
    while time.monotonic() - started < LIVE_MAX_SECONDS:
        try:
            async with live.subscription(clinic_id) as pubsub:
                async with state:
                    if state._live_generation != generation:
                        return
                    state.live = True
                while time.monotonic() - started < LIVE_MAX_SECONDS:
                    message = live.decode(await pubsub.get_message(timeout=WAIT_SECONDS))
                    if message is not None:
                        view = live.view_of(page)
                        if view is not None and not view.touched_by(message):
                            continue  # not on this page: no lock, no query
                        tick = math.ceil(time.time() / REFRESH_TICK_SECONDS) * REFRESH_TICK_SECONDS
                        while (left := tick - time.time()) > 0:  # one refresh for the burst
                            later = live.decode(await pubsub.get_message(timeout=left))
                            message = later or message
                    async with state:
                        if state._live_generation != generation:
                            return
                        if message is not None:
                            change = str(message.get("change") or "")
                            await asyncio.to_thread(_refresh, state, permission, change)
        except (asyncio.CancelledError, AppError):
            raise  # cancelled, signed out or no longer allowed: stop watching
        except Exception:  # noqa: BLE001 - Redis gone: show "offline", retry, never crash the page
            logger.warning("live updates interrupted; retrying", exc_info=True)
            async with state:
                if state._live_generation != generation:
                    return
                state.live = False
            await asyncio.sleep(RECONNECT_SECONDS)


def _refresh(state: Any, permission: str, change: str) -> None:
    """Still allowed? Then reload the page's view (runs in a worker thread, lock held)."""
    state._refresh(state._require(permission), change)
