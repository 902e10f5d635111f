"""Row-level security on PostgreSQL: a forgotten ``clinic_id`` filter still returns nothing.

Every clinic-owned table gets a policy keyed on the transaction setting ``app.clinic_id``, which
``clinic_app.db.session_scope`` sets: a clinic's id for work done for one clinic, ``*`` for
installation-wide work (sign-in lookups, workers, the sweeper). With no setting a query sees no
rows at all. Policies bind roles that are not the tables' owner: run the app as such a role
(README, "PostgreSQL roles"); migrations and backups run as the owner.

Migrations that add a clinic-owned table call ``enable_statements(table)`` in ``upgrade``.
"""

from __future__ import annotations

POLICY = "clinic_isolation"
ALL_CLINICS = "*"

_CLINIC_MATCH = (
    "(current_setting('app.clinic_id', true) = '*' OR clinic_id = "
    "NULLIF(NULLIF(current_setting('app.clinic_id', true), ''), '*')::uuid)"
)


def enable_statements(table: str, *, shared_rows: bool = False) -> list[str]:
    """SQL that turns the clinic policy on for ``table`` (which has a ``clinic_id`` column).

    ``shared_rows``: rows with an empty ``clinic_id`` (the starter medication catalog) are
    readable by every clinic and written only by installation-wide work.
    """
    using = f"(clinic_id IS NULL OR {_CLINIC_MATCH})" if shared_rows else _CLINIC_MATCH
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"CREATE POLICY {POLICY} ON {table} USING {using} WITH CHECK {_CLINIC_MATCH}",
    ]


def disable_statements(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
