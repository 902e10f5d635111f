"""The live-update loop shared by the calendar and the worklist pages.

Each open page runs one background task holding a Redis pub/sub subscription for the clinic
(``clinic_app.live``). When a message arrives it drains any burst that follows, then calls the
page's ``_refresh(actor, change)`` once, in a worker thread (it queries the database), so a
page reloads only its own visible range and never polls the table. ``change`` is the id of the
last message seen: pages showing the same view share one query per change
(``clinic_app.live.shared``). A newer watcher (page reload, navigation back) stops the older
one through a generation counter; Reflex cancels the task when the tab disconnects.
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
WAIT_SECONDS = 5.0
RECONNECT_SECONDS = 5.0


async def run_live_loop(state: Any, permission: str) -> None:
    """Body of a page's ``watch_live`` background task (``state`` is the page state)."""
    async with state:
        actor = state._require(permission)
        state._live_generation += 1
        generation = state._live_generation
        clinic_id = actor.clinic_id
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
                        # Coalesce a burst (a drag writes once, a busy desk many times).
                        while True:
                            later = live.decode(await pubsub.get_message(timeout=0.05))
                            if later is None:
                                break
                            message = later
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
