"""Reading the audit trail: the admin page's filters and its CSV export (clinic admins only).

The trail itself is written by ``clinic_app.audit.record`` in every service; it is append-only
(on PostgreSQL a trigger refuses UPDATE and DELETE). Exporting is itself audited.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.timeutil import as_utc, zone_named
from models import AuditEvent, Clinic, Patient, User

MAX_ROWS = 500
MAX_EXPORT_ROWS = 50_000


@dataclass(frozen=True)
class AuditFilter:
    user_email: str = ""
    patient_mrn: str = ""
    action: str = ""
    date_from: str = ""  # YYYY-MM-DD in the clinic's timezone
    date_to: str = ""


@dataclass(frozen=True)
class AuditRow:
    when: str
    user: str
    action: str
    entity: str
    ip: str
    changes: str
    correlation_id: str


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AppError("INVALID_DATE", f"{label} must be a date like 2026-11-24.") from None


def _query(session: Session, *, actor: Actor, filters: AuditFilter, limit: int) -> list[AuditRow]:
    clinic = session.get(Clinic, actor.clinic_id)
    tz = zone_named(clinic.timezone if clinic else "UTC")
    statement = (
        select(AuditEvent, User.email)
        .join(User, col(User.id) == col(AuditEvent.actor_user_id), isouter=True)
        .where(AuditEvent.clinic_id == actor.clinic_id)
    )
    if filters.user_email.strip():
        statement = statement.where(col(User.email) == filters.user_email.strip().lower())
    if filters.patient_mrn.strip():
        patient = session.exec(
            select(Patient).where(
                Patient.clinic_id == actor.clinic_id, Patient.mrn == filters.patient_mrn.strip()
            )
        ).first()
        if patient is None:
            return []
        statement = statement.where(AuditEvent.entity_id == str(patient.id))
    if filters.action.strip():
        statement = statement.where(col(AuditEvent.action).startswith(filters.action.strip()))
    start, end = _day(filters.date_from, "From"), _day(filters.date_to, "To")
    if start and end and end < start:
        raise AppError("INVALID_DATE", "The 'to' date is before the 'from' date.")
    if start:
        statement = statement.where(
            col(AuditEvent.created_at) >= datetime.combine(start, time.min, tzinfo=tz)
        )
    if end:
        statement = statement.where(
            col(AuditEvent.created_at)
            < datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
        )
    statement = statement.order_by(col(AuditEvent.created_at).desc()).limit(limit)
    rows = []
    for event, email in session.exec(statement).all():
        changes = {k: v for k, v in (("before", event.before), ("after", event.after)) if v}
        rows.append(
            AuditRow(
                when=as_utc(event.created_at).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                user=email or "system",
                action=event.action,
                entity=f"{event.entity_type or ''} {event.entity_id or ''}".strip(),
                ip=event.ip or "",
                changes=json.dumps(changes, default=str, sort_keys=True) if changes else "",
                correlation_id=event.correlation_id or "",
            )
        )
    return rows


def search(session: Session, *, actor: Actor, filters: AuditFilter) -> list[AuditRow]:
    """The newest matching rows of the actor's clinic (at most 500)."""
    require(actor, "audit:read")
    return _query(session, actor=actor, filters=filters, limit=MAX_ROWS)


def export_csv(session: Session, *, actor: Actor, filters: AuditFilter) -> str:
    """The matching rows as CSV (newest first); the export is audited."""
    require(actor, "audit:read")
    rows = _query(session, actor=actor, filters=filters, limit=MAX_EXPORT_ROWS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "user", "action", "entity", "ip", "changes", "correlation_id"])
    for row in rows:
        writer.writerow(
            [row.when, row.user, row.action, row.entity, row.ip, row.changes, row.correlation_id]
        )
    audit.record_by(
        session,
        actor,
        "audit.export",
        after={"rows": len(rows), "filters": filters.__dict__},
    )
    return out.getvalue()
