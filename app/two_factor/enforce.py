"""Requiring 2FA for chosen users: an app-wide before-request hook and a per-view decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from flask import Response, current_app, request, session, url_for
from flask_login import current_user

from .i18n import _lazy
from .pending import safe_next
from .responses import hx_redirect, is_htmx, json_response, see_other, wants_json
from .state import state

SETUP_REQUIRED = _lazy("Two-factor authentication is required for your account. Set it up to continue.")
AFTER_SETUP_KEY = "_two_factor_after_setup"
View = TypeVar("View", bound=Callable[..., Any])


def enforce_required() -> Response | None:
    """Before each request: stop a user who must have 2FA, and has not enabled it, at the settings page."""
    if state().required is None or _exempt(request.endpoint):
        return None
    return setup_required() if needs_setup() else None


def needs_setup() -> bool:
    """Return True if the logged-in user must have 2FA (the ``required`` hook) and has not enabled it."""
    required = state().required
    if required is None or not current_user.is_authenticated:
        return False
    if not required(current_user._get_current_object()):
        return False
    return not state().service().is_enabled(str(current_user.get_id()))


def two_factor_required(view: View) -> View:
    """Let only users with 2FA enabled reach ``view``; others are sent to set it up (JSON: 403)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        if not state().service().is_enabled(str(current_user.get_id())):
            return setup_required()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def setup_required() -> Response:
    """Send the user to the settings page: 403 JSON with ``setupUrl``, an htmx redirect, or a 303."""
    url = url_for("two_factor.settings")
    if wants_json():
        return json_response({"error": str(SETUP_REQUIRED), "setupUrl": url}, 403)
    if is_htmx():
        return hx_redirect(url)
    if request.method == "GET":
        # Where the user was going: "Done" under the new backup codes leads there.
        session[AFTER_SETUP_KEY] = safe_next(request.full_path.rstrip("?"))
    return see_other(url)


def destination_after_setup() -> str | None:
    """Once 2FA is on, return (and forget) the page enforcement stopped the user on, if any."""
    target = session.get(AFTER_SETUP_KEY)
    if not isinstance(target, str) or not state().service().is_enabled(str(current_user.get_id())):
        return None
    session.pop(AFTER_SETUP_KEY, None)
    return safe_next(target)


def _exempt(endpoint: str | None) -> bool:
    """Return True for requests enforcement never stops: 404s, the blueprint, login and the allow-list."""
    if endpoint is None or endpoint.startswith("two_factor."):
        return True
    if endpoint == getattr(current_app.login_manager, "login_view", None):  # type: ignore[attr-defined]
        return True
    patterns = current_app.config["TWO_FACTOR_ENFORCE_EXEMPT"]
    if isinstance(patterns, str):  # e.g. FLASK_TWO_FACTOR_ENFORCE_EXEMPT="static,auth.logout"
        patterns = patterns.split(",")
    return any(fnmatchcase(endpoint, pattern.strip()) for pattern in patterns)
