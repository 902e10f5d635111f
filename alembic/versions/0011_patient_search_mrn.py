"""patient search: MRN numbers in the index, MRN prefix index

Revision ID: 0011_patient_search_mrn
Revises: 0010_uploads
Create Date: 2026-11-24 22:56:30.615546
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from clinic_app.security import pii


revision = '0011_patient_search_mrn'
down_revision = '0010_uploads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Patients written before this revision get their MRN number in the search index.
    bind = op.get_bind()
    for row in bind.execute(sa.text("SELECT id, clinic_id, mrn FROM patients")).mappings():
        number = "".join(ch for ch in row["mrn"].rsplit("-", 1)[-1] if ch.isdigit())
        if not number:
            continue
        bind.execute(
            sa.text(
                "INSERT INTO patient_search_terms (id, clinic_id, patient_id, kind, term_hash) "
                "VALUES (:id, :clinic_id, :patient_id, 'mrn', :hash)"
            ),
            {
                "id": uuid.uuid4(),
                "clinic_id": row["clinic_id"],
                "patient_id": row["id"],
                "hash": pii.blind("mrn", str(int(number))),
            },
        )
    # MRN prefix search ("PAT-2026-001…") walks this index instead of the table.
    op.create_index(
        "ix_patients_clinic_mrn_pattern",
        "patients",
        ["clinic_id", "mrn"],
        postgresql_ops={"mrn": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_patients_clinic_mrn_pattern", table_name="patients")
    op.execute("DELETE FROM patient_search_terms WHERE kind = 'mrn'")
