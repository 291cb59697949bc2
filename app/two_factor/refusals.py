"""Refusals: a failed result, a bad request or an outage answered in the form the client asked for."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request, url_for
from flask_login import current_user, login_url

from .i18n import _, _lazy, _n
from .outcomes import Outcome, Result
from .pending import clear_pending, read_pending
from .responses import html_response, hx_redirect, is_htmx, json_response, see_other, wants_json
from .throttle import ACCOUNT
from .ui import render_challenge, render_panel, render_reauth, render_settings

MESSAGES = {
    Outcome.INVALID: _lazy(
        "That code didn't work. Codes change every 30 seconds: enter the one your app shows now. "
        "If it keeps failing, make sure your phone sets its date and time automatically."
    ),
    Outcome.REPLAYED: _lazy("That code was already used. Wait for the next code in your app."),
    Outcome.LOCKED: _lazy(
        "Two-factor sign-in is locked after too many failed attempts. Ask an administrator to reset it."
    ),
    Outcome.NOT_SET_UP: _lazy("Set up two-factor authentication first."),
    Outcome.NOT_ENABLED: _lazy("Two-factor authentication is not enabled."),
    Outcome.ALREADY_ENABLED: _lazy("Two-factor authentication is already enabled."),
}
# A lock of the account scope never stops signing in, so the user is told they still can.
ACCOUNT_LOCKED = _lazy(
    "Changes to two-factor authentication are locked after too many failed attempts. "
    "You can still sign in; ask an administrator to unlock them."
)
WRONG_PASSWORD = _lazy("That password isn't right. Check it and try again.")
STEP_SECONDS = 30


def too_many(seconds: int) -> str:
    """Return the throttle message with the wait, in whole seconds and the right number."""
    return _n(
        "Too many attempts. Wait %(num)d second, then try again.",
        "Too many attempts. Wait %(num)d seconds, then try again.",
        seconds,
    )


def clock_drift(steps: int) -> str:
    """Return the hint for a code that matched a few steps away: the device's clock is off by about that much."""
    minutes = max(1, round(abs(steps) * STEP_SECONDS / 60))
    if steps > 0:
        return _n(
            "That code didn't work: your device's clock looks about %(num)d minute fast. "
            "Turn on automatic date and time on your phone, then enter the new code.",
            "That code didn't work: your device's clock looks about %(num)d minutes fast. "
            "Turn on automatic date and time on your phone, then enter the new code.",
            minutes,
        )
    return _n(
        "That code didn't work: your device's clock looks about %(num)d minute slow. "
        "Turn on automatic date and time on your phone, then enter the new code.",
        "That code didn't work: your device's clock looks about %(num)d minutes slow. "
        "Turn on automatic date and time on your phone, then enter the new code.",
        minutes,
    )


def message_for(result: Result, invalid: str | None = None) -> str:
    """Return the words a person reads for a failed result."""
    if result.outcome is Outcome.THROTTLED:
        return too_many(result.retry_after)
    if result.outcome is Outcome.INVALID:
        if getattr(result, "wrong_field", None) == "password":
            return str(WRONG_PASSWORD)
        if drift := getattr(result, "drift_steps", None):
            return clock_drift(drift)
        return str(invalid or MESSAGES[Outcome.INVALID])
    if result.outcome is Outcome.LOCKED and result.scope == ACCOUNT:
        return str(ACCOUNT_LOCKED)
    return str(MESSAGES[result.outcome])


def refuse(message: str, status: int, retry_after: int = 0, locked: bool = False, **context: Any) -> Response:
    """Answer a refusal in the form the client asked for; ``context`` goes to the page or fragment shown again."""
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if wants_json():
        body: dict[str, Any] = {"error": message}
        if retry_after:
            body["retryAfter"] = retry_after
        if locked:
            body["locked"] = True
        return json_response(body, status, headers)
    # A throttled page keeps the typed code and counts the wait down (the button waits with it).
    waiting = {**context, "retry_after": retry_after, "typed_code": _typed_code()} if retry_after else context
    pending = read_pending()
    if request.endpoint in ("two_factor.validate", "two_factor.challenge") and pending and not pending.expired:
        response = render_challenge(error=message, status_code=status, fragment=is_htmx(), **waiting)
    elif not current_user.is_authenticated:
        if is_htmx():
            return to_login()
        response = html_response("two_factor/error.html", status, title=_("Request refused"), error=message)
    elif request.endpoint == "two_factor.reauth":
        response = render_reauth(error=message, status_code=status, fragment=is_htmx(), **waiting)
    elif is_htmx():
        response = render_panel(_panel_for_endpoint(), error=message, status_code=status, **waiting)
    else:
        response = render_settings(error=message, status_code=status, **waiting)
    response.headers.update(headers)
    return response


def _typed_code() -> str:
    """Return the code field as typed, for a form shown again after a wait (never the password)."""
    return request.form.get("code", "")[:64]


def _panel_for_endpoint() -> str:
    return {"two_factor.verify": "setup"}.get(request.endpoint or "", "status")


def failed(result: Result, invalid_status: int, invalid: str | None = None, **context: Any) -> Response:
    """Answer a failed service result; ``context`` goes to the form shown again (e.g. which field was wrong)."""
    if result.outcome in (Outcome.THROTTLED, Outcome.LOCKED):
        locked = result.outcome is Outcome.LOCKED
        return refuse(message_for(result), 429, retry_after=result.retry_after, locked=locked, **context)
    status = invalid_status if result.outcome in (Outcome.INVALID, Outcome.REPLAYED) else 400
    return refuse(message_for(result, invalid), status, **context)


def to_login() -> Response:
    """Refuse a client that is not signed in: 401 JSON, else the host's login page (htmx: a whole-page redirect)."""
    if wants_json():
        return json_response({"error": _("Sign in first.")}, 401)
    login_manager = current_app.login_manager  # type: ignore[attr-defined]
    if request.method == "GET" or not login_manager.login_view:
        response = login_manager.unauthorized()
    else:
        # After signing in, come back to the page: the POST-only URL would answer 405 to a GET.
        response = see_other(login_url(login_manager.login_view, next_url=url_for("two_factor.settings")))
    return hx_redirect(response.location) if is_htmx() else response


def unavailable(message: str) -> Response:
    """Answer 503 in the client's form; nothing was changed."""
    if wants_json():
        return json_response({"error": message}, 503, {"Retry-After": "30"})
    # Rendered without the context processors: Flask-Login's loads current_user from the database,
    # which may be what just failed (the page would turn into a 500).
    page = current_app.jinja_env.get_template("two_factor/error.html")
    body = page.render(title=_("Temporarily unavailable"), error=message)
    return Response(body, 503, {"Vary": "HX-Request, Accept", "Retry-After": "30"}, mimetype="text/html")


def challenge_page(message: str, status: int) -> Response:
    """Show the challenge again with a message; once nothing is pending, the message and a way back."""
    pending = read_pending()
    if pending is None or pending.expired:
        # Said on the page (a redirect to the login page would lose why): expired, or never started.
        clear_pending()
    return render_challenge(error=message, status_code=status, fragment=is_htmx())
