"""S15 fail closed, on PostgreSQL: the database connection dies, times out or goes away mid-request,
or a secret cannot be decrypted → 503, no login, nothing half-written, and recovery afterwards.

Connections are killed for real: a SQLAlchemy event listener waits for the chosen statement (or the
COMMIT) and has PostgreSQL terminate that very backend (pg_terminate_backend) before it runs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import psycopg
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event, select, text

from app import create_app
from app.extensions import db
from app.two_factor.models import TwoFactorBackupCode, TwoFactorSecret
from tests.conftest import make_config
from tests.helpers_real import pending_client, secret_row, snapshot
from tests.support import PASSWORD, POSTGRES_ADMIN_URL, Api, FrozenClock, totp_now, wrong_code

pytestmark = pytest.mark.postgres

UNAVAILABLE = "Two-factor authentication is unavailable right now. Try again in a minute."
UNREADABLE = "Two-factor authentication is unavailable for this account. Contact an administrator."


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def config_overrides() -> dict[str, object]:
    # A statement that waits more than a second for a row lock is cancelled (the timeout test).
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": "-c lock_timeout=1000"}}}


def admin() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)


def terminate(pid: int) -> None:
    with admin() as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)


@contextlib.contextmanager
def connection_dies_at(app: Flask, statement: str) -> Iterator[list[str]]:
    """Terminate the app's backend right before the first statement matching ``statement`` (or COMMIT)."""
    with app.app_context():
        engine = db.engine
    fired: list[str] = []

    def before_execute(conn, cursor, sql, params, context, executemany) -> None:
        if not fired and statement != "COMMIT" and re.search(statement, sql):
            fired.append(sql)
            terminate(cursor.connection.info.backend_pid)

    def before_commit(conn) -> None:
        if not fired and statement == "COMMIT":
            fired.append("COMMIT")
            terminate(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", before_commit)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", before_commit)


def assert_unavailable(response, message: str = UNAVAILABLE) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json() == {"error": message}
    assert response.headers["Retry-After"] == "30"


def logged_in(api: Api) -> bool:
    return api.get("/2fa/status").status_code == 200


def user_id(app: Flask, username: str = "alice") -> str:
    with app.app_context():
        return db.session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": username})


# -- the connection drops mid-request ---------------------------------------------------------

VALIDATE_FAULTS = [
    "UPDATE two_factor_secrets SET last_used_step",  # replay guard, budget and reset in one statement
    "INSERT INTO two_factor_attempts",  # the audit row
    "COMMIT",
]
WRONG_CODE_FAULTS = [
    "UPDATE two_factor_secrets SET failed_attempts",  # taking the throttle budget
    "INSERT INTO two_factor_attempts",  # the audit row of the failure
    "COMMIT",
]


def validate_while_the_connection_dies(app: Flask, pending: Api, code: str, statement: str) -> None:
    """Send ``code`` while the connection dies at ``statement``: 503, nothing written, not signed in."""
    before = snapshot(app)
    with connection_dies_at(app, statement) as fired:
        response = pending.post("/2fa/validate", {"code": code})
    assert fired, f"the fault at {statement!r} never fired"
    assert_unavailable(response)
    assert snapshot(app) == before  # no counted failure, no used step, no audit row
    assert not logged_in(pending)


@pytest.mark.parametrize("statement", VALIDATE_FAULTS)
def test_totp_login_fails_closed_when_the_connection_drops(
    app: Flask, enabled: Api, clock: FrozenClock, statement: str
) -> None:
    pending = pending_client(app)
    code = totp_now(enabled.secret, clock)
    validate_while_the_connection_dies(app, pending, code, statement)
    # The database is back (a fresh connection): the same pending login and code now succeed.
    retry = pending.post("/2fa/validate", {"code": code})
    assert retry.status_code == 200 and retry.get_json()["valid"] is True
    assert logged_in(pending)


@pytest.mark.parametrize("statement", WRONG_CODE_FAULTS)
def test_wrong_code_fails_closed_when_the_connection_drops(
    app: Flask, enabled: Api, clock: FrozenClock, statement: str
) -> None:
    pending = pending_client(app)
    wrong = wrong_code(enabled.secret, clock)
    validate_while_the_connection_dies(app, pending, wrong, statement)
    # The database is back: the same wrong code is now judged, and counted once.
    retry = pending.post("/2fa/validate", {"code": wrong})
    assert retry.status_code == 401 and retry.get_json()["valid"] is False
    with app.app_context():
        assert secret_row(user_id(app)).failed_attempts == 1
    assert not logged_in(pending)


@pytest.mark.parametrize("statement", ["UPDATE two_factor_backup_codes", "COMMIT"])
def test_backup_code_login_fails_closed_when_the_connection_drops(app: Flask, enabled: Api, statement: str) -> None:
    pending = pending_client(app)
    code = enabled.backup_codes[0]
    before = snapshot(app)
    with connection_dies_at(app, statement) as fired:
        response = pending.post("/2fa/validate", {"code": code})
    assert fired
    assert_unavailable(response)
    assert snapshot(app) == before  # the code is still unused
    assert not logged_in(pending)
    assert pending.post("/2fa/validate", {"code": code}).status_code == 200
    with app.app_context():
        used = db.session.scalars(select(TwoFactorBackupCode.used_at)).all()
    assert sum(value is not None for value in used) == 1


@pytest.mark.parametrize("statement", ["INSERT INTO two_factor_backup_codes", "COMMIT"])
def test_enabling_fails_closed_when_the_connection_drops(
    app: Flask, api: Api, clock: FrozenClock, statement: str
) -> None:
    api.register()
    api.setup()
    code = totp_now(api.secret, clock)
    before = snapshot(app)
    with connection_dies_at(app, statement) as fired:
        response = api.post("/2fa/verify", {"code": code})
    assert fired
    assert_unavailable(response)
    assert snapshot(app) == before  # still pending: not enabled, no codes, no used step
    assert api.get("/2fa/status").get_json() == {"enabled": False, "pending": True, "backupCodesRemaining": 0}
    retry = api.post("/2fa/verify", {"code": code})
    assert retry.status_code == 200 and len(retry.get_json()["backupCodes"]) == 10


@pytest.mark.parametrize("statement", ["DELETE FROM two_factor_secrets", "COMMIT"])
def test_disabling_fails_closed_when_the_connection_drops(
    app: Flask, enabled: Api, clock: FrozenClock, statement: str
) -> None:
    body = {"password": PASSWORD, "code": totp_now(enabled.secret, clock)}
    before = snapshot(app)
    with connection_dies_at(app, statement) as fired:
        response = enabled.post("/2fa/disable", body)
    assert fired
    assert_unavailable(response)
    assert snapshot(app) == before  # still enabled, every code kept
    assert enabled.get("/2fa/status").get_json() == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    assert enabled.post("/2fa/disable", body).status_code == 200
    assert enabled.get("/2fa/status").get_json()["enabled"] is False


def test_regenerating_fails_closed_when_the_connection_drops(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    body = {"password": PASSWORD, "code": totp_now(enabled.secret, clock)}
    before = snapshot(app)
    with connection_dies_at(app, "INSERT INTO two_factor_backup_codes") as fired:
        response = enabled.post("/2fa/backup-codes", body)
    assert fired
    assert_unavailable(response)
    assert snapshot(app) == before  # the old codes are all still there and unused
    assert enabled.post("/2fa/backup-codes", body).status_code == 200


def test_the_503_page_for_browsers_needs_no_database(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    pending = pending_client(app)
    before = snapshot(app)
    with connection_dies_at(app, "UPDATE two_factor_secrets SET last_used_step"):
        response = pending.client.post(
            "/2fa/validate", data={"code": totp_now(enabled.secret, clock), "csrf_token": pending.token}
        )
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Temporarily unavailable" in page and UNAVAILABLE in page
    assert "Traceback" not in page and "OperationalError" not in page and "SELECT" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Retry-After"] == "30"
    assert snapshot(app) == before


# -- the database times out or goes away ------------------------------------------------------


def test_validate_fails_closed_when_the_row_stays_locked(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    pending = pending_client(app)
    code = totp_now(enabled.secret, clock)
    before = snapshot(app)
    url = make_psycopg_url(app)
    with psycopg.connect(url) as locker:
        # Another transaction holds alice's row; the app's UPDATE waits, then hits lock_timeout.
        locker.execute("SELECT 1 FROM two_factor_secrets WHERE user_id = %s FOR UPDATE", (user_id(app),))
        response = pending.post("/2fa/validate", {"code": code})
        locker.rollback()
    assert_unavailable(response)
    assert snapshot(app) == before
    assert not logged_in(pending)
    assert pending.post("/2fa/validate", {"code": code}).status_code == 200


def make_psycopg_url(app: Flask) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def database_down(app: Flask) -> Iterator[None]:
    """Refuse new connections to the app's database and drop the ones it has; restore afterwards."""
    name = make_psycopg_url(app).rsplit("/", 1)[1]
    with admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_database_outage_denies_then_recovers(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    pending = pending_client(app)
    code = totp_now(enabled.secret, clock)
    before = snapshot(app)
    with database_down(app):
        assert_unavailable(pending.post("/2fa/validate", {"code": code}))
        # The logged-in user's pages too (loading the user needs the database): a standalone 503 page.
        page = enabled.client.get("/2fa/settings")
        assert page.status_code == 503 and UNAVAILABLE in page.get_data(as_text=True)
        assert_unavailable(enabled.post("/2fa/disable", {"password": PASSWORD, "code": code}))
        assert_unavailable(enabled.post("/2fa/setup"))
    assert snapshot(app) == before
    assert not logged_in(pending)
    assert pending.post("/2fa/validate", {"code": code}).status_code == 200
    assert enabled.client.get("/2fa/settings").status_code == 200


# -- the key material fails -------------------------------------------------------------------


def app_with_keys(database_url: str, keys: str, clock: FrozenClock) -> Flask:
    """Another app on the same database (tables kept) with its own TWO_FACTOR_ENCRYPTION_KEYS."""
    other = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=keys))
    other.extensions["two_factor"].clock = clock
    return other


def test_a_wrong_key_is_a_clear_error_for_that_user_never_a_reset(
    app: Flask, enabled: Api, clock: FrozenClock, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    old_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    # Restarted with only a new key (the old one forgotten): the app starts, nobody is locked out of it.
    wrong = app_with_keys(database_url, new_key, clock)
    bob = Api(wrong.test_client())
    bob.register("bob")
    bob.enable(clock)
    clock.advance(30)

    alice = pending_client(wrong)
    before = snapshot(app)
    response = alice.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert_unavailable(response, UNREADABLE)
    assert not logged_in(alice)
    page = alice.client.post("/2fa/validate", data={"code": "123456", "csrf_token": alice.token})
    assert page.status_code == 503 and UNREADABLE in page.get_data(as_text=True)
    assert snapshot(app) == before  # alice's secret, codes and counters untouched: no silent reset
    assert old_key not in caplog.text and new_key not in caplog.text and enabled.secret not in caplog.text
    assert any("unreadable" in record.getMessage() for record in caplog.records)

    # Other users are unaffected.
    bob_login = pending_client(wrong, "bob")
    assert bob_login.post("/2fa/validate", {"code": totp_now(bob.secret, clock)}).status_code == 200

    # The CLI reports it, names the user, exits with an error and changes nothing.
    before = snapshot(app)
    result = wrong.test_cli_runner().invoke(args=["two-factor", "rotate-keys"])
    assert result.exit_code != 0
    assert "1 secret(s) cannot be read" in result.output and user_id(app) in result.output
    assert "Nothing was changed" in result.output
    assert old_key not in result.output and new_key not in result.output
    assert snapshot(app) == before

    # With both keys configured again, alice gets in, and rotation then covers everyone.
    fixed = app_with_keys(database_url, f"{new_key},{old_key}", clock)
    alice_again = pending_client(fixed)
    assert alice_again.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    assert fixed.test_cli_runner().invoke(args=["two-factor", "rotate-keys"]).exit_code == 0
    with fixed.app_context():
        for token in db.session.scalars(select(TwoFactorSecret.secret)):
            Fernet(new_key.encode()).decrypt(token.encode())  # all under the new key now


def test_an_unreadable_pending_setup_shows_503_not_a_crash(
    app: Flask, api: Api, database_url: str, clock: FrozenClock
) -> None:
    api.register()
    api.setup()
    wrong = app_with_keys(database_url, Fernet.generate_key().decode(), clock)
    browser = Api(wrong.test_client())
    assert browser.login().get_json() == {"ok": True, "twoFactorRequired": False}
    before = snapshot(app)
    page = browser.client.get("/2fa/settings")
    assert page.status_code == 503 and UNREADABLE in page.get_data(as_text=True)
    code = totp_now(api.secret, clock)
    assert_unavailable(browser.post("/2fa/verify", {"code": code}), UNREADABLE)
    assert snapshot(app) == before
