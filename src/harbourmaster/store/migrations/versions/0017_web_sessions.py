"""web sessions: the web UI's sessions kept server-side

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 06:00:00.000000

``web_sessions``: one row per web UI session, known by the SHA-256 of its id (the id is only in the
browser's signed cookie): its user, the API token it was opened with (NULL: OpenID Connect), when it was
opened, last used and expires, and when and why it ended (signed out, token revoked, user removed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(64), nullable=True),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
