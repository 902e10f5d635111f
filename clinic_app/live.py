"""Live updates: publish "something changed" on Redis after commit; open pages subscribe.

A write (booking, move, transition) calls ``publish_after_commit``; the message goes out only
when the transaction commits (a rolled-back booking announces nothing). Every open calendar and
worklist holds one Redis pub/sub subscription for its clinic (a Reflex background task) and
reloads just its own visible range when a message arrives, so the pages never poll the table.
Redis being down costs live updates only: the write itself has already committed.

A process holds one subscription per clinic however many pages it serves (``inbox``): each
message is read and decoded once and handed to every open page of that clinic in the process.

An appointment's message names its provider and times (and, for a move, where it was), and
each open page records what it shows (``watch``): a page wakes only for changes inside its own
view, so a booking next month costs nothing to the open worklists of today.

Each message carries a ``change`` id. Every open page of a process refreshes after the same
change, so ``shared`` lets them compute one result per (view, change) instead of one each:
with N open worklists a booking costs one query per process, not N.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session as SASession

from clinic_app.redis_conn import get_redis
from clinic_app.settings import get_settings

logger = logging.getLogger(__name__)

_PENDING_KEY = "clinic_app.live.pending"
SHARED_SECONDS = 30.0
T = TypeVar("T")
_shared: dict[tuple[Hashable, ...], tuple[float, Any]] = {}
_shared_locks: dict[tuple[Hashable, ...], threading.Lock] = {}
_shared_guard = threading.Lock()


@dataclass(frozen=True)
class View:
    """What an open page shows: appointments in [start, end) (UTC) of these providers."""

    start: datetime
    end: datetime
    provider_ids: frozenset[str] | None = None  # None: every provider of the clinic

    def touched_by(self, message: dict[str, Any]) -> bool:
        """Does the change in ``message`` show (or stop showing) in this view?"""
        if message.get("kind") != "appointment":
            return True  # working hours, time off and anything new: refresh to be safe
        for prefix in ("", "was_"):
            provider = message.get(f"{prefix}provider_id")
            starts, ends = message.get(f"{prefix}starts_at"), message.get(f"{prefix}ends_at")
            if not starts or not ends:
                continue
            if self.provider_ids is not None and provider not in self.provider_ids:
                continue
            try:
                start, end = datetime.fromisoformat(starts), datetime.fromisoformat(ends)
            except (TypeError, ValueError):
                return True
            if start < self.end and end > self.start:
                return True
        return False


VIEW_SECONDS = 12 * 3600.0
_views: dict[str, tuple[float, View]] = {}


def watch(page: str, view: View) -> None:
    """Record what ``page`` (one tab's page state) shows now; its live loop filters by it.

    Process-local: a tab's events and its live loop run in the process that holds its socket.
    Views not shown again for ``VIEW_SECONDS`` are forgotten (their loop then refreshes on
    every change, as before there were views).
    """
    now = time.monotonic()
    if len(_views) > 1000:
        for key in [k for k, (at, _) in _views.items() if now - at > VIEW_SECONDS]:
            _views.pop(key, None)
    _views[page] = (now, view)


def view_of(page: str) -> View | None:
    found = _views.get(page)
    return found[1] if found else None


def channel_name(clinic_id: uuid.UUID | str) -> str:
    """One channel per clinic (prefixed by the queue name so test runs never cross)."""
    return f"{get_settings().rq_queue}:live:{clinic_id}"


def publish_now(clinic_id: uuid.UUID | str, message: dict[str, Any]) -> bool:
    """Publish immediately; False (and a log line) when Redis is unreachable."""
    payload = {**message, "change": uuid.uuid4().hex}
    try:
        get_redis().publish(channel_name(clinic_id), json.dumps(payload, default=str))
        return True
    except Exception:  # noqa: BLE001 - live updates are best effort, the write is committed
        logger.warning("live update not published (Redis unavailable)", exc_info=True)
        return False


def publish_after_commit(session: SASession, clinic_id: uuid.UUID, message: dict[str, Any]) -> None:
    """Announce ``message`` to the clinic's open pages once this transaction commits."""
    session.info.setdefault(_PENDING_KEY, []).append((str(clinic_id), message))


@sa.event.listens_for(SASession, "after_commit")
def _publish_on_commit(session: SASession) -> None:
    if session.in_nested_transaction():
        return
    for clinic_id, message in session.info.pop(_PENDING_KEY, []):
        publish_now(clinic_id, message)


@sa.event.listens_for(SASession, "after_transaction_end")
def _forget_on_end(session: SASession, transaction: Any) -> None:
    if transaction.parent is None and not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)


@sa.event.listens_for(SASession, "after_soft_rollback")
def _forget_on_rollback(session: SASession, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


@asynccontextmanager
async def subscription(clinic_id: uuid.UUID | str) -> AsyncIterator[Any]:
    """An async Redis pub/sub subscribed to the clinic's channel (closed on exit)."""
    from redis.asyncio import Redis as AsyncRedis

    client = AsyncRedis.from_url(
        get_settings().effective_redis_url, socket_connect_timeout=2, socket_timeout=None
    )
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel_name(clinic_id))
        yield pubsub
    finally:
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception:  # noqa: BLE001 - closing a dead connection must not raise
            logger.debug("closing live subscription failed", exc_info=True)


def decode(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON payload of a pub/sub message, or None for anything else."""
    if not message or message.get("type") != "message":
        return None
    try:
        data = json.loads(message["data"])
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


LOST: dict[str, Any] = {"kind": "lost"}
"""Put in every inbox when the subscription is lost (compare with ``is``); after it comes back
the inboxes get a ``{"kind": "reconnected"}`` message, which every view refreshes for."""
RECONNECT_SECONDS = 5.0
INBOX_LIMIT = 1000


@dataclass
class _Hub:
    """One clinic's subscription in this process and the inboxes of its open pages."""

    clinic_id: str
    inboxes: set[asyncio.Queue[dict[str, Any]]]
    task: asyncio.Task[None] | None = None
    latest: str = ""  # the newest change id read from the channel


_hubs: dict[tuple[int, str], _Hub] = {}


@asynccontextmanager
async def inbox(clinic_id: uuid.UUID | str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The clinic's changes for one open page, from the process's one subscription."""
    key = (id(asyncio.get_running_loop()), str(clinic_id))
    hub = _hubs.get(key)
    if hub is None:
        hub = _hubs[key] = _Hub(str(clinic_id), set())
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(INBOX_LIMIT)
    hub.inboxes.add(queue)
    if hub.task is None or hub.task.done():
        hub.task = asyncio.create_task(_dispatch(hub))
    try:
        yield queue
    finally:
        hub.inboxes.discard(queue)
        if not hub.inboxes and hub.task is not None:
            hub.task.cancel()
            _hubs.pop(key, None)


def latest_change(clinic_id: uuid.UUID | str) -> str:
    """The newest change id this process has read for the clinic ("" before any).

    Pages refreshing now key their shared query by it, not by the last message each happened
    to see, so every page of one view refreshing between two changes shares one query.
    """
    hub = _hubs.get((id(asyncio.get_running_loop()), str(clinic_id)))
    return hub.latest if hub else ""


def _deliver(hub: _Hub, message: dict[str, Any]) -> None:
    hub.latest = str(message.get("change") or hub.latest)
    for queue in list(hub.inboxes):
        if queue.full():  # a page far behind: its next refresh reloads everything anyway
            queue.get_nowait()
        queue.put_nowait(message)


async def _dispatch(hub: _Hub) -> None:
    """Read the clinic's channel, hand each message to every inbox; reconnect when Redis goes."""
    lost = False
    while hub.inboxes:
        try:
            async with subscription(hub.clinic_id) as pubsub:
                if lost:
                    _deliver(hub, {"kind": "reconnected", "change": uuid.uuid4().hex})
                    lost = False
                while hub.inboxes:
                    message = decode(await pubsub.get_message(timeout=RECONNECT_SECONDS))
                    if message is not None:
                        _deliver(hub, message)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis gone: pages show "offline", we retry
            logger.warning("live updates interrupted; retrying", exc_info=True)
            if not lost:
                _deliver(hub, LOST)
                lost = True
            await asyncio.sleep(RECONNECT_SECONDS)


_watchers: dict[str, object] = {}


def start_watching(page: str) -> object:
    """Register ``page``'s live loop; a later loop for the same page replaces it."""
    ticket = object()
    _watchers[page] = ticket
    return ticket


def still_watching(page: str, ticket: object) -> bool:
    return _watchers.get(page) is ticket


def stop_watching(page: str, ticket: object) -> None:
    if _watchers.get(page) is ticket:
        del _watchers[page]


def watched_pages() -> int:
    """Open calendar and worklist pages with a live loop in this process (``/metrics``)."""
    return len(_watchers)


def is_watched(page: str) -> bool:
    """Does ``page`` already have a live loop in this process (a reload need not start one)?"""
    return page in _watchers


def shared(key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """``compute()`` once per ``key`` in this process; concurrent callers wait and reuse it.

    ``key`` names the view (what, clinic, range…) and ends with the ``change`` id the caller
    refreshes for. The first caller computes after that change was committed and announced, so
    every later caller with the same key may show its result. Results are shared, not copied:
    callers must not mutate them. Entries older than ``SHARED_SECONDS`` are forgotten.
    """
    with _shared_guard:
        lock = _shared_locks.setdefault(key, threading.Lock())
    with lock:
        now = time.monotonic()
        cached = _shared.get(key)
        if cached is not None and now - cached[0] < SHARED_SECONDS:
            return cached[1]  # type: ignore[no-any-return]
        value = compute()
        with _shared_guard:
            for old in [k for k, (at, _) in _shared.items() if now - at >= SHARED_SECONDS]:
                _shared.pop(old, None)
                _shared_locks.pop(old, None)
            _shared[key] = (now, value)
        return value
