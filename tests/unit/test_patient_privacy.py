"""Patient data at rest: encrypted (no plaintext in the database files), still searchable."""

from __future__ import annotations

import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clinic_app.errors import AppError
from clinic_app.security import pii
from clinic_app.security.actor import Actor
from clinic_app.services.demo import load_demo_clinic
from clinic_app.services.patients import NewPatient, register_patient, search_patients
from models import Membership, Patient, PatientSearchTerm, User

SECRET_VALUES = ("Zyxwaldo", "Quennefer", "+49 151 7654321", "zq@private.example", "1983-09-17")


@pytest.fixture
def desk(session: Session) -> Actor:
    load_demo_clinic(session)
    session.flush()
    user = session.exec(select(User).where(User.email == "reception@demo.clinic")).one()
    membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
    return Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)


def _register(session: Session, desk: Actor) -> Patient:
    row = register_patient(
        session,
        actor=desk,
        data=NewPatient(
            given_name="Zyxwaldo",
            family_name="Quennefer",
            birth_date=date(1983, 9, 17),
            phone="+49 151 7654321",
            email="ZQ@private.example",
            address="12 Hidden Lane",
            blood_group="AB-",
        ),
    )
    session.flush()
    return session.get(Patient, uuid.UUID(row.id)) or pytest.fail("not stored")


def test_round_trip_and_no_plaintext_in_the_rows(session: Session, desk: Actor) -> None:
    patient = _register(session, desk)
    session.expire_all()
    again = session.get(Patient, patient.id)
    assert again is not None
    assert (again.given_name, again.family_name) == ("Zyxwaldo", "Quennefer")
    assert again.birth_date == date(1983, 9, 17) and again.address == "12 Hidden Lane"
    assert again.pii_key_id == pii.key_ring().current
    raw = session.execute(
        sa.text("SELECT * FROM patients WHERE mrn = :mrn"), {"mrn": again.mrn}
    ).one()
    dumped = repr(tuple(raw))
    for value in SECRET_VALUES + ("12 Hidden Lane", "7654321"):
        assert value not in dumped and value.lower() not in dumped.lower()
    terms = session.exec(
        select(PatientSearchTerm.term_hash).where(PatientSearchTerm.patient_id == patient.id)
    ).all()
    assert terms and not any("zyx" in t or "quen" in t for t in terms)


def test_database_file_holds_no_plaintext(app_env: str, tmp_path: Path) -> None:
    """Scan the bytes of the whole database (SQLite file or pg_dump) for the registered values."""
    from clinic_app.db import session_scope

    with session_scope() as session:
        load_demo_clinic(session)
        user = session.exec(select(User).where(User.email == "reception@demo.clinic")).one()
        membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        desk = Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)
        _register(session, desk)
    if app_env.startswith("sqlite"):
        path = Path(app_env.removeprefix("sqlite:///"))
        data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        url = app_env.replace("postgresql+psycopg://", "postgresql://")
        data = subprocess.run(["pg_dump", url], check=True, capture_output=True).stdout
    assert b"Maria Garcia" not in data and b"Garcia" not in data  # demo patients too
    for value in SECRET_VALUES:
        assert value.encode() not in data, value


@pytest.mark.parametrize(
    "query",
    [
        "Zyxwaldo",
        "zyx",
        "quenn",
        "zyxwaldo quen",
        "Quennefer Zy",
        "ZQ@private.example",
        "+49 151 7654321",
        "151 7654321",
        "7654321",
        "1983-09-17",
        "17.09.1983",
    ],
)
def test_search_by_every_field(session: Session, desk: Actor, query: str) -> None:
    _register(session, desk)
    names = [row.name for row in search_patients(session, actor=desk, query=query)]
    assert names == ["Zyxwaldo Quennefer"], query


def test_search_ranks_whole_words_first(session: Session, desk: Actor) -> None:
    for given, family, born in (
        ("Ann", "Marsh", date(1970, 1, 1)),
        ("Annabel", "Lee", date(1971, 1, 1)),
    ):
        register_patient(
            session,
            actor=desk,
            data=NewPatient(given_name=given, family_name=family, birth_date=born),
        )
    assert [r.name for r in search_patients(session, actor=desk, query="ann")] == [
        "Ann Marsh",
        "Annabel Lee",
    ]
    assert search_patients(session, actor=desk, query="1754321") == []
    assert search_patients(session, actor=desk, query="no such person") == []


def test_duplicates_are_caught_on_registration(session: Session, desk: Actor) -> None:
    _register(session, desk)
    for twin in (
        NewPatient(given_name="zyxwaldo", family_name="QUENNEFER", birth_date=date(1983, 9, 17)),
        NewPatient(given_name="Other", family_name="Person", phone="0049 151 7654321"),
    ):
        with pytest.raises(AppError) as caught:
            register_patient(session, actor=desk, data=twin)
        assert caught.value.code == "POSSIBLE_DUPLICATE"
        assert caught.value.details["patients"][0]["name"] == "Zyxwaldo Quennefer"
    # Same name, other birthday: a different person; and a confirmed duplicate is allowed.
    register_patient(
        session,
        actor=desk,
        data=NewPatient(
            given_name="Zyxwaldo", family_name="Quennefer", birth_date=date(1990, 1, 1)
        ),
    )
    register_patient(
        session,
        actor=desk,
        data=NewPatient(
            given_name="Zyxwaldo", family_name="Quennefer", birth_date=date(1983, 9, 17)
        ),
        allow_duplicate=True,
    )
    assert len(search_patients(session, actor=desk, query="zyxwaldo")) == 3


def test_wrong_key_is_a_clear_failure(
    session: Session, desk: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = _register(session, desk)
    stored = session.execute(
        sa.select(sa.column("given_name"))
        .select_from(sa.table("patients"))
        .where(sa.column("mrn") == patient.mrn)
    ).scalar_one()
    monkeypatch.setenv("CLINIC_SECRET_KEY", "a-different-installation-secret-key")
    from tests.conftest import clear_app_caches

    clear_app_caches()
    try:
        with pytest.raises(pii.DecryptionError, match="no key 'k0'|does not decrypt"):
            pii.decrypt(stored)
    finally:
        monkeypatch.delenv("CLINIC_SECRET_KEY")
        clear_app_caches()


def test_rekey_moves_every_row_to_the_new_key(
    app_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import os

    from clinic_app import cli
    from clinic_app.db import session_scope
    from clinic_app.services import chart, prescriptions
    from models import Prescription
    from models.base import utcnow
    from tests.conftest import clear_app_caches

    with session_scope() as session:
        load_demo_clinic(session)
        user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        membership = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        doctor = Actor(user.id, membership.clinic_id, membership.role, user.full_name, user.email)
        maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        chart.add_allergy(session, actor=doctor, patient_id=maria.id, substance="Latex")
        # A signed prescription: its content is immutable, yet it moves to the new key.
        signed = Prescription(
            clinic_id=doctor.clinic_id,
            number="RX-2026-09999",
            patient_id=maria.id,
            doctor_user_id=doctor.user_id,
            items=[{"name": "amoxicillin", "strength": "500 mg"}],
            pii_key_id="k0",
        )
        session.add(signed)
        session.flush()
        signed.content_hash = prescriptions.content_hash(signed)
        signed.status, signed.signed_at = "signed", utcnow()
        session.add(signed)
    new_key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("CLINIC_PII_KEYS", f"k1:{new_key}")
    clear_app_caches()
    assert cli.main(["rekey"]) == 0
    with session_scope() as session:
        raw = session.execute(sa.text("SELECT given_name, pii_key_id FROM patients")).all()
        assert raw and all(key == "k1" and name.startswith("k1:") for name, key in raw)
        substance = session.execute(sa.text("SELECT substance FROM allergies")).scalar_one()
        assert substance.startswith("k1:")
        items, key = session.execute(sa.text("SELECT items, pii_key_id FROM prescriptions")).one()
        assert items.startswith("k1:") and key == "k1"
        rekeyed = session.exec(select(Prescription)).one()
        assert rekeyed.items[0]["name"] == "amoxicillin"
        assert prescriptions.content_hash(rekeyed) == rekeyed.content_hash
        assert (
            session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one().given_name
            == "Maria"
        )
    # Search still works (the index key does not rotate).
    with session_scope() as session:
        assert [r.name for r in search_patients(session, actor=doctor, query="garc")] == [
            "Maria Garcia"
        ]
    # Run again: nothing left to do.
    assert cli.main(["rekey"]) == 0


def test_update_patient_checks_version_and_audits_field_names(
    session: Session, desk: Actor
) -> None:
    from clinic_app.services.patients import update_patient
    from models import AuditEvent

    patient = _register(session, desk)
    seen = patient.version
    changed = NewPatient(
        given_name="Zyxwaldo",
        family_name="Quennefer",
        birth_date=date(1983, 9, 17),
        phone="+49 151 1111111",
        email="zq@private.example",
    )
    update_patient(session, actor=desk, patient_id=str(patient.id), data=changed, version=seen)
    assert patient.phone == "+49 151 1111111" and patient.version == seen + 1
    # The index follows: the new number finds them, the old one does not.
    assert [r.name for r in search_patients(session, actor=desk, query="1111111")] == [
        "Zyxwaldo Quennefer"
    ]
    assert search_patients(session, actor=desk, query="7654321") == []
    with pytest.raises(AppError) as stale:
        update_patient(session, actor=desk, patient_id=str(patient.id), data=changed, version=seen)
    assert stale.value.code == "VERSION_CONFLICT"
    row = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.update")).one()
    assert row.after is not None and "phone" in row.after["changed"]
    # blood group, address were cleared by this form: recorded as changed names only
    assert "1111111" not in repr(row.after)
