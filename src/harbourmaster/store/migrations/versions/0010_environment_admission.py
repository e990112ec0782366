"""environment admission: each environment's admission mode and webhook failure policy

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 18:30:00.000000

``admission`` is ``enforce`` or ``audit`` (NULL: enforce); ``failure_policy`` is ``Fail`` or
``Ignore`` (NULL: the tier's, Fail on production and Ignore elsewhere).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admission", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("failure_policy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.drop_column("failure_policy")
        batch_op.drop_column("admission")
