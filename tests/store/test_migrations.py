"""Migrations bring an empty database to head, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from harbourmaster.store.database import Database, StoreError
from harbourmaster.store.models import Base

#: The governance core's tables (other layers add their own).
GOVERNANCE_TABLES = {
    "alembic_version",
    "api_tokens",
    "audit_log",
    "environment_access",
    "environments",
    "meta",
    "namespaces",
    "registries",
    "registry_grants",
    "team_members",
    "teams",
    "tier_policies",
    "users",
}


def test_an_empty_database_is_refused_until_migrated(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert db.current_revision() is None
        with pytest.raises(StoreError) as info:
            db.ensure_current()
        message = info.value.message
        assert "revision none" in message
        assert f"expected {db.head_revision()}" in message
        assert "harbourmaster init" in message
        assert inspect(db.engine).get_table_names() == []
    finally:
        db.dispose()


def test_upgrade_reaches_head_and_is_idempotent(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        head = db.head_revision()
        assert head is not None
        assert db.current_revision() == head
        db.ensure_current()
        tables = set(inspect(db.engine).get_table_names())
        assert tables >= GOVERNANCE_TABLES
        assert tables == {*Base.metadata.tables, "alembic_version"}
        db.upgrade()
        assert db.current_revision() == head
    finally:
        db.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """The migration and the SQLAlchemy models describe the same schema (no drift)."""
    db = Database(database_url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diffs == []
    finally:
        db.dispose()


def test_a_database_url_with_a_password_is_never_shown(postgres_url: str) -> None:
    secret = "pw-Never-Shown-3e1f"
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")
    db = Database(url)
    try:
        assert secret not in db.display_url
        # trust authentication ignores the password, so this connects and
        # fails only because the schema is missing: the message names the URL
        with pytest.raises(StoreError) as info:
            db.ensure_current()
        assert secret not in info.value.diagnostics()
        assert secret not in repr(info.value)
    finally:
        db.dispose()


UNREACHABLE = "postgresql+psycopg://postgres:pw-Hidden-9@127.0.0.1:1/nowhere"


def test_an_unreachable_database_is_a_store_error_in_a_transaction() -> None:
    db = Database(UNREACHABLE)
    try:
        with pytest.raises(StoreError) as info, db.transaction() as session:
            session.execute(text("SELECT 1"))
        assert "127.0.0.1:1/nowhere" in info.value.message
        assert "pw-Hidden-9" not in info.value.diagnostics()
    finally:
        db.dispose()


def test_an_unreachable_database_is_a_store_error_when_checking_the_schema() -> None:
    """What every CLI command runs first: it must not escape as a raw driver error."""
    db = Database(UNREACHABLE)
    try:
        with pytest.raises(StoreError) as info:
            db.ensure_current()
        assert "127.0.0.1:1/nowhere" in info.value.message
        assert "pw-Hidden-9" not in info.value.diagnostics()
    finally:
        db.dispose()


def test_0014_keeps_existing_tiers_admitting_any_content(database_url: str) -> None:
    from alembic import command

    db = Database(database_url)
    try:
        config = db._alembic_config()
        command.upgrade(config, "0013")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tier_policies (tier, block_severity, require_signature, ignore_unfixed) "
                    "VALUES ('production', 'high', :yes, :no)"
                ),
                {"yes": True, "no": False},
            )
        command.upgrade(config, "0014")
        with db.engine.connect() as conn:
            value = conn.execute(
                text("SELECT require_approved_content FROM tier_policies WHERE tier = 'production'")
            ).scalar_one()
        assert value in (False, 0)
        command.downgrade(config, "0013")
        columns = {c["name"] for c in inspect(db.engine).get_columns("tier_policies")}
        assert "require_approved_content" not in columns and "unscanned" in columns
        command.upgrade(config, "head")
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()
