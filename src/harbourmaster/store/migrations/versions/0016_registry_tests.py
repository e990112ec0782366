"""registry tests: the last "test connection" result of each registry

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 06:00:00.000000

``registry_tests``: one row per registry name, replaced by each test: when, by whom, against which URL,
whether it passed, what it found in words, and the latency.  The web UI's registry list shows it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_tests",
        sa.Column("registry", sa.String(128), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tested_by", sa.String(255), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("registry_tests")
