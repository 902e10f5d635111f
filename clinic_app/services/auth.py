"""Staff sign-in: password (lockout, rate limits), TOTP, and re-validating the session per event.

Sign-in is ``authenticate`` (password) → ``mfa_requirement`` (TOTP to enter, or to enrol when the
clinic requires it for the role) → ``clinic_app.security.sessions.begin`` (cookie handoff).
``actor_for_token`` rebuilds the :class:`Actor` from the cookie's session on every event, so a
revoked session, a disabled user, a removed membership or a changed role takes effect on the next
click. Every outcome is audited in the caller's transaction; the caller commits either way.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.errors import AppError
from clinic_app.security import rate_limit, sessions, totp
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import hash_password, verify_password
from clinic_app.security.sessions import SESSION_EXPIRED_MESSAGE
from clinic_app.timeutil import as_utc
from models import Clinic, Membership, User, UserSession
from models.base import utcnow

LOGIN_FAILED_MESSAGE = (
    "Email or password is incorrect. After 5 failed tries an account is locked for 15 minutes."
)
RATE_LIMITED_MESSAGE = "Too many sign-in attempts. Wait a minute and try again."
MFA_FAILED_MESSAGE = "That code is not valid. Enter the current 6-digit code from your app."
MFA_LIMIT_MESSAGE = "Too many codes tried. Wait five minutes, then sign in again."
LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15
LOGIN_LIMIT_PER_MINUTE = 5
MFA_ATTEMPTS = 5
MFA_WINDOW_SECONDS = 300

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
    "super_admin": "Installation admin",
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


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown emails, so both failures cost the same time."""
    return hash_password(uuid.uuid4().hex)


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
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


def _audit_auth(
    session: Session,
    action: str,
    *,
    user: User | None,
    clinic_id: uuid.UUID | None,
    after: dict[str, object] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    audit.record(
        session,
        action=action,
        actor_user_id=user.id if user is not None else None,
        clinic_id=clinic_id,
        entity_type="user",
        entity_id=user.id if user is not None else None,
        after=after,
        ip=ip,
        user_agent=user_agent[:400] if user_agent else None,
    )


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Actor:
    """Check the password and return the Actor of the user's first clinic.

    Every failure (unknown email, wrong password, locked or disabled user, no membership) raises
    the same ``LOGIN_FAILED`` error so the form never tells whether an account exists; after 5
    failures in a minute for one email or from one IP, tries raise ``RATE_LIMITED``. Five wrong
    passwords in a row lock the account for 15 minutes. Success and failure both write an audit row.
    The actor returned has not passed MFA yet: see ``mfa_requirement``.
    """
    normalised = normalise_email(email)
    # Failed attempts count (a clinic behind one NAT address signs in all day); a sixth try
    # within the minute after five failures is refused before the password is checked.
    allowed = not (
        rate_limit.exceeded("login-account", normalised, limit=LOGIN_LIMIT_PER_MINUTE)
        or rate_limit.exceeded("login-ip", ip or "-", limit=LOGIN_LIMIT_PER_MINUTE)
    )
    user = (
        session.exec(select(User).where(col(User.email) == normalised)).first()
        if normalised
        else None
    )
    now = utcnow()
    if not allowed:
        _audit_auth(
            session,
            "auth.login_rate_limited",
            user=user,
            clinic_id=None,
            after={"email": normalised[:254]},
            ip=ip,
            user_agent=user_agent,
        )
        session.flush()
        raise AppError("RATE_LIMITED", RATE_LIMITED_MESSAGE)
    if user is None:
        verify_password(_dummy_hash(), password or "")
        reason = "unknown_email"
    elif user.locked_until is not None and as_utc(user.locked_until) > now:
        verify_password(_dummy_hash(), password or "")
        reason = "locked"
    elif not verify_password(user.password_hash, password or ""):
        reason = "wrong_password"
        user.failed_logins += 1
        if user.failed_logins >= LOCKOUT_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
            user.failed_logins = 0
            reason = "wrong_password_locked"
        session.add(user)
    elif not user.is_active or user.deleted_at is not None:
        reason = "user_disabled"
    else:
        found = _staff_membership(session, user.id)
        if found is None:
            reason = "no_membership"
        else:
            membership, clinic = found
            user.last_login_at = now
            user.failed_logins = 0
            user.locked_until = None
            session.add(user)
            _audit_auth(
                session,
                "auth.password_ok",
                user=user,
                clinic_id=clinic.id,
                after={"role": membership.role},
                ip=ip,
                user_agent=user_agent,
            )
            session.flush()
            return Actor(
                user_id=user.id,
                clinic_id=clinic.id,
                role=membership.role,
                full_name=user.full_name,
                email=user.email,
            )
    rate_limit.hit("login-account", normalised, limit=LOGIN_LIMIT_PER_MINUTE, window_seconds=60)
    rate_limit.hit("login-ip", ip or "-", limit=LOGIN_LIMIT_PER_MINUTE, window_seconds=60)
    _audit_auth(
        session,
        "auth.login_failed",
        user=user,
        clinic_id=None,
        after={"email": normalised[:254], "reason": reason},
        ip=ip,
        user_agent=user_agent,
    )
    session.flush()
    raise AppError("LOGIN_FAILED", LOGIN_FAILED_MESSAGE)


def mfa_requirement(session: Session, *, actor: Actor) -> str | None:
    """``"totp"`` (enter a code), ``"enrol"`` (clinic requires MFA for the role) or None."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    if user.totp_enabled_at is not None and user.totp_secret:
        return "totp"
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is not None and actor.role in (clinic.mfa_required_roles or []):
        return "enrol"
    return None


def verify_second_factor(
    session: Session,
    *,
    user_id: uuid.UUID,
    code: str,
    purpose: str = "login",
    ip: str | None = None,
) -> None:
    """Accept a current TOTP code (never the same step twice) or an unused recovery code.

    Five wrong codes in five minutes block further tries (``MFA_LOCKED``); each outcome is audited.
    """
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None or not user.totp_secret or user.totp_enabled_at is None:
        raise AppError("MFA_NOT_ENROLLED", "Two-factor sign-in is not set up for this account.")
    if not rate_limit.hit(
        "mfa", str(user_id), limit=MFA_ATTEMPTS, window_seconds=MFA_WINDOW_SECONDS
    ):
        _audit_auth(session, "auth.mfa_locked", user=user, clinic_id=None, ip=ip)
        session.flush()
        raise AppError("MFA_LOCKED", MFA_LIMIT_MESSAGE)
    step = totp.matching_step(user.totp_secret, code)
    outcome = ""
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            outcome = "replayed"
        else:
            user.totp_last_step = step
            outcome = "ok"
    else:
        hashed = totp.hash_recovery_code(code)
        if hashed in (user.recovery_code_hashes or []):
            user.recovery_code_hashes = [h for h in user.recovery_code_hashes if h != hashed]
            outcome = "recovery_code"
        else:
            outcome = "wrong"
    session.add(user)
    ok = outcome in {"ok", "recovery_code"}
    _audit_auth(
        session,
        "auth.mfa_ok" if ok else "auth.mfa_failed",
        user=user,
        clinic_id=None,
        after={"purpose": purpose, "result": outcome},
        ip=ip,
    )
    session.flush()
    if not ok:
        raise AppError("MFA_FAILED", MFA_FAILED_MESSAGE)
    rate_limit.reset("mfa", str(user_id))


@dataclass(frozen=True)
class Enrolment:
    secret: str
    qr_data_uri: str


def start_enrolment(session: Session, *, actor: Actor) -> Enrolment:
    """A new TOTP secret (not active until a code from it is confirmed)."""
    user = session.get(User, actor.user_id)
    clinic = session.get(Clinic, actor.clinic_id)
    if user is None or clinic is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    if user.totp_enabled_at is not None:
        raise AppError("MFA_ALREADY_ENROLLED", "Two-factor sign-in is already set up.")
    user.totp_secret = totp.new_secret()
    session.add(user)
    session.flush()
    uri = totp.provisioning_uri(user.totp_secret, email=user.email, clinic_name=clinic.name)
    return Enrolment(secret=user.totp_secret, qr_data_uri=totp.qr_svg_data_uri(uri))


def confirm_enrolment(session: Session, *, actor: Actor, code: str) -> list[str]:
    """Activate TOTP with a first valid code; returns the recovery codes (shown once)."""
    user = session.exec(select(User).where(User.id == actor.user_id).with_for_update()).first()
    if user is None or not user.totp_secret:
        raise AppError("MFA_NOT_STARTED", "Start the set-up again: scan the new QR code.")
    if user.totp_enabled_at is not None:
        raise AppError("MFA_ALREADY_ENROLLED", "Two-factor sign-in is already set up.")
    step = totp.matching_step(user.totp_secret, code)
    if step is None:
        raise AppError("MFA_FAILED", MFA_FAILED_MESSAGE)
    codes = totp.new_recovery_codes()
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    user.recovery_code_hashes = [totp.hash_recovery_code(c) for c in codes]
    session.add(user)
    audit.record(
        session,
        action="auth.mfa_enrolled",
        actor_user_id=user.id,
        clinic_id=actor.clinic_id,
        entity_type="user",
        entity_id=user.id,
    )
    session.flush()
    return codes


def step_up(
    session: Session, *, actor: Actor, password: str = "", code: str = "", ip: str | None = None
) -> None:
    """Re-authenticate (password, or TOTP when enrolled) before signing; marks the session."""
    if actor.session_id is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    user = session.get(User, actor.user_id)
    if user is None:
        raise AppError("SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE)
    if code:
        verify_second_factor(session, user_id=user.id, code=code, purpose="step_up", ip=ip)
    else:
        allowed = rate_limit.hit(
            "step-up", str(user.id), limit=LOGIN_LIMIT_PER_MINUTE, window_seconds=60
        )
        if not allowed or not verify_password(user.password_hash, password or ""):
            audit.record(
                session,
                action="auth.step_up_failed",
                actor_user_id=user.id,
                clinic_id=actor.clinic_id,
                entity_type="user",
                entity_id=user.id,
                ip=ip,
            )
            session.flush()
            raise AppError(
                "STEP_UP_FAILED",
                "That password is not correct." if allowed else RATE_LIMITED_MESSAGE,
            )
    sessions.mark_step_up(session, session_id=actor.session_id)
    audit.record(
        session,
        action="auth.step_up",
        actor_user_id=user.id,
        clinic_id=actor.clinic_id,
        entity_type="user",
        entity_id=user.id,
        after={"method": "totp" if code else "password"},
        ip=ip,
    )


# The session and its user's membership in one indexed query: this runs on every event. A
# user made inactive, a removed membership or clinic, or a non-staff role finds no row.
_STAFF_SESSION = (
    sessions.SESSION_BY_TOKEN.add_columns(
        col(User.full_name), col(User.email), col(Membership.role), col(User.is_super_admin)
    )
    .join(User, col(User.id) == col(UserSession.user_id))
    .join(
        Membership,
        sa.and_(
            col(Membership.user_id) == col(UserSession.user_id),
            col(Membership.clinic_id) == col(UserSession.clinic_id),
        ),
    )
    .join(Clinic, col(Clinic.id) == col(UserSession.clinic_id))
    .where(
        col(User.is_active).is_(True),
        col(User.deleted_at).is_(None),
        col(Membership.deleted_at).is_(None),
        col(Clinic.deleted_at).is_(None),
        col(Membership.role).in_(sorted(STAFF_ROLES)),
    )
)


def actor_for_token(session: Session, *, token: str | None) -> Actor:
    """The Actor of a staff session cookie; ``SESSION_EXPIRED`` when it no longer holds.

    Called on every event: the session must be live, the user active and still a member of the
    clinic, and the role always comes from the membership row, never from the browser.
    """
    active, row = sessions.resolve_row(session, token=token, kind="staff", statement=_STAFF_SESSION)
    full_name, email, role, is_super_admin = row[-4:]
    return Actor(
        user_id=active.user_id,
        clinic_id=active.clinic_id,
        role=role,
        full_name=full_name,
        email=email,
        session_id=active.id,
        is_super_admin=bool(is_super_admin),
    )


def sign_out(session: Session, *, actor: Actor, ip: str | None = None) -> None:
    """End this session (the cookie is then worthless) and audit it."""
    if actor.session_id is not None:
        sessions.revoke(session, session_id=actor.session_id, reason="logout")
    audit.record(
        session,
        action="auth.logout",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="user",
        entity_id=actor.user_id,
        ip=ip,
    )


@dataclass(frozen=True)
class AccountStatus:
    mfa_enabled: bool
    other_sessions: int


def account_status(session: Session, *, actor: Actor) -> AccountStatus:
    """What the account page shows: two-step on or off, other live sessions of this user."""
    user = session.get(User, actor.user_id)
    expiries = session.exec(
        select(UserSession.expires_at).where(
            UserSession.user_id == actor.user_id,
            col(UserSession.revoked_at).is_(None),
            col(UserSession.token_hash).is_not(None),
            col(UserSession.id) != actor.session_id,
        )
    ).all()
    now = utcnow()
    return AccountStatus(
        mfa_enabled=bool(user and user.totp_enabled_at),
        other_sessions=sum(1 for expires in expiries if as_utc(expires) > now),
    )


def sign_out_other_sessions(session: Session, *, actor: Actor) -> int:
    """End every other session of the signed-in user (a lost phone, a shared PC)."""
    ended = sessions.revoke_user_sessions(
        session, user_id=actor.user_id, reason="signed_out_elsewhere", keep=actor.session_id
    )
    audit.record(
        session,
        action="auth.sign_out_others",
        actor_user_id=actor.user_id,
        clinic_id=actor.clinic_id,
        entity_type="user",
        entity_id=actor.user_id,
        after={"sessions_ended": ended},
    )
    return ended


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
