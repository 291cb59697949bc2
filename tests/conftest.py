"""Fixtures: the demo app on SQLite or PostgreSQL with a frozen clock, and a JSON API client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from app import create_app
from app.extensions import db, limiter
from app.models import passwords
from tests.support import Api, FrozenClock, create_postgres_database, drop_postgres_database
from tests.wheel_venvs import wheel, wheel_venv  # noqa: F401  (session fixtures: one wheel, one venv per set)

ENCRYPTION_KEY = Fernet.generate_key().decode()
# Production keeps argon2's default cost; the tests hash hundreds of passwords and need it cheap.
passwords.update(argon2__memory_cost=1024, argon2__time_cost=1, argon2__parallelism=1)


def make_config(database_url: str, **overrides: object) -> dict[str, object]:
    """Return the demo app's test configuration."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "TWO_FACTOR_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "TWO_FACTOR_ISSUER": "Test Issuer",
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SESSION_COOKIE_SECURE": False,
        # Notices delivered in the request (after the commit): nothing outlives the test that caused it.
        "TWO_FACTOR_NOTIFY_IN_BACKGROUND": False,
        **overrides,
    }


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One empty PostgreSQL database for the session; tests reset its tables."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of modules marked ``both_backends`` once on SQLite and once on PostgreSQL.

    A test of such a module also marked ``postgres`` (real concurrency) runs on PostgreSQL only.
    """
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        only_postgres = metafunc.definition.get_closest_marker("postgres") is not None
        metafunc.parametrize("backend", ["postgresql"] if only_postgres else BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the app uses: SQLite, or each in turn for modules marked ``both_backends``."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:
    if backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def config_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(database_url: str, clock: FrozenClock, config_overrides: dict[str, object]) -> Iterator[Flask]:
    app = create_app(make_config(database_url, **config_overrides))
    app.extensions["two_factor"].clock = clock
    with app.app_context():
        db.drop_all()
        db.create_all()
    if app.config["RATELIMIT_ENABLED"]:
        limiter.reset()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def enabled(api: Api, clock: FrozenClock) -> Api:
    """A registered, logged-in user with 2FA on; the clock is moved past the enabling step."""
    assert api.register().status_code == 201
    api.enable(clock)
    clock.advance(30)
    return api
