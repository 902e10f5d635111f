"""Clinics (tenants) of the installation and their branches.

``create_clinic`` is installation work (the ``clinic create-clinic`` command, run by whoever
operates the server): a new tenant with its first clinic admin. Branches are managed by the
clinic's admins; providers name the branch they work at.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from clinic_app import audit
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import check_password_policy, hash_password
from clinic_app.security.permissions import require
from clinic_app.timeutil import zone_named
from models import Branch, Clinic, Membership, Patient, User
from models.base import utcnow

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$")


@dataclass(frozen=True)
class BranchRow:
    name: str
    address: str
    phone: str


def create_clinic(
    session: Session,
    *,
    name: str,
    slug: str,
    timezone: str,
    admin_email: str,
    admin_name: str,
    admin_password: str,
) -> uuid.UUID:
    """A new clinic with a main branch and its first clinic admin (installation operator only)."""
    name, slug, email = name.strip(), slug.strip().lower(), admin_email.strip().lower()
    if not name or len(name) > 200:
        raise AppError("INVALID_NAME", "Give the clinic a name (up to 200 characters).")
    if not SLUG.match(slug):
        raise AppError("INVALID_SLUG", "The slug is 3-80 lowercase letters, digits and dashes.")
    if zone_named(timezone).key != timezone:
        raise AppError("INVALID_TIMEZONE", f"Unknown timezone {timezone!r} (e.g. Europe/Berlin).")
    if session.exec(select(Clinic).where(Clinic.slug == slug)).first() is not None:
        raise AppError("CLINIC_EXISTS", f"A clinic with the slug {slug!r} already exists.")
    if "@" not in email:
        raise AppError("INVALID_EMAIL", "Enter the admin's email address.")
    clinic = Clinic(name=name, slug=slug, timezone=timezone)
    session.add(clinic)
    session.flush()
    session.add(Branch(clinic_id=clinic.id, name="Main"))
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        check_password_policy(admin_password)
        user = User(
            email=email,
            full_name=admin_name.strip() or email,
            password_hash=hash_password(admin_password),
        )
        session.add(user)
        session.flush()
    session.add(Membership(user_id=user.id, clinic_id=clinic.id, role="clinic_admin"))
    audit.record(
        session,
        action="clinic.create",
        actor_user_id=None,
        clinic_id=clinic.id,
        entity_type="clinic",
        entity_id=clinic.id,
        after={"name": name, "slug": slug, "admin": email},
    )
    session.flush()
    return clinic.id


def list_branches(session: Session, *, actor: Actor) -> list[BranchRow]:
    require(actor, "admin:access")
    rows = session.exec(
        select(Branch)
        .where(Branch.clinic_id == actor.clinic_id, col(Branch.deleted_at).is_(None))
        .order_by(col(Branch.name))
    ).all()
    return [BranchRow(name=b.name, address=b.address, phone=b.phone) for b in rows]


def add_branch(session: Session, *, actor: Actor, name: str, address: str, phone: str) -> None:
    require(actor, "user:manage")
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise AppError("INVALID_NAME", "Give the branch a name (up to 80 characters).")
    exists = session.exec(
        select(Branch).where(
            Branch.clinic_id == actor.clinic_id,
            Branch.name == name,
            col(Branch.deleted_at).is_(None),
        )
    ).first()
    if exists is not None:
        raise AppError("BRANCH_EXISTS", f"There is already a branch called {name!r}.")
    branch = Branch(
        clinic_id=actor.clinic_id,
        name=name,
        address=(address or "").strip()[:400],
        phone=(phone or "").strip()[:40],
        created_by=actor.user_id,
    )
    session.add(branch)
    audit.record_by(
        session,
        actor,
        "branch.create",
        entity_type="branch",
        entity_id=branch.id,
        after={"name": name},
    )
    session.flush()


# ---- the installation console (super admins) ------------------------------------------------


@dataclass(frozen=True)
class ClinicRow:
    name: str
    slug: str
    timezone: str
    staff: int
    patients: int
    created: str
    active: bool


def list_clinics(session: Session, *, actor: Actor) -> list[ClinicRow]:
    """Every clinic of the installation with head counts (no clinic data beyond that)."""
    require(actor, "installation:manage")
    staff = dict(
        session.exec(
            select(Membership.clinic_id, func.count())
            .where(Membership.role != "patient", col(Membership.deleted_at).is_(None))
            .group_by(col(Membership.clinic_id))
        ).all()
    )
    patients = dict(
        session.exec(
            select(Patient.clinic_id, func.count())
            .where(col(Patient.deleted_at).is_(None))
            .group_by(col(Patient.clinic_id))
        ).all()
    )
    clinics = session.exec(select(Clinic).order_by(col(Clinic.name))).all()
    return [
        ClinicRow(
            name=c.name,
            slug=c.slug,
            timezone=c.timezone,
            staff=int(staff.get(c.id, 0)),
            patients=int(patients.get(c.id, 0)),
            created=c.created_at.strftime("%Y-%m-%d"),
            active=c.deleted_at is None,
        )
        for c in clinics
    ]


def create_clinic_as(
    session: Session,
    *,
    actor: Actor,
    name: str,
    slug: str,
    timezone: str,
    admin_email: str,
    admin_name: str,
    admin_password: str,
) -> uuid.UUID:
    """``create_clinic`` from the installation console, audited under the super admin."""
    require(actor, "installation:manage")
    clinic_id = create_clinic(
        session,
        name=name,
        slug=slug,
        timezone=timezone,
        admin_email=admin_email,
        admin_name=admin_name,
        admin_password=admin_password,
    )
    audit.record(
        session,
        action="installation.clinic_create",
        actor_user_id=actor.user_id,
        clinic_id=clinic_id,
        entity_type="clinic",
        entity_id=clinic_id,
        after={"slug": slug.strip().lower(), "admin": admin_email.strip().lower()},
    )
    return clinic_id


def set_clinic_active(session: Session, *, actor: Actor, slug: str, active: bool) -> None:
    """Suspend a clinic (its people can no longer sign in; nothing is deleted) or resume it."""
    require(actor, "installation:manage")
    clinic = session.exec(select(Clinic).where(Clinic.slug == str(slug))).first()
    if clinic is None:
        raise AppError("NOT_FOUND", "Clinic was not found.")
    if clinic.id == actor.clinic_id and not active:
        raise AppError("OWN_CLINIC", "You cannot suspend the clinic you are signed in to.")
    if (clinic.deleted_at is None) == active:
        return
    clinic.deleted_at = None if active else utcnow()
    clinic.version += 1
    session.add(clinic)
    if not active:
        revoked = session.exec(
            select(Membership.user_id).where(Membership.clinic_id == clinic.id)
        ).all()
        for user_id in set(revoked):
            sessions.revoke_user_sessions(session, user_id=user_id, reason="clinic suspended")
    audit.record(
        session,
        action="installation.clinic_" + ("resume" if active else "suspend"),
        actor_user_id=actor.user_id,
        clinic_id=clinic.id,
        entity_type="clinic",
        entity_id=clinic.id,
    )


def set_super_admin(session: Session, *, email: str, granted: bool) -> None:
    """The ``clinic super-admin`` command: only the server's operator makes installation admins."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise AppError("NOT_FOUND", f"No user with the email {email!r}.")
    user.is_super_admin = granted
    session.add(user)
    sessions.revoke_user_sessions(session, user_id=user.id, reason="installation role change")
    audit.record(
        session,
        action="installation.super_admin_" + ("grant" if granted else "revoke"),
        actor_user_id=None,
        clinic_id=None,
        entity_type="user",
        entity_id=user.id,
    )
