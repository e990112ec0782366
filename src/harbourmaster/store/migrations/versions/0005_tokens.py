"""tokens: every token expires; last use recorded

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03 10:00:00.000000

Tokens created before this revision could be unlimited (``expires_at`` NULL).
They are given the default lifetime, 90 days, from the moment of the upgrade,
and ``expires_at`` becomes NOT NULL so no token can be unlimited again.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The default token lifetime at the time of this revision (services/tokens.py may change later).
_LEGACY_LIFETIME = dt.timedelta(days=90)


def upgrade() -> None:
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=dt.datetime.now(dt.UTC) + _LEGACY_LIFETIME)
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.drop_column("last_used_at")
