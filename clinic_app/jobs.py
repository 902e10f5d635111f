"""Background jobs: a row the UI watches, an RQ job pushed only after the row is committed.

The ``jobs`` row is the record of truth (status, progress, attempts, error, result); the RQ job
(id = the row's id) is only a wake-up call for a worker. Pushing happens in an ``after_commit``
session hook, so a rolled-back transaction queues nothing and a worker never looks for a row
that is not there yet. When Redis is down at that moment the row stays ``queued`` and the
stale-job sweeper (``sweep_stale``, run by every worker) pushes it later.

Retries: a failed attempt puts the row back to ``queued`` and the worker re-raises, so RQ's own
``Retry`` (set on every push from the row's remaining attempts) re-runs it after
``backoff_seconds``. RQ parks delayed retries in its scheduled registry; the RQ scheduler of a
long-running worker moves them to the queue, a burst worker started ``with_scheduler=True``
moves those already due, and the sweeper pushes any that the scheduler left overdue.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job as RQJob
from rq.registry import ScheduledJobRegistry
from sqlalchemy.orm import Session as SASession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select, update

from clinic_app import audit
from clinic_app.db import session_scope
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.observability import current_correlation_id, new_correlation_id
from clinic_app.redis_conn import get_redis
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.settings import get_settings
from models import Job

logger = logging.getLogger(__name__)

RQ_ENTRY_POINT = "workers.run_job"
"""Referenced by name so the app core never imports the workers package."""

RETRY_BACKOFF_SECONDS: tuple[int, ...] = (15, 60, 300, 900)
"""Wait after the 1st, 2nd, 3rd, 4th+ failed attempt before the next one."""

JOB_TIMEOUT_SECONDS = 30 * 60
"""RQ kills an attempt that runs longer; the row then fails or retries like any error."""

RQ_FAILURE_TTL_SECONDS = 7 * 24 * 3600
"""How long RQ keeps its own copy of a finally failed job (the row keeps the error forever)."""

MAX_ERROR_LENGTH = 1000
_PENDING_RQ_STATES = frozenset({"queued", "started", "scheduled"})
"""RQ states in which the job will still run; any other state (or none) means push again."""
_PUSHES_KEY = "clinic_app.jobs.pending_pushes"


class JobSuperseded(Exception):
    """This attempt no longer owns the row (the sweeper gave the job to another worker)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def backoff_seconds(failed_attempts: int) -> int:
    """Delay before the next attempt after ``failed_attempts`` failures (1-based)."""
    index = min(max(failed_attempts, 1), len(RETRY_BACKOFF_SECONDS)) - 1
    return RETRY_BACKOFF_SECONDS[index]


def short_error(exc: BaseException) -> str:
    """The human part of an error for the row; the traceback goes to the log."""
    text = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_LENGTH]


# --- pushing to RQ after commit ---------------------------------------------------------------


@dataclass(frozen=True)
class _Push:
    job_id: str
    attempts: int
    max_attempts: int
    force: bool = False


def _queue(connection: Redis | None = None) -> Queue:
    return Queue(get_settings().rq_queue, connection=connection or get_redis())


def _rq_retry(attempts: int, max_attempts: int) -> Retry | None:
    """RQ retries left after the next attempt, with our backoff between them."""
    retries = max_attempts - attempts - 1
    if retries < 1:
        return None
    intervals = [backoff_seconds(n) for n in range(attempts + 1, max_attempts)]
    return Retry(max=retries, interval=intervals)


def _rq_status(connection: Redis, job_id: str) -> str | None:
    raw = connection.hget(RQJob.key_for(job_id), "status")
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def push(job_id: uuid.UUID | str, *, attempts: int, max_attempts: int, force: bool = False) -> bool:
    """Put the RQ job on the queue unless it is already waiting or running there.

    ``force`` replaces an RQ job that looks alive but is not (a dead worker's ``started`` job,
    a retry the scheduler never moved). Returns True when this call pushed. Raises Redis errors.
    """
    rq_id = str(job_id)
    queue = _queue()

    def _enqueue() -> None:
        queue.enqueue_call(
            func=RQ_ENTRY_POINT,
            args=(rq_id,),
            job_id=rq_id,
            unique=True,
            timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=0,
            failure_ttl=RQ_FAILURE_TTL_SECONDS,
            retry=_rq_retry(attempts, max_attempts),
            description=f"clinic job {rq_id}",
        )

    try:
        _enqueue()
        return True
    except DuplicateJobError:
        status = _rq_status(queue.connection, rq_id)
        if status in _PENDING_RQ_STATES and not force:
            return False
    with contextlib.suppress(NoSuchJobError):  # expired meanwhile: nothing to replace
        RQJob.fetch(rq_id, connection=queue.connection).delete()
    try:
        _enqueue()
    except DuplicateJobError:
        return False  # another process pushed it in between: still exactly one
    return True


def _try_push(item: _Push) -> None:
    """Push after commit; a Redis failure is logged and left to the sweeper, never raised."""
    try:
        push(item.job_id, attempts=item.attempts, max_attempts=item.max_attempts, force=item.force)
    except Exception:
        logger.warning(
            "Could not push job %s to Redis; it stays queued and the sweeper will push it",
            item.job_id,
            exc_info=True,
        )


def _pending(session: SASession) -> list[tuple[SessionTransaction, _Push]]:
    pending: list[tuple[SessionTransaction, _Push]] = session.info.setdefault(_PUSHES_KEY, [])
    return pending


def _push_after_commit(session: Session, item: _Push) -> None:
    """Remember a push for when this session's outermost transaction commits."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        transaction = session.begin()
    _pending(session).append((transaction, item))


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@sa.event.listens_for(SASession, "after_commit")
def _push_on_commit(session: SASession) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the outer transaction can still roll back
    items = [item for _tx, item in session.info.pop(_PUSHES_KEY, [])]
    for item in items:
        _try_push(item)


@sa.event.listens_for(SASession, "after_soft_rollback")
def _forget_on_rollback(session: SASession, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PUSHES_KEY)
    if pending:
        pending[:] = [(tx, it) for tx, it in pending if not _within(tx, previous_transaction)]


@sa.event.listens_for(SASession, "after_transaction_end")
def _forget_on_end(session: SASession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PUSHES_KEY, None)  # closed without commit: nothing to push


# --- the public service functions -------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    kind: str,
    clinic_id: uuid.UUID | None,
    created_by: uuid.UUID | None,
    params: dict[str, Any],
    entity_type: str | None = None,
    entity_id: uuid.UUID | str | None = None,
) -> Job:
    """Add a queued job row; its RQ job is pushed once the caller's transaction commits."""
    if not kind or len(kind) > 60:
        raise AppError("JOB_BAD_KIND", "A job needs a kind of at most 60 characters.")
    now = utcnow()
    job = Job(
        clinic_id=clinic_id,
        kind=kind,
        status="queued",
        progress=0,
        message="Waiting for a worker",
        attempts=0,
        max_attempts=get_settings().job_max_attempts,
        params=dict(params),
        correlation_id=current_correlation_id() or new_correlation_id(),
        result={},
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        created_by=created_by,
        created_at=now,
        enqueued_at=now,
    )
    session.add(job)
    session.flush()
    _push_after_commit(session, _Push(str(job.id), job.attempts, job.max_attempts))
    return job


def get_job(session: Session, *, job_id: uuid.UUID | str, clinic_id: uuid.UUID) -> Job:
    """The job if it belongs to ``clinic_id``; NotFound otherwise (ids come from browsers)."""
    job = session.exec(
        select(Job).where(Job.id == parse_id(job_id, "Job"), Job.clinic_id == clinic_id)
    ).first()
    if job is None:
        raise NotFound("Job")
    return job


def _iso(value: datetime | None) -> str | None:
    value = _as_utc(value)
    return value.isoformat() if value is not None else None


def job_view(job: Job) -> dict[str, Any]:
    """Plain data for UI state (no ORM objects in Reflex state)."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message or "",
        "error": job.error or "",
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "result": dict(job.result or {}),
        "entity_type": job.entity_type or "",
        "entity_id": job.entity_id or "",
        "finished": job.status in ("succeeded", "failed"),
        "can_retry": job.status == "failed",
        "created_at": _iso(job.created_at),
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "finished_at": _iso(job.finished_at),
    }


def retry(session: Session, *, actor: Actor, job_id: uuid.UUID | str) -> Job:
    """Re-run a failed job of the actor's clinic once more (attempts are kept, so one try)."""
    require(actor, "job:retry")
    job = get_job(session, job_id=job_id, clinic_id=actor.clinic_id)
    before = {"status": job.status, "attempts": job.attempts, "error": job.error}
    now = utcnow()
    result = session.exec(
        update(Job)
        .where(col(Job.id) == job.id, col(Job.status) == "failed")
        .values(
            status="queued",
            progress=0,
            message="Waiting for a worker (retry)",
            result={},
            enqueued_at=now,
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
        )
    )
    if result.rowcount != 1:
        raise AppError(
            "JOB_NOT_FAILED", "Only a failed job can be retried.", {"status": job.status}
        )
    session.refresh(job)
    audit.record(
        session,
        action="job.retry",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="job",
        entity_id=job.id,
        before=before,
        after={"status": job.status, "attempts": job.attempts},
    )
    _push_after_commit(session, _Push(str(job.id), job.attempts, job.max_attempts))
    return job


def sweep_stale(session: Session) -> int:
    """Recover jobs a dead worker or a lost Redis left behind; returns how many it touched.

    * ``running`` rows without a heartbeat for ``job_stale_after_seconds`` go back to the queue,
      or fail with a clear error when their attempts are used up;
    * ``queued`` rows whose RQ job is gone (Redis flushed or restarted, push failed) or finished
      are pushed again; a delayed retry left overdue by a missing scheduler is pushed now.
    """
    settings = get_settings()
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.job_stale_after_seconds)
    touched = _repush_lost(session, now=now, overdue_before=stale_before)

    stale = session.exec(
        select(Job).where(
            Job.status == "running",
            sa.or_(col(Job.heartbeat_at).is_(None), col(Job.heartbeat_at) < stale_before),
        )
    ).all()
    for job in stale:
        silent = int((now - (_as_utc(job.heartbeat_at) or stale_before)).total_seconds())
        exhausted = job.attempts >= job.max_attempts
        values: dict[str, Any]
        if exhausted:
            values = {
                "status": "failed",
                "finished_at": now,
                "message": "Failed",
                "error": (
                    f"The worker stopped responding (no heartbeat for {silent} s) "
                    f"and all {job.max_attempts} attempts are used up."
                ),
            }
        else:
            values = {
                "status": "queued",
                "enqueued_at": now,
                "message": "The worker stopped responding; waiting for another one",
            }
        result = session.exec(
            update(Job)
            .where(
                col(Job.id) == job.id,
                col(Job.status) == "running",
                col(Job.attempts) == job.attempts,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            continue  # the job moved on meanwhile (finished or swept by another worker)
        touched += 1
        logger.warning(
            "Job %s (%s) had no heartbeat for %s s: %s",
            job.id,
            job.kind,
            silent,
            "failed" if exhausted else "re-queued",
        )
        if not exhausted:
            _push_after_commit(
                session, _Push(str(job.id), job.attempts, job.max_attempts, force=True)
            )
    return touched


def _repush_lost(session: Session, *, now: datetime, overdue_before: datetime) -> int:
    """Queue again the queued rows that Redis does not hold as waiting or running."""
    queued = session.exec(select(Job).where(Job.status == "queued")).all()
    if not queued:
        return 0
    try:
        queue = _queue()
        connection = queue.connection
        scheduled_key = ScheduledJobRegistry(queue=queue).key
        with connection.pipeline(transaction=False) as pipe:
            for job in queued:
                pipe.hget(RQJob.key_for(str(job.id)), "status")
                pipe.zscore(scheduled_key, str(job.id))
            replies = pipe.execute()
    except Exception:
        logger.warning(
            "Sweeper cannot reach Redis; queued jobs are checked next time", exc_info=True
        )
        return 0
    touched = 0
    for index, job in enumerate(queued):
        raw_status, scheduled_at = replies[2 * index], replies[2 * index + 1]
        status = raw_status.decode() if isinstance(raw_status, bytes) else raw_status
        overdue = (
            status == "scheduled"
            and scheduled_at is not None
            and datetime.fromtimestamp(float(scheduled_at), UTC) < overdue_before
        )
        if status in _PENDING_RQ_STATES and not overdue:
            continue
        logger.warning("Job %s is queued but Redis has it as %s; pushing it again", job.id, status)
        _push_after_commit(
            session, _Push(str(job.id), job.attempts, job.max_attempts, force=overdue)
        )
        touched += 1
    return touched


# --- used by the worker (workers.run_job) -----------------------------------------------------


@dataclass
class JobContext:
    """What a handler gets: the job's inputs and a way to report progress live."""

    job_id: uuid.UUID
    kind: str
    clinic_id: uuid.UUID | None
    created_by: uuid.UUID | None
    params: dict[str, Any]
    attempt: int
    max_attempts: int
    correlation_id: str | None = None

    def progress(self, percent: int, message: str | None = None) -> None:
        """Write progress and heartbeat in a short transaction of its own, so the UI sees it now.

        Raises JobSuperseded when the sweeper has handed the job to another worker; the
        handler should let it propagate. Call it outside the handler's own write transaction
        (SQLite allows one writer at a time).
        """
        percent = max(0, min(100, int(percent)))
        if not touch(self, progress=percent, message=message):
            raise JobSuperseded(str(self.job_id))


def _owned(ctx: JobContext) -> Any:
    return sa.and_(
        col(Job.id) == ctx.job_id,
        col(Job.status) == "running",
        col(Job.attempts) == ctx.attempt,
    )


def touch(ctx: JobContext, *, progress: int | None = None, message: str | None = None) -> bool:
    """Refresh the heartbeat (and progress); False when this attempt no longer owns the row."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    if message is not None:
        values["message"] = message[:200]
    with session_scope(clinic_id=ctx.clinic_id) as session:
        result = session.exec(update(Job).where(_owned(ctx)).values(**values))
        return result.rowcount == 1


def claim(job_id: uuid.UUID | str) -> JobContext | None:
    """Mark a queued job running (attempt + 1). None when there is nothing to run.

    The conditional UPDATE makes two workers handed the same id run it once.
    """
    try:
        row_id = parse_id(job_id, "Job")
    except NotFound:
        logger.error("RQ asked to run job %r, which is not a job id", job_id)
        return None
    with session_scope() as session:
        job = session.get(Job, row_id)
        if job is None:
            logger.error("Job %s has no row (rolled back or deleted); nothing to run", row_id)
            return None
        if job.status != "queued":
            logger.info("Job %s is %s; nothing to run", row_id, job.status)
            return None
        now = utcnow()
        result = session.exec(
            update(Job)
            .where(col(Job.id) == row_id, col(Job.status) == "queued")
            .values(
                status="running",
                attempts=col(Job.attempts) + 1,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                progress=0,
                message="Started",
            )
        )
        if result.rowcount != 1:
            logger.info("Job %s was taken by another worker", row_id)
            return None
        session.refresh(job)
        return JobContext(
            job_id=job.id,
            kind=job.kind,
            clinic_id=job.clinic_id,
            created_by=job.created_by,
            params=dict(job.params or {}),
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            correlation_id=job.correlation_id,
        )


def mark_succeeded(ctx: JobContext, result: dict[str, Any]) -> bool:
    """Store the handler's result; False when this attempt was superseded meanwhile."""
    with session_scope(clinic_id=ctx.clinic_id) as session:
        outcome = session.exec(
            update(Job)
            .where(_owned(ctx))
            .values(
                status="succeeded",
                progress=100,
                message="Done",
                result=dict(result),
                error=None,
                finished_at=utcnow(),
                heartbeat_at=utcnow(),
            )
        )
        return outcome.rowcount == 1


def mark_attempt_failed(ctx: JobContext, exc: BaseException) -> str | None:
    """Record a failed attempt: back to ``queued`` while attempts remain, else ``failed``.

    Returns the new status, or None when this attempt no longer owns the row.
    """
    retrying = ctx.attempt < ctx.max_attempts
    now = utcnow()
    if retrying:
        values: dict[str, Any] = {
            "status": "queued",
            "enqueued_at": now,
            "message": (
                f"Attempt {ctx.attempt} of {ctx.max_attempts} failed; "
                f"trying again in {backoff_seconds(ctx.attempt)} s"
            ),
        }
    else:
        values = {"status": "failed", "finished_at": now, "message": "Failed"}
    values["error"] = short_error(exc)
    values["heartbeat_at"] = now
    with session_scope(clinic_id=ctx.clinic_id) as session:
        outcome = session.exec(update(Job).where(_owned(ctx)).values(**values))
        if outcome.rowcount != 1:
            return None
    return str(values["status"])
