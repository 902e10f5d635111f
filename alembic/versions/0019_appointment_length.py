"""appointment length: a CHECK that an appointment lasts at most 12 hours

Time-range queries bound ``starts_at`` from below by the longest appointment so they stay on
the (provider, starts_at) index instead of scanning a provider's whole history; this CHECK
makes that bound a guarantee of the database, not only of the booking service.

Revision ID: 0019_appointment_length
Revises: 0018_records
Create Date: 2026-12-01 21:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0019_appointment_length"
down_revision = "0018_records"
branch_labels = None
depends_on = None

NAME = "ck_appointments_max_length"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE appointments ADD CONSTRAINT {NAME}"
            " CHECK (ends_at - starts_at <= interval '12 hours')"
        )
        return
    with op.batch_alter_table("appointments") as batch_op:
        # SQLite keeps times as text; julianday() reads them (1 day = 1.0).
        batch_op.create_check_constraint(
            NAME, "(julianday(ends_at) - julianday(starts_at)) * 86400 <= 43200.001"
        )


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.drop_constraint(NAME, type_="check")
