"""Rendering of the settings page, its panels and the challenge page."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, get_flashed_messages, request, url_for
from flask_login import current_user

from . import activity, reauth
from .i18n import _
from .pending import read_pending, safe_next
from .responses import html_response, is_htmx
from .state import state

PANELS = {
    "status": "two_factor/_status.html",
    "setup": "two_factor/_setup.html",
    "codes": "two_factor/_codes.html",
    "reauth": "two_factor/_reauth.html",
    "replace": "two_factor/_replace.html",
}

# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
# Flash categories of the notices a 303 carries to the settings page (a neutral one is not a success).
NOTICE = "two_factor_notice"
NEUTRAL_NOTICE = "two_factor_notice_neutral"

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Version/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_browser(user_agent: str | None) -> str:
    """Return a short name for a User-Agent, such as "Chrome 131 on Linux"; the raw string if unknown."""
    if not user_agent:
        return _("Unknown browser")
    browser = next(((token, label) for token, label in _BROWSERS if token in user_agent), None)
    if browser is None:
        return user_agent[:40] + ("…" if len(user_agent) > 40 else "")
    token, name = browser
    system = next((label for marker, label in _SYSTEMS if marker in user_agent), None)
    version = re.search(re.escape(token) + r"(\d+)", user_agent)
    if "Headless" in user_agent:
        name = f"Headless {name}"  # product names stay as they are in every language
    text = f"{name} {version.group(1)}" if version else name
    return _("%(browser)s on %(system)s", browser=text, system=system) if system else text


def _context(**extra: Any) -> dict[str, Any]:
    """Return what every panel may show about the current user."""
    ext = state()
    service = ext.service()
    user_id = str(current_user.get_id())
    current = service.status(user_id)
    enrollment = extra.pop("enrollment", None)
    account = ext.display_name(current_user)
    # A pending setup's secret is shown again only inside the re-authentication window (S16).
    if enrollment is None and current.pending and reauth.is_fresh():
        enrollment = service.pending_enrollment(user_id, account)
    replacement = extra.pop("replacement", None)
    # So is a new authenticator app's secret while it awaits its first code.
    if replacement is None and current.replacing and reauth.is_fresh():
        replacement = service.pending_replacement(user_id, account)
    if "notice" not in extra:
        # A notice flashed before a 303 (no JavaScript) is shown on the page it leads to.
        flashed = get_flashed_messages(with_categories=True, category_filter=[NOTICE, NEUTRAL_NOTICE])
        extra["notice"] = next((text for _category, text in flashed), None)
        if any(category == NEUTRAL_NOTICE for category, _text in flashed):
            extra.setdefault("notice_tone", "neutral")
    return {
        "status": current,
        "enrollment": enrollment,
        "replacement": replacement,
        "attempts": service.recent_attempts(user_id, limit=20),
        "account_name": account,
        "describe_browser": describe_browser,
        "describe_activity": activity.describe,
        "swapped": is_htmx(),
        **_reauth_context(),
        **extra,
    }


def _reauth_context() -> dict[str, Any]:
    """Return where the re-authentication form leads (a path on this site) and what it resumes."""
    return {
        "next_url": safe_next(request.values.get("next")) or url_for("two_factor.settings"),
        "then": reauth.requested_then(),
    }


def _panel_name(context: dict[str, Any]) -> str:
    if context.get("backup_codes"):
        return "codes"
    if context["status"].pending:
        return "setup" if context["enrollment"] is not None else "reauth"
    if context["replacement"] is not None:
        return "replace"
    return "status"


def render_settings(status_code: int = 200, **extra: Any) -> Response:
    """Return the whole settings page with the panel that fits the user's state."""
    context = _context(**extra)
    return html_response("two_factor/settings.html", status_code, panel=_panel_name(context), **context)


def render_panel(name: str, status_code: int = 200, **extra: Any) -> Response:
    """Return one panel as an htmx fragment."""
    context = _context(**extra)
    if name == "setup" and context["enrollment"] is None:
        name = "reauth" if context["status"].pending else "status"
    if name == "replace" and context["replacement"] is None:
        name = "status"
    return html_response(PANELS[name], status_code, **context)


def render_reauth(status_code: int = 200, fragment: bool = False, **extra: Any) -> Response:
    """Return the re-authentication page, or its form for htmx."""
    template = "two_factor/_reauth.html" if fragment else "two_factor/reauth.html"
    return html_response(template, status_code, **_context(**extra))


def render_challenge(status_code: int = 200, fragment: bool = False, **extra: Any) -> Response:
    """Return the login challenge page, or just its form for htmx; it names the account signing in."""
    template = "two_factor/_challenge_form.html" if fragment else "two_factor/challenge.html"
    pending = read_pending()
    account = None
    if pending is not None and not pending.expired:
        ext = state()
        user = ext.load_user(pending.user_id)
        account = ext.display_name(user) if user is not None else None
    return html_response(template, status_code, pending=pending, swapped=fragment, account_name=account, **extra)


def render_signed_in_with_backup_code(remaining: int, next_url: str) -> Response:
    """Return the page shown once after a sign-in with a backup code: how many are left, what to do now."""
    return html_response("two_factor/signed_in.html", remaining=remaining, next_url=next_url, swapped=False)
