"""tier approved content: a tier may admit only the approved content of an image's registry

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:00:00.000000

``tier_policies.require_approved_content``: when true, the verdict denies an image whose digest an air-gap
import did not record as approved content of its registry (``approved_content``, revision 0013).  Existing
tiers keep admitting any content (false).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tier_policies") as batch_op:
        batch_op.add_column(
            sa.Column("require_approved_content", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tier_policies") as batch_op:
        batch_op.drop_column("require_approved_content")
