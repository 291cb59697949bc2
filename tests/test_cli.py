"""The command line: create-user, two-factor status / reset / rotate-keys."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt
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
