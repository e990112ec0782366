"""node tokens: API tokens of a Kubernetes node, bound to one environment

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 01:00:00.000000

A node token is issued to a Kubernetes node's kubelet credential provider: it belongs to no user
(``user_id`` becomes nullable) but names the node and the environment it may ask pull credentials
for.  Every token is either a user's or a node's, never both (``ck_api_tokens_owner``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node", sa.String(length=253), nullable=True))
        batch_op.add_column(sa.Column("environment", sa.String(length=128), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            "ck_api_tokens_owner",
            "(user_id IS NOT NULL AND node IS NULL AND environment IS NULL)"
            " OR (user_id IS NULL AND node IS NOT NULL AND environment IS NOT NULL)",
        )


def downgrade() -> None:
    # Node tokens cannot outlive the columns that name their node: they are dropped.
    tokens = sa.table("api_tokens", sa.column("user_id", sa.Integer()))
    op.execute(tokens.delete().where(tokens.c.user_id.is_(None)))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("ck_api_tokens_owner", type_="check")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("environment")
        batch_op.drop_column("node")
