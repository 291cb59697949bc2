"""The one place that decides between a JSON body, an htmx fragment and a full page."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, make_response, redirect, render_template, request

from .i18n import _

# Everything the product itself loads is self-hosted, so its own pages work under this strict policy.
STRICT_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class BadInput(Exception):
    """A request field is missing or malformed; answered with 400 and nothing changes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def wants_json() -> bool:
    """Return True for a JSON body or an Accept header that prefers JSON over HTML."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def is_htmx() -> bool:
    """Return True for a request made by htmx (and not a boosted full-page one)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def read_fields(*names: str) -> dict[str, str]:
    """Return the named string fields of a form or JSON object body ('' when absent)."""
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # e.g. "[" * 2000: deeper than json.loads goes, and silent misses it
            data = None
        if not isinstance(data, dict):
            raise BadInput(_("The request body must be a JSON object."))
    else:
        data = request.form
    fields = {}
    for name in names:
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadInput(_("The field '%(name)s' must be a string.", name=name))
        # NUL, and lone surrogates (legal in JSON as "\ud800", but not encodable: the database
        # driver and the password hasher would raise, a 500).
        if "\x00" in value or not _encodable(value):
            raise BadInput(_("The field '%(name)s' contains a character that is not allowed.", name=name))
        fields[name] = value
    return fields


def is_checked(name: str) -> bool:
    """Return True when a checkbox field is ticked: "on" in a form, true or "on" in a JSON object."""
    if request.is_json:
        data = request.get_json(silent=True)
        value = data.get(name) if isinstance(data, dict) else None
    else:
        value = request.form.get(name)
    return value is True or value == "on"


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def html_response(template: str, status_code: int = 200, **context: Any) -> Response:
    """Return a rendered page or fragment."""
    response = make_response(render_template(template, **context), status_code)
    response.headers["Vary"] = "HX-Request, Accept"
    return response


def see_other(location: str) -> Response:
    """Return the 303 that ends a form POST made without JavaScript."""
    return redirect(location, code=303)


def hx_redirect(location: str) -> Response:
    """Tell htmx to load a whole new page."""
    response = make_response("", 200)
    response.headers["HX-Redirect"] = location
    return response


def add_security_headers(response: Response, no_store: bool = False, csp: str | None = STRICT_CSP) -> Response:
    """Set the security headers (and the policy ``csp``) a host has not set itself; add no-store when asked."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if csp:
        response.headers.setdefault("Content-Security-Policy", csp)
    if request.is_secure:
        # Only over HTTPS (browsers ignore it on HTTP). No includeSubDomains: we are an add-on to the
        # host's app and must not break its other subdomains that still speak plain HTTP.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return forbid_caching(response) if no_store else response


def forbid_caching(response: Response) -> Response:
    """Keep the answer out of every cache: it may show a secret, a code or account state."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
