"""`flask db upgrade` from empty on SQLite and PostgreSQL, and the models match the migration."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import ROOT, create_app
from app.extensions import db
from tests.conftest import make_config

TABLES = {"users", "two_factor_secrets", "two_factor_backup_codes", "two_factor_attempts", "alembic_version"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    app = create_app(make_config(database_url))
    with app.app_context():
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(directory=str(ROOT / "migrations"))
        assert set(inspect(db.engine).get_table_names()) == TABLES
        downgrade(directory=str(ROOT / "migrations"), revision="base")
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
        db.session.execute(db.text("DROP TABLE alembic_version"))
        db.session.commit()


def test_models_match_the_migration(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    app = create_app(make_config(database_url))
    with app.app_context():
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(directory=str(ROOT / "migrations"))
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        downgrade(directory=str(ROOT / "migrations"), revision="base")
        db.session.execute(db.text("DROP TABLE alembic_version"))
        db.session.commit()
    assert diff == []
