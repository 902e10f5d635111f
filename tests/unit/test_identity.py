"""Identity services on SQLite and PostgreSQL, with the real Redis for rate limits.

Lockout, rate limits, TOTP (valid, expired, replayed, brute force, recovery codes), sessions
(handoff once, idle and absolute expiry, revocation), step-up, users admin, portal codes,
audit log search/export.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlmodel import Session, col, select

from clinic_app.errors import AppError
from clinic_app.security import rate_limit, sessions, totp
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import password_problem
from clinic_app.services import audit_log, auth, portal, users
from clinic_app.services.demo import DEMO_PASSWORD, DEMO_PORTAL_EMAIL, load_demo_clinic
from models import AuditEvent, Clinic, Membership, Notification, Patient, PortalCode, User
from models.base import utcnow
from tests.conftest import clear_app_caches


@pytest.fixture(autouse=True)
def _real_redis(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "var"))
    clear_app_caches()
    yield
    clear_app_caches()


@pytest.fixture
def demo(session: Session) -> Clinic:
    load_demo_clinic(session)
    session.flush()
    return session.exec(select(Clinic).where(Clinic.slug == "demo")).one()


def _login(
    session: Session, email: str, password: str = DEMO_PASSWORD, ip: str = "10.0.0.1"
) -> Actor:
    return auth.authenticate(session, email=email, password=password, ip=ip)


def _actions(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .order_by(col(AuditEvent.created_at))
        ).all()
    )


def _signed_in(session: Session, actor: Actor) -> tuple[str, Actor]:
    code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
    token, _ = sessions.complete(session, code=code)
    return token, auth.actor_for_token(session, token=token)


# ---- passwords, lockout, rate limits ------------------------------------------------------


def test_password_policy_is_length_and_common_list_only() -> None:
    assert password_problem("short") is not None
    assert password_problem("Password2026!!") is not None  # common word + digits/symbols
    assert password_problem("123456789012") is not None
    assert password_problem("aaaaaaaaaaaaaaaa") is not None
    assert password_problem("correct horse battery") is None  # no composition rules
    assert password_problem("demo-clinic-2026") is None


def test_five_wrong_passwords_lock_the_account_for_15_minutes(
    session: Session, demo: Clinic
) -> None:
    for attempt in range(5):
        with pytest.raises(AppError) as failed:
            _login(session, "nurse@demo.clinic", "wrong-password!", ip=f"10.1.0.{attempt}")
        assert failed.value.code == "LOGIN_FAILED"
    nurse = session.exec(select(User).where(User.email == "nurse@demo.clinic")).one()
    assert nurse.locked_until is not None
    rate_limit.reset("login-account", "nurse@demo.clinic")  # a minute later
    # Even the right password is refused while locked, with the same generic message.
    with pytest.raises(AppError) as locked:
        _login(session, "nurse@demo.clinic", ip="10.1.0.9")
    assert locked.value.code == "LOGIN_FAILED"
    reasons = [row.after["reason"] for row in _actions(session, "auth.login_failed") if row.after]
    assert reasons[-2:] == ["wrong_password_locked", "locked"]
    # After the lock ends the right password works and the counter is reset.
    rate_limit.reset("login-account", "nurse@demo.clinic")
    nurse.locked_until = utcnow() - timedelta(seconds=1)
    session.add(nurse)
    session.flush()
    assert _login(session, "nurse@demo.clinic", ip="10.1.0.10").role == "nurse"
    assert nurse.failed_logins == 0 and nurse.locked_until is None


def test_login_rate_limit_per_account_and_per_ip(session: Session, demo: Clinic) -> None:
    for attempt in range(5):
        with pytest.raises(AppError):
            _login(session, f"nobody{attempt}@demo.clinic", "x" * 12, ip="10.2.0.1")
    # The sixth attempt from that IP is refused before the password is even checked.
    with pytest.raises(AppError) as limited:
        _login(session, "doctor@demo.clinic", ip="10.2.0.1")
    assert limited.value.code == "RATE_LIMITED"
    # Another IP is fine.
    assert _login(session, "doctor@demo.clinic", ip="10.2.0.2").role == "doctor"
    # Per account: five tries from five IPs, the sixth is refused.
    for attempt in range(5):
        with pytest.raises(AppError):
            _login(session, "reception@demo.clinic", "wrong-password!", ip=f"10.3.0.{attempt}")
    with pytest.raises(AppError) as limited_account:
        _login(session, "reception@demo.clinic", ip="10.3.0.99")
    assert limited_account.value.code == "RATE_LIMITED"
    assert _actions(session, "auth.login_rate_limited")


# ---- TOTP ---------------------------------------------------------------------------------


def _enrol(session: Session, actor: Actor) -> tuple[str, list[str]]:
    enrolment = auth.start_enrolment(session, actor=actor)
    assert enrolment.qr_data_uri.startswith("data:image/svg+xml")
    # A code from the previous 30-second step: the first code of a new step is kept fresh.
    previous = pyotp.TOTP(enrolment.secret).at(time.time() - 30)
    codes = auth.confirm_enrolment(session, actor=actor, code=previous)
    return enrolment.secret, codes


def test_totp_valid_expired_replayed_and_recovery(session: Session, demo: Clinic) -> None:
    doctor = _login(session, "doctor@demo.clinic")
    assert auth.mfa_requirement(session, actor=doctor) is None
    secret, recovery = _enrol(session, doctor)
    assert len(recovery) == 10 and len(set(recovery)) == 10
    assert auth.mfa_requirement(session, actor=doctor) == "totp"

    current = pyotp.TOTP(secret).now()
    auth.verify_second_factor(session, user_id=doctor.user_id, code=current)
    # The same code again (replay) is refused, as is an old one (expired: 2 steps back).
    with pytest.raises(AppError) as replayed:
        auth.verify_second_factor(session, user_id=doctor.user_id, code=current)
    assert replayed.value.code == "MFA_FAILED"
    stale = pyotp.TOTP(secret).at(time.time() - 90)
    with pytest.raises(AppError):
        auth.verify_second_factor(session, user_id=doctor.user_id, code=stale)
    # A recovery code works once.
    auth.verify_second_factor(session, user_id=doctor.user_id, code=recovery[0].upper())
    with pytest.raises(AppError):
        auth.verify_second_factor(session, user_id=doctor.user_id, code=recovery[0])
    results = [row.after["result"] for row in _actions(session, "auth.mfa_failed") if row.after]
    assert "replayed" in results and "wrong" in results


def test_totp_brute_force_is_stopped(session: Session, demo: Clinic) -> None:
    doctor = _login(session, "doctor@demo.clinic")
    secret, _ = _enrol(session, doctor)
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    failures = 0
    for _ in range(5):
        with pytest.raises(AppError) as failed:
            auth.verify_second_factor(session, user_id=doctor.user_id, code=wrong)
        failures += failed.value.code == "MFA_FAILED"
    assert failures == 5
    # Even the right code is refused now, until the window passes.
    with pytest.raises(AppError) as locked:
        auth.verify_second_factor(session, user_id=doctor.user_id, code=pyotp.TOTP(secret).now())
    assert locked.value.code == "MFA_LOCKED"
    assert _actions(session, "auth.mfa_locked")


def test_clinic_policy_requires_enrolment_for_a_role(session: Session, demo: Clinic) -> None:
    admin = _login(session, "admin@demo.clinic")
    users.set_mfa_required_roles(session, actor=admin, roles=["doctor", "not-a-role"])
    assert users.mfa_required_roles(session, actor=admin) == ["doctor"]
    doctor = _login(session, "doctor@demo.clinic")
    assert auth.mfa_requirement(session, actor=doctor) == "enrol"
    nurse = _login(session, "nurse@demo.clinic")
    assert auth.mfa_requirement(session, actor=nurse) is None
    (row,) = _actions(session, "clinic.mfa_policy")
    assert row.after == {"mfa_required_roles": ["doctor"]}


def test_qr_code_encodes_the_provisioning_uri() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, email="a@b.c", clinic_name="Demo")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert totp.matching_step(secret, "12345") is None
    assert totp.matching_step(secret, pyotp.TOTP(secret).now()) is not None


# ---- sessions -----------------------------------------------------------------------------


def test_handoff_code_works_once_and_expires(session: Session, demo: Clinic) -> None:
    doctor = _login(session, "doctor@demo.clinic")
    code = sessions.begin(session, user_id=doctor.user_id, clinic_id=doctor.clinic_id)
    token, row = sessions.complete(session, code=code)
    assert row.token_hash == sessions.hash_token(token) and token not in str(row.token_hash)
    with pytest.raises(AppError):
        sessions.complete(session, code=code)
    late = sessions.begin(session, user_id=doctor.user_id, clinic_id=doctor.clinic_id)
    pending = session.exec(
        select(sessions.UserSession).where(
            sessions.UserSession.handoff_hash == sessions.hash_token(late)
        )
    ).one()
    pending.handoff_expires_at = utcnow() - timedelta(seconds=1)
    session.add(pending)
    session.flush()
    with pytest.raises(AppError):
        sessions.complete(session, code=late)


def test_idle_and_absolute_expiry_and_sign_out_others(session: Session, demo: Clinic) -> None:
    doctor = _login(session, "doctor@demo.clinic")
    token_a, actor_a = _signed_in(session, doctor)
    token_b, _ = _signed_in(session, doctor)
    token_c, _ = _signed_in(session, doctor)
    row_b = session.exec(
        select(sessions.UserSession).where(
            sessions.UserSession.token_hash == sessions.hash_token(token_b)
        )
    ).one()
    row_b.last_seen_at = utcnow() - timedelta(minutes=31)  # idle past the 30-minute default
    row_c = session.exec(
        select(sessions.UserSession).where(
            sessions.UserSession.token_hash == sessions.hash_token(token_c)
        )
    ).one()
    row_c.expires_at = utcnow() - timedelta(seconds=1)  # absolute lifetime over
    session.add_all([row_b, row_c])
    session.flush()
    for token in (token_b, token_c):
        with pytest.raises(AppError) as expired:
            auth.actor_for_token(session, token=token)
        assert expired.value.code == "SESSION_EXPIRED"

    token_d, _ = _signed_in(session, doctor)
    assert auth.sign_out_other_sessions(session, actor=actor_a) >= 1
    with pytest.raises(AppError):
        auth.actor_for_token(session, token=token_d)
    assert auth.actor_for_token(session, token=token_a).user_id == doctor.user_id
    auth.sign_out(session, actor=actor_a)
    with pytest.raises(AppError):
        auth.actor_for_token(session, token=token_a)


def test_cookie_header_parsing() -> None:
    token = "t" * 43
    assert sessions.token_from_cookie_header(f"a=1; clinic_session={token}; b=2") == token
    assert sessions.token_from_cookie_header("clinic_session=short") is None
    assert sessions.token_from_cookie_header('bad"cookie') is None
    assert sessions.token_from_cookie_header(None) is None


def test_step_up_with_password_or_totp(session: Session, demo: Clinic) -> None:
    doctor = _login(session, "doctor@demo.clinic")
    _token, actor = _signed_in(session, doctor)
    with pytest.raises(AppError) as needed:
        sessions.require_recent_step_up(session, session_id=actor.session_id)
    assert needed.value.code == "STEP_UP_REQUIRED"
    with pytest.raises(AppError) as wrong:
        auth.step_up(session, actor=actor, password="not-it")
    assert wrong.value.code == "STEP_UP_FAILED"
    auth.step_up(session, actor=actor, password=DEMO_PASSWORD)
    sessions.require_recent_step_up(session, session_id=actor.session_id)
    secret, _ = _enrol(session, actor)
    auth.step_up(session, actor=actor, code=pyotp.TOTP(secret).now())
    assert [r.after for r in _actions(session, "auth.step_up")] == [
        {"method": "password"},
        {"method": "totp"},
    ]


# ---- users admin --------------------------------------------------------------------------


def test_users_admin_create_role_change_disable_reset(session: Session, demo: Clinic) -> None:
    admin = _login(session, "admin@demo.clinic")
    with pytest.raises(AppError) as weak:
        users.create_user(
            session,
            actor=admin,
            email="new@demo.clinic",
            full_name="New",
            role="nurse",
            password="password1234",
        )
    assert weak.value.code == "WEAK_PASSWORD"
    new_id = users.create_user(
        session,
        actor=admin,
        email=" New@Demo.Clinic ",
        full_name="Nia New",
        role="nurse",
        password="a long enough passphrase",
    )
    nurse = _login(session, "new@demo.clinic", "a long enough passphrase", ip="10.9.0.1")
    token, _ = _signed_in(session, nurse)

    users.change_role(session, actor=admin, user_id=new_id, role="receptionist")
    with pytest.raises(AppError):  # the role change ended the session
        auth.actor_for_token(session, token=token)
    token, _ = _signed_in(
        session, _login(session, "new@demo.clinic", "a long enough passphrase", ip="10.9.0.2")
    )
    assert auth.actor_for_token(session, token=token).role == "receptionist"

    users.set_active(session, actor=admin, user_id=new_id, active=False)
    with pytest.raises(AppError):
        auth.actor_for_token(session, token=token)
    with pytest.raises(AppError):
        _login(session, "new@demo.clinic", "a long enough passphrase", ip="10.9.0.3")
    users.set_active(session, actor=admin, user_id=new_id, active=True)

    with pytest.raises(AppError) as own:
        users.change_role(session, actor=admin, user_id=admin.user_id, role="nurse")
    assert own.value.code == "OWN_ROLE"
    actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    for expected in ("user.create", "user.role_change", "user.disable", "user.enable"):
        assert expected in actions
    (change,) = _actions(session, "user.role_change")
    assert change.before == {"role": "nurse"} and change.after == {"role": "receptionist"}

    # MFA reset clears the authenticator of a member.
    secret, _ = _enrol(session, nurse)
    users.reset_mfa(session, actor=admin, user_id=new_id)
    assert session.get(User, new_id).totp_enabled_at is None  # type: ignore[union-attr]
    assert secret

    # Only admins, and only for members of their clinic.
    doctor = _login(session, "doctor@demo.clinic")
    with pytest.raises(AppError) as refused:
        users.change_role(session, actor=doctor, user_id=new_id, role="doctor")
    assert refused.value.code == "FORBIDDEN"
    other = Clinic(name="Other", slug="other-clinic")
    session.add(other)
    session.flush()
    stranger_admin = Actor(
        user_id=admin.user_id, clinic_id=other.id, role="clinic_admin", full_name="x", email="x"
    )
    with pytest.raises(AppError) as hidden:
        users.set_active(session, actor=stranger_admin, user_id=new_id, active=False)
    assert hidden.value.code == "NOT_FOUND"


# ---- patient portal -----------------------------------------------------------------------


def _sent_code(session: Session) -> str:
    notification = session.exec(
        select(Notification).order_by(col(Notification.created_at).desc())
    ).first()
    assert notification is not None and notification.recipient == DEMO_PORTAL_EMAIL
    match = re.search(r"\b(\d{6})\b", notification.body)
    assert match
    return match.group(1)


def test_portal_code_flow_limits_and_own_data(session: Session, demo: Clinic) -> None:
    message = portal.request_code(session, email=DEMO_PORTAL_EMAIL)
    assert message == portal.request_code(session, email="stranger@example.com")
    code = _sent_code(session)
    stored = session.exec(select(PortalCode)).one()
    assert code not in stored.code_hash
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(AppError):
        portal.verify_code(session, email=DEMO_PORTAL_EMAIL, code=wrong)
    actor = portal.verify_code(session, email=DEMO_PORTAL_EMAIL, code=code)
    maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
    assert actor.role == "patient" and actor.patient_id == maria.id
    with pytest.raises(AppError):  # used once
        portal.verify_code(session, email=DEMO_PORTAL_EMAIL, code=code)

    view = portal.overview(session, actor=actor)
    assert view.patient_name == "Maria Garcia" and view.mrn == "PAT-2026-00001"
    assert "John Smith" not in repr(view)
    # A portal session is not a staff session, and a staff token is not a portal one.
    code_handoff = sessions.begin(
        session, user_id=actor.user_id, clinic_id=actor.clinic_id, kind="patient"
    )
    token, _ = sessions.complete(session, code=code_handoff)
    assert portal.actor_for_token(session, token=token).patient_id == maria.id
    with pytest.raises(AppError):
        auth.actor_for_token(session, token=token)

    # Third send in 15 minutes is the last; three wrong tries burn a code.
    portal.request_code(session, email=DEMO_PORTAL_EMAIL)
    new_code = _sent_code(session)
    for _ in range(3):
        with pytest.raises(AppError):
            portal.verify_code(
                session, email=DEMO_PORTAL_EMAIL, code=f"{(int(new_code) + 7) % 1_000_000:06d}"
            )
    with pytest.raises(AppError):
        portal.verify_code(session, email=DEMO_PORTAL_EMAIL, code=new_code)
    portal.request_code(session, email=DEMO_PORTAL_EMAIL)
    with pytest.raises(AppError) as limited:
        portal.request_code(session, email=DEMO_PORTAL_EMAIL)
    assert limited.value.code == "RATE_LIMITED"


def test_portal_code_expires_after_10_minutes(session: Session, demo: Clinic) -> None:
    portal.request_code(session, email=DEMO_PORTAL_EMAIL)
    code = _sent_code(session)
    row = session.exec(select(PortalCode)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    with pytest.raises(AppError):
        portal.verify_code(session, email=DEMO_PORTAL_EMAIL, code=code)


def test_staff_enable_portal_access(session: Session, demo: Clinic) -> None:
    reception = _login(session, "reception@demo.clinic")
    john = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00002")).one()
    portal.enable_portal_access(session, actor=reception, patient_id=john.id, email="john@x.org")
    membership = session.exec(select(Membership).where(Membership.patient_id == john.id)).one()
    assert membership.role == "patient"
    with pytest.raises(AppError) as taken:
        portal.enable_portal_access(
            session, actor=reception, patient_id=john.id, email="doctor@demo.clinic"
        )
    assert taken.value.code == "PORTAL_EMAIL_TAKEN"
    with pytest.raises(AppError) as missing:
        portal.enable_portal_access(
            session, actor=reception, patient_id=uuid.uuid4(), email="a@b.org"
        )
    assert missing.value.code == "NOT_FOUND"


# ---- audit log ----------------------------------------------------------------------------


def test_audit_log_search_and_csv_export(session: Session, demo: Clinic) -> None:
    admin = _login(session, "admin@demo.clinic")
    _login(session, "doctor@demo.clinic")
    rows = audit_log.search(
        session, actor=admin, filters=audit_log.AuditFilter(action="auth.password_ok")
    )
    assert {row.user for row in rows} == {"admin@demo.clinic", "doctor@demo.clinic"}
    only_doctor = audit_log.search(
        session, actor=admin, filters=audit_log.AuditFilter(user_email="doctor@demo.clinic")
    )
    assert only_doctor and {row.user for row in only_doctor} == {"doctor@demo.clinic"}
    with pytest.raises(AppError) as bad:
        audit_log.search(session, actor=admin, filters=audit_log.AuditFilter(date_from="24/11"))
    assert bad.value.code == "INVALID_DATE"
    text = audit_log.export_csv(session, actor=admin, filters=audit_log.AuditFilter())
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["time", "user", "action"] and len(table) > 2
    assert _actions(session, "audit.export")
    doctor = _login(session, "doctor@demo.clinic")
    with pytest.raises(AppError) as refused:
        audit_log.search(session, actor=doctor, filters=audit_log.AuditFilter())
    assert refused.value.code == "FORBIDDEN"


# ---- clinics and branches -----------------------------------------------------------------


def test_create_clinic_and_branches_are_per_clinic(session: Session, demo: Clinic) -> None:
    from clinic_app.services import clinics

    with pytest.raises(AppError) as bad_slug:
        clinics.create_clinic(
            session,
            name="North",
            slug="North Clinic!",
            timezone="UTC",
            admin_email="boss@north.clinic",
            admin_name="Boss",
            admin_password="x" * 3,
        )
    assert bad_slug.value.code == "INVALID_SLUG"
    with pytest.raises(AppError) as bad_zone:
        clinics.create_clinic(
            session,
            name="North",
            slug="north",
            timezone="Mars/Base",
            admin_email="boss@north.clinic",
            admin_name="Boss",
            admin_password="x" * 3,
        )
    assert bad_zone.value.code == "INVALID_TIMEZONE"
    north_id = clinics.create_clinic(
        session,
        name="North",
        slug="north",
        timezone="Europe/Berlin",
        admin_email="boss@north.clinic",
        admin_name="Boss",
        admin_password="north clinic admin pw",
    )
    boss = _login(session, "boss@north.clinic", "north clinic admin pw")
    assert boss.clinic_id == north_id and boss.role == "clinic_admin"
    clinics.add_branch(session, actor=boss, name="Harbour", address="2 Quay", phone="")
    with pytest.raises(AppError) as dup:
        clinics.add_branch(session, actor=boss, name="Harbour", address="", phone="")
    assert dup.value.code == "BRANCH_EXISTS"
    assert [b.name for b in clinics.list_branches(session, actor=boss)] == ["Harbour", "Main"]
    demo_admin = _login(session, "admin@demo.clinic")
    assert [b.name for b in clinics.list_branches(session, actor=demo_admin)] == ["Main"]
    # The north admin sees only north's members.
    assert [m.email for m in users.list_members(session, actor=boss)] == ["boss@north.clinic"]


# ---- the installation console (super admins) ----------------------------------------------


def test_installation_admin_creates_suspends_and_resumes_clinics(
    session: Session, demo: Clinic
) -> None:
    from clinic_app.services import clinics

    admin = _login(session, "admin@demo.clinic")
    _token, plain_admin = _signed_in(session, admin)
    with pytest.raises(AppError) as refused:
        clinics.list_clinics(session, actor=plain_admin)
    assert refused.value.code == "FORBIDDEN"  # a clinic admin is not the installation's

    clinics.set_super_admin(session, email="admin@demo.clinic", granted=True)
    with pytest.raises(AppError):  # granting revoked the old sessions: the role changed
        auth.actor_for_token(session, token=_token)
    _token, operator = _signed_in(session, _login(session, "admin@demo.clinic"))
    assert operator.is_super_admin and operator.role == "clinic_admin"

    clinics.create_clinic_as(
        session,
        actor=operator,
        name="North Clinic",
        slug="north",
        timezone="Europe/Oslo",
        admin_email="boss@north.clinic",
        admin_name="Nora North",
        admin_password="a long enough password",
    )
    rows = {row.slug: row for row in clinics.list_clinics(session, actor=operator)}
    assert rows["demo"].staff == 5 and rows["demo"].patients == 3
    assert (rows["north"].staff, rows["north"].patients, rows["north"].active) == (1, 0, True)

    boss = _login(session, "boss@north.clinic", password="a long enough password")
    boss_token, _boss = _signed_in(session, boss)
    clinics.set_clinic_active(session, actor=operator, slug="north", active=False)
    with pytest.raises(AppError) as suspended:
        auth.actor_for_token(session, token=boss_token)
    assert suspended.value.code == "SESSION_EXPIRED"
    assert not {r.slug: r for r in clinics.list_clinics(session, actor=operator)}["north"].active
    with pytest.raises(AppError) as own:
        clinics.set_clinic_active(session, actor=operator, slug="demo", active=False)
    assert own.value.code == "OWN_CLINIC"
    clinics.set_clinic_active(session, actor=operator, slug="north", active=True)
    assert _login(session, "boss@north.clinic", "a long enough password").role == "clinic_admin"
    assert {e.action for e in session.exec(select(AuditEvent)).all()} >= {
        "installation.super_admin_grant",
        "installation.clinic_create",
        "installation.clinic_suspend",
        "installation.clinic_resume",
    }


def test_admin_sets_a_prescribers_registration_number(session: Session, demo: Clinic) -> None:
    from clinic_app.services import users

    admin = _login(session, "admin@demo.clinic")
    doctor = _login(session, "doctor@demo.clinic")
    users.set_registration_number(session, actor=admin, user_id=doctor.user_id, number=" GMC 7 ")
    rows = {m.email: m for m in users.list_members(session, actor=admin)}
    assert rows["doctor@demo.clinic"].registration_number == "GMC 7"
    with pytest.raises(AppError) as too_long:
        users.set_registration_number(session, actor=admin, user_id=doctor.user_id, number="9" * 61)
    assert too_long.value.code == "VALIDATION"
    with pytest.raises(AppError) as refused:
        users.set_registration_number(session, actor=doctor, user_id=doctor.user_id, number="X")
    assert refused.value.code == "FORBIDDEN"
    assert [e.after for e in _actions(session, "user.registration_number")] == [
        {"registration_number": "GMC 7"}
    ]
