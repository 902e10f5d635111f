"""Clinic users admin: members and roles, create, role change, disable, MFA reset, MFA policy.

Clinic admins act only on memberships of their own clinic; a user of another clinic is
``NOT_FOUND``. Role changes, disabling and MFA resets end the user's sessions in this clinic
at once. Every change is audited with before/after values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError, NotFound
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import check_password_policy, hash_password
from clinic_app.security.permissions import require
from clinic_app.services.auth import ROLE_LABELS, STAFF_ROLES, normalise_email
from clinic_app.timeutil import as_utc, zone_named
from models import Clinic, Membership, User
from models.base import utcnow


@dataclass(frozen=True)
class MemberRow:
    user_id: str
    full_name: str
    email: str
    role: str
    role_label: str
    active: bool
    mfa: bool
    last_login: str
    is_me: bool
    registration_number: str = ""


def list_members(session: Session, *, actor: Actor) -> list[MemberRow]:
    """Staff of the actor's clinic with role, status and MFA (disabled members included)."""
    require(actor, "admin:access")
    clinic = session.get(Clinic, actor.clinic_id)
    tz = zone_named(clinic.timezone if clinic else "UTC")
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            Membership.clinic_id == actor.clinic_id,
            col(Membership.role).in_(sorted(STAFF_ROLES)),
        )
        .order_by(col(User.full_name))
    ).all()
    return [
        MemberRow(
            user_id=str(user.id),
            full_name=user.full_name,
            email=user.email,
            role=membership.role,
            role_label=ROLE_LABELS.get(membership.role, membership.role),
            active=bool(
                user.is_active and user.deleted_at is None and membership.deleted_at is None
            ),
            mfa=user.totp_enabled_at is not None,
            last_login=(
                as_utc(user.last_login_at).astimezone(tz).strftime("%d %b %Y, %H:%M")
                if user.last_login_at
                else ""
            ),
            is_me=user.id == actor.user_id,
            registration_number=membership.registration_number or "",
        )
        for user, membership in rows
    ]


def _membership(session: Session, *, actor: Actor, user_id: uuid.UUID) -> tuple[User, Membership]:
    row = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            User.id == user_id,
            Membership.clinic_id == actor.clinic_id,
            col(Membership.role).in_(sorted(STAFF_ROLES)),
        )
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound("User")
    return row[0], row[1]


def _check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise AppError("INVALID_ROLE", "Choose one of the staff roles.")


def _audit(
    session: Session, actor: Actor, action: str, user_id: uuid.UUID, **values: object
) -> None:
    audit.record_by(
        session,
        actor,
        action,
        entity_type="user",
        entity_id=user_id,
        before=values.get("before"),  # type: ignore[arg-type]
        after=values.get("after"),  # type: ignore[arg-type]
    )


def create_user(
    session: Session, *, actor: Actor, email: str, full_name: str, role: str, password: str
) -> uuid.UUID:
    """Add a staff member with a first password (they can change it; MFA per clinic policy).

    An email already used at another clinic of this installation gets a membership here and
    keeps its password (nothing about the other clinic is revealed).
    """
    require(actor, "user:manage")
    email = normalise_email(email)
    full_name = (full_name or "").strip()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise AppError("INVALID_EMAIL", "Enter a valid email address.")
    if not full_name or len(full_name) > 200:
        raise AppError("INVALID_NAME", "Enter the person's full name (up to 200 characters).")
    _check_role(role)
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        check_password_policy(password)
        user = User(email=email, full_name=full_name, password_hash=hash_password(password))
        user.created_by = actor.user_id
        session.add(user)
        session.flush()
    existing = session.exec(
        select(Membership).where(
            Membership.user_id == user.id, Membership.clinic_id == actor.clinic_id
        )
    ).first()
    if existing is not None:
        raise AppError("USER_EXISTS", "This person is already a member of the clinic.")
    session.add(
        Membership(user_id=user.id, clinic_id=actor.clinic_id, role=role, created_by=actor.user_id)
    )
    _audit(session, actor, "user.create", user.id, after={"email": email, "role": role})
    session.flush()
    return user.id


def change_role(session: Session, *, actor: Actor, user_id: uuid.UUID, role: str) -> None:
    """New role from the next click: the user's sessions in this clinic end now."""
    require(actor, "user:manage")
    _check_role(role)
    if user_id == actor.user_id:
        raise AppError("OWN_ROLE", "You cannot change your own role; ask another admin.")
    _user, membership = _membership(session, actor=actor, user_id=user_id)
    if membership.role == role:
        return
    before = membership.role
    membership.role = role
    membership.version += 1
    membership.updated_at = utcnow()
    membership.updated_by = actor.user_id
    session.add(membership)
    sessions.revoke_user_sessions(
        session, user_id=user_id, reason="role_changed", clinic_id=actor.clinic_id
    )
    _audit(
        session, actor, "user.role_change", user_id, before={"role": before}, after={"role": role}
    )
    session.flush()


def set_registration_number(
    session: Session, *, actor: Actor, user_id: uuid.UUID, number: str
) -> None:
    """A prescriber's professional registration number (printed on prescriptions)."""
    require(actor, "user:manage")
    _user, membership = _membership(session, actor=actor, user_id=user_id)
    cleaned = " ".join((number or "").split())
    if len(cleaned) > 60:
        raise AppError("VALIDATION", "A registration number is at most 60 characters.")
    before = membership.registration_number
    if (before or "") == cleaned:
        return
    membership.registration_number = cleaned or None
    membership.version += 1
    session.add(membership)
    audit.record_by(
        session,
        actor,
        "user.registration_number",
        entity_type="user",
        entity_id=user_id,
        before={"registration_number": before},
        after={"registration_number": cleaned or None},
    )


def set_active(session: Session, *, actor: Actor, user_id: uuid.UUID, active: bool) -> None:
    """Disable (or re-enable) a member in this clinic; disabling ends their sessions here."""
    require(actor, "user:manage")
    if user_id == actor.user_id and not active:
        raise AppError("OWN_ACCOUNT", "You cannot disable your own account.")
    _user, membership = _membership(session, actor=actor, user_id=user_id)
    was_active = membership.deleted_at is None
    if was_active == active:
        return
    membership.deleted_at = None if active else utcnow()
    membership.version += 1
    membership.updated_by = actor.user_id
    session.add(membership)
    if not active:
        sessions.revoke_user_sessions(
            session, user_id=user_id, reason="disabled", clinic_id=actor.clinic_id
        )
    _audit(
        session,
        actor,
        "user.enable" if active else "user.disable",
        user_id,
        before={"active": was_active},
        after={"active": active},
    )
    session.flush()


def reset_mfa(session: Session, *, actor: Actor, user_id: uuid.UUID) -> None:
    """Remove a member's authenticator (lost phone); they enrol again at the next sign-in."""
    require(actor, "user:manage")
    user, _membership_row = _membership(session, actor=actor, user_id=user_id)
    had = user.totp_enabled_at is not None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_code_hashes = []
    session.add(user)
    sessions.revoke_user_sessions(session, user_id=user_id, reason="mfa_reset")
    _audit(session, actor, "user.mfa_reset", user_id, before={"mfa": had}, after={"mfa": False})
    session.flush()


def mfa_required_roles(session: Session, *, actor: Actor) -> list[str]:
    require(actor, "admin:access")
    clinic = session.get(Clinic, actor.clinic_id)
    return list(clinic.mfa_required_roles or []) if clinic else []


def set_mfa_required_roles(session: Session, *, actor: Actor, roles: list[str]) -> None:
    """Roles that must use TOTP; their members enrol at their next sign-in."""
    require(actor, "user:manage")
    wanted = sorted({r for r in roles if r in STAFF_ROLES})
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise NotFound("Clinic")
    before = list(clinic.mfa_required_roles or [])
    clinic.mfa_required_roles = wanted
    clinic.version += 1
    session.add(clinic)
    audit.record_by(
        session,
        actor,
        "clinic.mfa_policy",
        entity_type="clinic",
        entity_id=clinic.id,
        before={"mfa_required_roles": before},
        after={"mfa_required_roles": wanted},
    )
    session.flush()
