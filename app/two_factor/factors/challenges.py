"""WebAuthn challenges kept in the session (S20): one at a time, for one user and purpose, used once, 300 s."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

REGISTER = "register"
AUTHENTICATE = "authenticate"
CHALLENGE_TTL = 300  # seconds; the browser is told the same, so neither side gives up first
CHALLENGE_KEY = "_two_factor_webauthn"


@dataclass(frozen=True)
class Challenge:
    """A challenge taken from the session: its bytes, when it was issued, the user handle a registration offered."""

    value: bytes
    issued_at: datetime
    user_handle: bytes | None = None


def issue_challenge(
    store: MutableMapping[str, Any],
    challenge: bytes,
    user_id: str,
    purpose: str,
    now: datetime,
    user_handle: bytes | None = None,
) -> None:
    """Keep a challenge in the session for one user and purpose, replacing any earlier one."""
    store[CHALLENGE_KEY] = {
        "challenge": bytes_to_base64url(challenge),
        "user_id": user_id,
        "purpose": purpose,
        "issued_at": now.timestamp(),
        "user_handle": bytes_to_base64url(user_handle) if user_handle else None,
    }


def take_challenge(store: MutableMapping[str, Any], user_id: str, purpose: str, now: datetime) -> Challenge | None:
    """Remove the session's challenge and return it if it is this user's, for this purpose and not expired."""
    data = store.pop(CHALLENGE_KEY, None)  # popped whatever follows: a challenge is good for one try
    if not isinstance(data, dict) or data.get("user_id") != user_id or data.get("purpose") != purpose:
        return None
    issued_at = data.get("issued_at")
    if not isinstance(issued_at, int | float) or not 0 <= now.timestamp() - issued_at <= CHALLENGE_TTL:
        return None
    try:
        handle = data.get("user_handle")
        issued = datetime.fromtimestamp(issued_at, UTC)
        return Challenge(base64url_to_bytes(data["challenge"]), issued, base64url_to_bytes(handle) if handle else None)
    except (TypeError, ValueError, KeyError):
        return None
