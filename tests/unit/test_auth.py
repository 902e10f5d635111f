"""Staff sign-in and per-event session re-validation (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.passwords import hash_password
from clinic_app.services.auth import (
    LOGIN_FAILED_MESSAGE,
    actor_for_token,
    authenticate,
    session_profile,
)
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.services.users import list_members
from models import AuditEvent, Clinic, Membership, User
from tests.conftest import clear_app_caches


@pytest.fixture(autouse=True)
def _real_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rate limits live in Redis: use the test Redis (emptied per test)."""
    monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
    clear_app_caches()
    yield
    clear_app_caches()


def _token(session: Session, actor: Actor) -> str:
    """Sign in the way the browser does: handoff code, then the cookie's token."""
    code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
    token, _row = sessions.complete(session, code=code)
    return token


def load_actor(session: Session, *, user_id: uuid.UUID, clinic_id: uuid.UUID) -> Actor:
    """A fresh session for that user and clinic, resolved like every event does."""
    code = sessions.begin(session, user_id=user_id, clinic_id=clinic_id)
    token, _row = sessions.complete(session, code=code)
    return actor_for_token(session, token=token)


@pytest.fixture
def demo(session: Session) -> Clinic:
    load_demo_clinic(session)
    session.flush()
    return session.exec(select(Clinic).where(Clinic.slug == "demo")).one()


def _user(session: Session, email: str) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .order_by(col(AuditEvent.created_at))
        ).all()
    )


def test_good_login_returns_actor_and_audits(session: Session, demo: Clinic) -> None:
    actor = authenticate(
        session,
        email="  Doctor@Demo.Clinic ",
        password=DEMO_PASSWORD,
        ip="10.0.0.7",
        user_agent="pytest",
    )
    doctor = _user(session, "doctor@demo.clinic")
    assert actor.user_id == doctor.id
    assert actor.clinic_id == demo.id
    assert actor.role == "doctor"
    assert actor.full_name == "Dr. Amina Okafor"
    assert doctor.last_login_at is not None
    (row,) = _audit(session, "auth.password_ok")
    assert row.actor_user_id == doctor.id
    assert row.clinic_id == demo.id
    assert row.ip == "10.0.0.7"
    assert row.user_agent == "pytest"
    profile = session_profile(session, actor=actor)
    assert profile.clinic_name == "Demo Family Clinic"
    assert profile.role_label == "Doctor"


def test_wrong_password_and_unknown_email_fail_the_same_way(session: Session, demo: Clinic) -> None:
    with pytest.raises(AppError) as wrong:
        authenticate(session, email="doctor@demo.clinic", password="not-the-password")
    with pytest.raises(AppError) as unknown:
        authenticate(session, email="nobody@demo.clinic", password=DEMO_PASSWORD)
    with pytest.raises(AppError) as empty:
        authenticate(session, email="", password="")
    for failure in (wrong.value, unknown.value, empty.value):
        assert failure.code == "LOGIN_FAILED"
        assert failure.message == LOGIN_FAILED_MESSAGE
        assert failure.details == {}
    assert str(wrong.value) == str(unknown.value)

    rows = _audit(session, "auth.login_failed")
    assert len(rows) == 3
    doctor = _user(session, "doctor@demo.clinic")
    assert rows[0].actor_user_id == doctor.id
    assert rows[0].after == {"email": "doctor@demo.clinic", "reason": "wrong_password"}
    assert rows[1].actor_user_id is None
    assert rows[1].after == {"email": "nobody@demo.clinic", "reason": "unknown_email"}
    assert _audit(session, "auth.password_ok") == []


def test_disabled_user_is_refused(session: Session, demo: Clinic) -> None:
    nurse = _user(session, "nurse@demo.clinic")
    nurse.is_active = False
    session.add(nurse)
    session.flush()
    with pytest.raises(AppError) as refused:
        authenticate(session, email="nurse@demo.clinic", password=DEMO_PASSWORD)
    assert refused.value.code == "LOGIN_FAILED"
    assert refused.value.message == LOGIN_FAILED_MESSAGE
    (row,) = _audit(session, "auth.login_failed")
    assert row.after is not None and row.after["reason"] == "user_disabled"


def test_user_without_staff_membership_is_refused(session: Session, demo: Clinic) -> None:
    session.add(
        User(email="orphan@demo.clinic", full_name="No Clinic", password_hash=hash_password("pw"))
    )
    session.flush()
    with pytest.raises(AppError) as refused:
        authenticate(session, email="orphan@demo.clinic", password="pw")
    assert refused.value.message == LOGIN_FAILED_MESSAGE


def test_load_actor_revalidates_every_time(session: Session, demo: Clinic) -> None:
    actor = authenticate(session, email="reception@demo.clinic", password=DEMO_PASSWORD)
    token = _token(session, actor)
    again = actor_for_token(session, token=token)
    assert (again.user_id, again.clinic_id, again.role) == (
        actor.user_id,
        actor.clinic_id,
        "receptionist",
    )

    # A role change takes effect on the next event: the role comes from the database.
    membership = session.exec(select(Membership).where(Membership.user_id == actor.user_id)).one()
    membership.role = "nurse"
    session.add(membership)
    session.flush()
    assert actor_for_token(session, token=token).role == "nurse"

    # A guessed or tampered token is refused.
    with pytest.raises(AppError) as other:
        actor_for_token(session, token=token[:-2] + "xy")
    assert other.value.code == "SESSION_EXPIRED"


def test_load_actor_refuses_removed_membership(session: Session, demo: Clinic) -> None:
    actor = authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
    membership = session.exec(select(Membership).where(Membership.user_id == actor.user_id)).one()
    session.delete(membership)
    session.flush()
    with pytest.raises(AppError) as expired:
        load_actor(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
    assert expired.value.code == "SESSION_EXPIRED"


def test_load_actor_refuses_disabled_user(session: Session, demo: Clinic) -> None:
    actor = authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
    doctor = _user(session, "doctor@demo.clinic")
    doctor.is_active = False
    session.add(doctor)
    session.flush()
    with pytest.raises(AppError) as expired:
        load_actor(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
    assert expired.value.code == "SESSION_EXPIRED"


def test_member_list_is_admin_only_and_clinic_scoped(session: Session, demo: Clinic) -> None:
    admin = authenticate(session, email="admin@demo.clinic", password=DEMO_PASSWORD)
    members = list_members(session, actor=admin)
    assert {m.email for m in members} == {
        "doctor@demo.clinic",
        "nurse@demo.clinic",
        "reception@demo.clinic",
        "admin@demo.clinic",
        "pharmacy@demo.clinic",
    }
    doctor = authenticate(session, email="doctor@demo.clinic", password=DEMO_PASSWORD)
    with pytest.raises(AppError) as refused:
        list_members(session, actor=doctor)
    assert refused.value.code == "FORBIDDEN"
