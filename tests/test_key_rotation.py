"""S4 key rotation at scale on PostgreSQL: 10,000 enrolled users, `flask two-factor rotate-keys`,
then the old key dropped; an interrupted rotation re-run; a wrong key set refused without change.

Users and secrets are inserted in bulk through the ORM (not over HTTP); the rotation runs through
the real CLI command (app.test_cli_runner(), and once as a `flask` subprocess).
"""

from __future__ import annotations

import os
import random
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from sqlalchemy import insert, select

from app import create_app
from app.extensions import db
from app.models import User, passwords
from app.two_factor import cli as two_factor_cli
from app.two_factor import codes, totp
from app.two_factor.crypto import KeyRing
from app.two_factor.models import TwoFactorBackupCode, TwoFactorSecret
from tests.conftest import make_config
from tests.helpers_real import pending_client
from tests.live_server import flask_cli
from tests.support import PASSWORD, FrozenClock, totp_now

pytestmark = pytest.mark.postgres

USERS = 10_000
USERS_WITH_CODES = 100
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def backend() -> str:
    return "postgresql"


def enroll_in_bulk(app: Flask, count: int, clock: FrozenClock) -> dict[str, str]:
    """Insert ``count`` users with 2FA on (secrets under the app's key); return user id → plaintext secret."""
    ring = app.extensions["two_factor"].keys
    password_hash = passwords.hash(PASSWORD)
    now = clock.now - timedelta(days=1)
    step = totp.time_step(now)
    secrets: dict[str, str] = {}
    users, rows, backup_codes = [], [], []
    for i in range(count):
        user_id = str(uuid.uuid4())
        secrets[user_id] = totp.new_secret()
        users.append({"id": user_id, "username": f"user{i:05d}", "password_hash": password_hash})
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": user_id,
                "secret": ring.encrypt(secrets[user_id]),
                "is_enabled": True,
                "created_at": now,
                "updated_at": now,
                "confirmed_at": now,
                "last_used_step": step,
                "failed_attempts": 0,
            }
        )
        if i < USERS_WITH_CODES:
            key = ring.newest_code_key
            for code in codes.new_codes():
                digest = codes.keyed_hash(key.key, codes.normalize(code) or "")
                backup_codes.append(
                    {
                        "id": str(uuid.uuid4()),
                        "user_id": user_id,
                        "code_hash": digest,
                        "key_id": key.key_id,
                        "created_at": now,
                    }
                )
    with app.app_context():
        db.session.execute(insert(User), users)
        db.session.execute(insert(TwoFactorSecret), rows)
        db.session.execute(insert(TwoFactorBackupCode), backup_codes)
        db.session.commit()
    return secrets


def tokens(app: Flask) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(TwoFactorSecret.user_id, TwoFactorSecret.secret)).all())


def other_columns(app: Flask) -> list[tuple[object, ...]]:
    """Every secret row without its token: rotation must leave these alone."""
    columns = [column for column in TwoFactorSecret.__table__.columns if column.name != "secret"]
    with app.app_context():
        return sorted(tuple(row) for row in db.session.execute(select(*columns)))


def under_key(key: str, token: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def app_with_keys(database_url: str, keys: str, clock: FrozenClock) -> Flask:
    """The same database (tables kept) served by an app with another TWO_FACTOR_ENCRYPTION_KEYS."""
    other = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=keys))
    other.extensions["two_factor"].clock = clock
    return other


def rotate(app: Flask):
    return app.test_cli_runner().invoke(args=["two-factor", "rotate-keys"])


def test_rotate_ten_thousand_users_then_drop_the_old_key(app: Flask, clock: FrozenClock, database_url: str) -> None:
    old_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    secrets = enroll_in_bulk(app, USERS, clock)
    before = other_columns(app)

    both = app_with_keys(database_url, f"{new_key},{old_key}", clock)
    result = rotate(both)
    assert result.exit_code == 0, result.output
    assert f"re-encrypted {USERS} secret(s) under the newest key." in result.output
    # Backup codes cannot be re-hashed (never stored in plaintext): the command says who relies on the old key.
    assert f"{USERS_WITH_CODES} user(s) still have backup codes hashed under an older key" in result.output
    assert old_key not in result.output and new_key not in result.output

    rotated = tokens(app)
    assert len(rotated) == USERS
    assert all(under_key(new_key, token) and not under_key(old_key, token) for token in rotated.values())
    assert other_columns(app) == before  # only the tokens changed

    # The old key is dropped: every secret still decrypts to what it was, with the new key alone.
    new_only = app_with_keys(database_url, new_key, clock)
    ring: KeyRing = new_only.extensions["two_factor"].keys
    assert {user_id: ring.decrypt(token) for user_id, token in rotated.items()} == secrets
    # And 50 users, picked at random, sign in end to end: password step, then a TOTP code.
    with new_only.app_context():
        names = dict(db.session.execute(select(User.id, User.username)).all())
    for user_id in random.sample(sorted(secrets), 50):
        login = pending_client(new_only, names[user_id])
        response = login.post("/2fa/validate", {"code": totp_now(secrets[user_id], clock)})
        assert response.status_code == 200, (user_id, response.get_json())
        assert login.get("/2fa/status").get_json()["enabled"] is True


def test_an_interrupted_rotation_is_safely_re_run(
    app: Flask, clock: FrozenClock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    count = 3 * two_factor_cli.BATCH + 7
    secrets = enroll_in_bulk(app, count, clock)
    both = app_with_keys(database_url, f"{new_key},{old_key}", clock)
    ring: KeyRing = both.extensions["two_factor"].keys

    # The process dies half-way through the second batch (after the first was committed).
    real_rotate, calls = ring.rotate, []

    def rotate_then_crash(token: str) -> str:
        calls.append(token)
        if len(calls) == two_factor_cli.BATCH + two_factor_cli.BATCH // 2:
            raise KeyboardInterrupt("killed")
        return real_rotate(token)

    monkeypatch.setattr(ring, "rotate", rotate_then_crash)
    crashed = rotate(both)
    assert crashed.exit_code != 0
    half = tokens(app)
    done = [user_id for user_id, token in half.items() if under_key(new_key, token)]
    assert len(done) == two_factor_cli.BATCH  # the first batch only: the second was rolled back
    assert all(under_key(old_key, token) for user_id, token in half.items() if user_id not in done)
    assert {user_id: ring.decrypt(token) for user_id, token in half.items()} == secrets  # nothing lost

    # Re-run with only the new key by mistake: refused, naming the count, and nothing changes.
    new_only = app_with_keys(database_url, new_key, clock)
    refused = rotate(new_only)
    assert refused.exit_code == 1
    assert f"{count - two_factor_cli.BATCH} secret(s) cannot be read" in refused.output
    assert "Nothing was changed" in refused.output
    assert tokens(app) == half

    # Re-run properly: everything ends under the new key, each secret intact.
    monkeypatch.undo()
    again = rotate(both)
    assert again.exit_code == 0, again.output
    assert f"re-encrypted {count} secret(s)" in again.output
    final = tokens(app)
    assert all(under_key(new_key, token) for token in final.values())
    assert {user_id: new_only.extensions["two_factor"].keys.decrypt(token) for user_id, token in final.items()} == (
        secrets
    )


def test_a_wrong_key_set_is_a_clear_error_and_changes_nothing(
    app: Flask, clock: FrozenClock, database_url: str
) -> None:
    secrets = enroll_in_bulk(app, 1200, clock)
    before = tokens(app)
    wrong_key = Fernet.generate_key().decode()
    wrong = app_with_keys(database_url, f"{Fernet.generate_key().decode()},{wrong_key}", clock)
    result = rotate(wrong)
    assert result.exit_code == 1
    assert result.output.startswith("Error: 1200 secret(s) cannot be read with the configured keys (users: ")
    assert "…" in result.output  # the list of users is cut short, not 1200 ids long
    assert sum(user_id in result.output for user_id in secrets) == 10
    assert "Is an old key missing from TWO_FACTOR_ENCRYPTION_KEYS? Nothing was changed." in result.output
    assert wrong_key not in result.output
    assert tokens(app) == before


def test_the_real_command_line_refuses_bad_keys_without_echoing_them(app: Flask, clock: FrozenClock) -> None:
    """`flask two-factor rotate-keys` as an operator runs it: exit status and words, no traceback, no key."""
    enroll_in_bulk(app, 3, clock)
    before = tokens(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "SECRET_KEY": "cli-test",
        "DATABASE_URL": url,
    }

    def run(keys: str) -> subprocess.CompletedProcess[str]:
        return flask_cli({**base, "TWO_FACTOR_ENCRYPTION_KEYS": keys}, "two-factor", "rotate-keys", check=False)

    wrong_key = Fernet.generate_key().decode()
    wrong = run(wrong_key)
    assert wrong.returncode == 1
    assert "3 secret(s) cannot be read with the configured keys" in wrong.stderr
    assert "Nothing was changed" in wrong.stderr
    assert "Traceback" not in wrong.stderr and wrong_key not in wrong.stdout + wrong.stderr

    malformed = "this-is-not-a-fernet-key"
    bad = run(malformed)
    assert bad.returncode != 0
    assert "TWO_FACTOR_ENCRYPTION_KEYS holds a value that is not a Fernet key" in bad.stderr
    assert malformed not in bad.stdout + bad.stderr
    assert tokens(app) == before


def test_a_new_app_awaiting_its_first_code_is_rotated_and_checked_too(
    app: Flask, clock: FrozenClock, database_url: str
) -> None:
    old_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    secrets = enroll_in_bulk(app, 3, clock)
    replacing = sorted(secrets)[0]
    new_secret = totp.new_secret()
    ring: KeyRing = app.extensions["two_factor"].keys
    with app.app_context():
        row = db.session.scalars(select(TwoFactorSecret).where(TwoFactorSecret.user_id == replacing)).one()
        row.replacement_secret = ring.encrypt(new_secret)
        db.session.commit()

    assert rotate(app_with_keys(database_url, f"{new_key},{old_key}", clock)).exit_code == 0
    with app.app_context():
        query = select(TwoFactorSecret.replacement_secret).where(TwoFactorSecret.user_id == replacing)
        stored = db.session.scalar(query)
    assert under_key(new_key, stored) and not under_key(old_key, stored)
    new_only = app_with_keys(database_url, new_key, clock)
    assert new_only.extensions["two_factor"].keys.decrypt(stored) == new_secret

    # A replacement under a key no longer configured is named by check-keys, like any other secret.
    with app.app_context():
        row = db.session.scalars(select(TwoFactorSecret).where(TwoFactorSecret.user_id == replacing)).one()
        row.replacement_secret = KeyRing(Fernet.generate_key().decode()).encrypt(new_secret)
        db.session.commit()
    result = new_only.test_cli_runner().invoke(args=["two-factor", "check-keys"])
    assert result.exit_code == 1 and replacing in result.output
