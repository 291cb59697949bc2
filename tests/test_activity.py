"""Recent activity: every audited attempt reads as a sentence, whatever its purpose, method and reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.two_factor.activity import describe, sentence

PURPOSES = ("login", "enable", "disable", "regenerate", "reauth", "reset", "unlock", "replace")
METHODS = ("totp", "backup_code", "password", "admin", "remembered")
REASONS = ("wrong_password", "wrong_code", "reused_code", "clock_drift", "locked", None, "something_new")


@dataclass
class Row:
    """An attempt row as the settings page gets it."""

    purpose: str
    method: str
    success: bool
    attempted_at: datetime = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    reason: str | None = None


@pytest.mark.parametrize(
    ("purpose", "method", "expected"),
    [
        ("login", "totp", "You signed in with a code from your authenticator app."),
        ("login", "backup_code", "A backup code was used to sign in."),
        ("login", "remembered", "You signed in on a remembered browser, without a code."),
        ("enable", "totp", "Two-factor authentication was turned on."),
        ("disable", "backup_code", "Two-factor authentication was turned off."),
        ("regenerate", "totp", "New backup codes were made; the old ones stopped working."),
        ("reauth", "password", "You confirmed it’s you before changing your security settings."),
        ("reset", "admin", "An administrator turned off two-factor authentication for your account."),
        ("replace", "totp", "Your authenticator app was replaced; codes from the old one no longer work."),
    ],
)
def test_a_success_says_what_happened(purpose: str, method: str, expected: str) -> None:
    assert sentence(purpose, method, True) == expected


@pytest.mark.parametrize(
    ("purpose", "method", "reason", "expected"),
    [
        ("login", "totp", "wrong_code", "Someone entered a wrong code while signing in."),
        ("login", "backup_code", "wrong_code", "Someone entered a wrong backup code while signing in."),
        ("login", "totp", "reused_code", "Someone entered a code that was already used while signing in."),
        ("login", "totp", "locked", "A sign-in was blocked: too many attempts."),
        ("disable", "totp", "wrong_password",
         "A wrong password was entered while turning off two-factor authentication."),
        ("regenerate", "backup_code", "wrong_code", "A wrong code was entered while making new backup codes."),
        ("reauth", "password", "wrong_password", "A wrong password was entered while confirming it’s you."),
        ("disable", "totp", "locked", "Changes to two-factor authentication were blocked: too many attempts."),
    ],
)
def test_a_failure_says_why(purpose: str, method: str, reason: str, expected: str) -> None:
    assert sentence(purpose, method, False, reason) == expected


def test_a_reused_code_outside_sign_in_reads_as_a_wrong_code() -> None:
    assert sentence("disable", "totp", False, "reused_code") == (
        "A wrong code was entered while turning off two-factor authentication."
    )


@pytest.mark.parametrize("reason", [None, "something_new"])
def test_a_failure_without_a_known_reason_says_it_failed(reason: str | None) -> None:
    assert sentence("login", "totp", False, reason) == "A sign-in with two-factor authentication failed."
    assert sentence("regenerate", "totp", False, reason) == "Making new backup codes failed."


def test_an_unknown_purpose_still_gets_a_sentence() -> None:
    assert sentence("teleport", "totp", True) == "A two-factor check succeeded."
    assert sentence("teleport", "totp", False, "wrong_code") == "A two-factor check failed."


@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_combination_is_one_plain_sentence(purpose: str) -> None:
    said = [sentence(purpose, method, True) for method in METHODS]
    said += [sentence(purpose, method, False, reason) for method in METHODS for reason in REASONS]
    for text in said:
        assert text[0].isupper() and text.endswith(".") and "_" not in text and "%" not in text, text


def test_an_entry_carries_tone_and_utc_time() -> None:
    moment = datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    entry = describe(Row("login", "totp", False, moment, "wrong_code"))
    assert entry.text == "Someone entered a wrong code while signing in."
    assert entry.tone == "failed" and entry.failed
    assert entry.at_iso == "2026-03-04T05:06:07Z"


@pytest.mark.parametrize(
    ("purpose", "tone"), [("login", "ok"), ("enable", "ok"), ("disable", "neutral"), ("reset", "neutral")]
)
def test_a_success_that_weakens_the_account_is_neutral(purpose: str, tone: str) -> None:
    assert describe(Row(purpose, "totp", True)).tone == tone


def test_a_row_from_before_reasons_were_kept_is_described() -> None:
    """A row object without the ``reason`` attribute (an older schema) reads as a failure without reason."""

    @dataclass
    class OldRow:
        purpose: str
        method: str
        success: bool
        attempted_at: datetime

    entry = describe(OldRow("disable", "totp", False, datetime(2026, 1, 1, tzinfo=UTC)))
    assert entry.text == "Turning off two-factor authentication failed."
