"""Security headers and CSRF for the blueprint's answers, fitted to whatever the host set up itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, request, request_finished
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from .responses import STRICT_CSP, add_security_headers

# Pages in the host's layout load the host's assets, often from a CDN and with inline styles: a
# default that limits sources would break its layout. This one limits none, yet still forbids
# plugins, a <base> that re-points relative URLs, and framing a security page (clickjacking).
HOST_LAYOUT_CSP = "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
HOST_LAYOUT = "_two_factor_host_layout"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def install(app: Flask) -> None:
    """Fill in missing headers once the host's own hooks ran; let templates make CSRF tokens without CSRFProtect."""
    request_finished.connect(_fill_in_headers, app, weak=False)
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)


def used_host_layout() -> None:
    """Note that this page extends the host's layout (its policy, not ours, governs the page)."""
    setattr(g, HOST_LAYOUT, True)


def _fill_in_headers(sender: Flask, response: Response, **extra: Any) -> None:
    # request_finished runs after every after_request function, the host's included: whatever the
    # host set (by hand, Flask-Talisman, setdefault) is already there and is never overwritten.
    if request.blueprint != "two_factor":
        return
    add_security_headers(response, csp=content_security_policy())


def content_security_policy() -> str | None:
    """Return the policy for this answer: ours for the standalone layout, the configured one in the host's."""
    if not g.get(HOST_LAYOUT):
        return STRICT_CSP
    return policy_text(current_app.config["TWO_FACTOR_CONTENT_SECURITY_POLICY"])


def policy_text(policy: str | Mapping[str, str | list[str]] | None) -> str | None:
    """Return a policy given as a string or a {directive: sources} mapping as header text; None stays None."""
    if policy is None or isinstance(policy, str):
        return policy or None
    parts = []
    for directive, sources in policy.items():
        values = sources if isinstance(sources, str) else " ".join(sources)
        parts.append(f"{directive} {values}".strip())
    return "; ".join(parts) or None


def check_csrf() -> None:
    """Check the CSRF token of every POST to the blueprint when the host did not turn on CSRFProtect itself."""
    if request.method in _SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if "csrf" in current_app.extensions:
        return  # CSRFProtect(app) already checked it, before any blueprint hook runs
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = request.form.get(field) or next(
        (request.headers[name] for name in current_app.config.get("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
         if request.headers.get(name)),
        None,
    )
    try:
        validate_csrf(token)
    except ValidationError as error:
        raise CSRFError(error.args[0]) from None
