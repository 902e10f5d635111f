"""Staff sign-in and the per-event re-validation of a signed-in user.

``authenticate`` turns an email and password into an :class:`Actor`; ``load_actor`` rebuilds the
Actor from the database on every event, so a disabled user, a removed membership or a changed role
takes effect on the next click.

Seams for the Identity issue: it replaces the caller of these functions (today the Reflex state
keeps ``user_id``/``clinic_id`` in backend-only vars) with a server-side session bound to an
HttpOnly cookie, adds MFA between ``authenticate`` and the session, rate limits and clinic choice
for users with several memberships. The functions here keep their signatures.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import hash_password, verify_password
from clinic_app.security.permissions import require
from clinic_app.timeutil import as_utc, zone_named
from models import Clinic, Membership, User
from models.base import utcnow

LOGIN_FAILED_MESSAGE = "Email or password is incorrect."
SESSION_EXPIRED_MESSAGE = "Your session has ended. Please sign in again."

# Roles that may use the staff app (patients use the portal with a one-time code).
STAFF_ROLES = frozenset(
    {"clinic_admin", "doctor", "nurse", "receptionist", "pharmacist", "lab_tech", "accountant"}
)

ROLE_LABELS = {
    "clinic_admin": "Clinic admin",
    "doctor": "Doctor",
    "nurse": "Nurse",
    "receptionist": "Receptionist",
    "pharmacist": "Pharmacist",
    "lab_tech": "Lab technician",
    "accountant": "Accountant",
    "patient": "Patient",
}


@dataclass(frozen=True)
class SessionProfile:
    """What the shell shows about the signed-in user (no secrets, no ids)."""

    user_name: str
    email: str
    role: str
    role_label: str
    clinic_name: str
    clinic_timezone: str


@dataclass(frozen=True)
class MemberRow:
    full_name: str
    email: str
    role: str
    role_label: str
    active: bool
    last_login: str


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown emails, so both failures cost the same time."""
    return hash_password(uuid.uuid4().hex)


def _normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _staff_membership(session: Session, user_id: uuid.UUID) -> tuple[Membership, Clinic] | None:
    """The user's first live staff membership (the Identity issue adds a clinic picker)."""
    row = session.exec(
        select(Membership, Clinic)
        .join(Clinic, col(Clinic.id) == col(Membership.clinic_id))
        .where(
            Membership.user_id == user_id,
            col(Membership.deleted_at).is_(None),
            col(Clinic.deleted_at).is_(None),
            col(Membership.role).in_(sorted(STAFF_ROLES)),
        )
        .order_by(col(Membership.created_at), col(Membership.id))
    ).first()
    return (row[0], row[1]) if row else None


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Actor:
    """Check the password and return the Actor of the user's first clinic.

    Every failure (unknown email, wrong password, disabled user, no membership) raises the same
    ``LOGIN_FAILED`` error so the form never tells whether an account exists. Success and failure
    both write an audit row in this transaction; the caller commits either way.
    """
    normalised = _normalise_email(email)
    user = (
        session.exec(select(User).where(col(User.email) == normalised)).first()
        if normalised
        else None
    )
    if user is None:
        verify_password(_dummy_hash(), password or "")
        reason = "unknown_email"
    elif not verify_password(user.password_hash, password or ""):
        reason = "wrong_password"
    elif not user.is_active or user.deleted_at is not None:
        reason = "user_disabled"
    else:
        found = _staff_membership(session, user.id)
        if found is None:
            reason = "no_membership"
        else:
            membership, clinic = found
            user.last_login_at = utcnow()
            session.add(user)
            audit.record(
                session,
                action="auth.login",
                actor_user_id=user.id,
                clinic_id=clinic.id,
                entity_type="user",
                entity_id=user.id,
                after={"role": membership.role},
                ip=ip,
                user_agent=user_agent[:400] if user_agent else None,
            )
            session.flush()
            return Actor(
                user_id=user.id,
                clinic_id=clinic.id,
                role=membership.role,
                full_name=user.full_name,
                email=user.email,
            )
    audit.record(
        session,
        action="auth.login_failed",
        actor_user_id=user.id if user is not None else None,
        clinic_id=None,
        entity_type="user",
        entity_id=user.id if user is not None else None,
        after={"email": normalised[:254], "reason": reason},
        ip=ip,
        user_agent=user_agent[:400] if user_agent else None,
    )
    session.flush()
    raise AppError("LOGIN_FAILED", LOGIN_FAILED_MESSAGE)


def load_actor(session: Session, *, user_id: uuid.UUID, clinic_id: uuid.UUID) -> Actor:
    """Rebuild the Actor from the database; raise ``SESSION_EXPIRED`` when it no longer holds.

    Called on every event: the user must still be active and still be a member of the clinic,
    and the role always comes from the membership row, never from the browser or the session.
    """
    # Columns, not entities: this runs on every event, so it stays one small indexed query.
    row = session.exec(
        select(User.full_name, User.email, Membership.role)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .join(Clinic, col(Clinic.id) == col(Membership.clinic_id))
        .where(
            User.id == user_id,
            Membership.clinic_id == clinic_id,
            col(User.is_active).is_(True),
            col(User.deleted_at).is_(None),
            col(Membership.deleted_at).is_(None),
            col(Clinic.deleted_at).is_(None),
            col(Membership.role).in_(sorted(STAFF_ROLES)),
        )
    ).first()
    if row is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    full_name, email, role = row
    return Actor(user_id=user_id, clinic_id=clinic_id, role=role, full_name=full_name, email=email)


def record_logout(
    session: Session, *, user_id: uuid.UUID, clinic_id: uuid.UUID, ip: str | None = None
) -> None:
    """Audit a sign-out (the Identity issue also revokes the server-side session here)."""
    audit.record(
        session,
        action="auth.logout",
        actor_user_id=user_id,
        clinic_id=clinic_id,
        entity_type="user",
        entity_id=user_id,
        ip=ip,
    )


def session_profile(session: Session, *, actor: Actor) -> SessionProfile:
    """Names the shell shows for a signed-in actor."""
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    return SessionProfile(
        user_name=actor.full_name,
        email=actor.email,
        role=actor.role,
        role_label=ROLE_LABELS.get(actor.role, actor.role),
        clinic_name=clinic.name,
        clinic_timezone=clinic.timezone,
    )


def list_members(session: Session, *, actor: Actor) -> list[MemberRow]:
    """Users of the actor's clinic with their roles (admin only, read-only)."""
    require(actor, "admin:access")
    clinic = session.get(Clinic, actor.clinic_id)
    tz = zone_named(clinic.timezone if clinic else "UTC")
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(Membership.clinic_id == actor.clinic_id, col(Membership.deleted_at).is_(None))
        .order_by(col(User.full_name))
    ).all()
    return [
        MemberRow(
            full_name=user.full_name,
            email=user.email,
            role=membership.role,
            role_label=ROLE_LABELS.get(membership.role, membership.role),
            active=bool(user.is_active and user.deleted_at is None),
            last_login=(
                as_utc(user.last_login_at).astimezone(tz).strftime("%d %b %Y, %H:%M")
                if user.last_login_at
                else ""
            ),
        )
        for user, membership in rows
    ]
