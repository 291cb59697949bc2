"""S3 replay guard and S5 throttle (free typos, the schedule, two scopes), through the HTTP API with a frozen clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code

pytestmark = pytest.mark.both_backends


def pending_login(api: Api) -> None:
    api.logout()
    assert api.login().get_json()["twoFactorRequired"] is True


def failures(app) -> int:
    """Return the sign-in scope's failure count of the only user."""
    with app.app_context():
        return db.session.scalar(select(TwoFactorSecret.failed_attempts))


def account_failures(app) -> int:
    """Return the account scope's failure count of the only user."""
    with app.app_context():
        return db.session.scalar(select(TwoFactorSecret.account_failed_attempts))


def set_failures(app, **counters: int) -> None:
    """Set failure counters directly: walking the schedule over HTTP adds nothing the tests above lack."""
    with app.app_context():
        db.session.execute(update(TwoFactorSecret).values(**counters))
        db.session.commit()


# -- S3: replay --------------------------------------------------------------------------------


def test_enabling_code_cannot_be_reused_at_login(api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    code = totp_now(api.secret, clock)
    assert api.post("/2fa/verify", {"code": code}).status_code == 200
    pending_login(api)
    response = api.post("/2fa/validate", {"code": code})
    assert response.status_code == 401 and "already used" in response.get_json()["error"]


def test_same_step_is_accepted_once(enabled: Api, clock: FrozenClock) -> None:
    code = totp_now(enabled.secret, clock)
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": code}).status_code == 200
    pending_login(enabled)
    clock.advance(1)  # within the same 30-s step
    assert enabled.post("/2fa/validate", {"code": code}).status_code == 401


def test_older_step_after_newer_one_is_rejected(enabled: Api, clock: FrozenClock) -> None:
    newer, older = totp_now(enabled.secret, clock, 1), totp_now(enabled.secret, clock, 0)
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": newer}).status_code == 200
    pending_login(enabled)
    response = enabled.post("/2fa/validate", {"code": older})
    assert response.status_code == 401 and response.get_json()["valid"] is False


def test_next_step_after_previous_one_is_accepted(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    clock.advance(30)
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


# -- S5: throttle ------------------------------------------------------------------------------


def fail_validate(api: Api, clock: FrozenClock, times: int) -> None:
    """Send ``times`` wrong codes to the challenge, each judged (no wait in between)."""
    for _ in range(times):
        assert api.post("/2fa/validate", {"code": wrong_code(api.secret, clock)}).status_code == 401


def test_a_typo_then_the_right_code_signs_in_at_once(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 1)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_three_wrong_codes_then_the_right_one_signs_in_at_once(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 3)
    assert failures(app) == 3
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_the_fourth_failure_starts_a_one_second_wait(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    bad = wrong_code(enabled.secret, clock)
    fail_validate(enabled, clock, 4)
    response = enabled.post("/2fa/validate", {"code": bad})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert response.get_json() == {"error": "Too many attempts. Wait 1 second, then try again.", "retryAfter": 1}
    clock.advance(1)
    assert enabled.post("/2fa/validate", {"code": bad}).status_code == 401
    response = enabled.post("/2fa/validate", {"code": bad})
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert response.get_json() == {"error": "Too many attempts. Wait 2 seconds, then try again.", "retryAfter": 2}


def test_refused_attempts_are_not_counted(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 4)
    for _ in range(5):
        assert enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)}).status_code == 429
    assert failures(app) == 4
    with app.app_context():
        assert db.session.query(TwoFactorAttempt).filter_by(purpose="login").count() == 4


def test_throttle_even_refuses_the_right_code_while_waiting(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 4)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 429


def test_delay_doubles_and_is_capped(app, enabled: Api, clock: FrozenClock) -> None:
    bad = wrong_code(enabled.secret, clock)
    pending_login(enabled)
    fail_validate(enabled, clock, 3)
    waits = []
    for _ in range(14):
        pending_login(enabled)  # a fresh pending login: the long waits outlast its 300 s
        assert enabled.post("/2fa/validate", {"code": bad}).status_code == 401
        refused = enabled.post("/2fa/validate", {"code": bad})
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]


def test_success_resets_the_counter(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 4)
    assert failures(app) == 4
    clock.advance(1)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    assert failures(app) == 0


def test_a_backup_code_resets_the_sign_in_counter(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    fail_validate(enabled, clock, 2)
    assert enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).status_code == 200
    assert failures(app) == 0


def test_a_settings_change_resets_the_account_counter(app, enabled: Api, clock: FrozenClock) -> None:
    bad = wrong_code(enabled.secret, clock)
    for _ in range(2):
        assert enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": bad}).status_code == 400
    assert account_failures(app) == 2
    # Password + TOTP code takes the general path (budget, password, code), not the login fast path.
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    assert account_failures(app) == 0


def test_throttle_is_shared_by_methods_and_actions_within_a_scope(app, enabled: Api, clock: FrozenClock) -> None:
    bad = wrong_code(enabled.secret, clock)
    for _ in range(4):
        assert enabled.post("/2fa/disable", {"password": PASSWORD, "code": bad}).status_code == 400
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": enabled.backup_codes[0]})
    assert response.status_code == 429
    pending_login(enabled)
    fail_validate(enabled, clock, 4)
    assert enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).status_code == 429


def test_wrong_passwords_on_settings_never_slow_down_signing_in(app, enabled: Api, clock: FrozenClock) -> None:
    # Someone holding only a stolen session guesses passwords at disable.
    code = totp_now(enabled.secret, clock)
    for _ in range(6):
        enabled.post("/2fa/disable", {"password": "not the password", "code": code})
    assert account_failures(app) == 4 and failures(app) == 0
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": code}).status_code == 200


def test_a_locked_account_scope_never_locks_signing_in(app, enabled: Api, clock: FrozenClock) -> None:
    set_failures(app, account_failed_attempts=99)
    response = enabled.post("/2fa/disable", {"password": "not the password", "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    assert "You can still sign in" in response.get_json()["error"]
    clock.advance(30)
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_a_locked_sign_in_scope_leaves_settings_to_the_signed_in_owner(app, enabled: Api, clock: FrozenClock) -> None:
    set_failures(app, failed_attempts=100)
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200


def test_enabling_counts_in_the_account_scope(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    for _ in range(4):
        assert api.post("/2fa/verify", {"code": wrong_code(api.secret, clock)}).status_code == 400
    assert account_failures(app) == 4 and failures(app) == 0
    assert api.post("/2fa/verify", {"code": totp_now(api.secret, clock)}).status_code == 429


def test_wrong_password_counts_and_does_not_consume_the_code(app, enabled: Api, clock: FrozenClock) -> None:
    code = enabled.backup_codes[0]
    response = enabled.post("/2fa/disable", {"password": "not the password", "code": code})
    assert response.status_code == 400
    assert account_failures(app) == 1
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": code})
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["", "abc", "12345", "1234567", "١٢٣٤٥٦", "x" * 10_000])
def test_input_that_cannot_be_a_code_is_400_and_not_counted(app, enabled: Api, raw: str) -> None:
    pending_login(enabled)
    response = enabled.post("/2fa/validate", {"code": raw})
    assert response.status_code == 400 and response.get_json()["error"]
    assert failures(app) == 0


def test_lock_after_one_hundred_failures_until_reset(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    bad = wrong_code(enabled.secret, clock)
    set_failures(app, failed_attempts=99)
    response = enabled.post("/2fa/validate", {"code": bad})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    assert failures(app) == 100
    clock.advance(10 * 3600)
    pending_login(enabled)
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    runner = app.test_cli_runner()
    assert runner.invoke(args=["two-factor", "reset", "--unlock", "alice"]).exit_code == 0
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_unlock_clears_both_scopes(app, enabled: Api) -> None:
    set_failures(app, failed_attempts=100, account_failed_attempts=100)
    assert app.test_cli_runner().invoke(args=["two-factor", "reset", "--unlock", "alice"]).exit_code == 0
    assert (failures(app), account_failures(app)) == (0, 0)
