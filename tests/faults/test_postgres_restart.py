"""The database connection dies mid-request (as in a PostgreSQL restart).

The server ends the app's backend in the middle of a unit of work: the request fails with the
retryable "database unavailable" message the UI shows, nothing of it is written, and the next
request works on a fresh connection without restarting the app.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from clinic_app.db import session_scope
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patients import NewPatient, register_patient, search_patients
from models import AuditEvent, Membership, Patient, User
from state.base import DATABASE_DOWN, friendly_message
from tests.conftest import PG_ADMIN_URL


def _doctor() -> Actor:
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        return Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_connection_killed_mid_request(app_env: str) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
    doctor = _doctor()
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with (
            pytest.raises(SQLAlchemyError) as raised,
            session_scope(clinic_id=doctor.clinic_id) as session,
        ):
            register_patient(
                session, actor=doctor, data=NewPatient(given_name="Half", family_name="Written")
            )
            pid = session.exec(sa.select(sa.func.pg_backend_pid())).one()[0]
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            session.exec(select(Patient)).all()  # the next statement of the request
    finally:
        admin.dispose()
    assert friendly_message(raised.value) == DATABASE_DOWN

    with session_scope(clinic_id=doctor.clinic_id) as session:
        assert search_patients(session, actor=doctor, query="written") == []
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "patient.create")).all()
            == []
        )
        assert len(search_patients(session, actor=doctor)) == 3  # a fresh connection works
