"""Styled "not found" pages for mistyped addresses under the blueprint's prefix, in the layout 2FA pages use."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from .i18n import _
from .responses import html_response, json_response, wants_json


def install(app: Flask) -> None:
    """Answer 404 and 405 under our prefix with our page, unless the host answers them itself."""
    for code in (404, 405):
        if code not in app.error_handler_spec[None]:
            app.register_error_handler(code, _answer)


def _answer(error: HTTPException) -> Response | HTTPException:
    prefix = current_app.config["TWO_FACTOR_URL_PREFIX"].rstrip("/") + "/"
    if not request.path.startswith(prefix):
        return error  # the host's own addresses keep Werkzeug's answer
    if error.code == 405:
        message = _("This address can't be opened directly. Go back to the security settings and try again.")
    else:
        message = _("There is no page at this address. Check the link, or go to your security settings.")
    if wants_json():
        return json_response({"error": message}, error.code or 404)
    title = _("Page not found") if error.code == 404 else _("Request refused")
    return html_response("two_factor/problem.html", error.code or 404, title=title, error=message)
