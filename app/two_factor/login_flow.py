"""The host's login view in one call: after the password, start the challenge or sign the user in."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, session, url_for
from flask_login import current_user, login_user, logout_user

from . import browsers
from .i18n import _
from .pending import PENDING_KEY, safe_next
from .responses import json_response, see_other, wants_json
from .state import state


def start_challenge(user: Any, next_url: str | None, remember: bool) -> str | None:
    """Keep a pending login and return the challenge URL, or None when 2FA is off or this browser is remembered."""
    user_id = str(user.get_id())
    if not state().service().is_enabled(user_id) or browsers.skips_code(user_id):
        return None
    signed_in = current_user.is_authenticated  # also true for a user the remember cookie restores
    # A fresh session: nothing from before the password step survives into the challenge.
    session.clear()
    if signed_in:
        # After the clear, so that Flask-Login's marker that deletes the remember cookie survives;
        # logging out also ends that session's record, so the previous user can never come back.
        logout_user()
    session[PENDING_KEY] = {
        "user_id": user_id,
        "issued_at": int(state().clock().timestamp()),
        "next": next_url,
        "remember": bool(remember),
    }
    return url_for("two_factor.challenge")


def finish_password_step(user: Any, remember: bool, next_url: str | None) -> Response:
    """Return the answer to a correct password: on to the challenge when 2FA is on, else signed in."""
    target = safe_next(next_url)
    challenge = start_challenge(user, target, remember)
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
    message = _("This account cannot sign in.")
    return json_response({"error": message}, 403) if wants_json() else Response(message, 403, mimetype="text/plain")
