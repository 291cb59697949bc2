"""Thin routes: parse the request, call the service, answer with JSON, a fragment or a page."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, flash, request, session, url_for
from flask_login import current_user, login_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from .crypto import SecretUnreadable
from .enforce import destination_after_setup
from .extension import state
from .outcomes import Client, Code, Outcome, Result, parse_code
from .pending import clear_pending, read_pending, safe_next
from .refusals import challenge_page, failed, message_for, refuse, to_login, too_many, unavailable
from .responses import (
    BadInput,
    add_security_headers,
    hx_redirect,
    is_htmx,
    json_response,
    read_fields,
    see_other,
    wants_json,
)
from .totp import group_secret
from .ui import render_challenge, render_panel, render_settings

log = logging.getLogger("flask_two_factor")
blueprint = Blueprint(
    "two_factor", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)

NOTICE = "two_factor_notice"
CODE_HELP = "Enter the 6-digit code from your authenticator app, or a backup code."
TOTP_HELP = "Enter the 6-digit code from your authenticator app."


@blueprint.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"group_secret": group_secret, "backup_codes_text": backup_codes_text, "login_url": _login_url}


def backup_codes_text(codes: list[str]) -> str:
    """Return the text of the downloadable backup-code file."""
    issuer = current_app.config["TWO_FACTOR_ISSUER"]
    return f"{issuer} backup codes\nEach code works once.\n\n" + "\n".join(codes) + "\n"


def _login_url() -> str:
    view = current_app.login_manager.login_view  # type: ignore[attr-defined]
    return url_for(view) if view else "/"


@blueprint.after_request
def _headers(response: Response) -> Response:
    # Every answer depends on who asked (htmx, a JSON client or a browser), redirects and refusals too.
    response.vary.update(("HX-Request", "Accept"))
    # Every 2FA response may show a secret, a QR code, backup codes or account state.
    return add_security_headers(response, no_store=True)


@blueprint.errorhandler(BadInput)
def _bad_input(error: BadInput) -> Response:
    return refuse(error.message, 400)


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response:
    # Over MAX_CONTENT_LENGTH (JSON clients got Werkzeug's HTML page). The body cannot be read, so
    # no page that looks at the form may be rendered: JSON, or the standalone error page.
    message = "The request is too large."
    if wants_json():
        return json_response({"error": message}, 413)
    page = current_app.jinja_env.get_template("two_factor/error.html")
    return Response(page.render(title="Request refused", error=message), 413, mimetype="text/html")


@blueprint.errorhandler(CSRFError)
def _csrffailed(error: CSRFError) -> Response:
    return refuse("The form expired or its security token is missing. Reload the page and try again.", 400)


@blueprint.errorhandler(SQLAlchemyError)
def _databasefailed(error: SQLAlchemyError) -> Response:
    # Fail closed: undo whatever the request began, deny, and say so without internals.
    state().db.session.rollback()
    log.error("two-factor request failed: database error %s", error.__class__.__name__)
    return unavailable("Two-factor authentication is unavailable right now. Try again in a minute.")


@blueprint.errorhandler(SecretUnreadable)
def _secret_unreadable(error: SecretUnreadable) -> Response:
    state().db.session.rollback()
    log.error("two-factor secret unreadable for user_id=%s: check TWO_FACTOR_ENCRYPTION_KEYS", _current_user_id())
    return unavailable("Two-factor authentication is unavailable for this account. Contact an administrator.")


def _current_user_id() -> str | None:
    if current_user.is_authenticated:
        return str(current_user.get_id())
    pending = read_pending()
    return pending.user_id if pending else None


@blueprint.errorhandler(429)
def _rate_limited(error: Any) -> Response:
    current = state().limiter.current_limit
    retry = max(1, int(current.reset_at - time.time())) if current else 60
    return refuse(too_many(retry), 429, retry_after=retry)


def login_required(view: Callable[..., Response]) -> Callable[..., Response]:
    """Require a logged-in user: 401 JSON for API clients, the host's login page otherwise."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        if current_user.is_authenticated:
            return view(*args, **kwargs)
        return to_login()

    return wrapped


def _user_id() -> str:
    return str(current_user.get_id())


def _client() -> Client:
    return Client(request.remote_addr, request.headers.get("User-Agent"))


def _code(raw: str, allow_backup: bool = True) -> Code:
    code = parse_code(raw, allow_backup)
    if code is None:
        raise BadInput(CODE_HELP if allow_backup else TOTP_HELP)
    return code


def _password_check(password: str) -> Callable[[], bool]:
    if not password:
        raise BadInput("Enter your password.")
    if len(password) > 1024:
        raise BadInput("That password is too long.")
    return lambda: bool(state().check_password(current_user._get_current_object(), password))


# -- the settings page ------------------------------------------------------------------------


def _continue_after_saving_codes() -> Response | None:
    """After "Done" under new codes (``saved``), go on to the page 2FA enforcement stopped the user on."""
    target = destination_after_setup() if request.args.get("saved") else None
    if target is None:
        return None
    return hx_redirect(target) if is_htmx() else see_other(target)



@blueprint.get("/settings")
@login_required
def settings() -> Response:
    if (target := _continue_after_saving_codes()) is not None:
        return target
    # htmx gets the panel the page would show: the pending setup, if any (render_panel falls back to status).
    return render_panel("setup") if is_htmx() else render_settings()


@blueprint.get("/status")
@login_required
def status() -> Response:
    if not wants_json():
        if (target := _continue_after_saving_codes()) is not None:
            return target
        return render_panel("status") if is_htmx() else render_settings()
    current = state().service().status(_user_id())
    return json_response(
        {"enabled": current.enabled, "pending": current.pending, "backupCodesRemaining": current.backup_codes_remaining}
    )


@blueprint.post("/setup")
@login_required
def setup() -> Response:
    ext = state()
    enrollment = ext.service().begin_setup(_user_id(), ext.display_name(current_user), ext.clock())
    if isinstance(enrollment, Result):
        return failed(enrollment, 400)
    if wants_json():
        return json_response(
            {"qrCode": enrollment.qr_data_uri, "secret": enrollment.secret, "otpauthUri": enrollment.otpauth_uri}
        )
    if is_htmx():
        return render_panel("setup", enrollment=enrollment)
    return see_other(url_for(".settings"))


@blueprint.post("/setup/cancel")
@login_required
def cancel_setup() -> Response:
    state().service().cancel_setup(_user_id())
    if wants_json():
        return json_response({"success": True, "message": "Setup cancelled."})
    return render_panel("status") if is_htmx() else see_other(url_for(".settings"))


@blueprint.post("/verify")
@login_required
def verify() -> Response:
    code = _code(read_fields("code")["code"], allow_backup=False)
    ext = state()
    result = ext.service().confirm_setup(_user_id(), code, ext.clock(), _client())
    if not result.ok:
        return failed(result, 400)
    return _show_new_codes(result, "Two-factor authentication is on.")


@blueprint.post("/disable")
@login_required
def disable() -> Response:
    result = _confirmed("disable")
    if not result.ok:
        return failed(result, 400, "The password or code is not correct.")
    message = "Two-factor authentication is off."
    if wants_json():
        return json_response({"success": True, "message": message})
    if is_htmx():
        return render_panel("status", notice=message)
    flash(message, NOTICE)
    return see_other(url_for(".settings"))


@blueprint.post("/backup-codes")
@login_required
def regenerate() -> Response:
    result = _confirmed("regenerate")
    if not result.ok:
        return failed(result, 400, "The password or code is not correct.")
    return _show_new_codes(result, "New backup codes are ready; the old ones no longer work.")


def _confirmed(action: str) -> Result:
    """Run a change that needs the password and a code (disable, regenerate) through the service."""
    fields = read_fields("password", "code")
    password_ok, code = _password_check(fields["password"]), _code(fields["code"])
    ext = state()
    change = getattr(ext.service(), action)
    return change(_user_id(), code, password_ok, ext.clock(), _client())


def _show_new_codes(result: Result, message: str) -> Response:
    """Show freshly issued codes once: they are never stored in plaintext, so no redirect."""
    codes = list(result.backup_codes)
    if wants_json():
        if request.endpoint == "two_factor.regenerate":
            return json_response({"backupCodes": codes})
        return json_response({"success": True, "message": message, "backupCodes": codes})
    if is_htmx():
        return render_panel("codes", backup_codes=codes, notice=message)
    return render_settings(backup_codes=codes, notice=message)


# -- the login challenge ----------------------------------------------------------------------


@blueprint.get("/challenge")
def challenge() -> Response:
    pending = read_pending()
    if pending is None:
        return to_login()
    if pending.expired:
        return challenge_page("Your sign-in expired. Sign in again.", 401)
    return render_challenge(use_backup=request.args.get("method") == "backup", fragment=is_htmx())


@blueprint.post("/validate")
def validate() -> Response:
    pending = read_pending()
    if pending is None or pending.expired:
        clear_pending()
        expired = "Your sign-in expired. Sign in again."
        return _challenge_refused(expired if pending else "No sign-in is waiting for a code. Sign in again.", 401)
    try:
        code = _code(read_fields("code")["code"])
    except BadInput as error:
        return _challenge_refused(error.message, 400)
    ext = state()
    result = ext.service().check_login(pending.user_id, code, ext.clock(), _client())
    if result.outcome is Outcome.NOT_ENABLED:
        clear_pending()
        return _challenge_refused("Sign in again.", 401)
    if not result.ok:
        if result.outcome in (Outcome.THROTTLED, Outcome.LOCKED):
            return failed(result, 401)
        return _challenge_refused(message_for(result), 401)
    return _complete_login(pending.user_id, pending.next, pending.remember)


def _challenge_refused(message: str, status: int) -> Response:
    if wants_json():
        return json_response({"valid": False, "required": True, "error": message}, status)
    return challenge_page(message, status)


def _complete_login(user_id: str, next_url: str | None, remember: bool) -> Response:
    """Replace the pending session with a fresh logged-in one."""
    user = state().load_user(user_id)
    session.clear()
    if user is None:
        return _challenge_refused("Sign in again.", 401)
    # Flask-Login refuses an account the host marked inactive while the code was awaited.
    if not login_user(user, remember=remember):
        return _challenge_refused("This account cannot sign in.", 401)
    target = safe_next(next_url) or current_app.config["TWO_FACTOR_LOGIN_REDIRECT"]
    if wants_json():
        return json_response({"valid": True, "required": True, "redirect": target})
    return hx_redirect(target) if is_htmx() else see_other(target)
