"""S12 in the logs: the whole flow at DEBUG on every logger, SQL statements and their parameters and
result rows included (sqlalchemy.engine at DEBUG), and no plaintext secret, otpauth URI, backup code,
TOTP code or password in any record, message, argument or traceback.

What may appear, by decision: SQLAlchemy logs bound parameters and rows, so the *encrypted* secret
token, the keyed HMAC of each backup code and the argon2 password hash do show up when a developer
turns SQL logging on. None of them reveals anything without the encryption key, which never reaches
a log (checked too). Production logging is INFO without SQL echo.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterator

import pytest
from flask import Flask

from app.extensions import db
from app.two_factor import codes
from tests.helpers_real import pending_client
from tests.support import PASSWORD, Api, FrozenClock, totp_now

WRONG_PASSWORD = "not the right password 42"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "flask_two_factor", "werkzeug", "passlib", "flask_limiter"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def forms_of_a_code(code: str) -> set[str]:
    """The ways a backup code could be written: as shown, canonical, lower case, without hyphens."""
    canonical = codes.normalize(code) or code
    return {code, canonical, code.lower(), canonical.lower(), code.replace("-", " ")}


def forms_of_a_secret(secret: str) -> set[str]:
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {secret, secret.lower(), grouped, grouped.lower()}


def rendered(records: list[logging.LogRecord]) -> list[str]:
    """Every record as a handler would write it, traceback included, plus its raw arguments."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    out = []
    for record in records:
        out.append(formatter.format(record))
        out.append(repr(record.args))
        out.append(repr(record.__dict__.get("exc_info")))
    return out


def assert_absent(texts: list[str], secrets: dict[str, set[str]]) -> None:
    for label, values in secrets.items():
        for value in values:
            for text in texts:
                assert value not in text, f"{label} appears in a log record: {text[:300]}"


def test_the_whole_flow_logs_no_secret(
    app: Flask, api: Api, clock: FrozenClock, everything_logged: pytest.LogCaptureFixture
) -> None:
    caplog = everything_logged
    totp_codes: set[str] = set()

    def code_now() -> str:
        totp_codes.add(code := totp_now(api.secret, clock))
        return code

    assert api.register().status_code == 201
    setup = api.setup()
    assert setup.status_code == 200
    uri = setup.get_json()["otpauthUri"]
    assert api.client.get("/2fa/settings").status_code == 200  # the page that shows the pending secret
    verify = api.post("/2fa/verify", {"code": code_now()})
    assert verify.status_code == 200
    first_codes = verify.get_json()["backupCodes"]
    clock.advance(30)
    assert api.logout().status_code == 200

    # A wrong password, then the right one; a wrong code, then a TOTP code.
    assert api.login("alice", WRONG_PASSWORD).status_code == 401
    assert api.login().get_json()["twoFactorRequired"] is True
    assert api.post("/2fa/validate", {"code": "000000" if code_now() != "000000" else "111111"}).status_code == 401
    clock.advance(30)
    assert api.post("/2fa/validate", {"code": code_now()}).status_code == 200
    api.refresh_token()
    clock.advance(30)

    # Log in with a backup code.
    assert api.logout().status_code == 200
    second = pending_client(app)
    assert second.post("/2fa/validate", {"code": first_codes[0]}).status_code == 200

    # Regenerate with the password and a code, after a wrong password.
    second.refresh_token()
    assert second.post("/2fa/backup-codes", {"password": WRONG_PASSWORD, "code": first_codes[1]}).status_code == 400
    clock.advance(30)
    regenerated = second.post("/2fa/backup-codes", {"password": PASSWORD, "code": code_now()})
    assert regenerated.status_code == 200
    new_codes = regenerated.get_json()["backupCodes"]
    clock.advance(30)

    # Disable with the password and a backup code.
    assert second.post("/2fa/disable", {"password": PASSWORD, "code": new_codes[0]}).status_code == 200

    texts = rendered(caplog.records)
    sql = [record for record in caplog.records if record.name.startswith("sqlalchemy.engine")]
    assert sql, "SQL logging was not captured: the test would prove nothing"
    assert any("two_factor_backup_codes" in record.getMessage() for record in sql)
    assert any(record.name == "flask_two_factor" for record in caplog.records)
    # Bound parameters are in the records (the encrypted token shows), so the search below is real.
    assert any("gAAAA" in text for text in texts)

    key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    assert_absent(
        texts,
        {
            "the TOTP secret": forms_of_a_secret(api.secret),
            "the otpauth URI": {uri, urllib.parse.unquote(uri), "otpauth://"},
            "a backup code": set().union(*(forms_of_a_code(code) for code in first_codes + new_codes)),
            "a password": {PASSWORD, WRONG_PASSWORD},
            "the encryption key": {key, app.config["SECRET_KEY"]},
        },
    )
    # TOTP codes are only six digits: look for them as whole numbers.
    for code in totp_codes:
        pattern = re.compile(rf"(?<![0-9]){code}(?![0-9])")
        leaks = [text for text in texts if pattern.search(text)]
        assert not leaks, f"a TOTP code appears in a log record: {leaks[0][:300]}"


def test_failures_and_faults_log_no_secret(
    app: Flask, enabled: Api, clock: FrozenClock, everything_logged: pytest.LogCaptureFixture
) -> None:
    """The error paths: a throttled guess, a CSRF failure, a database error and an unreadable secret."""
    caplog = everything_logged
    pending = pending_client(app)
    wrong = enabled.backup_codes[0].replace("-", "")[::-1]
    for _ in range(4):  # the first three failures are free; the fourth starts a wait
        assert pending.post("/2fa/validate", {"code": wrong}).status_code == 401
    assert pending.post("/2fa/validate", {"code": enabled.backup_codes[1]}).status_code == 429
    assert pending.client.post("/2fa/validate", json={"code": enabled.backup_codes[2]}).status_code == 400  # no token
    clock.advance(5)

    # The database fails under the request that carries a backup code.
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    with app.app_context():
        engine = db.engine

    def fail(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("UPDATE two_factor_backup_codes"):
            raise OperationalError(statement, parameters, Exception("injected"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        assert pending.post("/2fa/validate", {"code": enabled.backup_codes[3]}).status_code == 503
    finally:
        event.remove(engine, "before_cursor_execute", fail)

    # The key is swapped for one that cannot read the secret.
    from cryptography.fernet import Fernet

    from app.two_factor.crypto import KeyRing

    state = app.extensions["two_factor"]
    real_keys, state.keys = state.keys, KeyRing(Fernet.generate_key().decode())
    try:
        assert pending.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 503
    finally:
        state.keys = real_keys

    texts = rendered(caplog.records)
    assert any("database error" in text for text in texts) and any("unreadable" in text for text in texts)
    assert_absent(
        texts,
        {
            "the TOTP secret": forms_of_a_secret(enabled.secret),
            "a backup code": set().union(*(forms_of_a_code(code) for code in enabled.backup_codes)),
            "a password": {PASSWORD},
            "the encryption key": {app.config["TWO_FACTOR_ENCRYPTION_KEYS"]},
        },
    )
