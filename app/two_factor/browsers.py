"""Remembered browsers (S18): "don't ask for a code on this browser", as a revocable server-side record.

Off unless ``TWO_FACTOR_REMEMBER_DAYS`` > 0. A login that passed its second factor with ``remember``
gets a random token in a cookie of its own (HttpOnly, SameSite=Lax, path "/", for that many days;
Secure and ``__Host-`` prefixed when ``SESSION_COOKIE_SECURE`` is on) and a row keyed by the token's
SHA-256. At the next password step (``start_challenge``) a live row of *that* user skips the code:
the password is always asked. Any other token (forgotten, expired, tampered, another user's) means
the code is asked as usual, and the cookie is deleted. Unlike a signed cookie, each row can be listed
and forgotten, one by one or all at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request

from . import browser_store, sessions
from .outcomes import REMEMBERED
from .responses import is_checked

COOKIE_PREFIX = "__Host-"


def install(app: Flask) -> None:
    """Set the defaults and the hook that writes the cookie."""
    app.config.setdefault("TWO_FACTOR_REMEMBER_DAYS", 0)
    app.config.setdefault("TWO_FACTOR_BROWSER_COOKIE_NAME", "two_factor_browser")
    app.after_request(_update_cookie)


def remember_days() -> int:
    """Return how many days a browser is remembered; 0 when the feature is off."""
    try:
        return max(int(current_app.config.get("TWO_FACTOR_REMEMBER_DAYS") or 0), 0)
    except (TypeError, ValueError):
        return 0


def cookie_name() -> str:
    name = str(current_app.config["TWO_FACTOR_BROWSER_COOKIE_NAME"])
    # __Host-: the browser takes it only Secure, path "/", without a Domain: no subdomain can plant or widen it.
    return COOKIE_PREFIX + name if _secure() else name


def skips_code(user_id: str) -> bool:
    """At the password step: True when this browser carries a live remembered token of this user.

    The skip is audited as a sign-in and the browser's last use noted; a token that does not qualify
    is deleted from the browser.
    """
    token = request.cookies.get(cookie_name())
    if token is None or remember_days() <= 0:
        return False
    ext = current_app.extensions["two_factor"]
    now = ext.clock()
    record = browser_store.find(ext.db.session, token)
    if record is None or record.user_id != user_id or record.expires_at <= now:
        clear_cookie()
        return False
    ext.service().remembered_login(user_id, record.id, now, sessions.current_client())
    sessions.signing_in_with(REMEMBERED)  # the session's record says the code was skipped
    return True


def wants_remembering() -> bool:
    """Return True when the challenge's form or JSON body asks to remember this browser (and the feature is on)."""
    return remember_days() > 0 and is_checked("remember")


def remember(user_id: str) -> None:
    """Remember this browser for the user who just passed the second factor (replacing what it carried)."""
    days = remember_days()
    if days <= 0:
        return
    ext = current_app.extensions["two_factor"]
    now, token = ext.clock(), browser_store.new_token()
    expires_at = now + timedelta(days=days)
    ext.service().remember_browser(user_id, token, now, expires_at, sessions.current_client(), current_hash())
    g._two_factor_browser = ("set", token)


def current_hash() -> str | None:
    """Return the token hash of the browser's cookie, or None when it carries none."""
    token = request.cookies.get(cookie_name())
    return browser_store.hash_token(token) if token else None


def clear_cookie() -> None:
    """Have the response delete this browser's remembered token (if it carries one)."""
    g._two_factor_browser = ("clear",)


def _secure() -> bool:
    return bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def _cookie_options() -> dict[str, Any]:
    return {"path": "/", "secure": _secure(), "httponly": True, "samesite": "Lax"}


def _update_cookie(response: Response) -> Response:
    action = g.get("_two_factor_browser")
    if action is None:
        return response
    name = cookie_name()
    if action[0] == "set":
        response.set_cookie(name, action[1], max_age=timedelta(days=remember_days()), **_cookie_options())
    elif name in request.cookies:
        response.delete_cookie(name, **_cookie_options())
    return response
