"""The demo app served by gunicorn on PostgreSQL (+ Redis for Flask-Limiter), and a stdlib HTTP client.

Used by tests/test_gunicorn_redis.py and bench/run.py. The client can bind a chosen loopback source
address (127.0.0.0/8 is all loopback on Linux), so one test can act as many different client IPs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet

from tests.support import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_redis(url: str) -> redis.Redis:
    """Return a client for ``url``'s database, flushed; raise (never skip) if Redis is unreachable."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis is required for these tests and is not reachable at {url}: {exc}") from exc
    client.flushdb()
    return client


def flask_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app wsgi ARGS`` in the project with ``env``; with ``check``, raise with its output if it fails."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class LiveServer:
    """A running gunicorn serving wsgi:app; ``log`` holds its stderr (access log with worker pids)."""

    base_host: str
    port: int
    database_url: str
    env: dict[str, str] = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self, path_prefix: str) -> set[str]:
        """Return the pids of the workers that served requests whose path starts with ``path_prefix``."""
        pids = set()
        for line in self.log().splitlines():
            match = re.match(r"ACCESS pid=<?(\d+)>? \"[A-Z]+ (\S+)", line)
            if match and match.group(2).startswith(path_prefix):
                pids.add(match.group(1))
        return pids


@contextlib.contextmanager
def gunicorn(
    app_spec: str,
    env: dict[str, str],
    database_url: str,
    workers: int = 2,
    access_log: bool = True,
    ready_path: str = "/login",
) -> Iterator[LiveServer]:
    """Serve ``app_spec`` (e.g. ``wsgi:app``) with gunicorn on a free port; stop it on exit."""
    log_file = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    process = None
    try:
        port = free_port()
        command = [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--graceful-timeout",
            "5",
        ]
        if access_log:
            command += ["--access-logfile", "-", "--access-logformat", 'ACCESS pid=%(p)s "%(r)s" %(s)s']
        process = subprocess.Popen([*command, app_spec], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        server = LiveServer("127.0.0.1", port, database_url, env, process, Path(log_file.name))
        _wait_ready(server, workers, ready_path)
        yield server
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)


@contextlib.contextmanager
def live_server(
    redis_url: str,
    workers: int = 2,
    rate_limit: str = "5 per minute",
    extra_env: dict[str, str] | None = None,
    access_log: bool = True,
    app_spec: str = "wsgi:app",
) -> Iterator[LiveServer]:
    """Create a fresh PostgreSQL database, migrate it with ``flask db upgrade``, serve ``app_spec`` with gunicorn."""
    require_redis(redis_url)
    database_url = create_postgres_database()
    try:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(ROOT)),
            "SECRET_KEY": "live-server-secret-key-" + Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "RATELIMIT_STORAGE_URI": redis_url,
            "FLASK_RATELIMIT_ENABLED": "true",
            "FLASK_TWO_FACTOR_RATE_LIMIT": rate_limit,
            "FLASK_SESSION_COOKIE_SECURE": "false",
            **(extra_env or {}),
        }
        flask_cli(env, "db", "upgrade")
        with gunicorn(app_spec, env, database_url, workers, access_log) as server:
            yield server
    finally:
        drop_postgres_database(database_url)


def _wait_ready(server: LiveServer, workers: int, path: str, limit: float = 60) -> None:
    """Wait until gunicorn answers and every worker has booted; raise if it dies or never comes up."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{server.log()}")
        booted = server.log().count("Booting worker with pid")
        try:
            with contextlib.closing(http.client.HTTPConnection(server.base_host, server.port, timeout=2)) as conn:
                conn.request("GET", path)
                if conn.getresponse().status == 200 and booted >= workers:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become ready in {limit} s:\n{server.log()}")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class HttpClient:
    """A browser-like JSON client: its own cookies, the CSRF token from the page, a chosen source IP.

    ``keep_alive`` reuses one connection; otherwise every request opens a new one (so requests of
    one client spread over gunicorn's workers).
    """

    host: str
    port: int
    source_ip: str = "127.0.0.1"
    keep_alive: bool = False
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""
    _conn: http.client.HTTPConnection | None = None

    @classmethod
    def to(cls, server: LiveServer, source_ip: str = "127.0.0.1", keep_alive: bool = False) -> HttpClient:
        return cls(server.base_host, server.port, source_ip, keep_alive)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(
                self.host, self.port, timeout=60, source_address=(self.source_ip, 0)
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if self.token:
            sent.setdefault("X-CSRFToken", self.token)
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = self._connection()
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.close()
            raise
        self.keep_cookies(response.headers.get_all("Set-Cookie") or [])
        if not self.keep_alive or response.will_close:
            self.close()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def keep_cookies(self, set_cookies: list[str]) -> None:
        """Store the cookies of ``Set-Cookie`` headers as a browser does; a cleared one is dropped."""
        for value in set_cookies:
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def refresh_token(self) -> str:
        page = self.request("GET", "/login", headers={"Accept": "text/html"})
        match = CSRF_META.search(page.text)
        assert match, f"no csrf-token meta on the login page ({page.status})"
        self.token = match.group(1)
        return self.token

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, {} if body is None else body)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def login(self, username: str, password: str) -> Reply:
        self.refresh_token()
        reply = self.post("/login", {"username": username, "password": password})
        self.refresh_token()
        return reply
