"""signing: signing keys in the vault, and cached verification verdicts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:00:00.000000

The governance model's ``signing`` section and the tiers' signer lists are kept
in ``meta`` rows like the other whole-section settings, so they need no table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "signature_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_digest", sa.String(length=200), nullable=False),
        sa.Column("trust_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_digest", "trust_fingerprint"),
    )
    with op.batch_alter_table("signature_verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signature_verifications_image_digest"), ["image_digest"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signature_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_verifications_image_digest"))
    op.drop_table("signature_verifications")
    op.drop_table("signing_keys")
