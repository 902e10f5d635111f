"""Patient portal sign-in with a one-time code, and what a signed-in patient may see.

A patient's portal account is a user with a ``patient`` membership pointing at their patient
record (``enable_portal_access``, from the front desk). Sign-in: ``request_code`` sends a 6-digit
code through the notification outbox (10 minutes, 3 tries, 3 sends per 15 minutes);
``verify_code`` returns the patient Actor. Unknown emails get the same answer as known ones.
Everything a patient reads is scoped by ``actor.patient_id``, never by an id from the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, func, select

from clinic_app import audit
from clinic_app.errors import AppError, NotFound
from clinic_app.security import rate_limit, sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services import portal_booking
from clinic_app.services.auth import normalise_email
from clinic_app.services.notifications import queue_notification
from clinic_app.services.patients import load_patient
from clinic_app.services.scheduling import (
    STATUS_LABELS,
    clinic_zone,
    get_policy,
    list_visit_types,
)
from clinic_app.settings import get_settings
from clinic_app.timeutil import as_utc
from models import Appointment, Clinic, Membership, Patient, PortalCode, Provider, User
from models.base import utcnow

CODE_MINUTES = 10
CODE_ATTEMPTS = 3
SENDS_PER_WINDOW = 3
SEND_WINDOW_MINUTES = 15
CODE_SENT_MESSAGE = "If this email belongs to a patient account, a 6-digit code is on its way."
CODE_FAILED_MESSAGE = "That code is wrong or has expired. Check it, or ask for a new code."
TOO_MANY_SENDS_MESSAGE = "Too many codes requested. Please wait 15 minutes and try again."


def _code_hash(code_id: uuid.UUID, code: str) -> str:
    key = get_settings().effective_secret_key().encode()
    return hmac.new(key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _portal_member(session: Session, email: str) -> tuple[User, Membership] | None:
    row = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            User.email == email,
            col(User.is_active).is_(True),
            col(User.deleted_at).is_(None),
            Membership.role == "patient",
            col(Membership.deleted_at).is_(None),
            col(Membership.patient_id).is_not(None),
        )
        .order_by(col(Membership.created_at))
    ).first()
    return (row[0], row[1]) if row else None


def request_code(session: Session, *, email: str, ip: str | None = None) -> str:
    """Queue a sign-in code by email; returns the message to show (the same for every email)."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AppError("INVALID_EMAIL", "Enter the email address the clinic has for you.")
    if not rate_limit.hit(
        "portal-send", email, limit=SENDS_PER_WINDOW, window_seconds=SEND_WINDOW_MINUTES * 60
    ):
        raise AppError("RATE_LIMITED", TOO_MANY_SENDS_MESSAGE)
    found = _portal_member(session, email)
    if found is None:
        audit.record(
            session,
            action="portal.code_unknown_email",
            actor_user_id=None,
            clinic_id=None,
            after={"email": email},
            ip=ip,
        )
        return CODE_SENT_MESSAGE
    user, membership = found
    now = utcnow()
    recent = session.exec(
        select(func.count())
        .select_from(PortalCode)
        .where(
            PortalCode.user_id == user.id,
            col(PortalCode.created_at) > now - timedelta(minutes=SEND_WINDOW_MINUTES),
        )
    ).one()
    if int(recent) >= SENDS_PER_WINDOW:
        raise AppError("RATE_LIMITED", TOO_MANY_SENDS_MESSAGE)
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = PortalCode(
        user_id=user.id,
        clinic_id=membership.clinic_id,
        code_hash="",
        created_at=now,
        expires_at=now + timedelta(minutes=CODE_MINUTES),
    )
    row.code_hash = _code_hash(row.id, code)
    session.add(row)
    clinic = session.get(Clinic, membership.clinic_id)
    clinic_name = clinic.name if clinic else "your clinic"
    queue_notification(
        session,
        clinic_id=membership.clinic_id,
        channel="email",
        recipient=user.email,
        subject=f"Your sign-in code for {clinic_name}",
        body=(
            f"Your code to sign in to the {clinic_name} patient portal is {code}.\n"
            f"It works for {CODE_MINUTES} minutes. If you did not ask for it, ignore this email."
        ),
        purpose="portal_code",
        dedupe_key=f"portal-code:{row.id}",
    )
    audit.record(
        session,
        action="portal.code_sent",
        actor_user_id=user.id,
        clinic_id=membership.clinic_id,
        entity_type="user",
        entity_id=user.id,
        ip=ip,
    )
    session.flush()
    return CODE_SENT_MESSAGE


def verify_code(session: Session, *, email: str, code: str, ip: str | None = None) -> Actor:
    """The patient Actor for a valid, unused, unexpired code (3 tries per code)."""
    email = normalise_email(email)
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    found = _portal_member(session, email)
    if found is None or len(code) != 6:
        raise AppError("CODE_FAILED", CODE_FAILED_MESSAGE)
    user, membership = found
    now = utcnow()
    row = session.exec(
        select(PortalCode)
        .where(PortalCode.user_id == user.id, col(PortalCode.used_at).is_(None))
        .order_by(col(PortalCode.created_at).desc())
        .with_for_update()
    ).first()
    if row is None or as_utc(row.expires_at) <= now or row.attempts >= CODE_ATTEMPTS:
        raise AppError("CODE_FAILED", CODE_FAILED_MESSAGE)
    row.attempts += 1
    ok = hmac.compare_digest(row.code_hash, _code_hash(row.id, code))
    if ok:
        row.used_at = now
    session.add(row)
    audit.record(
        session,
        action="portal.login" if ok else "portal.code_failed",
        actor_user_id=user.id,
        clinic_id=membership.clinic_id,
        entity_type="user",
        entity_id=user.id,
        after={"attempt": row.attempts},
        ip=ip,
    )
    session.flush()
    if not ok:
        if row.attempts >= CODE_ATTEMPTS:
            raise AppError("CODE_FAILED", "Too many wrong codes. Please ask for a new code.")
        raise AppError("CODE_FAILED", CODE_FAILED_MESSAGE)
    return Actor(
        user_id=user.id,
        clinic_id=membership.clinic_id,
        role="patient",
        full_name=user.full_name,
        email=user.email,
        patient_id=membership.patient_id,
    )


def actor_for_token(session: Session, *, token: str | None) -> Actor:
    """The patient Actor of a portal session cookie (re-checked on every event)."""
    active = sessions.resolve(session, token=token, kind="patient")
    row = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            User.id == active.user_id,
            Membership.clinic_id == active.clinic_id,
            Membership.role == "patient",
            col(Membership.deleted_at).is_(None),
            col(User.is_active).is_(True),
        )
    ).first()
    if row is None or row[1].patient_id is None:
        raise AppError("SESSION_EXPIRED", sessions.SESSION_EXPIRED_MESSAGE)
    user, membership = row
    return Actor(
        user_id=user.id,
        clinic_id=membership.clinic_id,
        role="patient",
        full_name=user.full_name,
        email=user.email,
        session_id=active.id,
        patient_id=membership.patient_id,
    )


@dataclass(frozen=True)
class PortalAppointment:
    when: str
    provider: str
    visit_type: str
    status: str
    # For online cancellation (the patient's own appointment; see portal_booking.cancel).
    id: str = ""
    version: int = 0
    can_cancel: bool = False


@dataclass(frozen=True)
class PortalOverview:
    patient_name: str
    mrn: str
    clinic_name: str
    upcoming: list[PortalAppointment]
    past: list[PortalAppointment]


def overview(session: Session, *, actor: Actor) -> PortalOverview:
    """The signed-in patient's own record: name, MRN, appointments (read is audited)."""
    require(actor, "portal:self")
    patient = session.exec(
        select(Patient).where(Patient.id == actor.patient_id, Patient.clinic_id == actor.clinic_id)
    ).first()
    if patient is None:
        raise NotFound("Patient record")
    clinic = session.get(Clinic, actor.clinic_id)
    zone = clinic_zone(session, actor.clinic_id)
    self_service = get_policy(session, actor.clinic_id).portal_booking_enabled
    type_names = {
        v.code: v.name for v in list_visit_types(session, actor=None, clinic_id=actor.clinic_id)
    }
    rows = session.exec(
        select(Appointment, Provider.display_name)
        .join(Provider, col(Provider.id) == col(Appointment.provider_id))
        .where(
            Appointment.patient_id == patient.id,
            Appointment.clinic_id == actor.clinic_id,
            col(Appointment.deleted_at).is_(None),
        )
        .order_by(col(Appointment.starts_at).desc())
        .limit(50)
    ).all()
    now = utcnow()
    upcoming: list[PortalAppointment] = []
    past: list[PortalAppointment] = []
    for appointment, provider_name in rows:
        item = PortalAppointment(
            when=as_utc(appointment.starts_at).astimezone(zone).strftime("%a %d %b %Y, %H:%M"),
            provider=provider_name,
            visit_type=type_names.get(
                appointment.visit_type, appointment.visit_type.replace("_", " ").capitalize()
            ),
            status=STATUS_LABELS.get(appointment.status, appointment.status),
            id=str(appointment.id),
            version=appointment.version,
            can_cancel=self_service and portal_booking.can_cancel(appointment, now=now),
        )
        (upcoming if as_utc(appointment.starts_at) >= now else past).append(item)
    audit.record(
        session,
        action="portal.view_record",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="patient",
        entity_id=patient.id,
    )
    return PortalOverview(
        patient_name=patient.display_name,
        mrn=patient.mrn,
        clinic_name=clinic.name if clinic else "",
        upcoming=list(reversed(upcoming)),
        past=past,
    )


def enable_portal_access(
    session: Session, *, actor: Actor, patient_id: uuid.UUID, email: str
) -> None:
    """Give a patient a portal login (by email); they sign in with a one-time code."""
    require(actor, "patient:portal_invite")
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AppError("INVALID_EMAIL", "Enter a valid email address for the patient.")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        # Named by MRN: the users table is not encrypted, so no patient name goes there.
        user = User(email=email, full_name=f"Patient {patient.mrn}", created_by=actor.user_id)
        session.add(user)
        session.flush()
    existing = session.exec(
        select(Membership).where(
            Membership.user_id == user.id, Membership.clinic_id == actor.clinic_id
        )
    ).first()
    if existing is not None and (existing.role != "patient" or existing.patient_id != patient.id):
        raise AppError("PORTAL_EMAIL_TAKEN", "This email already belongs to another account here.")
    if existing is None:
        session.add(
            Membership(
                user_id=user.id,
                clinic_id=actor.clinic_id,
                role="patient",
                patient_id=patient.id,
                created_by=actor.user_id,
            )
        )
    audit.record(
        session,
        action="portal.access_enabled",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="patient",
        entity_id=patient.id,
        after={"email": email},
    )
    session.flush()
