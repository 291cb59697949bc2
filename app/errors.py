"""The demo host's error answers: JSON for JSON clients, a page for browsers."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from .extensions import db, limiter
from .two_factor.helpers import json_response, too_many, wants_json

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Answer the host's own errors in the client's form (the 2FA blueprint answers its own)."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(TooManyRequests, _rate_limited)
    app.register_error_handler(SQLAlchemyError, _database_failed)


def _refused(message: str, status: int, headers: dict[str, str] | None = None) -> Any:
    if wants_json():
        return json_response({"error": message}, status, headers)
    return render_template("error.html", title="Request refused", error=message), status, headers or {}


def _csrf_failed(error: CSRFError) -> Any:
    return _refused("The form expired or its security token is missing. Reload the page and try again.", 400)


def _too_large(error: RequestEntityTooLarge) -> Any:
    return _refused("The request is too large.", 413)


def _rate_limited(error: TooManyRequests) -> Any:
    current = limiter.current_limit
    retry = max(1, int(current.reset_at - time.time())) if current else 60
    message = too_many(retry)
    if wants_json():
        return json_response({"error": message, "retryAfter": retry}, 429, {"Retry-After": str(retry)})
    return _refused(message, 429, {"Retry-After": str(retry)})


def _database_failed(error: SQLAlchemyError) -> Response:
    # Fail closed, and render without context processors: they would load the user from the database.
    db.session.rollback()
    log.error("request failed: database error %s", error.__class__.__name__)
    message = "The service is unavailable right now. Try again in a minute."
    if wants_json():
        return json_response({"error": message}, 503, {"Retry-After": "30"})
    page = current_app.jinja_env.get_template("two_factor/error.html")
    return Response(page.render(title="Temporarily unavailable", error=message), 503, {"Retry-After": "30"})
