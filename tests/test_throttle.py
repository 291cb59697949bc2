"""S5 (pure part): three free failures, then min(2^(n-4) s, cap), the lock at 100, and the two scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.two_factor import throttle

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "failures, seconds",
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 1), (5, 2), (6, 4), (14, 1024), (15, 2048), (16, 3600), (99, 3600)],
)
def test_three_failures_are_free_then_the_wait_doubles_up_to_the_cap(failures: int, seconds: int) -> None:
    assert throttle.delay(failures, 3600) == timedelta(seconds=seconds)


def test_the_cap_is_configurable() -> None:
    assert throttle.delay(10, 60) == timedelta(seconds=60)


def test_wait_counts_from_the_last_failure() -> None:
    last = NOW - timedelta(seconds=1)
    assert throttle.wait_seconds(6, last, NOW, 3600) == 3
    assert throttle.wait_seconds(6, last, NOW + timedelta(seconds=3), 3600) == 0


def test_typos_never_wait() -> None:
    for failures in (0, 1, 2, 3):
        assert throttle.wait_seconds(failures, NOW, NOW, 3600) == 0


def test_the_fourth_failure_starts_a_one_second_wait() -> None:
    assert throttle.wait_seconds(4, NOW, NOW, 3600) == 1


def test_locks_at_one_hundred() -> None:
    assert not throttle.is_locked(99) and throttle.is_locked(100)


def test_reaching_the_lock_takes_days() -> None:
    # The README's arithmetic: 4,095 s of doubling waits, then 84 waits of an hour.
    assert throttle.seconds_to_lock(3600) == 4095 + 84 * 3600


def test_two_scopes() -> None:
    assert throttle.SCOPES == ("sign-in", "account")
