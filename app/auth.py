"""Demo host views: register, log in (password step, then the 2FA challenge), log out, home."""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, Response, current_app, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from .extensions import db, limiter, two_factor
from .models import User, passwords
from .two_factor.helpers import (
    BadInput,
    add_security_headers,
    is_checked,
    json_response,
    read_fields,
    see_other,
    wants_json,
)

blueprint = Blueprint("auth", __name__)
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,64}", re.ASCII)
# Light on purpose: local@domain.tld in ASCII, nothing that could split a To header (spaces, commas, <>).
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", re.ASCII)
# Far above any passphrase, and below passlib's own 4,096 cap (over it, verify raises: a 500).
MAX_PASSWORD = 1024
# A person never types ten passwords a minute; a one-minute window is also the longest an attacker
# can keep a name's password login refused with one burst.
ACCOUNT_RATE_LIMIT = "10 per minute"


@blueprint.record_once
def _defaults(state: BlueprintSetupState) -> None:
    # Here, not in config.load: that runs only without a test config, and tests need the default too.
    state.app.config.setdefault("LOGIN_ACCOUNT_RATE_LIMIT", ACCOUNT_RATE_LIMIT)


def _rate_limit() -> str:
    return str(current_app.config["TWO_FACTOR_RATE_LIMIT"])


def _account_rate_limit() -> str:
    return str(current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])


def _submitted_name() -> str:
    """Return the submitted name, stripped and lowercased ('' when there is none or the body is malformed)."""
    try:
        return read_fields("username")["username"].strip().lower()
    except BadInput:  # the view answers 400
        return ""


def _account_key() -> str:
    """Key the per-account login limit on the submitted name."""
    # Hashed: Flask-Limiter logs the key of a refused request, and people type passwords into the name box.
    return "login-account:" + hashlib.sha256(_submitted_name().encode()).hexdigest()


def _no_account_named() -> bool:
    # No name, no account to protect (the view answers 400 or 401): only the per-IP limit applies,
    # so malformed requests from everywhere never share one bucket.
    return not _submitted_name()


def _form_error(template: str, message: str, status: int) -> Response:
    if wants_json():
        return json_response({"error": message}, status)
    form = request.form
    page = render_template(template, error=message, username=form.get("username", ""), email=form.get("email", ""))
    return Response(page, status)


@blueprint.after_request
def _no_store(response: Response) -> Response:
    # Sign-in pages carry a CSRF token and answers carry names and session changes: never cache them,
    # and never let the back button show a signed-in page after logout. Errors and 429s pass here too.
    return add_security_headers(response, no_store=True)


@blueprint.errorhandler(BadInput)
def _bad_input(error: BadInput) -> Response:
    return json_response({"error": error.message}, 400)


@blueprint.get("/")
@login_required
def home() -> str:
    return render_template("home.html", two_factor_on=two_factor.is_enabled(current_user))


@blueprint.route("/register", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def register() -> Response | str:
    if request.method != "POST":
        return render_template("auth/register.html")
    fields = read_fields("username", "password", "email")
    username, password, email = fields["username"].strip(), fields["password"], fields["email"].strip()
    if not USERNAME.fullmatch(username):
        message = _("Choose a name of 3–64 letters, digits, dots, dashes or underscores.")
        return _form_error("auth/register.html", message, 400)
    if not 8 <= len(password) <= MAX_PASSWORD:
        return _form_error("auth/register.html", _("Choose a password of at least 8 characters."), 400)
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        message = _("Enter an e-mail address such as name@example.com, or leave the field empty.")
        return _form_error("auth/register.html", message, 400)
    if db.session.scalar(db.select(User).filter_by(username=username)):
        return _form_error("auth/register.html", _("That name is taken. Choose another one."), 409)
    user = User(username=username, email=email or None)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # the same name registered a moment ago by another request
        db.session.rollback()
        return _form_error("auth/register.html", _("That name is taken. Choose another one."), 409)
    session.clear()
    login_user(user)
    if wants_json():
        return json_response({"ok": True}, 201)
    return see_other(url_for("two_factor.settings"))


@blueprint.route("/login", methods=["GET", "POST"])
# Per account, keyed on the name alone: guesses spread over many IPs still meet it. The trade-off:
# anyone can keep one name's password login refused for a minute at a time. Limits run innermost
# first, so a request the per-IP limit refuses does not spend the account's budget, and one IP can
# exhaust at most (per-IP limit / per-account limit) names a minute.
@limiter.limit(_account_rate_limit, methods=["POST"], key_func=_account_key, exempt_when=_no_account_named)
@limiter.limit(_rate_limit, methods=["POST"])
def login() -> Response | str:
    if request.method != "POST":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    fields = read_fields("username", "password")
    if len(fields["password"]) > MAX_PASSWORD:
        # Refused before the lookup: the answer depends on the length alone, never on the name.
        return _form_error("auth/login.html", _("That password is too long."), 400)
    user = db.session.scalar(db.select(User).filter_by(username=fields["username"].strip()))
    if not _password_matches(user, fields["password"]):
        return _form_error("auth/login.html", _("The name or password is not correct."), 401)
    # The challenge when 2FA is on, else signed in; next (same-site paths only) and remember-me carried.
    next_url = request.args.get("next") or request.form.get("next")
    return two_factor.login(user, remember=is_checked("remember"), next_url=next_url)


def _password_matches(user: User | None, password: str) -> bool:
    """Check the password with exactly one hash verification, whether the user exists or not."""
    if user is None:
        return passwords.dummy_verify()  # the same work as a real check, so timing does not reveal names
    # Verified even when empty, so an empty password costs what any other does; it never signs in.
    return user.check_password(password) and password != ""


@blueprint.post("/logout")
def logout() -> Response:
    # Cleared first: logout_user then leaves Flask-Login's marker that deletes the remember cookie
    # (and flask_two_factor ends the session's record, and its own cookie, either way).
    session.clear()
    logout_user()
    if wants_json():
        return json_response({"ok": True})
    return redirect(url_for("auth.login"), code=303)
