"""sbom image names: every registry repository and tag an image digest was seen under

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000

Nothing is backfilled: a stored SBOM's ``image_name`` does not say whether it
names a registry image or a local source (``layout:v1`` parses as a Docker Hub
reference), so names are recorded from this revision on, by each SBOM
generate, attach and fetch of a registry image.  Until an image is seen again,
``vulns affected`` shows its stored SBOM's name, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sbom_image_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_digest", sa.String(length=200), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_digest", "repository", "tag"),
    )
    with op.batch_alter_table("sbom_image_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sbom_image_names_image_digest"), ["image_digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sbom_image_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sbom_image_names_image_digest"))
    op.drop_table("sbom_image_names")
