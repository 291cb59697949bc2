"""The values the service takes and returns: codes, clients, policy, outcomes; no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from . import codes, totp

TOTP = "totp"
BACKUP_CODE = "backup_code"
REMEMBERED = "remembered"  # a remembered browser skipped the code (S18)
# A re-authentication of a user without 2FA proves the password alone.
PASSWORD = "password"  # noqa: S105 (a method name, not a secret)


class Outcome(Enum):
    """What a request came to; only OK changes state in the user's favour."""

    OK = "ok"
    INVALID = "invalid"
    REPLAYED = "replayed"
    THROTTLED = "throttled"
    LOCKED = "locked"
    NOT_SET_UP = "not_set_up"
    NOT_ENABLED = "not_enabled"
    ALREADY_ENABLED = "already_enabled"
    # A replacement of the authenticator app was confirmed or cancelled, or never begun.
    NO_REPLACEMENT = "no_replacement"


@dataclass(frozen=True)
class Result:
    """An outcome with what the caller needs to answer it."""

    outcome: Outcome
    retry_after: int = 0
    method: str | None = None
    # The throttle scope that judged or refused the attempt ("sign-in" or "account").
    scope: str | None = None
    backup_codes: tuple[str, ...] = ()
    # A refused TOTP code that matches a step 2..10 steps from now: how far the device's clock is off
    # (positive: ahead). Said to the user so they fix the clock instead of retyping codes.
    drift_steps: int | None = None
    # Of a password + code pair: "password" (then the code was not looked at) or "code".
    wrong_field: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class Code:
    """A well-formed code: its kind and its canonical value."""

    method: str
    value: str


@dataclass(frozen=True)
class Client:
    """Who made the request: for the audit trail, and the session a change keeps signed in."""

    ip_address: str | None = None
    user_agent: str | None = None
    # The token hash of the request's session: changes that end the user's other sessions keep this one.
    session_hash: str | None = None


@dataclass(frozen=True)
class Policy:
    """The tunable numbers of the rules."""

    valid_window: int = 1
    throttle_max: int = 3600
    issuer: str = "Flask"


@dataclass(frozen=True)
class Status:
    """What the settings page and ``/status`` show."""

    enabled: bool
    pending: bool
    backup_codes_remaining: int
    locked: bool = False
    account_locked: bool = False
    # A new authenticator app awaits its first code; the current one works until then.
    replacing: bool = False


@dataclass(frozen=True)
class Enrollment:
    """A pending setup as the user sees it once: secret, URI and QR image."""

    secret: str
    otpauth_uri: str
    qr_data_uri: str


def parse_code(raw: str, allow_backup: bool = True) -> Code | None:
    """Return the code ``raw`` stands for, or None if it cannot be one (such input never counts)."""
    if len(raw) > 64:
        return None
    if (value := totp.normalize_code(raw)) is not None:
        return Code(TOTP, value)
    if allow_backup and (value := codes.normalize(raw)) is not None:
        return Code(BACKUP_CODE, value)
    return None
