"""The pending login kept in the session between the password step and the code."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, session

from .state import state

PENDING_KEY = "_two_factor_pending"


@dataclass(frozen=True)
class PendingLogin:
    """A password-checked login awaiting its second factor."""

    user_id: str
    next: str | None
    remember: bool
    expired: bool


def read_pending() -> PendingLogin | None:
    """Return the session's pending login, or None if there is none (or it is malformed)."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    user_id, issued_at = data.get("user_id"), data.get("issued_at")
    if not isinstance(user_id, str) or not isinstance(issued_at, int):
        return None
    age = state().clock().timestamp() - issued_at
    ttl = int(current_app.config["TWO_FACTOR_CHALLENGE_TTL"])
    next_url = data.get("next") if isinstance(data.get("next"), str) else None
    return PendingLogin(user_id, next_url, bool(data.get("remember")), expired=not 0 <= age <= ttl)


def clear_pending() -> None:
    """Forget the pending login."""
    session.pop(PENDING_KEY, None)


def safe_next(url: str | None) -> str | None:
    """Return ``url`` if it is a path on this site, else None (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in url):
        return None
    return url
