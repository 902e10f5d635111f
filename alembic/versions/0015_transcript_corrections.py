"""transcript corrections

Revision ID: 0015_transcript_corrections
Revises: 0014_scribe
Create Date: 2026-12-01 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_transcript_corrections"
down_revision = "0014_scribe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcriptions") as batch_op:
        # Encrypted JSON: no plaintext default; rows from before read as "no corrections".
        batch_op.add_column(sa.Column("corrections", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("manually_corrected", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("transcriptions") as batch_op:
        batch_op.drop_column("manually_corrected")
        batch_op.drop_column("corrections")
