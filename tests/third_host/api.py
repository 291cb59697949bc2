"""The token API, as microblog's: HTTP Basic for a token, then Bearer tokens; JSON, no CSRF."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, g, request

from . import db, two_factor  # 2FA: two_factor added to the import
from .models import User

bp = Blueprint("api", __name__)


def _basic_user() -> User | None:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    user = db.session.scalar(db.select(User).filter_by(username=auth.username))
    return user if user is not None and user.check_password(auth.password or "") else None


def token_auth(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        auth = request.authorization
        g.user = User.check_token(auth.token) if auth is not None and auth.type == "bearer" and auth.token else None
        if g.user is None:
            return {"error": "Unauthorized"}, 401
        return view(*args, **kwargs)

    return wrapper


@bp.post("/tokens")
def get_token():
    user = _basic_user()
    if user is None:
        return {"error": "Unauthorized"}, 401, {"WWW-Authenticate": 'Basic realm="Authentication Required"'}
    if two_factor.is_enabled(user) and not two_factor.verify_code(user, request.headers.get("X-OTP")):  # 2FA
        return {"error": "This account uses two-factor authentication: send a current code in X-OTP."}, 401  # 2FA
    token = user.get_token()
    db.session.commit()
    return {"token": token}


@bp.get("/users/<int:id>")
@token_auth
def get_user(id: int):
    return db.get_or_404(User, id).to_dict()


@bp.put("/users/<int:id>")
@token_auth
def update_user(id: int):
    if g.user.id != id:
        abort(403)
    g.user.about_me = (request.get_json(silent=True) or {}).get("about_me")
    db.session.commit()
    return g.user.to_dict()
