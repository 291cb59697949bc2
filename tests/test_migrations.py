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
    "alembic_version",
}
MIGRATIONS = str(ROOT / "migrations")


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
    assert set(inspect(db.engine).get_table_names()) == TABLES - {"two_factor_browsers"}
    upgrade(directory=MIGRATIONS)
    columns = {column["name"] for column in inspect(db.engine).get_columns("two_factor_browsers")}
    assert {"token_hash", "user_id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent"} <= columns


def test_upgrade_from_the_previous_head_adds_the_sessions_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0002")
    assert set(inspect(db.engine).get_table_names()) == TABLES - {"two_factor_sessions", "two_factor_browsers"}
    db.session.execute(db.text("INSERT INTO users (id, username, password_hash) VALUES ('u1', 'alice', 'x')"))
    db.session.commit()
    upgrade(directory=MIGRATIONS)
    assert set(inspect(db.engine).get_table_names()) == TABLES
    assert db.session.execute(db.text("SELECT username FROM users")).scalar_one() == "alice"  # data kept
    columns = {column["name"] for column in inspect(db.engine).get_columns("two_factor_sessions")}
    assert {"token_hash", "user_id", "last_seen_at", "method", "remember"} <= columns


def test_downgrade_to_the_previous_head_drops_only_the_sessions_table(migrated: Flask) -> None:
    downgrade(directory=MIGRATIONS, revision="0002")
    assert set(inspect(db.engine).get_table_names()) == TABLES - {"two_factor_sessions", "two_factor_browsers"}
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
