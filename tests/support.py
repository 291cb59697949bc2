"""Helpers shared by the tests: a frozen clock, a JSON API client and PostgreSQL databases."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyotp
from flask.testing import FlaskClient

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class FrozenClock:
    """A clock that moves only when told to."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def totp_now(secret: str, clock: FrozenClock, offset_steps: int = 0) -> str:
    """Return the code an authenticator app would show at the clock's time."""
    return pyotp.TOTP(secret).at(clock.now + timedelta(seconds=30 * offset_steps))


def wrong_code(secret: str, clock: FrozenClock) -> str:
    """Return a well-formed code that matches no step in the window."""
    valid = {totp_now(secret, clock, offset) for offset in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


def create_postgres_database() -> str:
    """Create an empty database and return its SQLAlchemy URL; fail loudly if PostgreSQL is down."""
    name = f"tf_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is required for these tests and is not reachable at {POSTGRES_ADMIN_URL}: {exc}"
        ) from exc
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Api:
    """Drives the HTTP contract the way a JSON client does: token from the page, then JSON."""

    client: FlaskClient
    token: str = ""
    secret: str = ""
    backup_codes: list[str] = field(default_factory=list)

    def refresh_token(self) -> str:
        page = self.client.get("/login")
        match = CSRF_META.search(page.get_data(as_text=True))
        assert match, "no csrf-token meta on the login page"
        self.token = match.group(1)
        return self.token

    def post(self, path: str, body: Any = None, **kwargs: Any):
        headers = {"X-CSRFToken": self.token, **kwargs.pop("headers", {})}
        return self.client.post(path, json={} if body is None else body, headers=headers, **kwargs)

    def get(self, path: str):
        return self.client.get(path, headers={"Accept": "application/json"})

    def register(self, username: str = "alice", password: str = PASSWORD):
        self.refresh_token()
        response = self.post("/register", {"username": username, "password": password})
        self.refresh_token()
        return response

    def login(self, username: str = "alice", password: str = PASSWORD):
        self.refresh_token()
        response = self.post("/login", {"username": username, "password": password})
        self.refresh_token()
        return response

    def logout(self):
        response = self.post("/logout")
        self.refresh_token()
        return response

    def setup(self):
        response = self.post("/2fa/setup")
        if response.status_code == 200:
            self.secret = response.get_json()["secret"]
        return response

    def enable(self, clock: FrozenClock) -> list[str]:
        """Set up and confirm 2FA; return the backup codes."""
        assert self.setup().status_code == 200
        response = self.post("/2fa/verify", {"code": totp_now(self.secret, clock)})
        assert response.status_code == 200, response.get_json()
        self.backup_codes = response.get_json()["backupCodes"]
        return self.backup_codes
