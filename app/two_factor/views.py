"""Thin routes: parse the request, call the service, answer with JSON, a fragment or a page."""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, flash, request, session, url_for
from flask_babel import format_date
from flask_login import current_user, login_user
from flask_wtf.csrf import CSRFError
from limits import parse as parse_limit
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from . import browsers, notifications, protection, reauth, session_panel, sessions
from .crypto import SecretUnreadable
from .enforce import destination_after_setup
from .i18n import _, _lazy, _n
from .outcomes import BACKUP_CODE, Code, Outcome, Result, parse_code
from .pending import clear_pending, read_pending, safe_next
from .refusals import WRONG_PASSWORD, challenge_page, failed, message_for, refuse, to_login, too_many, unavailable
from .responses import (
    BadInput,
    forbid_caching,
    hx_redirect,
    is_htmx,
    json_response,
    read_fields,
    see_other,
    wants_json,
)
from .state import state
from .totp import group_secret
from .ui import (
    NEUTRAL_NOTICE,
    NOTICE,
    render_challenge,
    render_panel,
    render_reauth,
    render_settings,
    render_signed_in_with_backup_code,
)

log = logging.getLogger("flask_two_factor")
blueprint = Blueprint(
    "two_factor", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
# Every POST of ours carries a CSRF token, whether or not the host turned on CSRFProtect for its app.
blueprint.before_request(protection.check_csrf)


CODE_HELP = _lazy("Enter the 6-digit code from your authenticator app, or a backup code.")
TOTP_HELP = _lazy("Enter the 6-digit code from your authenticator app.")
# After a correct password and a wrong code, the form asks only for the code for this long.
PASSWORD_CONFIRMED_KEY = "_two_factor_password_confirmed"  # noqa: S105 (a session key, not a secret)
PASSWORD_CONFIRMED_SECONDS = 300
# After a sign-in with a backup code: how many are left, for the page that says so.
BACKUP_USED_KEY = "_two_factor_backup_code_used"


@blueprint.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "group_secret": group_secret,
        "backup_codes_text": backup_codes_text,
        "backup_codes_sheet": backup_codes_sheet,
        "login_url": _login_url,
    }


def backup_codes_sheet() -> dict[str, str]:
    """Return whose codes they are, for which site and from when, for the .txt file and the printout."""
    issuer = str(current_app.config["TWO_FACTOR_ISSUER"])
    # A file name any system keeps: "Acme Café" → "acme-cafe-backup-codes.txt".
    ascii_name = unicodedata.normalize("NFKD", issuer).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    return {
        "issuer": issuer,
        "account": state().display_name(current_user),
        "site": f"{issuer} ({request.host})",
        "date": format_date(state().clock(), "long"),
        "filename": f"{slug}-backup-codes.txt" if slug else "backup-codes.txt",
    }


def backup_codes_text(codes: list[str]) -> str:
    """Return the text of the downloadable backup-code file."""
    sheet = backup_codes_sheet()
    lines = [
        _("%(issuer)s backup codes", issuer=sheet["issuer"]),
        _("Account: %(account)s", account=sheet["account"]),
        _("Site: %(site)s", site=sheet["site"]),
        _("Made on %(date)s. Each code works once.", date=sheet["date"]),
        "",
        _("Use one when you can’t use your authenticator app: enter it where signing in asks for a code."),
        _("Keep this file somewhere safe, such as a password manager."),
        "",
        *codes,
    ]
    return "\n".join(lines) + "\n"


def _login_url() -> str:
    view = current_app.login_manager.login_view  # type: ignore[attr-defined]
    return url_for(view) if view else "/"


@blueprint.after_request
def _headers(response: Response) -> Response:
    # Every answer depends on who asked (htmx, a JSON client or a browser), redirects and refusals too.
    response.vary.update(("HX-Request", "Accept"))
    # Every 2FA response may show a secret, a QR code, backup codes or account state. The other
    # security headers are filled in last, once the host's own hooks ran (protection.py).
    return forbid_caching(response)


@blueprint.errorhandler(BadInput)
def _bad_input(error: BadInput) -> Response:
    return refuse(error.message, 400)


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response:
    # Over MAX_CONTENT_LENGTH (JSON clients got Werkzeug's HTML page). The body cannot be read, so
    # no page that looks at the form may be rendered: JSON, or the standalone error page.
    message = _("The request is too large.")
    if wants_json():
        return json_response({"error": message}, 413)
    page = current_app.jinja_env.get_template("two_factor/error.html")
    return Response(page.render(title=_("Request refused"), error=message), 413, mimetype="text/html")


@blueprint.errorhandler(CSRFError)
def _csrffailed(error: CSRFError) -> Response:
    return refuse(_("The form expired or its security token is missing. Reload the page and try again."), 400)


@blueprint.errorhandler(SQLAlchemyError)
def _databasefailed(error: SQLAlchemyError) -> Response:
    # Fail closed: undo whatever the request began, deny, and say so without internals.
    state().db.session.rollback()
    log.error("two-factor request failed: database error %s", error.__class__.__name__)
    return unavailable(_("Two-factor authentication is unavailable right now. Try again in a minute."))


@blueprint.errorhandler(SecretUnreadable)
def _secret_unreadable(error: SecretUnreadable) -> Response:
    state().db.session.rollback()
    log.error("two-factor secret unreadable for user_id=%s: check TWO_FACTOR_ENCRYPTION_KEYS", _current_user_id())
    return unavailable(_("Two-factor authentication is unavailable for this account. Contact an administrator."))


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


def _code(raw: str, allow_backup: bool = True) -> Code:
    code = parse_code(raw, allow_backup)
    if code is None:
        raise BadInput(str(CODE_HELP if allow_backup else TOTP_HELP))
    return code


def _password_check(password: str) -> Callable[[], bool]:
    if not password:
        raise BadInput(_("Enter your password."))
    if len(password) > 1024:
        raise BadInput(_("That password is too long."))
    return lambda: bool(state().check_password(current_user._get_current_object(), password))


# -- the settings page ------------------------------------------------------------------------


def _continue_after_saving_codes() -> Response | None:
    """After "Done" under new codes (``saved``), go on to the page 2FA enforcement stopped the user on."""
    if not request.args.get("saved"):
        return None
    target = destination_after_setup()
    if target is None:
        # Without JavaScript the "Done" form left ?saved=on in the address: answer with the clean one.
        return None if is_htmx() else see_other(url_for(".settings"))
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


def _reauth_required(then: str | None = None) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Refuse a factor change unless the session re-authenticated recently (S16); ``then`` resumes it after."""

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            return view(*args, **kwargs) if reauth.is_fresh() else _ask_reauth(then)

        return wrapped

    return decorate


def _ask_reauth(then: str | None) -> Response:
    """Ask for a re-authentication: JSON 403, the form in place for htmx, a page POST 303 to the form."""
    if wants_json():
        return json_response({"error": str(reauth.NEEDED), "reauthenticate": True}, 403)
    settings_url = url_for(".settings")
    if is_htmx():
        return render_reauth(status_code=403, fragment=True, next_url=settings_url, then=then)
    query = {"next": settings_url, **({"then": then} if then else {})}
    return see_other(url_for(".reauth") + "?" + urlencode(query))


@blueprint.route("/reauth", methods=["GET", "POST"], endpoint="reauth")
@login_required
def reauth_view() -> Response:
    if request.method == "GET":
        return render_reauth(fragment=is_htmx())
    fields = read_fields("password", "code")
    password_ok = _password_check(fields["password"])
    ext = state()
    service = ext.service()
    code = _code(fields["code"]) if service.is_enabled(_user_id()) else None
    if wait := _spend_reauth_budget():
        return refuse(too_many(wait), 429, retry_after=wait)
    result = service.reauthenticate(_user_id(), code, password_ok, ext.clock(), sessions.current_client())
    if not result.ok:
        wrong = _wrong_field(result, asked_code=code is not None)
        return failed(result, 400, None if code else str(WRONG_PASSWORD), wrong_field=wrong)
    reauth.mark()
    if wants_json():
        until = reauth.fresh_until()
        return json_response({"success": True, "reauthenticatedUntil": until and _iso(until)})
    if reauth.requested_then() == "setup":
        return _start_setup()
    if reauth.requested_then() == "replace":
        return _start_replacement()
    target = safe_next(request.form.get("next")) or url_for(".settings")
    return hx_redirect(target) if is_htmx() else see_other(target)


def _spend_reauth_budget() -> int:
    """Take one guess from the account's re-authentication budget; return the seconds to wait once it is spent.

    Password guesses from a stolen session, from any number of IPs: with 2FA off no code throttle (S5)
    stands behind the password, so the account gets a request budget in the limiter's storage.
    """
    limiter = state().limiter
    if not getattr(limiter, "enabled", True):
        return 0
    limit = parse_limit(str(current_app.config["TWO_FACTOR_REAUTH_RATE_LIMIT"]))
    keys = ("two-factor-reauth", _user_id())
    if limiter.limiter.hit(limit, *keys):
        return 0
    return max(1, math.ceil(limiter.limiter.get_window_stats(limit, *keys).reset_time - time.time()))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@blueprint.post("/setup")
@login_required
@_reauth_required(then="setup")
def setup() -> Response:
    return _start_setup()


def _start_setup() -> Response:
    """Store a fresh secret awaiting its first code and show it."""
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
        return json_response({"success": True, "message": _("Setup cancelled.")})
    return render_panel("status") if is_htmx() else see_other(url_for(".settings"))


@blueprint.post("/verify")
@login_required
@_reauth_required()
def verify() -> Response:
    code = _code(read_fields("code")["code"], allow_backup=False)
    ext = state()
    result = ext.service().confirm_setup(_user_id(), code, ext.clock(), sessions.current_client())
    if not result.ok:
        return failed(result, 400)
    return _show_new_codes(result, _("Two-factor authentication is on."))


@blueprint.post("/disable")
@login_required
def disable() -> Response:
    result = _confirmed("disable")
    if not result.ok:
        return _confirmation_failed("disable", result)
    message = _("Two-factor authentication is off. Signing in now takes your password alone.")
    if wants_json():
        return json_response({"success": True, "message": message})
    if is_htmx():
        return render_panel("status", notice=message, notice_tone="neutral")
    flash(message, NEUTRAL_NOTICE)
    return see_other(url_for(".settings"))


@blueprint.post("/backup-codes")
@login_required
def regenerate() -> Response:
    result = _confirmed("regenerate")
    if not result.ok:
        return _confirmation_failed("regenerate", result)
    return _show_new_codes(result, _("New backup codes are ready; the old ones no longer work."))


def _confirmed(action: str) -> Result:
    """Run a change that needs the password and a code (disable, regenerate) through the service."""
    fields = read_fields("password", "code")
    code = _code(fields["code"])
    confirmed = not fields["password"] and _password_confirmed_for(action)
    password_ok = (lambda: True) if confirmed else _password_check(fields["password"])
    ext = state()
    change = getattr(ext.service(), action)
    result = change(_user_id(), code, password_ok, ext.clock(), sessions.current_client())
    if result.ok:
        session.pop(PASSWORD_CONFIRMED_KEY, None)
    elif _wrong_field(result, asked_code=True) == "code":
        # The password was right: the form shown again asks only for a new code (and keeps no password in the page).
        session[PASSWORD_CONFIRMED_KEY] = {"action": action, "user": _user_id(), "at": int(ext.clock().timestamp())}
    return result


def _password_confirmed_for(action: str) -> bool:
    """Return True when this session gave the right password for ``action`` moments ago (and a wrong code)."""
    mark = session.get(PASSWORD_CONFIRMED_KEY)
    if not isinstance(mark, dict) or mark.get("action") != action or mark.get("user") != _user_id():
        return False
    age = state().clock().timestamp() - float(mark.get("at", 0))
    return 0 <= age <= PASSWORD_CONFIRMED_SECONDS


def _wrong_field(result: Result, asked_code: bool) -> str | None:
    """Return which field made a password + code check fail: "password", "code" or None (not a wrong entry)."""
    if result.outcome not in (Outcome.INVALID, Outcome.REPLAYED):
        return None
    return getattr(result, "wrong_field", None) or ("code" if asked_code else "password")


def _confirmation_failed(action: str, result: Result) -> Response:
    """Refuse a disable or regenerate, the error under the field that was wrong, keeping what was right."""
    wrong = _wrong_field(result, asked_code=True)
    context = {
        "wrong_field": wrong,
        "password_confirmed": _password_confirmed_for(action),
        "typed_code": request.form.get("code", "")[:64] if wrong == "password" else "",
    }
    return failed(result, 400, **context)


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
        return challenge_page(_("Your sign-in expired. Sign in again."), 401)
    return render_challenge(use_backup=request.args.get("method") == "backup", fragment=is_htmx())


@blueprint.post("/validate")
def validate() -> Response:
    pending = read_pending()
    if pending is None or pending.expired:
        clear_pending()
        expired = _("Your sign-in expired. Sign in again.")
        return _challenge_refused(expired if pending else _("No sign-in is waiting for a code. Sign in again."), 401)
    try:
        code = _code(read_fields("code")["code"])
    except BadInput as error:
        return _challenge_refused(error.message, 400)
    ext = state()
    result = ext.service().check_login(pending.user_id, code, ext.clock(), sessions.current_client())
    if result.outcome is Outcome.NOT_ENABLED:
        clear_pending()
        return _challenge_refused(_("Sign in again."), 401)
    if not result.ok:
        if result.outcome in (Outcome.THROTTLED, Outcome.LOCKED):
            return failed(result, 401)
        return _challenge_refused(message_for(result), 401)
    sessions.signing_in_with(result.method)  # the session's record says how it signed in
    response = _complete_login(pending.user_id, pending.next, pending.remember, browsers.wants_remembering())
    if result.method == BACKUP_CODE and current_user.is_authenticated and not wants_json():
        return _say_a_backup_code_was_used(response)
    return response


def _challenge_refused(message: str, status: int) -> Response:
    if wants_json():
        return json_response({"valid": False, "required": True, "error": message}, status)
    return challenge_page(message, status)


def _complete_login(user_id: str, next_url: str | None, remember: bool, remember_browser: bool = False) -> Response:
    """Replace the pending session with a fresh logged-in one."""
    user = state().load_user(user_id)
    session.clear()
    if user is None:
        return _challenge_refused(_("Sign in again."), 401)
    # Flask-Login refuses an account the host marked inactive while the code was awaited.
    if not login_user(user, remember=remember):
        return _challenge_refused(_("This account cannot sign in."), 401)
    notifications.signed_in(user_id)  # a notice if this browser never passed a second factor here before
    if remember_browser:
        browsers.remember(user_id)  # S18: the next password step here skips the code
    target = safe_next(next_url) or current_app.config["TWO_FACTOR_LOGIN_REDIRECT"]
    if wants_json():
        return json_response({"valid": True, "required": True, "redirect": target})
    return hx_redirect(target) if is_htmx() else see_other(target)


def _say_a_backup_code_was_used(signed_in: Response) -> Response:
    """Stop on the page that says a backup code was used and how many are left, before going on."""
    target = signed_in.headers.get("HX-Redirect") or signed_in.location or url_for(".settings")
    session[BACKUP_USED_KEY] = {"next": safe_next(target) or "/"}
    page = url_for(".backup_code_used")
    return hx_redirect(page) if is_htmx() else see_other(page)


@blueprint.get("/signed-in")
@login_required
def backup_code_used() -> Response:
    """Say that a backup code signed the user in, how many are left, and how to set up a new phone."""
    shown = session.pop(BACKUP_USED_KEY, None)
    if not isinstance(shown, dict):
        return see_other(url_for(".settings"))
    remaining = state().service().status(_user_id()).backup_codes_remaining
    return render_signed_in_with_backup_code(remaining, safe_next(shown.get("next")) or "/")


# -- sessions (S17) ---------------------------------------------------------------------------

# Actions that sign the user's other sessions out: the page's list of sessions reloads after them.
ENDS_OTHER_SESSIONS = (
    "two_factor.verify",
    "two_factor.disable",
    "two_factor.regenerate",
    "two_factor.confirm_replacement",
)


@blueprint.after_request
def _refresh_sessions(response: Response) -> Response:
    if response.status_code == 200 and request.endpoint in ENDS_OTHER_SESSIONS and is_htmx():
        response.headers["HX-Trigger"] = "tf-sessions-changed"
    return response


@blueprint.get("/sessions")
@login_required
def list_sessions() -> Response:
    if wants_json():
        return json_response(
            {
                "sessions": [item.as_json() for item in session_panel.listed()],
                "browsers": [item.as_json() for item in session_panel.listed_browsers()],
            }
        )
    return session_panel.render() if is_htmx() else render_settings()


@blueprint.post("/sessions/<session_id>/revoke")
@login_required
def revoke_session(session_id: str) -> Response:
    is_current = session_id == sessions.current_id()
    if not state().service().end_session(_user_id(), session_id):
        return _sessions_answer(404, error=_("That session is not one of yours, or it has already ended."))
    if is_current:
        sessions.sign_out()
        if wants_json():
            return json_response({"success": True})
        return hx_redirect(_login_url()) if is_htmx() else see_other(_login_url())
    return _sessions_answer(notice=_("That session is signed out."))


@blueprint.post("/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> Response:
    ended = state().service().end_other_sessions(_user_id(), sessions.current_hash())
    browsers.clear_cookie()  # every remembered browser was forgotten with them (S18)
    notice = _n(
        "Signed out everywhere else (%(num)d session).", "Signed out everywhere else (%(num)d sessions).", ended
    )
    return _sessions_answer(notice=notice if ended else _("There were no other sessions to sign out."), revoked=ended)


@blueprint.post("/browsers/<browser_id>/forget")
@login_required
def forget_browser(browser_id: str) -> Response:
    is_current = browser_id in {item.id for item in session_panel.listed_browsers() if item.current}
    if not state().service().forget_browser(_user_id(), browser_id):
        return _sessions_answer(404, error=_("That browser is not one of yours, or it is already forgotten."))
    if is_current:
        browsers.clear_cookie()
    return _sessions_answer(notice=_("That browser will be asked for a code again."))


@blueprint.post("/browsers/forget-all")
@login_required
def forget_all_browsers() -> Response:
    forgotten = state().service().forget_browsers(_user_id())
    browsers.clear_cookie()
    every = _("Every remembered browser will be asked for a code again.")
    notice = every if forgotten else _("No browser was remembered.")
    return _sessions_answer(notice=notice)


def _sessions_answer(status: int = 200, error: str | None = None, notice: str | None = None, **body: Any) -> Response:
    """Answer a change to the sessions: JSON, the panel for htmx, else the settings page (303 after a success)."""
    if wants_json():
        return json_response({"error": error} if error else {"success": True, **body}, status)
    if is_htmx():
        return session_panel.render(status, sessions_error=error, sessions_notice=notice)
    if error:
        return render_settings(status_code=status, sessions_error=error)
    flash(notice, session_panel.NOTICE)
    return see_other(url_for(".settings", _anchor="tf-sessions-section"))


# -- replacing the authenticator app ----------------------------------------------------------

REPLACED = _lazy("Your new authenticator app is set up. Codes from the old one no longer work.")
REPLACEMENT_CANCELLED = _lazy("Replacement cancelled. Your current authenticator app keeps working.")
NO_REPLACEMENT = _lazy(
    "No new authenticator app is waiting for a code. Choose “Replace authenticator app” to start again."
)


@blueprint.post("/replace")
@login_required
@_reauth_required(then="replace")
def replace_authenticator() -> Response:
    return _start_replacement()


def _start_replacement() -> Response:
    """Store a new secret beside the one in use and show it; the old one works until a code confirms the new."""
    ext = state()
    replacement = ext.service().begin_replacement(_user_id(), ext.display_name(current_user), ext.clock())
    if isinstance(replacement, Result):
        return failed(replacement, 400)
    if wants_json():
        return json_response(
            {"qrCode": replacement.qr_data_uri, "secret": replacement.secret, "otpauthUri": replacement.otpauth_uri}
        )
    if is_htmx():
        return render_panel("replace", replacement=replacement)
    return see_other(url_for(".settings"))


@blueprint.post("/replace/verify")
@login_required
@_reauth_required()
def confirm_replacement() -> Response:
    code = _code(read_fields("code")["code"], allow_backup=False)
    ext = state()
    result = ext.service().confirm_replacement(_user_id(), code, ext.clock(), sessions.current_client())
    if not result.ok:
        return _replacement_refused(result)
    return _replacement_done(str(REPLACED))


@blueprint.post("/replace/cancel")
@login_required
def cancel_replacement() -> Response:
    state().service().cancel_replacement(_user_id())
    return _replacement_done(str(REPLACEMENT_CANCELLED))


def _replacement_done(message: str) -> Response:
    """Answer a confirmed or cancelled replacement: the status panel with the message."""
    if wants_json():
        return json_response({"success": True, "message": message})
    if is_htmx():
        return render_panel("status", notice=message)
    flash(message, NOTICE)
    return see_other(url_for(".settings"))


def _replacement_refused(result: Result) -> Response:
    """Refuse a confirmation; htmx keeps the replace panel, with the error and the typed code, in place."""
    if result.outcome is Outcome.NO_REPLACEMENT:
        return refuse(str(NO_REPLACEMENT), 400)
    if wants_json() or not is_htmx():
        return failed(result, 400)
    waiting = result.outcome in (Outcome.THROTTLED, Outcome.LOCKED)
    response = render_panel(
        "replace",
        429 if waiting else 400,
        error=message_for(result),
        retry_after=result.retry_after,
        typed_code=request.form.get("code", "")[:64],
    )
    if result.retry_after:
        response.headers["Retry-After"] = str(result.retry_after)
    return response
