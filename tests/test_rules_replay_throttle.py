"""S3 replay guard and S5 throttle, through the HTTP API with a frozen clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code

pytestmark = pytest.mark.both_backends


def pending_login(api: Api) -> None:
    api.logout()
    assert api.login().get_json()["twoFactorRequired"] is True


def failures(app, user_id: str | None = None) -> int:
    with app.app_context():
        return db.session.scalar(select(TwoFactorSecret.failed_attempts))


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


def test_throttle_refuses_with_429_and_retry_after(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    bad = wrong_code(enabled.secret, clock)
    assert enabled.post("/2fa/validate", {"code": bad}).status_code == 401
    assert enabled.post("/2fa/validate", {"code": bad}).status_code == 429  # 1 s after one failure
    clock.advance(1)
    assert enabled.post("/2fa/validate", {"code": bad}).status_code == 401
    response = enabled.post("/2fa/validate", {"code": bad})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.get_json() == {"error": "Too many attempts. Try again in 2 seconds.", "retryAfter": 2}


def test_refused_attempts_are_not_counted(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    bad = wrong_code(enabled.secret, clock)
    enabled.post("/2fa/validate", {"code": bad})
    for _ in range(5):
        assert enabled.post("/2fa/validate", {"code": bad}).status_code == 429
    assert failures(app) == 1
    with app.app_context():
        assert db.session.query(TwoFactorAttempt).filter_by(purpose="login").count() == 1


def test_throttle_even_refuses_the_right_code_while_waiting(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)})
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 429


def test_delay_doubles_and_is_capped(app, enabled: Api, clock: FrozenClock) -> None:
    bad = wrong_code(enabled.secret, clock)
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
    enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)})
    clock.advance(1)
    enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)})
    assert failures(app) == 2
    clock.advance(2)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    assert failures(app) == 0


def test_throttle_is_shared_by_backup_codes_and_purposes(app, enabled: Api, clock: FrozenClock) -> None:
    bad = wrong_code(enabled.secret, clock)
    assert enabled.post("/2fa/disable", {"password": PASSWORD, "code": bad}).status_code == 400
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": enabled.backup_codes[0]})
    assert response.status_code == 429
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).status_code == 429


def test_wrong_password_counts_and_does_not_consume_the_code(app, enabled: Api, clock: FrozenClock) -> None:
    code = enabled.backup_codes[0]
    response = enabled.post("/2fa/disable", {"password": "not the password", "code": code})
    assert response.status_code == 400
    assert failures(app) == 1
    clock.advance(1)
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
    with app.app_context():
        # 99 failures set directly: walking the schedule over HTTP adds nothing the test above lacks.
        row = db.session.scalar(select(TwoFactorSecret))
        row.failed_attempts = 99
        db.session.commit()
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
