"""Audit trail: every service write and every PHI read records a row in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from clinic_app.observability import current_correlation_id
from clinic_app.security.actor import Actor
from models import AuditEvent
from models.base import new_id, utcnow

_INSERT = sa.insert(AuditEvent.__table__)  # type: ignore[attr-defined]


def record(
    session: Session,
    *,
    action: str,
    actor_user_id: uuid.UUID | None,
    clinic_id: uuid.UUID | None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    correlation_id: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction.

    A plain INSERT after flushing the caller's pending rows (the audit row may name them): audit
    rows are never read back in the transaction that writes them, so they skip the ORM.
    """
    session.flush()
    session.connection().execute(
        _INSERT,
        {
            "id": new_id(),
            "action": action,
            "actor_user_id": actor_user_id,
            "clinic_id": clinic_id,
            "entity_type": entity_type,
            "entity_id": str(entity_id) if entity_id is not None else None,
            "before": before,
            "after": after,
            "ip": ip,
            "user_agent": user_agent,
            "correlation_id": correlation_id or current_correlation_id(),
            "created_at": utcnow(),
        },
    )


def record_by(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: uuid.UUID | str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """``record`` for a signed-in actor: their user and clinic."""
    record(
        session,
        action=action,
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
    )
