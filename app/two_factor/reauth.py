"""Re-authentication ("sudo mode", S16): when the session last proved who holds it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, request, session
from flask_login import user_logged_in

from .i18n import _lazy
from .state import state

REAUTH_KEY = "_two_factor_reauth_at"
NEEDED = _lazy("For your security, confirm it's you before changing how you sign in.")


def install(app: Flask) -> None:
    """Count every completed login as a re-authentication at its time."""
    user_logged_in.connect(_on_login, app, weak=False)


def _on_login(sender: Flask, user: Any, **extra: Any) -> None:
    # login_user() runs after the password (and the code, when 2FA is on) were checked: a fresh proof.
    mark()


def mark() -> None:
    """Record that the session proved, now, who holds it."""
    session[REAUTH_KEY] = int(state().clock().timestamp())


def fresh_until() -> datetime | None:
    """Return when the last re-authentication stops counting, or None if there is none still valid."""
    at = session.get(REAUTH_KEY)
    if not isinstance(at, int):
        return None
    now = state().clock()
    proved = datetime.fromtimestamp(at, now.tzinfo)
    until = proved + timedelta(seconds=int(current_app.config["TWO_FACTOR_REAUTH_TTL"]))
    # A proof from the future (a clock moved back) counts as none.
    return until if proved <= now < until else None


def is_fresh() -> bool:
    """Return True while the last re-authentication is within TWO_FACTOR_REAUTH_TTL."""
    return fresh_until() is not None


def requested_then() -> str | None:
    """Return the action to resume after re-authentication, if it is one that may be resumed."""
    then = request.values.get("then")
    return then if then in RESUMABLE else None


# Actions a re-authentication may resume in the same POST: starting a setup or a replacement (a fresh secret).
RESUMABLE = frozenset({"setup", "replace"})
