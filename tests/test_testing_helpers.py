"""flask_two_factor.testing: what a host's own test suite uses to turn 2FA on and pass the challenge."""

from __future__ import annotations

import pytest
from flask import Flask

from app.extensions import db
from app.models import User
from app.two_factor import testing
from tests.support import Api, FrozenClock


def alice(app: Flask) -> User:
    return db.session.scalar(db.select(User).filter_by(username="alice"))


def test_enable_then_current_code_passes_the_challenge(app: Flask, api: Api, clock: FrozenClock) -> None:
    api.register()
    with app.app_context():
        secret, codes = testing.enable(alice(app))
    assert len(secret) == 32 and len(codes) == 10
    for _ in range(2):
        # The enabling step is used, then the next one: a frozen clock must move on for a third login.
        api.logout()
        assert api.login().get_json()["twoFactorRequired"] is True
        with app.app_context():
            code = testing.current_code(alice(app))
        assert api.post("/2fa/validate", {"code": code}).status_code == 200
        with app.app_context(), pytest.raises(RuntimeError, match="move the app's clock on"):
            testing.current_code(alice(app))
        clock.advance(30)


def test_the_helpers_refuse_to_run_outside_tests(app: Flask, api: Api) -> None:
    api.register()
    app.testing = False
    with app.app_context(), pytest.raises(RuntimeError, match="TESTING"):
        testing.enable(alice(app))
