"""What a refusal tells, counted exactly as before: the clock-drift hint, which field was wrong, the audited reason."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.two_factor.models import TwoFactorAttempt
from app.two_factor.outcomes import TOTP, Client, Code, Outcome, Result
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code
from tests.test_rules_replay_throttle import account_failures, failures, pending_login, set_failures

pytestmark = pytest.mark.both_backends


def check_login(app: Flask, code: str, clock: FrozenClock) -> Result:
    """Judge a login code through the service, as the challenge does."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id))
        return app.extensions["two_factor"].service().check_login(user_id, Code(TOTP, code), clock(), Client())


def reasons(app: Flask) -> list[str | None]:
    """Return the reasons of the failed attempts, oldest first."""
    with app.app_context():
        query = select(TwoFactorAttempt.reason).where(~TwoFactorAttempt.success).order_by(TwoFactorAttempt.attempted_at)
        return list(db.session.scalars(query))


def test_a_code_four_steps_ahead_is_refused_counted_and_not_named_at_sign_in(
    app, enabled: Api, clock: FrozenClock
) -> None:
    # It becomes valid in two minutes: naming it would tell a guesser to wait and send it again.
    result = check_login(app, totp_now(enabled.secret, clock, 4), clock)
    assert result.outcome is Outcome.INVALID and result.drift_steps is None
    assert failures(app) == 1
    assert reasons(app) == ["wrong_code"]


def test_a_code_four_steps_ahead_is_named_while_confirming_a_new_secret(api: Api, clock: FrozenClock) -> None:
    api.register()
    assert api.setup().status_code == 200
    response = api.post("/2fa/verify", {"code": totp_now(api.secret, clock, 4)})
    assert response.status_code == 400 and "about 2 minutes fast" in response.get_json()["error"]


def test_a_code_three_steps_behind_says_the_clock_is_slow(app, enabled: Api, clock: FrozenClock) -> None:
    clock.advance(120)  # so that T-3 is newer than the enabling step: only the window refuses it
    result = check_login(app, totp_now(enabled.secret, clock, -3), clock)
    assert result.outcome is Outcome.INVALID and result.drift_steps == -3


def test_eleven_steps_away_is_just_a_wrong_code(app, enabled: Api, clock: FrozenClock) -> None:
    result = check_login(app, totp_now(enabled.secret, clock, 11), clock)
    assert result.outcome is Outcome.INVALID and result.drift_steps is None
    assert failures(app) == 1
    assert reasons(app) == ["wrong_code"]


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_within_the_window_is_accepted(app, enabled: Api, clock: FrozenClock, offset: int) -> None:
    clock.advance(60)  # so that T-1 is newer than the enabling step
    result = check_login(app, totp_now(enabled.secret, clock, offset), clock)
    assert result.ok and result.drift_steps is None
    assert failures(app) == 0


def test_the_challenge_tells_the_user_about_the_clock(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    clock.advance(150)  # so that T-4 is newer than the enabling step: only the window refuses it
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock, -4)})
    assert response.status_code == 401
    body = response.get_json()
    assert body["valid"] is False and "clock" in body["error"]
    assert failures(app) == 1
    # Counted exactly like any wrong code: the right one still signs in at once.
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_a_settings_action_also_gets_the_hint_in_the_account_scope(app, enabled: Api, clock: FrozenClock) -> None:
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock, -5)})
    assert response.status_code == 400 and "clock" in response.get_json()["error"]
    assert account_failures(app) == 1 and failures(app) == 0
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_a_reused_code_is_no_drift(app, enabled: Api, clock: FrozenClock) -> None:
    code = totp_now(enabled.secret, clock)
    assert check_login(app, code, clock).ok
    result = check_login(app, code, clock)
    assert result.outcome is Outcome.REPLAYED and result.drift_steps is None
    assert reasons(app) == ["reused_code"]


# -- which field was wrong (password + code) -----------------------------------------------------


def change(app: Flask, action: str, code: str, password_right: bool, clock: FrozenClock) -> Result:
    """Run disable, regenerate or reauthenticate through the service with a password that is right or not."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id))
        method = getattr(app.extensions["two_factor"].service(), action)
        return method(user_id, Code(TOTP, code), lambda: password_right, clock(), Client())


@pytest.mark.parametrize("action", ["disable", "regenerate", "reauthenticate"])
def test_a_wrong_password_is_named_and_the_code_is_not_used(app, enabled: Api, clock: FrozenClock, action) -> None:
    code = totp_now(enabled.secret, clock)
    result = change(app, action, code, False, clock)
    assert result.outcome is Outcome.INVALID and result.wrong_field == "password" and result.drift_steps is None
    assert account_failures(app) == 1 and reasons(app) == ["wrong_password"]
    assert change(app, action, code, True, clock).ok  # the code was not consumed


@pytest.mark.parametrize("action", ["disable", "regenerate", "reauthenticate"])
def test_a_wrong_code_after_the_right_password_is_named(app, enabled: Api, clock: FrozenClock, action) -> None:
    result = change(app, action, wrong_code(enabled.secret, clock), True, clock)
    assert result.outcome is Outcome.INVALID and result.wrong_field == "code"
    assert account_failures(app) == 1 and reasons(app) == ["wrong_code"]


def test_a_reused_code_after_the_right_password_is_named(app, enabled: Api, clock: FrozenClock) -> None:
    code = totp_now(enabled.secret, clock)
    assert change(app, "reauthenticate", code, True, clock).ok
    result = change(app, "regenerate", code, True, clock)
    assert result.outcome is Outcome.REPLAYED and result.wrong_field == "code"
    assert reasons(app) == ["reused_code"]


def test_without_2fa_a_wrong_password_is_named(app, api: Api) -> None:
    api.register()
    with app.app_context():
        user_id = db.session.scalar(select(User.id))
        service = app.extensions["two_factor"].service()
        result = service.reauthenticate(user_id, None, lambda: False, app.extensions["two_factor"].clock(), Client())
    assert result.outcome is Outcome.INVALID and result.wrong_field == "password"
    assert reasons(app) == ["wrong_password"]


def test_the_login_challenge_names_no_field(app, enabled: Api, clock: FrozenClock) -> None:
    assert check_login(app, wrong_code(enabled.secret, clock), clock).wrong_field is None


# -- the audited reason --------------------------------------------------------------------------


def test_the_failure_that_locks_a_scope_is_audited_as_locked(app, enabled: Api, clock: FrozenClock) -> None:
    set_failures(app, failed_attempts=99)
    result = check_login(app, wrong_code(enabled.secret, clock), clock)
    assert result.outcome is Outcome.LOCKED
    assert reasons(app) == ["locked"]


def test_successes_have_no_reason(app, enabled: Api, clock: FrozenClock) -> None:
    assert check_login(app, totp_now(enabled.secret, clock), clock).ok
    with app.app_context():
        rows = db.session.execute(select(TwoFactorAttempt.purpose, TwoFactorAttempt.reason)).all()
    assert sorted(rows) == [("enable", None), ("login", None)]
