"""Demo host views: register, log in (password step, then the 2FA challenge), log out, home."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from .extensions import db, limiter, two_factor
from .models import User, passwords
from .two_factor.pending import safe_next
from .two_factor.responses import BadInput, json_response, read_fields, see_other, wants_json

blueprint = Blueprint("auth", __name__)
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,64}", re.ASCII)


def _rate_limit() -> str:
    return str(current_app.config["TWO_FACTOR_RATE_LIMIT"])


def _form_error(template: str, message: str, status: int) -> Response:
    if wants_json():
        return json_response({"error": message}, status)
    return Response(render_template(template, error=message, username=request.form.get("username", "")), status)


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
    fields = read_fields("username", "password")
    username, password = fields["username"].strip(), fields["password"]
    if not USERNAME.fullmatch(username):
        message = "Choose a name of 3–64 letters, digits, dots, dashes or underscores."
        return _form_error("auth/register.html", message, 400)
    if not 8 <= len(password) <= 1024:
        return _form_error("auth/register.html", "Choose a password of at least 8 characters.", 400)
    if db.session.scalar(db.select(User).filter_by(username=username)):
        return _form_error("auth/register.html", "That name is taken.", 409)
    user = User(username=username)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # the same name registered a moment ago by another request
        db.session.rollback()
        return _form_error("auth/register.html", "That name is taken.", 409)
    session.clear()
    login_user(user)
    if wants_json():
        return json_response({"ok": True}, 201)
    return see_other(url_for("two_factor.settings"))


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def login() -> Response | str:
    if request.method != "POST":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    fields = read_fields("username", "password")
    user = db.session.scalar(db.select(User).filter_by(username=fields["username"].strip()))
    if user is None:
        passwords.dummy_verify()  # the same work as a real check, so timing does not reveal names
    if user is None or not fields["password"] or not user.check_password(fields["password"]):
        return _form_error("auth/login.html", "The name or password is not correct.", 401)
    next_url = safe_next(request.args.get("next") or request.form.get("next"))
    challenge = two_factor.start_challenge(user, next_url=next_url)
    if challenge is None:
        session.clear()
        login_user(user)
    if wants_json():
        return json_response({"ok": True, "twoFactorRequired": challenge is not None})
    return see_other(challenge or next_url or url_for("auth.home"))


@blueprint.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    if wants_json():
        return json_response({"ok": True})
    return redirect(url_for("auth.login"), code=303)
