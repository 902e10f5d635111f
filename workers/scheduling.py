"""The periodic scheduling job: appointment reminders and the nightly no-show rule.

``queue_tick`` runs in every worker process every ``scheduling_tick_seconds``; a Redis
``SET NX`` per period makes exactly one of them enqueue ``scheduling_tick`` on RQ, so several
workers never double the work. The job itself is idempotent anyway: reminders are deduplicated
by the outbox's ``dedupe_key`` and the no-show rule only touches appointments still unconfirmed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import Queue

from clinic_app.db import session_scope
from clinic_app.redis_conn import get_redis
from clinic_app.services.reminders import mark_no_shows, send_due_reminders
from clinic_app.services.scribe import purge_raw_chunks
from clinic_app.settings import get_settings

logger = logging.getLogger(__name__)

TICK_FUNCTION = "workers.scheduling.scheduling_tick"


def scheduling_tick() -> dict[str, Any]:
    """One run: due reminders, yesterday's unconfirmed no-shows, expired raw audio chunks."""
    with session_scope() as session:
        reminders = send_due_reminders(session)
    with session_scope() as session:
        no_shows = mark_no_shows(session)
    with session_scope() as session:
        chunks_purged = purge_raw_chunks(session)
    result = {
        "reminders_queued": reminders.queued,
        "reminders_without_contact": reminders.skipped_no_contact,
        "no_shows": no_shows,
        "audio_chunks_purged": chunks_purged,
    }
    logger.info("Scheduling tick: %s", result)
    return result


def queue_tick(now: float | None = None) -> bool:
    """Enqueue this period's tick unless another worker already did (True when queued)."""
    settings = get_settings()
    period = settings.scheduling_tick_seconds
    bucket = int((now if now is not None else time.time()) // period)
    redis = get_redis()
    claimed = redis.set(
        f"{settings.rq_queue}:scheduling-tick:{bucket}", "1", nx=True, ex=period * 2
    )
    if not claimed:
        return False
    Queue(settings.rq_queue, connection=redis).enqueue(
        TICK_FUNCTION, job_id=f"scheduling-tick-{bucket}", job_timeout=period, result_ttl=period
    )
    return True
