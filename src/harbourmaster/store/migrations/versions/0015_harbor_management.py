"""harbor management: managed Harbor registries and their robot accounts

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 03:00:00.000000

``registries.management``: the Harbor management settings of a ``manage: true`` registry (robot
lifetime, rotation fraction, alert window, CI robots); NULL for every existing registry.
``managed_robots``: each generation of each robot account harbourmaster created on a managed Harbor,
with its secret sealed by the vault and, once replaced, when it retires.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registries") as batch_op:
        batch_op.add_column(sa.Column("management", sa.JSON(), nullable=True))
    op.create_table(
        "managed_robots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("registry", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("access", sa.String(8), nullable=False),
        sa.Column("harbor_id", sa.Integer(), nullable=False),
        sa.Column("harbor_name", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("retire_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("registry", "name", "generation", name="uq_managed_robot_generation"),
    )


def downgrade() -> None:
    op.drop_table("managed_robots")
    with op.batch_alter_table("registries") as batch_op:
        batch_op.drop_column("management")
