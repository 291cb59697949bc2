"""S3, S5, S6 across processes: the app under gunicorn (2 workers) on PostgreSQL, Flask-Limiter on Redis.

The database is created empty and migrated with ``flask --app wsgi db upgrade`` (the migration on
PostgreSQL). Clients bind distinct loopback source addresses, so one test can act as many IPs; the
access log names the worker pid of every request, so the tests can show the load was spread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pyotp
import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from app.two_factor.refusals import too_many
from tests.live_server import HttpClient, LiveServer, Reply, live_server
from tests.support import PASSWORD

pytestmark = pytest.mark.postgres

REDIS_URL = "redis://127.0.0.1:6379/13"  # dedicated to this module; flushed before and after
LIMIT = 5  # FLASK_TWO_FACTOR_RATE_LIMIT="5 per minute"
BURST = 12
CLIENTS = 20


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    # The tests below sign one account in from many IPs at once: lift the demo's per-account login limit.
    lifted = {"FLASK_LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute"}
    with live_server(REDIS_URL, workers=2, rate_limit=f"{LIMIT} per minute", extra_env=lifted) as running:
        yield running
    redis.Redis.from_url(REDIS_URL).flushdb()


def psql(server: LiveServer) -> psycopg.Connection:
    return psycopg.connect(server.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def burst(count: int, make: Callable[[int], HttpClient], action: Callable[[HttpClient], Reply]) -> list[Reply]:
    """Run ``action`` on ``count`` clients in parallel threads, released together by a barrier."""
    clients = [make(i) for i in range(count)]
    barrier = threading.Barrier(count)

    def run(client: HttpClient) -> Reply:
        barrier.wait(timeout=60)
        return action(client)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, clients, timeout=120))


def enable_two_factor(server: LiveServer, username: str, ip: str) -> str:
    """Register ``username`` and turn 2FA on over HTTP; return the TOTP secret."""
    client = HttpClient.to(server, ip)
    client.refresh_token()
    assert client.post("/register", {"username": username, "password": PASSWORD}).status == 201
    client.refresh_token()
    setup = client.post("/2fa/setup")
    assert setup.status == 200, setup.text
    secret = setup.json()["secret"]
    verify = client.post("/2fa/verify", {"code": pyotp.TOTP(secret).now()})
    assert verify.status == 200, verify.text
    return secret


def pending(server: LiveServer, username: str, ips: list[str]) -> list[HttpClient]:
    """Return one client per IP, each having done the password step for ``username``."""

    def login(ip: str) -> HttpClient:
        client = HttpClient.to(server, ip)
        reply = client.login(username, PASSWORD)
        assert reply.status == 200 and reply.json()["twoFactorRequired"] is True, reply.text
        return client

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(login, ips))


def copy_of(client: HttpClient) -> HttpClient:
    """Return another connection with the same session cookie and token (the same browser)."""
    return HttpClient(client.host, client.port, client.source_ip, cookies=dict(client.cookies), token=client.token)


def secret_row(server: LiveServer, username: str) -> tuple[Any, ...]:
    with psql(server) as conn:
        return conn.execute(
            "SELECT s.failed_attempts, s.last_used_step, "
            "(SELECT count(*) FROM two_factor_attempts a WHERE a.user_id = s.user_id AND NOT a.success), "
            "(SELECT count(*) FROM two_factor_attempts a WHERE a.user_id = s.user_id AND a.success) "
            "FROM two_factor_secrets s JOIN users u ON u.id = s.user_id WHERE u.username = %s",
            (username,),
        ).fetchone()


def test_migrated_postgres_schema_matches_the_models(server: LiveServer) -> None:
    from app import create_app
    from app.extensions import db
    from tests.conftest import make_config

    create_app(make_config(server.database_url))  # init_app copies the product's tables into db.metadata
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), db.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_per_ip_limit_on_login_holds_across_workers(server: LiveServer) -> None:
    browser = HttpClient.to(server, "127.0.10.1")
    browser.refresh_token()
    # A wrong password costs a real argon2 check (~0.2 s), so the burst spreads over both workers.
    replies = burst(
        BURST, lambda _: copy_of(browser), lambda c: c.post("/login?t=ip-login", {"username": "x", "password": "y"})
    )
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [401] * LIMIT + [429] * (BURST - LIMIT)
    assert len(server.worker_pids("/login?t=ip-login")) == 2, "the burst was not served by both workers"
    # The counters live in Redis, shared by the workers.
    assert redis.Redis.from_url(REDIS_URL).keys("*auth.login*")
    # Another IP has its own budget.
    other = HttpClient.to(server, "127.0.10.2")
    other.refresh_token()
    assert other.post("/login", {"username": "x", "password": "y"}).status == 401


def test_per_ip_limit_on_2fa_endpoints_holds_across_workers(server: LiveServer) -> None:
    # These requests are quick; should one worker happen to serve a whole burst, another IP tries again.
    for attempt in range(1, 4):
        browser = HttpClient.to(server, f"127.0.11.{attempt}")
        browser.refresh_token()
        marker = f"/2fa/validate?t=ip-2fa-{attempt}"
        replies = burst(
            BURST,
            lambda _, browser=browser: copy_of(browser),
            lambda c, marker=marker: c.post(marker, {"code": "000000"}),
        )
        statuses = sorted(reply.status for reply in replies)
        # No login is pending (401) until the per-IP budget of the endpoint is spent (429).
        assert statuses == [401] * LIMIT + [429] * (BURST - LIMIT)
        if len(server.worker_pids(marker)) == 2:
            break
    else:
        pytest.fail("three bursts in a row were each served by a single worker")
    for reply in replies:
        if reply.status == 429:
            body = reply.json()
            assert int(reply.headers["retry-after"]) == body["retryAfter"] >= 1
            assert body["error"] == too_many(body["retryAfter"])


def test_per_account_throttle_holds_across_workers_and_ips(server: LiveServer) -> None:
    secret = enable_two_factor(server, "bob", "127.0.12.1")
    clients = pending(server, "bob", [f"127.0.13.{i}" for i in range(1, CLIENTS + 1)])
    # Eleven failures whose wait (2^7 = 128 s) is over: the next guess may be judged, then waits 256 s.
    with psql(server) as conn:
        conn.execute(
            "UPDATE two_factor_secrets SET failed_attempts = 11, "
            "last_failed_at = (now() AT TIME ZONE 'utc') - interval '1025 seconds' "
            "WHERE user_id = (SELECT id FROM users WHERE username = 'bob')"
        )
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in _window_codes(secret))
    replies = burst(CLIENTS, lambda i: clients[i], lambda c: c.post("/2fa/validate?t=throttle", {"code": wrong}))
    statuses = sorted(reply.status for reply in replies)
    # Each client has its own IP (well under the per-IP limit): only the account throttle refuses.
    assert statuses == [401] + [429] * (CLIENTS - 1)
    assert len(server.worker_pids("/2fa/validate?t=throttle")) == 2, "the burst was not served by both workers"
    for reply in replies:
        if reply.status == 429:
            # 256 s after the judged failure (+1: a refused request may have read the clock just before it).
            assert 200 <= reply.json()["retryAfter"] <= 257
    failed_attempts, _, failures, _ = secret_row(server, "bob")
    assert (failed_attempts, failures) == (12, 1)
    # Even the right code is refused (and not counted) until the wait is over.
    late = clients[0].post("/2fa/validate", {"code": pyotp.TOTP(secret).now()})
    assert late.status == 429
    failed_attempts, _, failures, _ = secret_row(server, "bob")
    assert (failed_attempts, failures) == (12, 1)
    assert secret not in server.log() and PASSWORD not in server.log()


def test_one_code_across_workers_logs_in_exactly_once(server: LiveServer) -> None:
    secret = enable_two_factor(server, "carol", "127.0.12.2")
    clients = pending(server, "carol", [f"127.0.14.{i}" for i in range(1, CLIENTS + 1)])
    # The next step's code is newer than the one that confirmed setup, and inside the window.
    code = pyotp.TOTP(secret).at(time.time() + 30)
    replies = burst(CLIENTS, lambda i: clients[i], lambda c: c.post("/2fa/validate?t=replay", {"code": code}))
    statuses = [reply.status for reply in replies]
    assert statuses.count(200) == 1, sorted(statuses)
    assert set(statuses) <= {200, 401, 429}
    assert len(server.worker_pids("/2fa/validate?t=replay")) == 2, "the burst was not served by both workers"
    assert [client.get("/2fa/status").status for client in clients].count(200) == 1
    _, _, _, successes = secret_row(server, "carol")
    assert successes == 2  # the setup confirmation and the one login
    # The server's own log (INFO, access log) never shows a secret or a password.
    log = server.log()
    assert secret not in log and PASSWORD not in log and "otpauth://" not in log


def _window_codes(secret: str) -> set[str]:
    totp = pyotp.TOTP(secret)
    now = time.time()
    return {totp.at(now + 30 * offset) for offset in (-2, -1, 0, 1, 2)}
