"""live transcript while recording

Revision ID: 0016_live_transcript
Revises: 0015_transcript_corrections
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_live_transcript"
down_revision = "0015_transcript_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcriptions") as batch_op:
        batch_op.add_column(
            sa.Column("is_live", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("live_ms", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("transcriptions") as batch_op:
        batch_op.drop_column("live_ms")
        batch_op.drop_column("is_live")
