"""The installation's own state for admins and metrics: jobs, queues, workers, dependencies.

Everything here is read at the moment it is asked for (the jobs table, RQ's registries in Redis),
so the answer is the same whichever app process serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Queue, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlmodel import Session, col, func, select

from clinic_app.db import session_scope
from clinic_app.redis_conn import get_redis
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services.health import check_dependencies
from clinic_app.settings import get_settings
from clinic_app.timeutil import as_utc
from models import Job

FAILED_JOBS_SHOWN = 50


@dataclass(frozen=True)
class JobStats:
    counts: dict[tuple[str, str], int]
    """(kind, status) → number of job rows."""
    durations: dict[str, tuple[int, float]]
    """kind → (finished attempts, total seconds) for jobs with a start and a finish."""


def job_metrics() -> JobStats:
    """Jobs per kind and status and the run time of finished ones, for ``/metrics``."""
    with session_scope() as session:
        counts = {
            (str(kind), str(status)): int(count)
            for kind, status, count in session.exec(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            ).all()
        }
        finished = session.exec(
            select(Job.kind, Job.started_at, Job.finished_at).where(
                col(Job.started_at).is_not(None), col(Job.finished_at).is_not(None)
            )
        ).all()
    durations: dict[str, tuple[int, float]] = {}
    for kind, started, ended in finished:
        if started is None or ended is None:
            continue
        seconds = max(0.0, (as_utc(ended) - as_utc(started)).total_seconds())
        count, total = durations.get(kind, (0, 0.0))
        durations[kind] = (count + 1, total + seconds)
    return JobStats(counts=counts, durations=durations)


def queue_depths() -> dict[str, int]:
    """Waiting jobs per RQ queue, plus delayed retries (``<queue>:scheduled``)."""
    name = get_settings().rq_queue
    queue = Queue(name, connection=get_redis())
    return {
        name: queue.count,
        f"{name}:scheduled": ScheduledJobRegistry(queue=queue).count,
    }


@dataclass(frozen=True)
class WorkerView:
    name: str
    state: str
    last_heartbeat: str
    seconds_since_heartbeat: int
    current_job: str


@dataclass(frozen=True)
class FailedJobView:
    id: str
    kind: str
    attempts: str
    error: str
    finished: str


@dataclass(frozen=True)
class SystemOverview:
    health: dict[str, dict[str, object]]
    queues: dict[str, int]
    running: int
    rq_failed: int
    workers: list[WorkerView]
    failed_jobs: list[FailedJobView]


def _workers() -> tuple[list[WorkerView], int, int]:
    connection = get_redis()
    queue = Queue(get_settings().rq_queue, connection=connection)
    now = datetime.now(UTC)
    views = []
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        beat_utc = as_utc(beat) if beat else None
        views.append(
            WorkerView(
                name=worker.name,
                state=str(worker.get_state()),
                last_heartbeat=beat_utc.strftime("%H:%M:%S UTC") if beat_utc else "never",
                seconds_since_heartbeat=int((now - beat_utc).total_seconds()) if beat_utc else -1,
                current_job=worker.get_current_job_id() or "",
            )
        )
    running = StartedJobRegistry(queue=queue).count
    failed = FailedJobRegistry(queue=queue).count
    return sorted(views, key=lambda w: w.name), running, failed


def system_overview(session: Session, *, actor: Actor) -> SystemOverview:
    """What the admin "System" page shows; failed jobs are only the actor's clinic's."""
    require(actor, "system:read")
    failed_rows = session.exec(
        select(Job)
        .where(Job.status == "failed", Job.clinic_id == actor.clinic_id)
        .order_by(col(Job.finished_at).desc())
        .limit(FAILED_JOBS_SHOWN)
    ).all()
    failed_jobs = [
        FailedJobView(
            id=str(job.id),
            kind=job.kind,
            attempts=f"{job.attempts}/{job.max_attempts}",
            error=(job.error or "")[:300],
            finished=as_utc(job.finished_at).strftime("%d %b %H:%M UTC") if job.finished_at else "",
        )
        for job in failed_rows
    ]
    health = check_dependencies()
    try:
        queues = queue_depths()
        workers, running, rq_failed = _workers()
    except Exception:  # noqa: BLE001 - Redis down: the health section says so
        queues, workers, running, rq_failed = {}, [], 0, 0
    return SystemOverview(
        health=dict(health.get("checks", {})),
        queues=queues,
        running=running,
        rq_failed=rq_failed,
        workers=workers,
        failed_jobs=failed_jobs,
    )
