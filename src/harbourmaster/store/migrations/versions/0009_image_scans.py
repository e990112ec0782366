"""image scans: the latest vulnerability scan of each image digest, and each tier's unscanned rule

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:00:00.000000

The image policy verdict judges an image by the latest scan of its digest (its findings as matched,
judged by the tier at verdict time); ``tier_policies.unscanned`` says what a tier does with an image
that has none (NULL: the tier's default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_digest", sa.String(length=200), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("components", sa.Integer(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_digest"),
    )
    with op.batch_alter_table("tier_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unscanned", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tier_policies", schema=None) as batch_op:
        batch_op.drop_column("unscanned")
    op.drop_table("image_scans")
