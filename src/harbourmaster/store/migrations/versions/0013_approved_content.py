"""approved content: the images an air-gap import approved for a registry

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 02:00:00.000000

One row per (registry, repository, digest) with its tags, the sha256 of the bundle manifest that
carried it, who imported it and when, and whether it came through the emergency path (with the reason).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approved_content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry", sa.String(length=128), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_by", sa.String(length=256), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registry", "repository", "digest", name="uq_approved_content_image"),
    )


def downgrade() -> None:
    op.drop_table("approved_content")
