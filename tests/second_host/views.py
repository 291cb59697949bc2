"""The second host's own views: sign in (then the 2FA challenge when on), sign out, two pages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_two_factor import two_factor_required
from werkzeug.wrappers import Response

from .host import db, two_factor
from .models import User

account = Blueprint("account", __name__, url_prefix="/account")
pages = Blueprint("pages", __name__)


@account.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int]:
    if request.method == "GET":
        return render_template("sign_in.html"), 200
    email = request.form.get("email", "").strip().lower()
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    if user is None or not user.check_password(request.form.get("password", "")):
        return render_template("sign_in.html", error="Wrong e-mail or password."), 401
    # The one line 2FA adds: the product validates next_url before it follows it.
    challenge = two_factor.start_challenge(user, next_url=request.args.get("next"))
    if challenge:
        return redirect(challenge, 303)
    session.clear()
    login_user(user)
    return redirect(url_for("pages.index"), 303)


@account.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    logout_user()  # after the clear: Flask-Login's marker that deletes the remember cookie survives
    return redirect(url_for("account.sign_in"), 303)


@pages.get("/")
@login_required
def index() -> str:
    return render_template("index.html", two_factor_on=two_factor.is_enabled(current_user))


@pages.get("/reports")
@two_factor_required
def reports() -> str:
    return render_template("index.html", two_factor_on=True, heading="Reports")
