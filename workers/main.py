"""The worker process: an RQ worker on the configured queue plus the stale-job sweeper.

Jobs run in this process (RQ ``SimpleWorker``, no fork per job): the database pool, the
heartbeat thread and any model a handler loads stay valid and warm, and RQ's job timeout still
applies. If the process dies, the sweeper of this or another worker re-queues its job.
"""

from __future__ import annotations

import logging
import threading

from rq import Queue, SimpleWorker

from clinic_app.db import session_scope
from clinic_app.jobs import sweep_stale
from clinic_app.redis_conn import get_redis
from clinic_app.settings import get_settings

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 30.0


def sweep_once() -> int:
    """One sweep in its own transaction; errors are logged so the worker keeps going."""
    try:
        with session_scope() as session:
            touched = sweep_stale(session)
    except Exception:
        logger.exception("Stale-job sweep failed; trying again later")
        return 0
    if touched:
        logger.info("Sweeper re-queued or failed %s job(s)", touched)
    return touched


def _sweep_forever(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        sweep_once()


def tick_once() -> bool:
    """Queue the periodic scheduling job (reminders, no-shows) if this period has none yet."""
    from workers.scheduling import queue_tick

    try:
        return queue_tick()
    except Exception:
        logger.exception("Could not queue the scheduling tick; trying again later")
        return False


def _tick_forever(stop: threading.Event) -> None:
    interval = min(60.0, float(get_settings().scheduling_tick_seconds))
    while not stop.wait(interval):
        tick_once()


def run_worker(*, burst: bool = False) -> None:
    """Work the configured queue until stopped (or until it is empty when ``burst``).

    Sweeps once at start, then every ~30 s in a background thread; another thread queues the
    periodic scheduling job (reminders, no-shows) once per ``scheduling_tick_seconds``. The RQ
    scheduler runs with the worker so delayed retries (the backoff) are moved to the queue when due.
    """
    settings = get_settings()
    sweep_once()
    stop = threading.Event()
    sweeper = threading.Thread(
        target=_sweep_forever, args=(stop, SWEEP_INTERVAL_SECONDS), name="job-sweeper", daemon=True
    )
    sweeper.start()
    tick_once()
    ticker = threading.Thread(
        target=_tick_forever, args=(stop,), name="scheduling-tick", daemon=True
    )
    ticker.start()
    try:
        queue = Queue(settings.rq_queue, connection=get_redis())
        worker = SimpleWorker([queue], connection=get_redis())
        logger.info("Worker %s listening on queue %s", worker.name, settings.rq_queue)
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        sweeper.join(timeout=10)
        ticker.join(timeout=10)
