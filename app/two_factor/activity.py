"""Recent activity: one audited attempt told as a sentence a person understands ("You signed in with …")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flask_babel.speaklater import LazyString

from .i18n import _lazy

__all__ = ["Entry", "describe", "sentence"]


class Attempt(Protocol):
    """What a sentence is made of: the columns of a TwoFactorAttempt row."""

    purpose: str
    method: str
    success: bool
    attempted_at: datetime


@dataclass(frozen=True)
class Entry:
    """One line of recent activity: what happened, its tone ("ok", "failed" or "neutral") and when (ISO 8601 UTC)."""

    text: str
    tone: str
    at_iso: str

    @property
    def failed(self) -> bool:
        """Return True for an attempt that failed."""
        return self.tone == "failed"


# Whole sentences, one per case, so that each language words them its own way.
_SUCCESS = {
    ("login", "totp"): _lazy("You signed in with a code from your authenticator app."),
    ("login", "backup_code"): _lazy("A backup code was used to sign in."),
    ("login", "remembered"): _lazy("You signed in on a remembered browser, without a code."),
    ("login", None): _lazy("You signed in with two-factor authentication."),
    ("enable", None): _lazy("Two-factor authentication was turned on."),
    ("disable", None): _lazy("Two-factor authentication was turned off."),
    ("regenerate", None): _lazy("New backup codes were made; the old ones stopped working."),
    ("reauth", None): _lazy("You confirmed it’s you before changing your security settings."),
    ("reset", None): _lazy("An administrator turned off two-factor authentication for your account."),
    ("unlock", None): _lazy("An administrator unlocked two-factor authentication after too many failed attempts."),
    ("replace", None): _lazy("Your authenticator app was replaced; codes from the old one no longer work."),
}
_FAILURE = {
    ("login", "wrong_code"): _lazy("Someone entered a wrong code while signing in."),
    ("login", "wrong_backup_code"): _lazy("Someone entered a wrong backup code while signing in."),
    ("login", "reused_code"): _lazy("Someone entered a code that was already used while signing in."),
    ("login", "clock_drift"): _lazy("A code from a phone with the wrong time was entered while signing in."),
    ("login", "locked"): _lazy("A sign-in was blocked: too many attempts."),
    ("login", None): _lazy("A sign-in with two-factor authentication failed."),
    ("enable", "wrong_code"): _lazy("A wrong code was entered while turning on two-factor authentication."),
    ("enable", "clock_drift"): _lazy(
        "A code from a phone with the wrong time was entered while turning on two-factor authentication."
    ),
    ("enable", None): _lazy("Turning on two-factor authentication failed."),
    ("disable", "wrong_password"): _lazy("A wrong password was entered while turning off two-factor authentication."),
    ("disable", "wrong_code"): _lazy("A wrong code was entered while turning off two-factor authentication."),
    ("disable", None): _lazy("Turning off two-factor authentication failed."),
    ("regenerate", "wrong_password"): _lazy("A wrong password was entered while making new backup codes."),
    ("regenerate", "wrong_code"): _lazy("A wrong code was entered while making new backup codes."),
    ("regenerate", None): _lazy("Making new backup codes failed."),
    ("reauth", "wrong_password"): _lazy("A wrong password was entered while confirming it’s you."),
    ("reauth", "wrong_code"): _lazy("A wrong code was entered while confirming it’s you."),
    ("reauth", None): _lazy("Confirming it’s you failed."),
    ("replace", "wrong_password"): _lazy("A wrong password was entered while replacing the authenticator app."),
    ("replace", "wrong_code"): _lazy("A wrong code was entered while replacing the authenticator app."),
    ("replace", None): _lazy("Replacing the authenticator app failed."),
    # Every change in settings shares one lock (the account scope), whichever change tripped it.
    (None, "locked"): _lazy("Changes to two-factor authentication were blocked: too many attempts."),
}
# Successes that leave the account with less protection: told plainly, not as good news.
_NEUTRAL_PURPOSES = frozenset({"disable", "reset"})
_ANY_SUCCESS = _lazy("A two-factor check succeeded.")
_ANY_FAILURE = _lazy("A two-factor check failed.")


def sentence(purpose: str, method: str | None, success: bool, reason: str | None = None) -> str:
    """Return what an attempt means, as a sentence; an unknown purpose or reason gets a plain one."""
    if success:
        found = _SUCCESS.get((purpose, method)) or _SUCCESS.get((purpose, None))
        return str(found or _ANY_SUCCESS)
    if reason == "wrong_code" and method == "backup_code" and purpose == "login":
        reason = "wrong_backup_code"
    # A reused or drifted code is still a wrong code where no finer sentence exists.
    fallbacks = (reason, "wrong_code" if reason in ("reused_code", "clock_drift") else None)
    for candidate in fallbacks:
        found = _lookup(purpose, candidate) if candidate else None
        if found is not None:
            return str(found)
    return str(_FAILURE.get((purpose, None)) or _ANY_FAILURE)


def _lookup(purpose: str, reason: str) -> LazyString | None:
    return _FAILURE.get((purpose, reason)) or _FAILURE.get((None, reason))


def describe(attempt: Attempt) -> Entry:
    """Return the activity entry of an attempt row (a row without ``reason`` is read as having none)."""
    reason = getattr(attempt, "reason", None)
    moment = attempt.attempted_at.astimezone(UTC)
    tone = "neutral" if attempt.purpose in _NEUTRAL_PURPOSES else "ok"
    if not attempt.success:
        tone = "failed"
    return Entry(
        text=sentence(attempt.purpose, attempt.method, bool(attempt.success), reason),
        tone=tone,
        at_iso=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
