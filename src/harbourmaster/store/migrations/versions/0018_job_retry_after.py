"""job retry backoff: a job queued again after a failed attempt waits before its next one

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 07:00:00.000000

``jobs.run_after``: when a job queued again after a failed attempt may be claimed (NULL: at once, as every
job queued before this migration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("run_after", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("run_after")
