"""The host's login view in one call: after the password, start the challenge or sign the user in."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, session
from flask_login import current_user, login_user, logout_user

from .extension import TwoFactor
from .pending import safe_next
from .responses import json_response, see_other, wants_json


def finish_password_step(two_factor: TwoFactor, user: Any, remember: bool, next_url: str | None) -> Response:
    """Return the answer to a correct password: on to the challenge when 2FA is on, else signed in."""
    target = safe_next(next_url)
    challenge = two_factor.start_challenge(user, next_url=target, remember=remember)
    if challenge is None:
        if current_user.is_authenticated:
            logout_user()  # another account signed in in this browser: its session record ends
        # A fresh session for the new login (no fixation); logout's marker that deletes a remember cookie stays.
        marker = session.get("_remember")
        session.clear()
        if marker:
            session["_remember"] = marker
        if not login_user(user, remember=remember):
            return _refused()
    if wants_json():
        return json_response({"ok": True, "twoFactorRequired": challenge is not None})
    return see_other(challenge or target or str(current_app.config["TWO_FACTOR_LOGIN_REDIRECT"]))


def _refused() -> Response:
    message = "This account cannot sign in."
    return json_response({"error": message}, 403) if wants_json() else Response(message, 403, mimetype="text/plain")
