"""S4 secrets at rest, S6 per-IP limit, S9 disable, S10 CSRF, S11 headers, S12 logs, S13 audit and signals."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from app import create_app
from app.extensions import db
from app.two_factor import (
    ConfigurationError,
    InvalidKeyConfig,
    backup_code_used,
    backup_codes_regenerated,
    two_factor_disabled,
    two_factor_enabled,
    two_factor_failed,
    two_factor_locked,
)
from app.two_factor.models import TwoFactorAttempt, TwoFactorBackupCode, TwoFactorSecret
from app.two_factor.refusals import too_many
from app.two_factor.service import TwoFactorService
from tests.conftest import make_config
from tests.support import PASSWORD, Api, FrozenClock, totp_now
from tests.test_rules_replay_throttle import pending_login, wrong_code

pytestmark = pytest.mark.both_backends

# -- S4: secrets at rest -----------------------------------------------------------------------


def test_secret_is_stored_encrypted(app, api: Api) -> None:
    api.register()
    api.setup()
    with app.app_context():
        raw = db.session.execute(text("SELECT secret FROM two_factor_secrets")).scalar_one()
        keys = app.extensions["two_factor"].keys
        assert api.secret not in raw
        assert keys.decrypt(raw) == api.secret


def test_each_setup_makes_a_new_secret(api: Api) -> None:
    api.register()
    first = api.setup().get_json()["secret"]
    second = api.setup().get_json()["secret"]
    assert first != second


def test_a_parallel_first_setup_is_taken_over_not_refused(app, api: Api, monkeypatch) -> None:
    api.register()
    read_row = TwoFactorService._row

    def row_appears_meanwhile(service: TwoFactorService, user_id: str):
        # As if another request of this user inserted its row between our read and our INSERT.
        monkeypatch.setattr(TwoFactorService, "_row", read_row)
        now = datetime.now(UTC)
        row = {"id": "parallel", "user_id": user_id, "secret": "x", "is_enabled": False, "failed_attempts": 0}
        with db.engine.begin() as other:
            other.execute(TwoFactorSecret.__table__.insert(), {**row, "created_at": now, "updated_at": now})
        return None

    monkeypatch.setattr(TwoFactorService, "_row", row_appears_meanwhile)
    response = api.setup()
    assert response.status_code == 200
    secret = response.get_json()["secret"]
    with app.app_context():
        rows = db.session.scalars(select(TwoFactorSecret)).all()
        assert [row.id for row in rows] == ["parallel"]
        assert app.extensions["two_factor"].keys.decrypt(rows[0].secret) == secret


def test_missing_key_fails_at_start_up(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="TWO_FACTOR_ENCRYPTION_KEYS"):
        create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS="", TESTING=False))


def test_a_test_suite_without_a_key_gets_an_ephemeral_one_loudly(database_url: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_two_factor"):
        app = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS="", TESTING=True))
    assert app.config["TWO_FACTOR_ENCRYPTION_KEYS"] and "ephemeral key because TESTING is on" in caplog.text


def test_malformed_key_fails_without_echoing_it(database_url: str) -> None:
    with pytest.raises(InvalidKeyConfig) as caught:
        create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS="not-a-real-key-value"))
    assert "not-a-real-key-value" not in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)  # one except clause catches every start-up mistake
    assert "Fernet.generate_key()" in str(caught.value)  # and it says how to make a key


def test_wrong_key_is_a_clear_error_and_never_a_reset(app, enabled: Api, clock: FrozenClock, database_url) -> None:
    other = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=Fernet.generate_key().decode()))
    other.extensions["two_factor"].clock = clock
    client = other.test_client()
    wrong = Api(client)
    wrong.login()
    response = wrong.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 503 and "unavailable" in response.get_json()["error"]
    with other.app_context():
        row = db.session.scalar(select(TwoFactorSecret))
        assert row.is_enabled and row.failed_attempts == 0
    assert other.test_cli_runner().invoke(args=["two-factor", "rotate-keys"]).exit_code != 0


def unchanged_after(app, action) -> None:
    """Run ``action`` and assert it left every 2FA table exactly as it was."""
    query = text(
        "SELECT (SELECT count(*) FROM two_factor_attempts), (SELECT count(*) FROM two_factor_backup_codes "
        "WHERE used_at IS NULL), (SELECT failed_attempts + account_failed_attempts FROM two_factor_secrets)"
    )
    with app.app_context():
        before = db.session.execute(query).one()
    action()
    with app.app_context():
        assert db.session.execute(query).one() == before


@pytest.mark.parametrize("dropped", [False, True], ids=["wrong key", "old key dropped"])
def test_backup_codes_under_a_missing_key_fail_closed(
    app, enabled: Api, clock: FrozenClock, database_url, dropped: bool
) -> None:
    old_key, new_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"], Fernet.generate_key().decode()
    if dropped:  # rotated properly, then the old key removed while codes hashed under it are unused
        rotated = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=f"{new_key},{old_key}"))
        assert rotated.test_cli_runner().invoke(args=["two-factor", "rotate-keys"]).exit_code == 0
    other = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=new_key))
    other.extensions["two_factor"].clock = clock
    client = Api(other.test_client())

    def sign_in_with_a_backup_code() -> None:
        client.login()
        response = client.post("/2fa/validate", {"code": enabled.backup_codes[0]})
        assert response.status_code == 503 and "unavailable" in response.get_json()["error"]
        # Not a failure the user caused: no wait, no lock, no audit row, the code still unused.

    unchanged_after(other, sign_in_with_a_backup_code)


def test_rotate_keys_re_encrypts_every_secret(app, enabled: Api, clock: FrozenClock, database_url) -> None:
    old_key = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    rotated = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=f"{new_key},{old_key}"))
    result = rotated.test_cli_runner().invoke(args=["two-factor", "rotate-keys"])
    assert result.exit_code == 0 and "re-encrypted 1 secret" in result.output
    only_new = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=new_key))
    with only_new.app_context():
        token = db.session.scalar(select(TwoFactorSecret.secret))
        assert only_new.extensions["two_factor"].keys.decrypt(token) == enabled.secret


# -- S6: per-IP limit --------------------------------------------------------------------------


@pytest.fixture
def config_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    if "rate_limited" in request.keywords:
        return {"RATELIMIT_ENABLED": True, "TWO_FACTOR_RATE_LIMIT": "3 per minute"}
    return {}


@pytest.mark.rate_limited
def test_per_ip_limit_on_2fa_posts(enabled: Api) -> None:
    pending_login(enabled)
    statuses = [enabled.post("/2fa/validate", {"code": "x"}).status_code for _ in range(5)]
    assert statuses[-1] == 429
    response = enabled.post("/2fa/validate", {"code": "x"})
    assert response.get_json()["error"].startswith("Too many attempts") and int(response.headers["Retry-After"]) > 0


@pytest.mark.rate_limited
def test_per_ip_limit_on_login(api: Api) -> None:
    api.refresh_token()
    statuses = [api.post("/login", {"username": "nobody", "password": "x" * 8}).status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429


@pytest.mark.rate_limited
def test_per_ip_budget_is_one_for_every_2fa_post(api: Api, clock: FrozenClock) -> None:
    # Three POSTs to three other endpoints spend the budget (3 per minute) of all of them together.
    api.register()
    assert [api.post(path).status_code for path in ("/2fa/setup", "/2fa/setup/cancel", "/2fa/setup")] == [200] * 3
    response = api.post("/2fa/verify", {"code": "123456"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert api.post("/2fa/disable", {"password": PASSWORD, "code": "123456"}).status_code == 429


@pytest.mark.rate_limited
def test_per_ip_limit_leaves_gets_alone(api: Api) -> None:
    api.register()
    assert all(api.get("/2fa/status").status_code == 200 for _ in range(10))


# -- S9: disable -------------------------------------------------------------------------------


def test_disable_needs_the_password(enabled: Api, clock: FrozenClock) -> None:
    response = enabled.post("/2fa/disable", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 400 and "password" in response.get_json()["error"]
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_disable_needs_a_code(enabled: Api) -> None:
    response = enabled.post("/2fa/disable", {"password": PASSWORD})
    assert response.status_code == 400
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_disable_with_wrong_password_keeps_2fa(enabled: Api, clock: FrozenClock) -> None:
    response = enabled.post("/2fa/disable", {"password": "wrong password", "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 400
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_disable_deletes_secret_and_codes(app, enabled: Api, clock: FrozenClock) -> None:
    enabled.post("/2fa/disable", {"password": PASSWORD, "code": enabled.backup_codes[0]})
    with app.app_context():
        assert db.session.scalar(select(TwoFactorSecret)) is None
        assert db.session.scalar(select(TwoFactorBackupCode)) is None
    enabled.logout()
    assert enabled.login().get_json()["twoFactorRequired"] is False


def test_regenerate_needs_password_and_code(enabled: Api, clock: FrozenClock) -> None:
    assert enabled.post("/2fa/backup-codes", {"code": totp_now(enabled.secret, clock)}).status_code == 400
    assert enabled.post("/2fa/backup-codes", {"password": PASSWORD}).status_code == 400


def test_regenerate_refuses_a_wrong_code_or_password_and_keeps_the_codes(enabled: Api, clock: FrozenClock) -> None:
    wrong = wrong_code(enabled.secret, clock)
    for password, code in ((PASSWORD, wrong), ("not the password", totp_now(enabled.secret, clock))):
        response = enabled.post("/2fa/backup-codes", {"password": password, "code": code})
        assert response.status_code == 400 and "backupCodes" not in response.get_json()
    assert enabled.get("/2fa/status").get_json()["backupCodesRemaining"] == 10
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).status_code == 200


# -- S10: CSRF ---------------------------------------------------------------------------------

POSTS = [
    "/2fa/setup",
    "/2fa/verify",
    "/2fa/disable",
    "/2fa/backup-codes",
    "/2fa/validate",
    "/2fa/setup/cancel",
    "/2fa/reauth",
    "/2fa/sessions/revoke-others",
    "/2fa/sessions/00000000-0000-4000-8000-000000000000/revoke",
    "/2fa/browsers/forget-all",
    "/2fa/browsers/00000000-0000-4000-8000-000000000000/forget",
    "/login",
    "/register",
    "/logout",
]


@pytest.mark.parametrize("path", POSTS)
def test_every_post_needs_the_csrf_token(app, enabled: Api, path: str) -> None:
    with app.app_context():
        before = db.session.execute(text("SELECT is_enabled, failed_attempts FROM two_factor_secrets")).all()
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = enabled.client.post(path, json={"code": "123456", "password": PASSWORD}, headers=headers)
        assert response.status_code == 400 and "security token" in response.get_json()["error"]
    form = enabled.client.post(path, data={"code": "123456", "password": PASSWORD})
    assert form.status_code == 400
    with app.app_context():
        assert db.session.execute(text("SELECT is_enabled, failed_attempts FROM two_factor_secrets")).all() == before


def test_htmx_pages_send_the_token_in_hx_headers(enabled: Api) -> None:
    page = enabled.client.get("/2fa/settings").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    # On <body>, so every htmx request of the page carries it, the host's own ones included.
    assert re.search(r"<body[^>]*hx-headers='\{\"X-CSRFToken\": \"" + re.escape(token) + r"\"\}'", page)


# -- S11: headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/register", "/2fa/settings", "/2fa/status"])
def test_security_headers(enabled: Api, path: str) -> None:
    response = enabled.client.get(path)
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_2fa_responses_are_never_cached(enabled: Api) -> None:
    for path in ("/2fa/settings", "/2fa/status"):
        assert enabled.client.get(path).headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TWO_FACTOR_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    app = create_app()
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is True


# -- S12: nothing secret in logs ---------------------------------------------------------------


def test_flow_logs_no_secret_code_or_password(enabled: Api, clock: FrozenClock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    pending_login(enabled)
    enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)})
    clock.advance(1)
    enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]})
    enabled.post("/2fa/disable", {"password": PASSWORD, "code": enabled.backup_codes[1]})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "two-factor" in logged  # the events are logged...
    for secret in (enabled.secret, PASSWORD, *enabled.backup_codes, "otpauth://"):
        assert secret not in logged  # ...without what must stay secret


# -- S13: audit and signals --------------------------------------------------------------------


@contextmanager
def captured(*signals):
    events: list[tuple[str, dict]] = []
    receivers = []
    for signal in signals:

        def receiver(sender, _name=signal.name, **kwargs):
            events.append((_name, kwargs))

        signal.connect(receiver)
        receivers.append((signal, receiver))
    try:
        yield events
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)


def test_every_judged_attempt_is_audited(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    enabled.client.environ_base["HTTP_USER_AGENT"] = "AuditTest/1.0"
    enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)})
    clock.advance(1)
    enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]})
    with app.app_context():
        rows = db.session.scalars(select(TwoFactorAttempt).order_by(TwoFactorAttempt.attempted_at)).all()
    assert [(r.purpose, r.method, r.success) for r in rows] == [
        ("enable", "totp", True),
        ("login", "totp", False),
        ("login", "backup_code", True),
    ]
    assert rows[-1].ip_address == "127.0.0.1" and rows[-1].user_agent == "AuditTest/1.0"


def test_signals_tell_the_host(enabled: Api, clock: FrozenClock, app) -> None:
    signals = (
        two_factor_enabled,
        two_factor_disabled,
        two_factor_failed,
        two_factor_locked,
        backup_code_used,
        backup_codes_regenerated,
    )
    with captured(*signals) as events:
        enabled.post("/2fa/disable", {"password": PASSWORD, "code": wrong_code(enabled.secret, clock)})
        clock.advance(1)
        enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": enabled.backup_codes[0]})
        clock.advance(30)
        enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
        enabled.enable(clock)
    names = [name for name, _ in events]
    assert names == [
        "two-factor-failed",
        "backup-code-used",
        "backup-codes-regenerated",
        "two-factor-disabled",
        "two-factor-enabled",
    ]
    assert events[1][1]["remaining"] == 9 and events[0][1]["purpose"] == "disable"
    assert all("user_id" in kwargs for _, kwargs in events)


@pytest.mark.rate_limited
def test_host_login_limit_answers_json_with_retry_after(api: Api) -> None:
    api.refresh_token()
    for _ in range(3):
        api.post("/login", {"username": "nobody", "password": "x" * 8})
    response = api.post("/login", {"username": "nobody", "password": "x" * 8})
    body = response.get_json()
    assert response.status_code == 429 and body["retryAfter"] == int(response.headers["Retry-After"]) > 0
    assert body["error"] == too_many(body["retryAfter"])


def test_host_login_fails_closed_when_the_database_fails(app, api: Api) -> None:
    api.register()
    api.logout()

    def database_down(*args: object) -> None:
        raise OperationalError("SELECT", {}, Exception("connection lost"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", database_down)
    try:
        response = api.post("/login", {"username": "alice", "password": PASSWORD})
    finally:
        event.remove(engine, "before_cursor_execute", database_down)
    assert response.status_code == 503 and "unavailable" in response.get_json()["error"]
    assert api.get("/2fa/status").status_code == 401
    assert api.login().status_code == 200
