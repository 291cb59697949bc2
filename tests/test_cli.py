"""The command line: create-user, two-factor status / reset / check-keys / rotate-keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.two_factor import two_factor_disabled
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.conftest import make_config
from tests.support import Api, FrozenClock


def user_id(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(text("SELECT id FROM users WHERE username = :name"), {"name": username})


def two_factor_on(app, username: str) -> bool:
    with app.app_context():
        row = db.session.scalar(select(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id(app, username)))
        return row is not None and row.is_enabled


def name_of_anothers_id(app, clock: FrozenClock) -> tuple[str, str]:
    """Register, with 2FA on, a user whose name is alice's id; return (alice's id, that user's id)."""
    alice = user_id(app, "alice")
    other = Api(app.test_client())
    assert other.register(alice).status_code == 201
    other.enable(clock)
    return alice, user_id(app, alice)


def test_create_user_then_log_in(app, api: Api) -> None:
    result = app.test_cli_runner().invoke(args=["create-user", "carol", "--password", "long enough pw"])
    assert result.exit_code == 0 and "Created the user carol" in result.output
    assert api.login("carol", "long enough pw").status_code == 200


def test_create_user_refuses_a_taken_name(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["create-user", "carol", "--password", "long enough pw"])
    result = runner.invoke(args=["create-user", "carol", "--password", "long enough pw"])
    assert result.exit_code != 0 and "taken" in result.output


def test_status_reports_state(app, enabled: Api) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "status", "alice"])
    assert result.exit_code == 0 and "enabled" in result.output and "backup codes left: 10" in result.output
    assert result.output.startswith(f"user {user_id(app, 'alice')} (alice): enabled")


def test_status_of_unknown_user_is_an_error(app) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "status", "nobody"])
    assert result.exit_code != 0 and "No user" in result.output


def test_reset_removes_2fa_and_is_audited(app, enabled: Api, clock: FrozenClock) -> None:
    sent: list[dict] = []
    with two_factor_disabled.connected_to(lambda sender, **kwargs: sent.append(kwargs)):
        result = app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"])
    assert result.exit_code == 0
    assert result.output.startswith(f"user {user_id(app, 'alice')} (alice): two-factor authentication removed")
    assert sent == [{"user_id": user_id(app, "alice"), "by": "admin"}]
    enabled.logout()
    assert enabled.login().get_json()["twoFactorRequired"] is False
    with app.app_context():
        audit = db.session.scalar(select(TwoFactorAttempt).where(TwoFactorAttempt.purpose == "reset"))
    assert audit is not None and audit.method == "admin" and audit.success


def test_reset_without_2fa_is_an_error(app, api: Api) -> None:
    api.register()
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"])
    assert result.exit_code != 0


@pytest.mark.parametrize("command", [["status"], ["reset"], ["reset", "--unlock"]])
def test_a_name_that_is_another_users_id_is_refused_naming_both(
    app, enabled: Api, clock: FrozenClock, command: list[str]
) -> None:
    alice, other = name_of_anothers_id(app, clock)
    result = app.test_cli_runner().invoke(args=["two-factor", *command, alice])
    assert result.exit_code == 1
    assert f"user {alice} (alice) by id and user {other} ({alice}) by name" in result.output
    assert "--id or --name" in result.output
    assert two_factor_on(app, "alice") and two_factor_on(app, alice)


def test_id_picks_the_account_with_that_id(app, enabled: Api, clock: FrozenClock) -> None:
    alice, _ = name_of_anothers_id(app, clock)
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "--id", alice])
    assert result.exit_code == 0
    assert result.output.startswith(f"user {alice} (alice): two-factor authentication removed")
    assert not two_factor_on(app, "alice") and two_factor_on(app, alice)


def test_name_picks_the_account_with_that_name(app, enabled: Api, clock: FrozenClock) -> None:
    alice, other = name_of_anothers_id(app, clock)
    runner = app.test_cli_runner()
    status = runner.invoke(args=["two-factor", "status", "--name", alice])
    assert status.exit_code == 0 and status.output.startswith(f"user {other} ({alice}): enabled")
    result = runner.invoke(args=["two-factor", "reset", "--name", alice])
    assert result.exit_code == 0
    assert result.output.startswith(f"user {other} ({alice}): two-factor authentication removed")
    assert two_factor_on(app, "alice") and not two_factor_on(app, alice)


def test_id_does_not_fall_back_to_names(app, enabled: Api) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "--id", "alice"])
    assert result.exit_code == 1 and "No user matches 'alice' by id" in result.output
    assert two_factor_on(app, "alice")


def test_id_and_name_together_are_refused(app, enabled: Api) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "--id", "--name", "alice"])
    assert result.exit_code == 2 and "not both" in result.output
    assert two_factor_on(app, "alice")


def test_without_a_name_lookup_user_is_an_id(app, enabled: Api) -> None:
    ext = app.extensions["two_factor"]
    ext.find_user = ext.load_user  # a host that passed no find_user
    runner = app.test_cli_runner()
    alice = user_id(app, "alice")
    assert runner.invoke(args=["two-factor", "status", alice]).output.startswith(f"user {alice} (alice): enabled")
    assert "No user matches 'alice'" in runner.invoke(args=["two-factor", "status", "alice"]).output
    by_name = runner.invoke(args=["two-factor", "status", "--name", "alice"])
    assert by_name.exit_code == 2 and "by id only" in by_name.output


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
