"""The per-account throttle schedule; no Flask, no database."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

LOCK_AFTER = 100


def delay(failures: int, cap_seconds: int) -> timedelta:
    """Return how long after the last failure the next attempt must wait: min(2^(n-1) s, cap)."""
    if failures <= 0:
        return timedelta(0)
    # Capping the exponent first keeps 2**n small for huge n.
    return timedelta(seconds=min(2 ** min(failures - 1, 32), cap_seconds))


def wait_seconds(failures: int, last_failed_at: datetime | None, now: datetime, cap_seconds: int) -> int:
    """Return whole seconds until the next attempt may be judged (0: it may be judged now)."""
    if failures <= 0 or last_failed_at is None:
        return 0
    remaining = (last_failed_at + delay(failures, cap_seconds) - now).total_seconds()
    return max(0, math.ceil(remaining))


def is_locked(failures: int) -> bool:
    """Return True once the failures reach the lock threshold."""
    return failures >= LOCK_AFTER
