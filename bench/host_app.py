"""The demo app with one more route, a bare endpoint doing one SELECT, for the validate benchmark.

Served by the same gunicorn as ``POST /2fa/validate``, the endpoint pays what every request of the
host pays (session, CSRF, limiter, Flask-Login, security headers) and nothing else, so the ratio
between the two is what the 2FA check adds to a request of this app.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import User


def add_bare_select(app: Flask) -> None:
    """Add ``GET /bench/select?id=…``: one SELECT of a user by id, its answer as JSON."""

    @app.get("/bench/select")
    def bare_select() -> Response:
        query = select(User.id, User.username).where(User.id == request.args.get("id", ""))
        return jsonify({"found": db.session.execute(query).first() is not None})


app = create_app()
add_bare_select(app)
