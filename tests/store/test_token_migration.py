"""Migration 0005: tokens made unlimited by older versions get the default lifetime, on both databases."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, text

from harbourmaster.store.database import Database


def test_unlimited_tokens_get_90_days_at_upgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        command.upgrade(db._alembic_config(), "0003")
        now = dt.datetime.now(dt.UTC)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, name, role) VALUES (1, 'old-admin', 'administrator')"))
            for token_id, expires in ((1, None), (2, now + dt.timedelta(days=7))):
                conn.execute(
                    text(
                        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at, "
                        "revoked) VALUES (:id, 1, 'legacy', :hash, :created, :expires, false)"
                    ),
                    {"id": token_id, "hash": f"{token_id:064x}", "created": now, "expires": expires},
                )
        db.upgrade()
        columns = {c["name"]: c for c in inspect(db.engine).get_columns("api_tokens")}
        assert columns["expires_at"]["nullable"] is False
        assert columns["last_used_at"]["nullable"] is True
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, expires_at FROM api_tokens ORDER BY id")).all()
        expires = {
            i: (e if isinstance(e, dt.datetime) else dt.datetime.fromisoformat(e)) for i, e in rows
        }
        aware = {i: e if e.tzinfo else e.replace(tzinfo=dt.UTC) for i, e in expires.items()}
        assert abs(aware[1] - (now + dt.timedelta(days=90))) < dt.timedelta(minutes=5)
        assert abs(aware[2] - (now + dt.timedelta(days=7))) < dt.timedelta(seconds=1)  # untouched
    finally:
        db.dispose()
