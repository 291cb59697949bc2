"""The demo host's error answers: JSON for JSON clients, a page in the demo's layout for browsers."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import InternalServerError, MethodNotAllowed, NotFound, RequestEntityTooLarge, TooManyRequests

from .extensions import db, limiter
from .two_factor.helpers import json_response, too_many, wants_json

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Answer the host's own errors in the client's form (the 2FA blueprint answers its own)."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(TooManyRequests, _rate_limited)
    app.register_error_handler(SQLAlchemyError, _database_failed)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)
    app.register_error_handler(InternalServerError, _internal_error)


def _refused(message: str, status: int, headers: dict[str, str] | None = None, title: str | None = None) -> Any:
    if wants_json():
        return json_response({"error": message}, status, headers)
    page = render_template("error.html", title=title or _("Request refused"), error=message)
    return page, status, headers or {}


def _csrf_failed(error: CSRFError) -> Any:
    return _refused(_("The form expired or its security token is missing. Reload the page and try again."), 400)


def _too_large(error: RequestEntityTooLarge) -> Any:
    return _refused(_("The request is too large. Send less, or shorter text, and try again."), 413)


def _not_found(error: NotFound) -> Any:
    message = _("There is no page at this address. Check the address, or start again from the home page.")
    return _refused(message, 404, title=_("Page not found"))


def _method_not_allowed(error: MethodNotAllowed) -> Any:
    # Allow is part of a 405: keep werkzeug's list of the methods the address takes.
    headers = {"Allow": ", ".join(sorted(error.valid_methods or []))}
    message = _("This address does not take that kind of request. Go back to the page and use its form or link.")
    return _refused(message, 405, headers, title=_("Request refused"))


def _internal_error(error: InternalServerError) -> Any:
    # Flask has logged the exception with its traceback already.
    message = _("Something went wrong on our side. Try again in a minute.")
    if wants_json():
        return json_response({"error": message}, 500)
    try:
        return render_template("error.html", title=_("Something went wrong"), error=message), 500
    except Exception:  # the layout itself may be what failed: the standalone page needs no user or database
        return _standalone(_("Something went wrong"), message, 500, {})


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
    message = _("The service is unavailable right now. Try again in a minute.")
    if wants_json():
        return json_response({"error": message}, 503, {"Retry-After": "30"})
    return _standalone(_("Temporarily unavailable"), message, 503, {"Retry-After": "30"})


def _standalone(title: str, message: str, status: int, headers: dict[str, str]) -> Response:
    page = current_app.jinja_env.get_template("two_factor/error.html")
    return Response(page.render(title=title, error=message), status, headers)
