"""The command line: create-user, two-factor status / reset / check-keys / rotate-keys."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.conftest import make_config
from tests.support import Api, FrozenClock


def test_create_user_then_log_in(app, api: Api) -> None:
    result = app.test_cli_runner().invoke(args=["create-user", "carol", "--password", "long enough pw"])
    assert result.exit_code == 0 and "created user carol" in result.output
    assert api.login("carol", "long enough pw").status_code == 200


def test_create_user_refuses_a_taken_name(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["create-user", "carol", "--password", "long enough pw"])
    result = runner.invoke(args=["create-user", "carol", "--password", "long enough pw"])
    assert result.exit_code != 0 and "taken" in result.output


def test_status_reports_state(app, enabled: Api) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "status", "alice"])
    assert result.exit_code == 0 and "enabled" in result.output and "backup codes left: 10" in result.output


def test_status_of_unknown_user_is_an_error(app) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "status", "nobody"])
    assert result.exit_code != 0 and "No user" in result.output


def test_reset_removes_2fa_and_is_audited(app, enabled: Api, clock: FrozenClock) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"])
    assert result.exit_code == 0
    enabled.logout()
    assert enabled.login().get_json()["twoFactorRequired"] is False
    with app.app_context():
        audit = db.session.scalar(select(TwoFactorAttempt).where(TwoFactorAttempt.purpose == "reset"))
    assert audit is not None and audit.method == "admin" and audit.success


def test_reset_without_2fa_is_an_error(app, api: Api) -> None:
    api.register()
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"])
    assert result.exit_code != 0


def test_rotate_keys_with_nothing_to_do(app) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "rotate-keys"])
    assert result.exit_code == 0 and "re-encrypted 0 secret" in result.output


def test_check_keys_when_every_secret_opens(app, enabled: Api) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "check-keys"])
    assert result.exit_code == 0 and "all 1 secret(s) open with the configured keys" in result.output


def test_check_keys_names_the_users_a_missing_key_locks_out(app, enabled: Api, database_url: str) -> None:
    other = create_app(make_config(database_url, TWO_FACTOR_ENCRYPTION_KEYS=Fernet.generate_key().decode()))
    runner = other.test_cli_runner()
    result = runner.invoke(args=["two-factor", "check-keys"])
    assert result.exit_code == 1 and "1 secret(s) cannot be read" in result.output
    with app.app_context():
        alice = db.session.scalar(text("SELECT id FROM users WHERE username = 'alice'"))
    assert alice in result.output
    status = runner.invoke(args=["two-factor", "status", "alice"])
    assert status.exit_code == 1 and "cannot be read" in status.output and "enabled" in status.output
    with other.app_context():  # nothing changed: the row still holds alice's secret, 2FA on
        assert db.session.scalar(select(TwoFactorSecret.is_enabled)) is True


def test_a_user_argument_the_host_cannot_parse_is_reported_plainly(app) -> None:
    def strict_find_user(text: str):
        return int(text)  # a host whose ids are integers, given a name

    app.extensions["two_factor"].find_user = strict_find_user
    result = app.test_cli_runner().invoke(args=["two-factor", "status", "alice@example.com"])
    assert result.exit_code == 1 and "No user matches 'alice@example.com'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
