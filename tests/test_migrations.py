"""`flask db upgrade` from empty and from the previous head, downgrade, on SQLite and PostgreSQL; models match."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import ROOT, create_app
from app.extensions import db
from tests.conftest import make_config

TABLES = {
    "users",
    "two_factor_secrets",
    "two_factor_backup_codes",
    "two_factor_attempts",
    "two_factor_sessions",
    "two_factor_browsers",
    "two_factor_credentials",
    "alembic_version",
}
MIGRATIONS = str(ROOT / "migrations")
# The tables revisions 0003 (sessions), 0005 (browsers) and 0007 (security keys) create.
ADDED_AFTER_0002 = {"two_factor_sessions", "two_factor_browsers", "two_factor_credentials"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def migrated(database_url: str) -> Iterator[Flask]:
    """An app whose empty database was brought to head by the migrations alone."""
    app = create_app(make_config(database_url))
    with app.app_context():
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(directory=MIGRATIONS)
        yield app
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.drop_all()


def test_upgrade_from_empty_creates_every_table(migrated: Flask) -> None:
    assert set(inspect(db.engine).get_table_names()) == TABLES


def test_downgrade_removes_every_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}


def test_upgrade_from_0004_adds_the_remembered_browsers_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0004")
    assert set(inspect(db.engine).get_table_names()) == TABLES - {"two_factor_browsers", "two_factor_credentials"}
    upgrade(directory=MIGRATIONS)
    columns = {column["name"] for column in inspect(db.engine).get_columns("two_factor_browsers")}
    assert {"token_hash", "user_id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent"} <= columns


def test_upgrade_from_the_previous_head_adds_the_sessions_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0002")
    assert set(inspect(db.engine).get_table_names()) == TABLES - ADDED_AFTER_0002
    db.session.execute(db.text("INSERT INTO users (id, username, password_hash) VALUES ('u1', 'alice', 'x')"))
    db.session.commit()
    upgrade(directory=MIGRATIONS)
    assert set(inspect(db.engine).get_table_names()) == TABLES
    assert db.session.execute(db.text("SELECT username FROM users")).scalar_one() == "alice"  # data kept
    columns = {column["name"] for column in inspect(db.engine).get_columns("two_factor_sessions")}
    assert {"token_hash", "user_id", "last_seen_at", "method", "remember"} <= columns


def test_downgrade_to_the_previous_head_drops_only_the_sessions_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0002")
    assert set(inspect(db.engine).get_table_names()) == TABLES - ADDED_AFTER_0002
    assert db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"


def test_models_match_the_migration(migrated: Flask) -> None:
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []


def test_upgrade_from_0003_adds_the_optional_email_and_keeps_users(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0003")
    assert "email" not in {column["name"] for column in inspect(db.engine).get_columns("users")}
    db.session.execute(db.text("INSERT INTO users (id, username, password_hash) VALUES ('u1', 'alice', 'x')"))
    db.session.commit()
    upgrade(directory=MIGRATIONS)
    assert db.session.execute(db.text("SELECT username, email FROM users")).one() == ("alice", None)


def test_upgrade_from_0005_adds_the_replacement_secret_and_the_failure_reason(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0005")
    assert "replacement_secret" not in column_names("two_factor_secrets")
    assert "reason" not in column_names("two_factor_attempts")
    db.session.execute(
        db.text(
            "INSERT INTO two_factor_secrets (id, user_id, secret, is_enabled, created_at, updated_at) "
            "VALUES ('s1', 'u1', 'token', true, '2026-01-01 12:00:00', '2026-01-01 12:00:00')"
        )
    )
    db.session.execute(
        db.text(
            "INSERT INTO two_factor_attempts (id, user_id, success, method, purpose, attempted_at) "
            "VALUES ('a1', 'u1', false, 'totp', 'login', '2026-01-01 12:00:00')"
        )
    )
    db.session.commit()
    upgrade(directory=MIGRATIONS)
    assert db.session.execute(db.text("SELECT secret, replacement_secret FROM two_factor_secrets")).one() == (
        "token",
        None,
    )
    assert db.session.execute(db.text("SELECT purpose, reason FROM two_factor_attempts")).one() == ("login", None)
    db.session.commit()  # PostgreSQL: the read's transaction would hold off the downgrade's ALTER TABLE
    downgrade(directory=MIGRATIONS, revision="0005")
    assert db.session.execute(db.text("SELECT secret FROM two_factor_secrets")).scalar_one() == "token"


def column_names(table: str) -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns(table)}


def test_upgrade_from_0006_adds_the_security_keys_table_and_downgrade_drops_it(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0006")
    assert set(inspect(db.engine).get_table_names()) == TABLES - {"two_factor_credentials"}
    upgrade(directory=MIGRATIONS)
    assert {"credential_id", "public_key", "sign_count", "transports", "name", "last_used_at"} <= column_names(
        "two_factor_credentials"
    )
