"""The demo clinic loads once and its logins work."""

from __future__ import annotations

from sqlmodel import Session, select

from clinic_app.security.passwords import verify_password
from clinic_app.services.demo import DEMO_PASSWORD, demo_logins, load_demo_clinic
from models import Appointment, AuditEvent, Clinic, Membership, Patient, User


def test_demo_clinic_loads_once(session: Session) -> None:
    assert load_demo_clinic(session) is True
    assert load_demo_clinic(session) is False
    clinics = session.exec(select(Clinic)).all()
    assert [c.slug for c in clinics] == ["demo"]
    assert len(session.exec(select(Patient)).all()) == 3
    assert len(session.exec(select(Appointment)).all()) == 5  # 3 today, 2 tomorrow
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "demo.load")).one()


def test_demo_logins_have_roles_and_passwords(session: Session) -> None:
    load_demo_clinic(session)
    for login in demo_logins():
        user = session.exec(select(User).where(User.email == login.email)).one()
        assert verify_password(user.password_hash, DEMO_PASSWORD)
        assert not verify_password(user.password_hash, "wrong password here")
        membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        assert membership.role == login.role
