"""Two copies of one small host, with and without flask_two_factor, in one WSGI app: the session-check benchmark.

Both copies have the same Flask-Login, Flask-SQLAlchemy, CSRFProtect and Flask-Limiter set-up, the
same user loader and the same signed-in page; only one also runs ``TwoFactor.init_app``. Served by
one gunicorn (``/with/page`` and ``/plain/page``) on one database, so the ratio of their throughputs
is what the product adds to every signed-in request: the session record check (S17) and its hooks.
``POST /sign-in`` (bench only: no password, no CSRF) signs a client in as the user ``id``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from jinja2 import DictLoader
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from app.two_factor import TwoFactor

db = SQLAlchemy()
PAGE = "<!doctype html><title>Home</title><main><h1>Hello, {{ current_user.name }}</h1><p>{{ note }}</p></main>"


class Person(db.Model):
    """A host user: an id and a name."""

    __tablename__ = "bench_people"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))

    is_active = is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.id


def make_host(with_product: bool, **config: Any) -> Flask:
    """Return the host; ``with_product`` adds flask_two_factor to it."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"page.html": PAGE})  # compiled once, as a host's template files are
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-sessions"),
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "").replace("postgresql://", "postgresql+psycopg://", 1),
        TWO_FACTOR_ENCRYPTION_KEYS=os.environ.get("TWO_FACTOR_ENCRYPTION_KEYS"),
        RATELIMIT_STORAGE_URI="memory://",
        SESSION_COOKIE_NAME="with" if with_product else "plain",
    )
    app.config.update(config)
    db.init_app(app)
    csrf = CSRFProtect(app)
    # The host limits its own login, as docs/integration.md step 3 shows; the product then uses this limiter.
    Limiter(get_remote_address, app=app)
    login_manager = LoginManager(app)
    login_manager.user_loader(lambda user_id: db.session.get(Person, user_id))
    if with_product:
        TwoFactor(app, db=db, check_password=lambda user, password: False)

    @app.post("/sign-in")
    @csrf.exempt
    def sign_in() -> Response:
        login_user(db.session.get(Person, request.args["id"]))
        return jsonify({"ok": True})

    @app.get("/page")
    @login_required
    def page() -> str:
        return render_template("page.html", note="A signed-in page of the host.")

    return app


def make_app() -> Any:
    """Return both hosts behind one WSGI entry point, /with/… and /plain/… (gunicorn 'bench.session_app:make_app()')."""
    root = Flask("bench-root")
    root.add_url_rule("/ready", "ready", lambda: "ready")
    return DispatcherMiddleware(root, {"/with": make_host(True), "/plain": make_host(False)})
