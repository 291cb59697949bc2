"""Rendering of the settings page, its panels and the challenge page."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_login import current_user

from .extension import state
from .pending import read_pending
from .responses import html_response

PANELS = {"status": "two_factor/_status.html", "setup": "two_factor/_setup.html", "codes": "two_factor/_codes.html"}


def _context(**extra: Any) -> dict[str, Any]:
    """Return what every panel may show about the current user."""
    ext = state()
    service = ext.service()
    user_id = str(current_user.get_id())
    current = service.status(user_id)
    enrollment = extra.pop("enrollment", None)
    if enrollment is None and current.pending:
        enrollment = service.pending_enrollment(user_id, ext.display_name(current_user))
    return {
        "status": current,
        "enrollment": enrollment,
        "attempts": service.recent_attempts(user_id),
        **extra,
    }


def _panel_name(context: dict[str, Any]) -> str:
    if context.get("backup_codes"):
        return "codes"
    return "setup" if context["status"].pending else "status"


def render_settings(status_code: int = 200, **extra: Any) -> Response:
    """Return the whole settings page with the panel that fits the user's state."""
    context = _context(**extra)
    return html_response("two_factor/settings.html", status_code, panel=_panel_name(context), **context)


def render_panel(name: str, status_code: int = 200, **extra: Any) -> Response:
    """Return one panel as an htmx fragment."""
    context = _context(**extra)
    if name == "setup" and context["enrollment"] is None:
        name = "status"
    return html_response(PANELS[name], status_code, **context)


def render_challenge(status_code: int = 200, fragment: bool = False, **extra: Any) -> Response:
    """Return the login challenge page, or just its form for htmx."""
    template = "two_factor/_challenge_form.html" if fragment else "two_factor/challenge.html"
    pending = read_pending()
    return html_response(template, status_code, pending=pending, **extra)
