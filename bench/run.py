"""Benchmarks for DESIGN.md §8. Run: .venv/bin/python bench/run.py [--quick] [--only a|b|cd|e|f]

Needs the PostgreSQL server (127.0.0.1:5432) and Redis (127.0.0.1:6379, database 14 is flushed).
On a 2-core machine the full run takes about 9 minutes, 7 of them the 10^5 requests of (e);
--quick (500 validations, 10^4 requests) takes about 2.

(a) POST /2fa/validate under gunicorn on PostgreSQL vs a bare Flask endpoint doing one SELECT, same
    worker count, same database, same load generator, in the same run, interleaved. Two baselines:
    the endpoint served by the same gunicorn as validate, inside the demo app (bench/host_app.py:
    it pays what every request of the app pays, so the ratio is what the 2FA check adds), and a
    minimal Flask app with nothing but that endpoint (bench/bare_app.py, its own gunicorn). Each
    line also gives the CPU milliseconds per request of the app workers, PostgreSQL and the client.
    What is measured for validate is the real success path of a login challenge: every request
    carries a pending-login session (made beforehand by a real password step over HTTP, not timed)
    and the user's current TOTP code, and ends logged in (200). Each user can pass once per 30 s
    step (replay guard), so every request belongs to a different user. The per-IP limit stays on,
    with Redis storage and a limit too high to trigger, so its cost is included. The users'
    password hashes use a cheap argon2 cost so that preparing thousands of pending logins is fast;
    the password step is not part of what is timed.
(b) The cost of checking a wrong backup code: our check (normalise + one HMAC-SHA256 per configured
    key) next to the original design's loop of 10 bcrypt (cost 10) comparisons, and the whole
    in-process request with 10 codes stored and with 100,000 codes of other users in the table.
(c) POST /2fa/setup p50 in-process (Flask test client, SQLite).
(d) GET /2fa/settings p50 in-process, and the page weight with every asset it loads (htmx included).
(f) The session check (S17) on every signed-in request: one small host, with and without the product,
    both served by the same gunicorn (bench/session_app.py) on one PostgreSQL database; the same
    signed-in page, interleaved loads, and the in-process CPU per request of each.
(e) RSS over 10^5 in-process POST /2fa/validate requests: cycles of one success, one wrong code,
    seven throttled attempts and one malformed input. It runs in a fresh interpreter (memory the
    other parts freed would hide growth) and reports Python's allocated blocks beside the RSS: the
    RSS rises by about 2 MB until SQLite's page cache (2 MiB per connection) is full, then stays.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A root handler first, so create_app keeps its hands off logging; WARNING keeps per-failure INFO lines quiet.
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

import bcrypt  # noqa: E402
import pyotp  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from passlib.context import CryptContext  # noqa: E402
from sqlalchemy import create_engine, event, insert, text, update  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db, limiter  # noqa: E402
from app.models import User  # noqa: E402
from app.two_factor import codes, totp  # noqa: E402
from app.two_factor.crypto import KeyRing  # noqa: E402
from app.two_factor.models import TwoFactorBackupCode, TwoFactorSecret, TwoFactorSession  # noqa: E402
from app.two_factor.outcomes import (  # noqa: E402
    Outcome,
    Result,
    parse_code,
)
from app.two_factor.pending import PENDING_KEY  # noqa: E402
from app.two_factor.service import TwoFactorService  # noqa: E402
from bench import session_app  # noqa: E402
from bench.host_app import add_bare_select  # noqa: E402
from tests.live_server import CSRF_META, HttpClient, LiveServer, gunicorn, live_server  # noqa: E402
from tests.support import (  # noqa: E402
    PASSWORD,
    FrozenClock,
    create_postgres_database,
    drop_postgres_database,
    totp_now,
)

REDIS_URL = "redis://127.0.0.1:6379/14"
CHEAP_HASHES = CryptContext(schemes=["argon2"], argon2__memory_cost=1024, argon2__time_cost=1, argon2__parallelism=1)


@dataclass
class Row:
    name: str
    value: str
    target: str = ""
    ok: bool | None = None


ROWS: list[Row] = []


def add(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    ROWS.append(Row(name, value, target, ok))
    mark = "" if ok is None else ("  ok" if ok else "  MISSED")
    print(f"  {name}: {value}{(' (target ' + target + ')') if target else ''}{mark}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- (a) gunicorn on PostgreSQL ---------------------------------------------------------------


@dataclass
class Load:
    count: int
    seconds: float
    statuses: Counter[int]
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def run_load(tasks: list[Callable[[], int]], concurrency: int) -> Load:
    """Run ``tasks`` on ``concurrency`` threads released together; each thread takes every n-th task."""
    shares = [tasks[i::concurrency] for i in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(share: list[Callable[[], int]]) -> None:
        mine: list[tuple[int, float]] = []
        barrier.wait()
        for task in share:
            start = time.perf_counter()
            try:
                status = task()
            except Exception as exc:  # counted, and shown in the statuses, rather than killing the thread
                print(f"  request failed: {exc!r}", file=sys.stderr)
                status = -1
            mine.append((status, time.perf_counter() - start))
        with lock:
            for status, latency in mine:
                statuses[status] += 1
                latencies.append(latency)

    threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return Load(len(tasks), time.perf_counter() - start, statuses, latencies)


def seed_users(database_url: str, keys: str, count: int) -> list[tuple[str, str, str]]:
    """Insert ``count`` users with 2FA on, straight into the database; return (id, name, secret)."""
    ring = KeyRing(keys)
    password_hash = CHEAP_HASHES.hash(PASSWORD)
    now = datetime.now(UTC)
    old_step = totp.time_step(now) - 10
    people = [(str(uuid.uuid4()), f"bench{i:05d}", totp.new_secret()) for i in range(count)]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(User.__table__),
                [{"id": uid, "username": name, "password_hash": password_hash} for uid, name, _ in people],
            )
            conn.execute(
                insert(TwoFactorSecret.__table__),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "user_id": uid,
                        "secret": ring.encrypt(secret),
                        "is_enabled": True,
                        "created_at": now,
                        "updated_at": now,
                        "confirmed_at": now,
                        "last_used_step": old_step,
                        "failed_attempts": 0,
                    }
                    for uid, _, secret in people
                ],
            )
    finally:
        engine.dispose()
    return people


def pending_logins(server: LiveServer, people: list[tuple[str, str, str]], concurrency: int) -> list[HttpClient]:
    """Do the password step for each person over HTTP (not timed); return the waiting clients."""
    clients = [HttpClient.to(server) for _ in people]

    def task(i: int) -> Callable[[], int]:
        def login() -> int:
            reply = clients[i].login(people[i][1], PASSWORD)
            assert reply.status == 200 and reply.json()["twoFactorRequired"], reply.text
            return reply.status

        return login

    load = run_load([task(i) for i in range(len(people))], concurrency)
    assert load.statuses == Counter({200: len(people)}), load.statuses
    return clients


def validate_tasks(clients: list[HttpClient], people: list[tuple[str, str, str]]) -> list[Callable[[], int]]:
    def task(client: HttpClient, secret: str) -> Callable[[], int]:
        return lambda: client.post("/2fa/validate", {"code": pyotp.TOTP(secret).now()}).status

    return [task(client, person[2]) for client, person in zip(clients, people, strict=True)]


def bare_tasks(
    server: LiveServer, path: str, people: list[tuple[str, str, str]], count: int
) -> list[Callable[[], int]]:
    def task(uid: str) -> Callable[[], int]:
        client = HttpClient.to(server)  # one per task: a client is one connection, not thread-safe
        return lambda: client.get(f"{path}?id={uid}").status

    return [task(people[i % len(people)][0]) for i in range(count)]


def cpu_seconds() -> Counter[str]:
    """Return the CPU seconds used so far by each kind of process on the machine (Linux /proc)."""
    used: Counter[str] = Counter()
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if "gunicorn" in command:
            kind = "minimal app" if "bench.bare_app" in command else "demo app"
            if "bench.session_app" in command:
                kind = "host app"
        elif "postgres" in command:
            kind = "PostgreSQL"
        elif int(entry.name) == os.getpid():
            kind = "client"
        else:
            continue
        used[kind] += (int(fields[11]) + int(fields[12])) / ticks
    return used


def measured(tasks: list[Callable[[], int]], concurrency: int) -> tuple[Load, Counter[str]]:
    """Run a load; return it with the CPU milliseconds per request each kind of process spent."""
    before = cpu_seconds()
    load = run_load(tasks, concurrency)
    spent = cpu_seconds()
    spent.subtract(before)
    return load, Counter({kind: seconds * 1000 / load.count for kind, seconds in spent.items() if seconds > 0})


def bench_gunicorn(users: int, concurrency: int, workers: int) -> None:
    print(f"(a) gunicorn, {workers} workers, PostgreSQL, {concurrency} client threads", flush=True)
    warmup = 200
    server_options = {"workers": workers, "rate_limit": "1000000 per minute", "access_log": False}
    with live_server(REDIS_URL, app_spec="bench.host_app:app", **server_options) as server:
        people = seed_users(server.database_url, server.env["TWO_FACTOR_ENCRYPTION_KEYS"], users + warmup)
        with gunicorn(
            "bench.bare_app:app", server.env, server.database_url, workers, False, f"/bare?id={people[0][0]}"
        ) as minimal:
            started = time.perf_counter()
            clients = pending_logins(server, people, concurrency)
            print(f"  ({len(people)} password steps done in {time.perf_counter() - started:.1f} s, not timed)")
            run_load(bare_tasks(minimal, "/bare", people, warmup), concurrency)
            run_load(bare_tasks(server, "/bench/select", people, warmup), concurrency)
            run_load(validate_tasks(clients[:warmup], people[:warmup]), concurrency)

            # Interleaved, so a drift of the machine during the run touches every measure alike.
            alone_1 = measured(bare_tasks(minimal, "/bare", people, users), concurrency)
            in_app_1 = measured(bare_tasks(server, "/bench/select", people, users), concurrency)
            checked = measured(validate_tasks(clients[warmup:], people[warmup:]), concurrency)
            in_app_2 = measured(bare_tasks(server, "/bench/select", people, users), concurrency)
            alone_2 = measured(bare_tasks(minimal, "/bare", people, users), concurrency)

    for load, _ in (alone_1, in_app_1, in_app_2, alone_2):
        assert load.statuses == Counter({200: users}), load.statuses
    assert checked[0].statuses == Counter({200: users}), f"validate answered {checked[0].statuses}"

    def describe(load: Load, cpu: Counter[str]) -> str:
        split = ", ".join(
            f"{kind} {cpu[kind]:.1f}" for kind in ("demo app", "minimal app", "PostgreSQL", "client") if cpu[kind]
        )
        return f"{load.rate:.0f} req/s (p50 {ms(percentile(load.latencies, 0.5))}; CPU ms/request: {split})"

    add("POST /2fa/validate (TOTP, success), demo app", describe(*checked))
    rate = checked[0].rate
    for label, first, second in (
        ("bare SELECT in the same app and gunicorn", in_app_1, in_app_2),
        ("bare SELECT, minimal Flask app", alone_1, alone_2),
    ):
        add(f"{label}, 1st", describe(*first))
        add(f"{label}, 2nd", describe(*second))
        ratio = rate / ((first[0].rate + second[0].rate) / 2)
        add(f"validate / {label}", f"{ratio:.2f}x", "≥ 0.5x", ratio >= 0.5)


def bench_validate_split(batches: int, batch: int = 100) -> None:
    """In-process CPU per request on PostgreSQL: bare endpoint, validate, validate without the 2FA check.

    Batches of the three alternate in one process, so a drift of the machine touches each alike;
    the median batch is reported. "Without the 2FA check" replaces TwoFactorService.check_login by
    an instant success: what is left is what completing a login costs this host (session, CSRF,
    limiter, loading the user, Flask-Login), which no 2FA implementation can avoid.
    """
    print("(a) in-process split, PostgreSQL", flush=True)
    database_url = create_postgres_database()
    keys = Fernet.generate_key().decode()
    app = create_app(
        {
            "SECRET_KEY": "bench-" + keys,
            "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "TWO_FACTOR_ENCRYPTION_KEYS": keys,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "TWO_FACTOR_RATE_LIMIT": "1000000 per minute",
            "SESSION_COOKIE_SECURE": False,
        }
    )
    add_bare_select(app)
    try:
        with app.app_context():
            db.create_all()
        people = seed_users(database_url, keys, batches * 2 * batch + batch)
        bare = EnvironBuilder(path="/bench/select", query_string=f"id={people[0][0]}").get_environ()
        requests = [validate_environ(app, person) for person in people]

        def served(environ: dict[str, Any]) -> str:
            statuses: list[str] = []
            fresh = dict(environ, **{"wsgi.input": io.BytesIO(environ.get("_body", b""))})
            body = app.wsgi_app(fresh, lambda status, headers: statuses.append(status))
            b"".join(body)
            getattr(body, "close", lambda: None)()
            return statuses[0]

        def cpu_ms(environs: list[dict[str, Any]]) -> float:
            started = time.process_time()
            for environ in environs:
                status = served(environ)
                assert status.startswith("200"), status
            return (time.process_time() - started) * 1000 / len(environs)

        instant = mock.patch.object(TwoFactorService, "check_login", lambda *_: Result(Outcome.OK, method="totp"))
        cpu_ms(requests[:batch] + [bare] * batch)  # warm-up
        samples: dict[str, list[float]] = {"bare": [], "validate": [], "without": []}
        for i in range(batches):
            first = batch + 2 * i * batch
            samples["bare"].append(cpu_ms([bare] * batch))
            samples["validate"].append(cpu_ms(requests[first : first + batch]))
            with instant:
                samples["without"].append(cpu_ms(requests[first + batch : first + 2 * batch]))
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_postgres_database(database_url)
    bare_ms, full_ms, without_ms = (statistics.median(samples[k]) for k in ("bare", "validate", "without"))
    add("in-process CPU/request: bare SELECT in the demo app", f"{bare_ms:.2f} ms")
    add("in-process CPU/request: POST /2fa/validate", f"{full_ms:.2f} ms")
    add("in-process CPU/request: validate, 2FA check replaced by an instant yes", f"{without_ms:.2f} ms")
    add("  so the 2FA check itself costs", f"{full_ms - without_ms:.2f} ms")


def validate_environ(app: Any, person: tuple[str, str, str]) -> dict[str, Any]:
    """Return the WSGI environ of one person's POST /2fa/validate with a pending login and a code."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = CSRF_META.search(page)
    assert token
    with client.session_transaction() as session:
        session[PENDING_KEY] = {"user_id": person[0], "issued_at": int(time.time()), "next": None, "remember": False}
    cookie = client.get_cookie("session")
    assert cookie
    body = json.dumps({"code": pyotp.TOTP(person[2]).now()}).encode()
    environ = EnvironBuilder(
        path="/2fa/validate",
        method="POST",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-CSRFToken": token.group(1),
            "Cookie": f"session={cookie.value}",
        },
    ).get_environ()
    environ["_body"] = body
    return environ


# -- (f) the session check --------------------------------------------------------------------


def bench_session_check(sessions: int, requests: int, concurrency: int, workers: int, batches: int) -> None:
    """A signed-in host page with the product (its session record checked) vs the same page without it."""
    print(f"(f) the session check: gunicorn, {workers} workers, PostgreSQL, {concurrency} client threads", flush=True)
    database_url = create_postgres_database()
    keys = Fernet.generate_key().decode()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "SECRET_KEY": "bench-sessions-" + keys,
        "DATABASE_URL": database_url,
        "TWO_FACTOR_ENCRYPTION_KEYS": keys,
    }
    config = {
        "SECRET_KEY": env["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        "TWO_FACTOR_ENCRYPTION_KEYS": keys,
    }
    hosts = {"with": session_app.make_host(True, **config), "plain": session_app.make_host(False, **config)}
    ids = [str(uuid.uuid4()) for _ in range(sessions)]
    try:
        with hosts["with"].app_context():
            session_app.db.create_all()
            session_app.db.session.execute(
                insert(session_app.Person.__table__), [{"id": uid, "name": f"p{n}"} for n, uid in enumerate(ids)]
            )
            session_app.db.session.commit()
        with gunicorn("bench.session_app:make_app()", env, database_url, workers, False, "/ready") as server:
            loads = _session_loads(server, hosts["with"], ids, requests, concurrency)
        cpu = _session_cpu(hosts, ids[0], batches)
    finally:
        for host in hosts.values():
            with host.app_context():
                session_app.db.engine.dispose()
        drop_postgres_database(database_url)

    def describe(load: Load, spent: Counter[str]) -> str:
        split = ", ".join(f"{kind} {spent[kind]:.2f}" for kind in ("host app", "PostgreSQL", "client") if spent[kind])
        return f"{load.rate:.0f} req/s (p50 {ms(percentile(load.latencies, 0.5))}; CPU ms/request: {split})"

    for name, (load, spent) in loads.items():
        add(f"signed-in host page, {name}", describe(load, spent))
    plain = statistics.mean(loads[name][0].rate for name in ("without the product, 1st", "without the product, 2nd"))
    checked = statistics.mean(loads[name][0].rate for name in ("with the product, 1st", "with the product, 2nd"))
    ratio = checked / plain
    add("signed-in page with / without the product (throughput)", f"{ratio:.2f}x", "≥ 0.9x", ratio >= 0.9)
    add("in-process CPU/request: signed-in page without / with", f"{cpu['plain']:.2f} / {cpu['with']:.2f} ms")
    add("  so the session check costs", f"{cpu['with'] - cpu['plain']:.2f} ms ({cpu['plain'] / cpu['with']:.2f}x)")


def _session_loads(
    server: LiveServer, host: Any, ids: list[str], requests: int, concurrency: int
) -> dict[str, tuple[Load, Counter[str]]]:
    """Sign every user in on both hosts (not timed), then load each host's page in turn, interleaved.

    Before each run with the product, every session is marked seen now (no run lasts a minute), so
    the runs measure the check alone; a last run has every session due for its once-a-minute write.
    """
    signed_in: dict[str, list[dict[str, str]]] = {"with": [], "plain": []}
    for prefix, jars in signed_in.items():
        for uid in ids:
            client = HttpClient.to(server)
            assert client.post(f"/{prefix}/sign-in?id={uid}").status == 200
            jars.append(dict(client.cookies))

    def tasks(prefix: str) -> list[Callable[[], int]]:
        def task(cookies: dict[str, str]) -> Callable[[], int]:
            client = HttpClient(server.base_host, server.port, cookies=dict(cookies))  # one per task: not thread-safe
            return lambda: client.request("GET", f"/{prefix}/page", headers={"Accept": "text/html"}).status

        return [task(signed_in[prefix][i % len(ids)]) for i in range(requests)]

    def seen(ago: timedelta) -> None:
        with host.app_context():
            session_app.db.session.execute(update(TwoFactorSession).values(last_seen_at=datetime.now(UTC) - ago))
            session_app.db.session.commit()

    run_load(tasks("plain") + tasks("with"), concurrency)  # warm-up
    loads = {}
    for name, prefix in (
        ("without the product, 1st", "plain"),
        ("with the product, 1st", "with"),
        ("with the product, 2nd", "with"),
        ("without the product, 2nd", "plain"),
        (f"with the product, each of the {len(ids)} sessions writing last seen once", "with"),
    ):
        seen(timedelta(minutes=2) if "writing" in name else timedelta(0))
        loads[name] = measured(tasks(prefix), concurrency)
        assert loads[name][0].statuses == Counter({200: requests}), loads[name][0].statuses
    return loads


def _session_cpu(hosts: dict[str, Any], uid: str, batches: int, batch: int = 200) -> dict[str, float]:
    """Return the median in-process CPU milliseconds of one signed-in page request of each host."""
    environs = {}
    for name, host in hosts.items():
        client = host.test_client()
        assert client.post(f"/sign-in?id={uid}").status_code == 200
        cookie = client.get_cookie("with" if name == "with" else "plain")
        assert cookie is not None
        environs[name] = EnvironBuilder(path="/page", headers={"Cookie": f"{cookie.key}={cookie.value}"}).get_environ()

    def cpu_ms(name: str) -> float:
        statuses: list[str] = []
        started = time.process_time()
        for _ in range(batch):
            body = hosts[name].wsgi_app(dict(environs[name]), lambda status, headers: statuses.append(status))
            b"".join(body)
            getattr(body, "close", lambda: None)()
        spent = (time.process_time() - started) * 1000 / batch
        assert set(statuses) == {"200 OK"}, set(statuses)
        return spent

    cpu_ms("plain"), cpu_ms("with")  # warm-up
    samples: dict[str, list[float]] = {"plain": [], "with": []}
    for _ in range(batches):
        for name in samples:
            samples[name].append(cpu_ms(name))
    return {name: statistics.median(values) for name, values in samples.items()}


# -- in-process app ---------------------------------------------------------------------------


def in_process_app(database: Path, fast_sqlite: bool = False) -> tuple[Any, FrozenClock]:
    """The demo app on a SQLite file with the frozen test clock; the per-IP limit on, never reached."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TWO_FACTOR_ISSUER": "Bench",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "TWO_FACTOR_RATE_LIMIT": "1000000 per minute",
            "SESSION_COOKIE_SECURE": False,
        }
    )
    clock = FrozenClock()
    app.extensions["two_factor"].clock = clock
    with app.app_context():
        if fast_sqlite:
            # No fsync per commit: the memory run is about RSS, and 10^5 commits must fit in minutes.
            event.listen(db.engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
        db.drop_all()
        db.create_all()
    limiter.reset()
    return app, clock


class Browser:
    """A test client that speaks JSON with the CSRF token from the page, like tests.support.Api."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.token = ""
        self.secret = ""
        self.backup_codes: list[str] = []

    def refresh(self) -> None:
        page = self.client.get("/login").get_data(as_text=True)
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert match
        self.token = match.group(1)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(path, json=body or {}, headers={"X-CSRFToken": self.token, **headers})

    def register(self, name: str) -> None:
        self.refresh()
        assert self.post("/register", {"username": name, "password": PASSWORD}).status_code == 201
        self.refresh()

    def enable(self, clock: FrozenClock) -> None:
        self.secret = self.post("/2fa/setup").get_json()["secret"]
        response = self.post("/2fa/verify", {"code": totp_now(self.secret, clock)})
        assert response.status_code == 200
        self.backup_codes = response.get_json()["backupCodes"]
        clock.advance(30)


def timed(fn: Callable[[], Any], count: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def bench_setup_and_settings(workdir: Path, loops: int) -> None:
    print("(c, d) in-process, SQLite file", flush=True)
    app, clock = in_process_app(workdir / "pages.db")
    browser = Browser(app)
    browser.register("alice")

    def setup_json() -> None:
        assert browser.post("/2fa/setup").status_code == 200

    def setup_htmx() -> None:
        assert browser.post("/2fa/setup", None, **{"HX-Request": "true", "Accept": "text/html"}).status_code == 200

    samples = timed(setup_json, loops)
    p50 = statistics.median(samples)
    add(
        "POST /2fa/setup p50 (JSON, QR data URI)",
        f"{ms(p50)} (p90 {ms(percentile(samples, 0.9))})",
        "≤ 15 ms",
        p50 <= 0.015,
    )
    samples = timed(setup_htmx, loops)
    add("POST /2fa/setup p50 (htmx fragment)", f"{ms(statistics.median(samples))}")

    pending_page = timed(lambda: browser.client.get("/2fa/settings"), loops)
    browser.enable(clock)
    # Some history for the "recent activity" list: a wrong code, then logins.
    for _ in range(5):
        browser.post("/logout")
        browser.refresh()
        browser.post("/login", {"username": "alice", "password": PASSWORD})
        browser.refresh()
        browser.post("/2fa/validate", {"code": totp_now(browser.secret, clock)})
        browser.refresh()
        clock.advance(30)

    def settings() -> Any:
        response = browser.client.get("/2fa/settings")
        assert response.status_code == 200
        return response

    samples = timed(settings, loops)
    p50 = statistics.median(samples)
    add("GET /2fa/settings p50 (2FA on)", f"{ms(p50)} (p90 {ms(percentile(samples, 0.9))})", "≤ 10 ms", p50 <= 0.010)
    add("GET /2fa/settings p50 (setup pending: QR)", ms(statistics.median(pending_page)))

    page = settings().get_data()
    assets = re.findall(rb'<(?:script[^>]+src|link[^>]+href)="([^"]+)"', page)
    sizes = {"page": len(page)}
    for asset in assets:
        path = asset.decode()
        if path.startswith("/") and not path.startswith("//"):
            response = browser.client.get(path)
            if response.status_code == 200:
                sizes[path.rsplit("/", 1)[-1]] = len(response.get_data())
    total = sum(sizes.values())
    detail = ", ".join(f"{name} {size / 1024:.1f}" for name, size in sizes.items())
    add("settings page weight, all assets", f"{total / 1024:.1f} KB ({detail})", "≤ 80 KB", total <= 80 * 1024)


# -- (b) a wrong backup code ------------------------------------------------------------------


def bench_backup_codes(workdir: Path, loops: int) -> None:
    print("(b) a wrong backup code", flush=True)
    one_key = KeyRing(Fernet.generate_key().decode())
    two_keys = KeyRing([Fernet.generate_key().decode(), Fernet.generate_key().decode()])
    wrong = codes.new_code()

    def our_check(ring: KeyRing) -> Callable[[], Any]:
        def check() -> Any:
            code = parse_code(wrong)
            assert code is not None
            return [codes.keyed_hash(key.key, code.value) for key in ring.code_keys]

        return check

    for label, ring in (("1 key", one_key), ("2 keys, mid-rotation", two_keys)):
        samples = timed(our_check(ring), 20_000, warmup=1_000)
        per_check = statistics.median(samples)
        add(f"wrong backup code: parse + HMAC ({label})", f"{per_check * 1e6:.1f} µs", "≤ 1 ms", per_check <= 0.001)

    # The original design: 32-bit codes, bcrypt cost 10, compared one by one (a wrong code checks all 10).
    stored = [bcrypt.hashpw(f"{n:08X}".encode(), bcrypt.gensalt(10)) for n in range(10)]
    guess = b"DEADBEEF"
    bcrypt_samples = timed(lambda: [bcrypt.checkpw(guess, hashed) for hashed in stored], 3, warmup=0)
    add("wrong backup code: original 10 × bcrypt(10)", ms(statistics.median(bcrypt_samples)))

    # The whole request, in-process: 10 codes stored, then 100,000 more codes of other users.
    app, clock = in_process_app(workdir / "codes.db")
    browser = Browser(app)
    browser.register("bob")
    browser.enable(clock)
    browser.post("/logout")
    with app.app_context():
        user_id = db.session.scalar(text("SELECT id FROM users WHERE username = 'bob'"))

    def request() -> None:
        with app.app_context():
            db.session.execute(text("UPDATE two_factor_secrets SET failed_attempts = 0, last_failed_at = NULL"))
            db.session.commit()
        with browser.client.session_transaction() as session:
            session[PENDING_KEY] = {
                "user_id": user_id,
                "issued_at": int(clock.now.timestamp()),
                "next": None,
                "remember": False,
            }
        start = time.perf_counter()
        response = browser.post("/2fa/validate", {"code": wrong})
        elapsed.append(time.perf_counter() - start)
        assert response.status_code == 401, response.get_json()

    browser.refresh()
    elapsed: list[float] = []
    for _ in range(loops):
        request()
    small = statistics.median(elapsed[20:])
    now = datetime.now(UTC)
    with app.app_context():
        others = [
            {
                "id": str(uuid.uuid4()),
                "user_id": f"other-{n // 10}",
                "code_hash": f"{n:064x}",
                "key_id": "x",
                "created_at": now,
            }
            for n in range(100_000)
        ]
        db.session.execute(
            insert(TwoFactorSecret.__table__),
            [
                {
                    "id": str(uuid.uuid4()),
                    "user_id": f"other-{n}",
                    "secret": "x",
                    "is_enabled": True,
                    "created_at": now,
                    "updated_at": now,
                    "failed_attempts": 0,
                }
                for n in range(10_000)
            ],
        )
        db.session.execute(insert(TwoFactorBackupCode.__table__), others)
        db.session.commit()
    elapsed = []
    for _ in range(loops):
        request()
    large = statistics.median(elapsed[20:])
    add("wrong backup code, whole request p50 (10 codes in table)", ms(small))
    add("wrong backup code, whole request p50 (100,010 codes in table)", ms(large))


# -- (e) memory -------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bench_memory(workdir: Path, requests: int, sqlite_cache_kib: int | None = None) -> None:
    print(f"(e) RSS over {requests:,} in-process POST /2fa/validate", flush=True)
    app, clock = in_process_app(workdir / "memory.db", fast_sqlite=True)
    if sqlite_cache_kib is not None:
        with app.app_context():
            event.listen(db.engine, "connect", lambda conn, _: conn.execute(f"PRAGMA cache_size=-{sqlite_cache_kib}"))
            db.engine.dispose()
    browser = Browser(app)
    browser.register("carol")
    browser.enable(clock)
    browser.post("/logout")
    browser.refresh()
    with app.app_context():
        user_id = db.session.scalar(text("SELECT id FROM users WHERE username = 'carol'"))
    client, headers = browser.client, {"X-CSRFToken": browser.token}
    with client.session_transaction() as session:
        raw_token = session["csrf_token"]

    def pending() -> None:
        with client.session_transaction() as session:
            session.clear()
            session["csrf_token"] = raw_token
            session[PENDING_KEY] = {
                "user_id": user_id,
                "issued_at": int(clock.now.timestamp()),
                "next": None,
                "remember": False,
            }

    def cycle() -> Counter[int]:
        """Ten requests: one success, one wrong code, seven throttled, one malformed."""
        seen: Counter[int] = Counter()
        clock.advance(30)
        pending()
        code = totp_now(browser.secret, clock)
        seen[client.post("/2fa/validate", json={"code": code}, headers=headers).status_code] += 1
        pending()
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(8):
            seen[client.post("/2fa/validate", json={"code": wrong}, headers=headers).status_code] += 1
        seen[client.post("/2fa/validate", json={"code": "not a code"}, headers=headers).status_code] += 1
        return seen

    cycles = requests // 10
    statuses: Counter[int] = Counter()
    warmup = max(1, cycles // 20)
    marks: list[tuple[int, float, int]] = []
    started = time.perf_counter()
    for n in range(1, cycles + 1):
        statuses += cycle()
        if n == warmup or n % (cycles // 5) == 0:
            gc.collect()
            marks.append((n * 10, rss_mb(), sys.getallocatedblocks()))
    seconds = time.perf_counter() - started
    assert statuses == Counter({200: cycles, 401: cycles, 429: 7 * cycles, 400: cycles}), statuses
    rss_growth = marks[-1][1] - marks[0][1]
    block_growth = marks[-1][2] - marks[0][2]
    trail = ", ".join(f"{count // 1000}k: {mb:.1f}" for count, mb, _ in marks)
    blocks = ", ".join(f"{count // 1000}k: {n / 1000:.1f}k" for count, _, n in marks)
    label = f"RSS over {requests:,} validate requests, own process (MB)"
    if sqlite_cache_kib is not None:
        label += f", SQLite cache {sqlite_cache_kib} KiB"
    add(label, f"{trail}; growth after warm-up {rss_growth:+.1f} MB ({seconds:.0f} s)", "flat", rss_growth <= 5)
    add(
        "  Python heap: allocated blocks",
        f"{blocks}; growth {block_growth:+d} over {requests - marks[0][0]:,} requests",
        "flat",
        block_growth < (requests - marks[0][0]) // 100,  # < 1 block per 100 requests
    )


def _memory_child(requests: int, sqlite_cache_kib: int | None, rows: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        bench_memory(Path(tmp), requests, sqlite_cache_kib)
    rows.put(ROWS)


def bench_memory_in_own_process(requests: int, sqlite_cache_kib: int | None) -> None:
    """A fresh interpreter: memory freed by the other parts would hide growth in the RSS."""
    context = multiprocessing.get_context("spawn")
    rows = context.Queue()
    child = context.Process(target=_memory_child, args=(requests, sqlite_cache_kib, rows))
    child.start()
    ROWS.extend(rows.get())
    child.join()
    if child.exitcode:
        raise RuntimeError(f"the memory run failed ({child.exitcode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--users", type=int, default=None, help="validations measured (default 1500)")
    parser.add_argument("--requests", type=int, default=None, help="requests of the memory run (default 10^5)")
    parser.add_argument("--only", choices=["a", "b", "cd", "e", "f"], action="append", help="run only these parts")
    parser.add_argument("--sqlite-cache-kib", type=int, default=None, help="memory run: SQLite page cache size")
    args = parser.parse_args()
    users = args.users or (500 if args.quick else 1500)
    requests = args.requests or (10_000 if args.quick else 100_000)
    loops = 100 if args.quick else 300
    parts = set(args.only or ["a", "b", "cd", "e", "f"])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        if "a" in parts:
            bench_gunicorn(users, args.concurrency, args.workers)
            bench_validate_split(3 if args.quick else 6)
        if "b" in parts:
            bench_backup_codes(workdir, loops)
        if "cd" in parts:
            bench_setup_and_settings(workdir, loops)
        if "f" in parts:
            page_loads, cpu_batches = (1000, 5) if args.quick else (3000, 9)
            bench_session_check(200, page_loads, args.concurrency, args.workers, cpu_batches)
        if "e" in parts:
            bench_memory_in_own_process(requests, args.sqlite_cache_kib)
    print()
    width = max(len(row.name) for row in ROWS)
    vwidth = max(len(row.value) for row in ROWS)
    print(f"{'measure'.ljust(width)}  {'result'.ljust(vwidth)}  target    ")
    print(f"{'-' * width}  {'-' * vwidth}  ----------")
    for row in ROWS:
        verdict = "" if row.ok is None else ("ok" if row.ok else "MISSED")
        target = f"{row.target} {verdict}".strip()
        print(f"{row.name.ljust(width)}  {row.value.ljust(vwidth)}  {target}")
    cpus = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"\n(total {time.perf_counter() - started:.0f} s on {cpus} CPUs)")


if __name__ == "__main__":
    main()
