"""Live updates: publish "something changed" on Redis after commit; open pages subscribe.

A write (booking, move, transition) calls ``publish_after_commit``; the message goes out only
when the transaction commits (a rolled-back booking announces nothing). Every open calendar and
worklist holds one Redis pub/sub subscription for its clinic (a Reflex background task) and
reloads just its own visible range when a message arrives, so the pages never poll the table.
Redis being down costs live updates only: the write itself has already committed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as SASession

from clinic_app.redis_conn import get_redis
from clinic_app.settings import get_settings

logger = logging.getLogger(__name__)

_PENDING_KEY = "clinic_app.live.pending"


def channel_name(clinic_id: uuid.UUID | str) -> str:
    """One channel per clinic (prefixed by the queue name so test runs never cross)."""
    return f"{get_settings().rq_queue}:live:{clinic_id}"


def publish_now(clinic_id: uuid.UUID | str, message: dict[str, Any]) -> bool:
    """Publish immediately; False (and a log line) when Redis is unreachable."""
    try:
        get_redis().publish(channel_name(clinic_id), json.dumps(message, default=str))
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
