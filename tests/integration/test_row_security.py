"""Tenant isolation in depth on PostgreSQL, checked with raw SQL as a non-owner role.

The app's services always filter by clinic; these tests forget the filter on purpose and show
that row-level security still returns nothing from another clinic, and that the audit trail
refuses UPDATE and DELETE.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import _truncate_all

PROBE_ROLE = "clinic_rls_probe"


@pytest.fixture
def pg(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"DO $$ BEGIN CREATE ROLE {PROBE_ROLE} NOLOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {PROBE_ROLE}"))
        conn.execute(
            sa.text(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {PROBE_ROLE}")
        )
    yield engine
    engine.dispose()
    _truncate_all(postgres_url)  # committed rows must not leak into other tests


def _two_clinics(engine: sa.Engine) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        for clinic_id, name in ((a, "A"), (b, "B")):
            conn.execute(
                sa.text(
                    "INSERT INTO clinics (id, name, slug, timezone, locale, mfa_required_roles,"
                    " created_at, updated_at, version) VALUES (:id, :name, :slug, 'UTC', 'en',"
                    " '[]', now(), now(), 1)"
                ),
                {"id": clinic_id, "name": f"Clinic {name}", "slug": f"rls-{clinic_id.hex[:8]}"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO patients (id, clinic_id, mrn, given_name, family_name,"
                    " created_at, updated_at, version) VALUES (:id, :clinic, :mrn, 'Pat', :name,"
                    " now(), now(), 1)"
                ),
                {"id": uuid.uuid4(), "clinic": clinic_id, "mrn": f"M-{name}", "name": name},
            )
    return a, b


def _as_probe(conn: sa.Connection, clinic: str | None) -> None:
    conn.execute(sa.text(f"SET LOCAL ROLE {PROBE_ROLE}"))
    if clinic is not None:
        conn.execute(sa.text("SELECT set_config('app.clinic_id', :c, true)"), {"c": clinic})


def _visible_patients(engine: sa.Engine, clinic: str | None) -> set[str]:
    with engine.begin() as conn:
        _as_probe(conn, clinic)
        rows = conn.execute(sa.text("SELECT family_name FROM patients")).all()
    return {row[0] for row in rows}


def test_query_without_clinic_filter_sees_only_its_clinic(pg: sa.Engine) -> None:
    a, b = _two_clinics(pg)
    assert _visible_patients(pg, str(a)) == {"A"}
    assert _visible_patients(pg, str(b)) == {"B"}
    # No clinic context at all: nothing, not everything.
    assert _visible_patients(pg, None) == set()
    assert _visible_patients(pg, "") == set()
    # Installation-wide work (sign-in lookups, workers) says so explicitly.
    assert {"A", "B"} <= _visible_patients(pg, "*")


def test_writing_into_another_clinic_is_refused(pg: sa.Engine) -> None:
    a, b = _two_clinics(pg)
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), pg.begin() as conn:
        _as_probe(conn, str(a))
        conn.execute(
            sa.text(
                "INSERT INTO patients (id, clinic_id, mrn, given_name, family_name,"
                " created_at, updated_at, version) VALUES (:id, :clinic, 'X', 'Eve', 'Evil',"
                " now(), now(), 1)"
            ),
            {"id": uuid.uuid4(), "clinic": b},
        )
    # An UPDATE that forgets the clinic filter touches only the own clinic's rows.
    with pg.begin() as conn:
        _as_probe(conn, str(a))
        changed = conn.execute(sa.text("UPDATE patients SET given_name = 'Changed'")).rowcount
    assert changed == 1
    with pg.begin() as conn:
        names = dict(
            conn.execute(
                sa.text("SELECT family_name, given_name FROM patients WHERE clinic_id IN (:a, :b)"),
                {"a": a, "b": b},
            ).all()
        )
    assert names == {"A": "Changed", "B": "Pat"}


def test_every_clinic_owned_table_has_the_policy(pg: sa.Engine) -> None:
    with pg.begin() as conn:
        owned = {
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.columns WHERE column_name ="
                    " 'clinic_id' AND table_schema = 'public'"
                )
            )
        }
        protected = {
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename ="
                    " c.relname WHERE c.relrowsecurity AND p.policyname = 'clinic_isolation'"
                )
            )
        }
    assert owned and owned <= protected, f"without row-level security: {owned - protected}"


def test_audit_events_are_append_only(pg: sa.Engine) -> None:
    a, _b = _two_clinics(pg)
    event_id = uuid.uuid4()
    with pg.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (id, clinic_id, action, created_at)"
                " VALUES (:id, :clinic, 'test.append', now())"
            ),
            {"id": event_id, "clinic": a},
        )
    for statement in (
        "UPDATE audit_events SET action = 'rewritten' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg.begin() as conn:
            conn.execute(sa.text(statement), {"id": event_id})
    with pg.begin() as conn:
        action = conn.execute(
            sa.text("SELECT action FROM audit_events WHERE id = :id"), {"id": event_id}
        ).scalar_one()
    assert action == "test.append"
