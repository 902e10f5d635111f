"""Worker for the notification outbox: deliver one queued message."""

from __future__ import annotations

import uuid
from typing import Any

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services.notifications import ChannelError, deliver


def deliver_notification(ctx: JobContext) -> dict[str, Any]:
    try:
        notification_id = uuid.UUID(str(ctx.params.get("notification_id")))
    except ValueError:
        raise AppError("JOB_BAD_PARAMS", "The delivery job has no notification id.") from None
    final = ctx.attempt >= ctx.max_attempts
    error: ChannelError | None = None
    with session_scope(clinic_id=ctx.clinic_id) as session:
        try:
            status = deliver(session, notification_id=notification_id, final_attempt=final)
        except ChannelError as exc:
            error = exc  # keep the attempt count and error: commit, then fail the attempt
            status = "failed"
    if error is not None:
        raise error
    return {"status": status}
