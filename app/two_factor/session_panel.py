"""The user's sessions as people read them: the "Where you're signed in" panel and ``GET /sessions``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request
from flask_login import current_user

from . import browsers, sessions
from .i18n import _, _lazy, _n, utc_time
from .models import TwoFactorBrowser, TwoFactorSession
from .responses import html_response
from .ui import describe_browser

NOTICE = "two_factor_sessions_notice"  # the flash category _sessions.html shows
METHODS = {
    "password": _lazy("Password"),
    "password+totp": _lazy("Password and app code"),
    "password+backup_code": _lazy("Password and backup code"),
    "password+security_key": _lazy("Password and security key"),
    "password+remembered": _lazy("Password on a remembered browser"),
}


@dataclass(frozen=True)
class ListedSession:
    """One signed-in session, with the words the panel shows."""

    id: str
    current: bool
    created_at: datetime
    last_seen_at: datetime
    ip_address: str | None
    user_agent: str | None
    method: str
    now: datetime

    @property
    def browser(self) -> str:
        return describe_browser(self.user_agent)

    @property
    def method_label(self) -> str:
        return str(METHODS.get(self.method, self.method))

    @property
    def signed_in(self) -> str:
        return when(self.created_at)

    @property
    def last_active(self) -> str:
        return _("Now") if self.current else ago(self.last_seen_at, self.now)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "current": self.current,
            "createdAt": iso(self.created_at),
            "lastSeenAt": iso(self.last_seen_at),
            "ipAddress": self.ip_address,
            "browser": self.browser,
            "method": self.method,
        }


def listed() -> list[ListedSession]:
    """Return the current user's sessions: this one first, then the most recently active."""
    ext = current_app.extensions["two_factor"]
    current, now = sessions.current_hash(), ext.clock()
    rows: list[TwoFactorSession] = ext.service().sessions(str(current_user.get_id()))
    items = [
        ListedSession(
            row.id, row.token_hash == current, row.created_at, row.last_seen_at, row.ip_address, row.user_agent,
            row.method, now,
        )
        for row in rows
    ]
    return sorted(items, key=lambda item: not item.current)  # stable: the rest keep their order


@dataclass(frozen=True)
class ListedBrowser:
    """One remembered browser (S18), with the words the panel shows."""

    id: str
    current: bool
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None

    @property
    def browser(self) -> str:
        return describe_browser(self.user_agent)

    @property
    def remembered(self) -> str:
        return when(self.created_at)

    @property
    def until(self) -> str:
        return when(self.expires_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "current": self.current,
            "createdAt": iso(self.created_at),
            "lastUsedAt": iso(self.last_used_at),
            "expiresAt": iso(self.expires_at),
            "ipAddress": self.ip_address,
            "browser": self.browser,
        }


def listed_browsers() -> list[ListedBrowser]:
    """Return the current user's remembered browsers: this one first, then the most recently used."""
    ext = current_app.extensions["two_factor"]
    current = browsers.current_hash()
    rows: list[TwoFactorBrowser] = ext.service().browsers(str(current_user.get_id()), ext.clock())
    items = [
        ListedBrowser(
            row.id, row.token_hash == current, row.created_at, row.last_used_at, row.expires_at, row.ip_address,
            row.user_agent,
        )
        for row in rows
    ]
    return sorted(items, key=lambda item: not item.current)


def render(status_code: int = 200, **extra: Any) -> Response:
    """Return the panel as an htmx fragment; focus moves into it after the user's own action."""
    extra.setdefault("sessions_focus", request.method == "POST")
    return html_response("two_factor/_sessions.html", status_code, **extra)


def iso(moment: datetime) -> str:
    """Return an ISO-8601 UTC time, as the JSON API writes them."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def when(moment: datetime) -> str:
    """Return a date and time people read at a glance in their language, e.g. "Jan 2, 2026, 14:05 UTC"."""
    return utc_time(moment)


def ago(moment: datetime, now: datetime) -> str:
    """Return how long ago ``moment`` was, in the largest unit that fits ("5 minutes ago")."""
    seconds = (now - moment).total_seconds()
    days, hours, minutes = int(seconds // 86400), int(seconds // 3600), int(seconds // 60)
    if seconds < 120:
        return _("Just now")
    if days > 30:
        return _("On %(date)s", date=when(moment))
    if days:
        return _n("%(num)d day ago", "%(num)d days ago", days)
    if hours:
        return _n("%(num)d hour ago", "%(num)d hours ago", hours)
    return _n("%(num)d minute ago", "%(num)d minutes ago", minutes)
