"""Audit trail: every service write and every PHI read records a row in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any, Required, TypedDict, Unpack

import sqlalchemy as sa
from sqlmodel import Session

from clinic_app.db import Row, insert_row
from clinic_app.observability import current_correlation_id
from clinic_app.security.actor import Actor
from models import AuditEvent
from models.base import new_id, utcnow

_TABLE: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]


class Fields(TypedDict, total=False):
    """What an audit row says; ``entry`` and ``record`` take these as keywords."""

    action: Required[str]
    actor_user_id: Required[uuid.UUID | None]
    clinic_id: Required[uuid.UUID | None]
    entity_type: str | None
    entity_id: uuid.UUID | str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    user_agent: str | None
    correlation_id: str | None


def entry(**fields: Unpack[Fields]) -> Row:
    """One audit row's values: ``record`` inserts it; a booking sends it along with its own
    INSERT (``db.insert_unless_conflict``)."""
    entity_id = fields.get("entity_id")
    return Row(
        _TABLE,
        {
            "id": new_id(),
            "action": fields["action"],
            "actor_user_id": fields["actor_user_id"],
            "clinic_id": fields["clinic_id"],
            "entity_type": fields.get("entity_type"),
            "entity_id": str(entity_id) if entity_id is not None else None,
            "before": fields.get("before"),
            "after": fields.get("after"),
            "ip": fields.get("ip"),
            "user_agent": fields.get("user_agent"),
            "correlation_id": fields.get("correlation_id") or current_correlation_id(),
            "created_at": utcnow(),
        },
    )


def record(session: Session, **fields: Unpack[Fields]) -> None:
    """Append one audit row in the caller's transaction.

    A plain INSERT after flushing the caller's pending rows (the audit row may name them): audit
    rows are never read back in the transaction that writes them, so they skip the ORM.
    """
    session.flush()
    insert_row(session, entry(**fields))


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
