"""S3, S5, S7 under real concurrency on PostgreSQL: N pending logins of one user race with one code.

Each round, THREADS clients (each with its own session cookie) do the password step, then a
barrier releases all of their POST /2fa/validate requests at once against one app on PostgreSQL.
The frozen clock is shared and only moves between rounds.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app.two_factor import throttle, totp
from tests.helpers_real import counts, pending_clients, release_together, user_id_of
from tests.support import Api, FrozenClock, totp_now, wrong_code

pytestmark = pytest.mark.postgres

THREADS = 24
ROUNDS = 10


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def config_overrides() -> dict[str, object]:
    # One connection per thread, so every request really runs at the same time in PostgreSQL.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": THREADS + 4, "max_overflow": 4}}


@pytest.fixture
def alice(app: Flask, enabled: Api) -> str:
    """Alice has 2FA on; return her user id."""
    with app.app_context():
        return user_id_of("alice")


def validate(code: str) -> Any:
    def action(api: Api) -> tuple[int, dict[str, Any], str | None]:
        response = api.post("/2fa/validate", {"code": code})
        return response.status_code, response.get_json(), response.headers.get("Retry-After")

    return action


def logged_in(api: Api) -> bool:
    return api.get("/2fa/status").status_code == 200


def test_one_totp_code_many_parallel_logins_exactly_one_wins(
    app: Flask, alice: str, enabled: Api, clock: FrozenClock
) -> None:
    for round_ in range(ROUNDS):
        clients = pending_clients(app, THREADS)
        code = totp_now(enabled.secret, clock)
        before = counts(app, alice)

        results = release_together(clients, validate(code))

        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 1, f"round {round_}: {sorted(statuses)}"
        assert set(statuses) <= {200, 401, 429}, statuses
        winner = statuses.index(200)
        assert results[winner][1] == {"valid": True, "required": True, "redirect": "/"}
        for status, body, retry_after in results:
            if status == 401:
                assert body["valid"] is False and body["error"]
            if status == 429:
                assert retry_after is not None and int(retry_after) >= 1
        # Only the winner's session is logged in; every other client is still just pending.
        assert [logged_in(api) for api in clients] == [i == winner for i in range(THREADS)]
        after = counts(app, alice)
        assert after["last_used_step"] == totp.time_step(clock.now)
        assert after["successes"] == before["successes"] + 1
        # Losers were either refused before being judged (not counted) or judged as a replay.
        assert after["failures"] - before["failures"] == statuses.count(401)
        clock.advance(30)


def test_one_backup_code_many_parallel_logins_exactly_one_wins(
    app: Flask, alice: str, enabled: Api, clock: FrozenClock
) -> None:
    for round_ in range(ROUNDS):
        code = enabled.backup_codes[round_]
        clients = pending_clients(app, THREADS)
        before = counts(app, alice)

        results = release_together(clients, validate(code))

        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 1, f"round {round_}: {sorted(statuses)}"
        assert set(statuses) <= {200, 401, 429}, statuses
        after = counts(app, alice)
        assert after["unused_codes"] == before["unused_codes"] - 1 == len(enabled.backup_codes) - round_ - 1
        assert after["successes"] == before["successes"] + 1
        assert sum(logged_in(api) for api in clients) == 1
        # The code is gone: once the throttle has passed, it is refused as simply wrong.
        clock.advance(throttle.delay(after["failed_attempts"], 3600).total_seconds() + 1)
        late = pending_clients(app, 1)[0].post("/2fa/validate", {"code": code})
        assert late.status_code == 401
        assert late.get_json()["valid"] is False
        clock.advance(throttle.delay(counts(app, alice)["failed_attempts"], 3600).total_seconds() + 1)
    assert counts(app, alice)["unused_codes"] == 0


def judged_once_each(app: Flask, alice: str, clients: list[Api], results: list[Any], before: dict[str, Any]) -> int:
    """Assert no lost update: the counter moved by exactly the guesses judged, each audited once; return them."""
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {401, 429}, statuses
    for status, body, retry_after in results:
        if status == 429:
            wait = body["retryAfter"]
            assert int(retry_after) == wait >= 1
            assert body["error"] == f"Too many attempts. Wait {wait} second{'' if wait == 1 else 's'}, then try again."
    judged = statuses.count(401)
    after = counts(app, alice)
    assert after["failed_attempts"] == before["failed_attempts"] + judged
    assert after["failures"] == before["failures"] + judged
    assert after["successes"] == before["successes"]
    assert not any(logged_in(api) for api in clients)
    return judged


def test_parallel_wrong_guesses_are_judged_once_per_budget(
    app: Flask, alice: str, enabled: Api, clock: FrozenClock
) -> None:
    # The free typos: guesses that reach the database after an earlier one committed are judged too,
    # but never more than the free failures and the first counted one, and each counts exactly once.
    clients = pending_clients(app, THREADS)
    before = counts(app, alice)
    burst = release_together(clients, validate(wrong_code(enabled.secret, clock)))
    judged = judged_once_each(app, alice, clients, burst, before)
    assert 1 <= judged <= throttle.FREE_FAILURES + 1
    # Walk on, one guess at a time, to where failures carry a wait.
    single = pending_clients(app, 1)[0]
    while counts(app, alice)["failed_attempts"] <= throttle.FREE_FAILURES:
        assert single.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)}).status_code == 401
    for round_ in range(ROUNDS):
        clock.advance(throttle.delay(counts(app, alice)["failed_attempts"], 3600).total_seconds())
        clients = pending_clients(app, THREADS)
        before = counts(app, alice)
        results = release_together(clients, validate(wrong_code(enabled.secret, clock)))
        # Once failures carry a wait, exactly one guess is judged; every other one is refused unjudged.
        assert judged_once_each(app, alice, clients, results, before) == 1, f"round {round_}"
    clock.advance(throttle.delay(counts(app, alice)["failed_attempts"], 3600).total_seconds())
    # The budget is spent; the right code now wins and resets the counter.
    winner = pending_clients(app, 1)[0]
    assert winner.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200
    assert counts(app, alice)["failed_attempts"] == 0
