"""Actors for service tests: a demo user as the services see them, optionally stepped up."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, select

from clinic_app.security.actor import Actor
from models import Membership, User, UserSession
from models.base import utcnow


def actor_for(session: Session, email: str, session_id: uuid.UUID | None = None) -> Actor:
    user = session.exec(select(User).where(User.email == email)).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(
        user.id,
        membership.clinic_id,
        membership.role,
        user.full_name,
        user.email,
        session_id=session_id,
        patient_id=membership.patient_id,
    )


def stepped_up(session: Session, email: str, *, minutes_ago: int = 0) -> Actor:
    """The user on a sign-in session whose password/TOTP was re-entered ``minutes_ago``."""
    actor = actor_for(session, email)
    row = UserSession(
        user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        expires_at=utcnow() + timedelta(hours=1),
        step_up_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    session.add(row)
    session.flush()
    return actor_for(session, email, session_id=row.id)
