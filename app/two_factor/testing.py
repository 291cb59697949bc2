"""Helpers for a host's own test suite: turn 2FA on for a user and read a code the next check accepts.

Use them inside an app context of an app with ``TESTING`` on, e.g. in a pytest fixture::

    from flask_two_factor import testing

    with app.app_context():
        secret, backup_codes = testing.enable(user)
    ...
    client.post("/2fa/validate", json={"code": testing.current_code(user)}, headers=...)
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from . import totp
from .models import TwoFactorSecret
from .outcomes import TOTP, Client, Code
from .state import state

__all__ = ["current_code", "enable"]


def _testing_only() -> None:
    if not current_app.testing:
        raise RuntimeError("flask_two_factor.testing is for test suites: set TESTING = True on the app.")


def _user_id(user: Any) -> str:
    return str(user if isinstance(user, str | int) else user.get_id())


def enable(user: Any) -> tuple[str, list[str]]:
    """Turn 2FA on for ``user`` (a user or an id) as if they scanned the QR code; return (secret, backup codes).

    Like a real setup it ends the user's other sessions: sign your test client in afterwards.
    """
    _testing_only()
    ext = state()
    service = ext.service()
    user_id = _user_id(user)
    now = ext.clock()
    account = user_id if isinstance(user, str | int) else ext.display_name(user)
    enrollment = service.begin_setup(user_id, account, now)
    if not hasattr(enrollment, "secret"):
        raise RuntimeError(f"Two-factor authentication is already on for user {user_id}.")
    code = totp.code_at_step(enrollment.secret, totp.time_step(now))
    result = service.confirm_setup(user_id, Code(TOTP, code), now, Client())
    if not result.ok:
        raise RuntimeError(f"Two-factor authentication could not be turned on for user {user_id}: {result.outcome}.")
    return enrollment.secret, list(result.backup_codes)


def current_code(user: Any) -> str:
    """Return a code from the user's authenticator app that the next check accepts (never a used step)."""
    _testing_only()
    ext = state()
    user_id = _user_id(user)
    row = ext.db.session.scalar(select(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id))
    if row is None:
        raise RuntimeError(f"User {user_id} has not set up two-factor authentication.")
    now_step = totp.time_step(ext.clock())
    step = max(now_step, (row.last_used_step or 0) + 1)
    if step > now_step + ext.policy.valid_window:
        raise RuntimeError("Every code in the window was used: move the app's clock on 30 s (TwoFactor(clock=...)).")
    return totp.code_at_step(ext.keys.decrypt(row.secret), step)
