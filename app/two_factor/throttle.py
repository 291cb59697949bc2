"""The per-account throttle schedule and its scopes; no Flask, no database."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

LOCK_AFTER = 100
# A person mistypes now and then: the first failures in a row cost no wait.
FREE_FAILURES = 3

# Whoever is at the login challenge holds the password.
SIGN_IN = "sign-in"
# Whoever changes settings or re-authenticates holds a session: their failures must never lock sign-in.
ACCOUNT = "account"
SCOPES = (SIGN_IN, ACCOUNT)


def delay(failures: int, cap_seconds: int) -> timedelta:
    """Return the wait after the n-th failure in a row: none for the first 3, then min(2^(n-4) s, cap)."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    # Capping the exponent first keeps 2**n small for huge n.
    return timedelta(seconds=min(2 ** min(failures - FREE_FAILURES - 1, 32), cap_seconds))


def wait_seconds(failures: int, last_failed_at: datetime | None, now: datetime, cap_seconds: int) -> int:
    """Return whole seconds until the next attempt may be judged (0: it may be judged now)."""
    if failures <= FREE_FAILURES or last_failed_at is None:
        return 0
    remaining = (last_failed_at + delay(failures, cap_seconds) - now).total_seconds()
    return max(0, math.ceil(remaining))


def is_locked(failures: int) -> bool:
    """Return True once the failures reach the lock threshold."""
    return failures >= LOCK_AFTER


def seconds_to_lock(cap_seconds: int) -> int:
    """Return the least time an attacker needs to reach the lock in one scope: the sum of every wait."""
    return sum(int(delay(n, cap_seconds).total_seconds()) for n in range(1, LOCK_AFTER))
