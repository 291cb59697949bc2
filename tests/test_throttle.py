"""S5 (pure part): the schedule min(2^(n-1) s, cap) and the lock threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.two_factor import throttle

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "failures, seconds", [(0, 0), (1, 1), (2, 2), (3, 4), (10, 512), (12, 2048), (13, 3600), (99, 3600)]
)
def test_delay_doubles_up_to_the_cap(failures: int, seconds: int) -> None:
    assert throttle.delay(failures, 3600) == timedelta(seconds=seconds)


def test_wait_counts_from_the_last_failure() -> None:
    last = NOW - timedelta(seconds=1)
    assert throttle.wait_seconds(3, last, NOW, 3600) == 3
    assert throttle.wait_seconds(3, last, NOW + timedelta(seconds=3), 3600) == 0


def test_no_failures_never_waits() -> None:
    assert throttle.wait_seconds(0, None, NOW, 3600) == 0


def test_locks_at_one_hundred() -> None:
    assert not throttle.is_locked(99) and throttle.is_locked(100)
