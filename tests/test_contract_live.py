"""DESIGN.md §6 over real HTTP, as a strict client reads it: gunicorn, PostgreSQL, Flask-Limiter on Redis.

The client knows only the contract. It reads the CSRF token from a page's ``<meta name="csrf-token">``
(again after login, 2FA validation and logout), computes TOTP codes with the real clock, as the server
does, and holds every reply it sees to S11: the CSP, nosniff, Referrer-Policy, ``no-store`` wherever a
secret or code it was shown appears, and an HttpOnly SameSite=Lax session cookie.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import psycopg
import pyotp
import pytest
import redis

from tests.live_server import CSRF_META, HttpClient, LiveServer, Reply, live_server
from tests.support import PASSWORD

pytestmark = pytest.mark.postgres

REDIS_URL = "redis://127.0.0.1:6379/12"  # dedicated to this module (13: gunicorn test, 14: bench); flushed
LIMIT = 20  # FLASK_TWO_FACTOR_RATE_LIMIT="20 per minute": each test has its own client IP
ISSUER = "Acme Labs"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSP = {"default-src": "'self'", "object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'"}
# Directives beyond S11's that may appear, and only this tight: the QR data URI, forms to this site.
CSP_TIGHTER = {"img-src": "'self' data:", "form-action": "'self'"}
PRIVATE_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
_addresses = itertools.count(1)
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    extra = {"FLASK_TWO_FACTOR_ISSUER": ISSUER}
    with live_server(REDIS_URL, workers=2, rate_limit=f"{LIMIT} per minute", extra_env=extra) as running:
        yield running
    redis.Redis.from_url(REDIS_URL).flushdb()


@dataclass
class Client(HttpClient):
    """A client of §6: JSON, htmx or plain forms; every reply it gets is held to S11."""

    shown: set[str] = field(default_factory=set)
    set_cookies: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, form: Any = None
    ) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        payload = None
        if body is not None:
            payload, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif form is not None:
            payload, sent["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        if self.token and not (form and "csrf_token" in form):  # a plain form carries its own
            sent.setdefault("X-CSRFToken", self.token)
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60, source_address=(self.source_ip, 0))
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            set_cookies = response.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()
        self.keep_cookies(set_cookies)
        self.set_cookies = set_cookies
        assert_security_headers(reply, set_cookies, self.shown)
        return reply

    def page(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        """GET ``path`` as a browser does."""
        return self.request("GET", path, headers={"Accept": BROWSER_ACCEPT, **(headers or {})})

    def read_token(self, path: str = "/login") -> str:
        """Read the CSRF token from the page's meta tag, as §6 tells JSON clients to."""
        reply = self.page(path)
        match = CSRF_META.search(reply.text)
        assert reply.status == 200 and match, f"no csrf-token meta on {path} ({reply.status})"
        self.token = match.group(1)
        return self.token

    def submit(self, path: str, fields: dict[str, str] | None = None) -> Reply:
        """POST a form the way a browser without JavaScript does: token in the form, HTML wanted."""
        form = {"csrf_token": self.token, **(fields or {})}
        return self.request("POST", path, headers={"Accept": BROWSER_ACCEPT}, form=form)

    def htmx(self, method: str, path: str, fields: dict[str, str] | None = None) -> Reply:
        """Send what htmx sends: HX-Request, the token from hx-headers, a form-encoded body."""
        headers = {"Accept": "*/*", "HX-Request": "true"}
        reply = self.request(method, path, headers=headers, form=fields if method == "POST" else None)
        # Whatever the answer (fragment, HX-Redirect, refusal), it differs from the one without htmx.
        assert "hx-request" in reply.headers.get("vary", "").lower(), (path, reply.headers)
        return reply

    def saw(self, *values: str) -> None:
        """Remember secrets and codes: any reply that shows one again must be no-store."""
        self.shown.update(values)

    def saw_secret(self, secret: str) -> None:
        """Remember a secret as JSON gives it and as a page shows it (in groups of four)."""
        self.saw(secret, " ".join(secret[i : i + 4] for i in range(0, 16, 4)))


def assert_security_headers(reply: Reply, set_cookies: list[str], shown: set[str]) -> None:
    """S11 on one reply (and §5 S14's "never a 500")."""
    assert reply.status < 500, reply.text
    policy = reply.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert {name: directives.get(name) for name in CSP} == CSP
    assert {name: value for name, value in directives.items() if name not in CSP}.items() <= CSP_TIGHTER.items()
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] in PRIVATE_REFERRER
    if any(value in reply.text for value in shown):
        assert "no-store" in reply.headers.get("cache-control", ""), "a secret or code was shown without no-store"
    for cookie in set_cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes and "samesite=lax" in attributes, cookie


# -- helpers -------------------------------------------------------------------------------------


def new_client(server: LiveServer) -> Client:
    """Return a client with a loopback address of its own (its own per-IP budget)."""
    number = next(_addresses)
    return Client.to(server, f"127.0.{40 + number // 250}.{1 + number % 250}")


def new_name() -> str:
    """Return a user name no other test (nor an earlier run on a reused database) has taken."""
    return f"user{next(_names)}_{int(time.time() * 1000) % 10**8}"


def register(client: Client) -> str:
    """Register a new user over JSON, logged in, and read the new session's token; return the name."""
    name = new_name()
    client.read_token("/register")
    reply = client.post("/register", {"username": name, "password": PASSWORD})
    assert reply.status == 201 and reply.json() == {"ok": True}, reply.text
    client.read_token("/2fa/settings")
    return name


def code_for(secret: str, steps_ahead: int = 0) -> str:
    """Return the code an authenticator app shows now (or ``steps_ahead`` steps later)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def wrong_code(secret: str) -> str:
    """Return a well-formed code that matches no step near now."""
    near = {code_for(secret, offset) for offset in range(-2, 3)}
    return next(code for code in (f"{n:06d}" for n in range(10**6)) if code not in near)


def clear_of_step_boundary(margin: float = 2.0) -> None:
    """Wait for the next 30 s step if this one ends within ``margin`` seconds."""
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


def set_up(client: Client) -> str:
    """Start a setup over JSON; return the secret."""
    reply = client.post("/2fa/setup")
    assert reply.status == 200, reply.text
    secret = reply.json()["secret"]
    client.saw_secret(secret)
    return secret


def shown_secret(client: Client, reply: Reply) -> str:
    """Return the setup key a page or fragment shows (grouped in fours, for typing by hand)."""
    shown = re.search(r'id="tf-secret"[^>]*>(.*?)</code>', reply.text, re.S)
    assert shown, reply.text
    secret = re.sub(r"<[^>]+>|\s", "", shown.group(1))
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    client.saw_secret(secret)
    return secret


def shown_codes(client: Client, reply: Reply) -> list[str]:
    """Return the ten backup codes a page or fragment shows."""
    codes = re.findall(r"<code>([0-9A-Z]{4}(?:-[0-9A-Z]{4}){5})</code>", reply.text)
    assert len(set(codes)) == 10, reply.text
    client.saw(*codes)
    return codes


def enable(client: Client) -> tuple[str, list[str]]:
    """Turn 2FA on over JSON with the current step's code; return the secret and the backup codes."""
    secret = set_up(client)
    clear_of_step_boundary()
    reply = client.post("/2fa/verify", {"code": code_for(secret)})
    assert reply.status == 200, reply.text
    codes = reply.json()["backupCodes"]
    client.saw(*codes)
    return secret, codes


def start_login(client: Client, name: str, path: str = "/login") -> None:
    """Do the password step for a user with 2FA on; read the token from the challenge page."""
    client.read_token("/login")
    reply = client.post(path, {"username": name, "password": PASSWORD})
    assert reply.status == 200 and reply.json() == {"ok": True, "twoFactorRequired": True}, reply.text
    client.read_token("/2fa/challenge")


def awaiting_code(server: LiveServer, path: str = "/login") -> tuple[Client, str, tuple[str, list[str]]]:
    """A new user with 2FA on, signed out, then through the password step: client, name, (secret, codes)."""
    client = new_client(server)
    name = register(client)
    enabled = enable(client)
    log_out(client)
    start_login(client, name, path)
    return client, name, enabled


def log_out(client: Client) -> None:
    assert client.post("/logout").status < 400
    client.read_token("/login")


def status(client: Client) -> dict[str, Any]:
    reply = client.get("/2fa/status")
    assert reply.status == 200, reply.text
    return reply.json()


def assert_error(reply: Reply, code: int) -> str:
    """Assert a JSON failure of §6: this status and exactly {"error": message}; return the message."""
    assert reply.status == code, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return body["error"]


def assert_too_many(reply: Reply) -> int:
    """Assert the 429 of §6 exactly: the worded wait, retryAfter, and a Retry-After header; return N."""
    assert reply.status == 429, reply.text
    body = reply.json()
    wait = body.get("retryAfter")
    assert isinstance(wait, int) and wait >= 1, body
    unit = "second" if wait == 1 else "seconds"
    assert body == {"error": f"Too many attempts. Wait {wait} {unit}, then try again.", "retryAfter": wait}
    assert reply.headers["retry-after"] == str(wait)
    return wait


def assert_refused_code(reply: Reply, code: int = 401) -> None:
    """Assert validate's refusal: exactly {"valid": false, "required": true, "error": message}."""
    assert reply.status == code, reply.text
    body = reply.json()
    assert set(body) == {"valid", "required", "error"} and body["valid"] is False and body["required"] is True
    assert isinstance(body["error"], str) and body["error"]


def assert_redirect_to_login(reply: Reply) -> None:
    assert reply.status in (302, 303), reply.status
    assert urlsplit(reply.headers["location"]).path == "/login"


def assert_fragment(reply: Reply, root_id: str, code: int = 200) -> None:
    """Assert an htmx fragment: HTML with one root element ``root_id``, not a page; Vary: HX-Request."""
    assert reply.status == code, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text.lstrip().startswith(f'<div id="{root_id}"'), reply.text[:200]
    assert "<html" not in reply.text.lower()
    assert "hx-request" in reply.headers.get("vary", "").lower()


def assert_page(reply: Reply, code: int = 200) -> None:
    """Assert a full HTML page that a JSON client could read the token from."""
    assert reply.status == code, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text.lstrip().lower().startswith("<!doctype html") and CSRF_META.search(reply.text)


def assert_see_other(reply: Reply, path: str) -> None:
    assert reply.status == 303, reply.text
    assert urlsplit(reply.headers["location"]).path == path


def psql(server: LiveServer) -> psycopg.Connection:
    return psycopg.connect(server.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


# -- the demo host: register, log in, log out ----------------------------------------------------


def test_register_answers_201_and_the_new_user_is_logged_in(server: LiveServer) -> None:
    client = new_client(server)
    assert_error(client.get("/2fa/status"), 401)
    client.read_token("/register")
    reply = client.post("/register", {"username": new_name(), "password": PASSWORD})
    assert reply.status == 201 and reply.json() == {"ok": True}
    assert [cookie for cookie in client.set_cookies if cookie.startswith("session=")], client.set_cookies
    client.read_token("/2fa/settings")
    assert status(client) == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x", "password": PASSWORD},
        {"username": "has space", "password": PASSWORD},
        {"username": "valid_name", "password": "short"},
        {"username": "valid_name"},
        {"username": ["valid_name"], "password": PASSWORD},
        {"username": "valid_name", "password": 12345678},
    ],
)
def test_register_refuses_invalid_input_with_400(server: LiveServer, body: dict[str, Any]) -> None:
    client = new_client(server)
    client.read_token("/register")
    assert_error(client.post("/register", body), 400)


def test_register_refuses_a_taken_name_with_409(server: LiveServer) -> None:
    name = register(new_client(server))
    other = new_client(server)
    other.read_token("/register")
    assert_error(other.post("/register", {"username": name, "password": PASSWORD}), 409)


def test_login_answers_ok_and_whether_a_code_is_required(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    log_out(client)
    assert_error(client.post("/login", {"username": name, "password": "not the password"}), 401)
    assert_error(client.post("/login", {"username": "nobody_here", "password": PASSWORD}), 401)
    reply = client.post("/login", {"username": name, "password": PASSWORD})
    assert reply.status == 200 and reply.json() == {"ok": True, "twoFactorRequired": False}
    client.read_token("/")
    assert status(client)["enabled"] is False


# -- S10: the CSRF token -------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    client.token = ""
    assert_error(client.post("/2fa/setup"), 400)
    assert_error(client.post("/logout"), 400)
    assert status(client) == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


def test_the_token_is_read_again_after_login_validation_and_logout(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    secret, _ = enable(client)
    before_logout = client.token
    log_out(client)
    assert client.token != before_logout
    stale = client.token
    reply = client.post("/login", {"username": name, "password": PASSWORD})
    assert reply.json()["twoFactorRequired"] is True
    client.token = stale
    assert_error(client.post("/2fa/validate", {"code": code_for(secret, 1)}), 400)
    pending_token = client.read_token("/2fa/challenge")
    assert client.post("/2fa/validate", {"code": code_for(secret, 1)}).status == 200
    assert_error(client.post("/logout"), 400)  # still the token of the pending session
    client.read_token("/2fa/settings")
    assert client.token != pending_token
    logged_in = client.token
    assert client.post("/logout").status == 200
    client.token = logged_in
    assert_error(client.post("/login", {"username": name, "password": PASSWORD}), 400)


# -- not logged in -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/2fa/setup", "/2fa/verify", "/2fa/disable", "/2fa/backup-codes"])
def test_json_post_not_logged_in_gets_401_error(server: LiveServer, path: str) -> None:
    client = new_client(server)
    client.read_token()
    assert_error(client.post(path, {"code": "123456", "password": PASSWORD}), 401)


@pytest.mark.parametrize("path", ["/2fa/status", "/2fa/settings", "/2fa/challenge"])
def test_json_get_not_logged_in_gets_401_error(server: LiveServer, path: str) -> None:
    assert_error(new_client(server).get(path), 401)


@pytest.mark.parametrize("path", ["/2fa/setup", "/2fa/verify", "/2fa/disable", "/2fa/backup-codes"])
def test_form_post_not_logged_in_is_sent_to_the_login_page(server: LiveServer, path: str) -> None:
    client = new_client(server)
    client.read_token()
    assert_redirect_to_login(client.submit(path, {"code": "123456", "password": PASSWORD}))


@pytest.mark.parametrize("path", ["/2fa/settings", "/2fa/status", "/2fa/challenge", "/"])
def test_browser_not_logged_in_is_sent_to_the_login_page(server: LiveServer, path: str) -> None:
    assert_redirect_to_login(new_client(server).page(path))


def test_htmx_not_logged_in_is_sent_to_the_login_page(server: LiveServer) -> None:
    reply = new_client(server).htmx("GET", "/2fa/status")
    assert reply.status == 200 and urlsplit(reply.headers["hx-redirect"]).path == "/login"


# -- /2fa/status, /2fa/setup, /2fa/verify --------------------------------------------------------


def test_setup_answers_qr_secret_and_otpauth_uri(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    reply = client.post("/2fa/setup")
    body = reply.json()
    assert reply.status == 200 and set(body) == {"qrCode", "secret", "otpauthUri"}
    assert "no-store" in reply.headers["cache-control"]
    secret = body["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    issuer = quote(ISSUER)
    assert body["otpauthUri"] == f"otpauth://totp/{issuer}:{quote(name)}?secret={secret}&issuer={issuer}"
    assert_svg_data_uri(body["qrCode"])
    assert status(client) == {"enabled": False, "pending": True, "backupCodesRemaining": 0}
    again = client.post("/2fa/setup").json()
    assert again["secret"] != secret and again["otpauthUri"].startswith(f"otpauth://totp/{issuer}:")


def assert_svg_data_uri(uri: str) -> None:
    """Assert ``uri`` is a data URI whose content is an SVG image."""
    header, _, data = uri.partition(",")
    assert header.startswith("data:image/svg+xml") and data
    content = base64.b64decode(data).decode() if header.endswith(";base64") else unquote(data)
    assert "<svg" in content


def test_verify_refusals_then_success(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    assert "Set up" in assert_error(client.post("/2fa/verify", {"code": "123456"}), 400)
    secret = set_up(client)
    assert_error(client.post("/2fa/verify", {"code": "12345"}), 400)
    assert_error(client.post("/2fa/verify", {"code": wrong_code(secret)}), 400)
    clear_of_step_boundary()
    reply = client.post("/2fa/verify", {"code": code_for(secret)})  # a typo costs no wait
    body = reply.json()
    assert reply.status == 200 and set(body) == {"success", "message", "backupCodes"}, body
    assert body["success"] is True and isinstance(body["message"], str) and body["message"]
    assert len(set(body["backupCodes"])) == 10 and all(isinstance(code, str) for code in body["backupCodes"])
    assert "no-store" in reply.headers["cache-control"]
    assert status(client) == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    assert "already enabled" in assert_error(client.post("/2fa/setup"), 400)
    assert_error(client.post("/2fa/verify", {"code": code_for(secret, 1)}), 400)


# -- /2fa/challenge and /2fa/validate ------------------------------------------------------------


def test_login_challenge_over_json(server: LiveServer) -> None:
    client, _, (secret, _) = awaiting_code(server)
    assert_error(client.get("/2fa/status"), 401)  # nothing protected while the code is awaited
    assert_redirect_to_login(client.page("/"))
    assert_redirect_to_login(client.page("/2fa/settings"))
    assert_refused_code(client.post("/2fa/validate", {"code": "12345"}), 400)
    assert_refused_code(client.post("/2fa/validate", {"code": wrong_code(secret)}))
    # A typo costs no wait: the step after the one that enabled signs in at once.
    reply = client.post("/2fa/validate", {"code": code_for(secret, 1)})
    assert reply.status == 200 and reply.json() == {"valid": True, "required": True, "redirect": "/"}
    client.read_token("/2fa/settings")
    assert status(client) == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    assert_refused_code(client.post("/2fa/validate", {"code": code_for(secret, 1)}))  # no login is pending


def test_the_fourth_wrong_code_in_a_row_waits_one_second(server: LiveServer) -> None:
    client, _, (secret, _) = awaiting_code(server)
    for _ in range(4):
        assert_refused_code(client.post("/2fa/validate", {"code": wrong_code(secret)}))
    assert assert_too_many(client.post("/2fa/validate", {"code": code_for(secret, 1)})) == 1
    time.sleep(1)
    assert client.post("/2fa/validate", {"code": code_for(secret, 1)}).status == 200


def test_validate_without_a_pending_login_is_401(server: LiveServer) -> None:
    client = new_client(server)
    client.read_token()
    assert_refused_code(client.post("/2fa/validate", {"code": "123456"}))


def test_a_backup_code_signs_in_once(server: LiveServer) -> None:
    client, name, (_, codes) = awaiting_code(server)
    reply = client.post("/2fa/validate", {"code": codes[0].lower().replace("-", " ")})
    assert reply.status == 200 and reply.json()["valid"] is True
    client.read_token("/2fa/settings")
    assert status(client)["backupCodesRemaining"] == 9
    log_out(client)
    start_login(client, name)
    assert_refused_code(client.post("/2fa/validate", {"code": codes[0]}))


@pytest.mark.parametrize(("next_url", "redirect"), [("/2fa/settings", "/2fa/settings"), ("//evil.example/", "/")])
def test_next_is_honoured_only_for_same_site_paths(server: LiveServer, next_url: str, redirect: str) -> None:
    client, _, (_, codes) = awaiting_code(server, "/login?" + urlencode({"next": next_url}))
    reply = client.post("/2fa/validate", {"code": codes[0]})
    assert reply.status == 200 and reply.json()["redirect"] == redirect


def test_a_locked_second_factor_answers_429_locked(server: LiveServer) -> None:
    client, name, (secret, _) = awaiting_code(server)
    with psql(server) as conn:  # 99 failures whose wait is long over: the next failure is the 100th
        conn.execute(
            "UPDATE two_factor_secrets SET failed_attempts = 99, "
            "last_failed_at = (now() AT TIME ZONE 'utc') - interval '2 days' "
            "WHERE user_id = (SELECT id FROM users WHERE username = %s)",
            (name,),
        )
    for code in (wrong_code(secret), code_for(secret, 1)):
        reply = client.post("/2fa/validate", {"code": code})
        body = reply.json()
        # Locked until an administrator resets it: no wait to announce, so no retryAfter nor Retry-After.
        assert reply.status == 429 and set(body) == {"error", "locked"} and body["locked"] is True, body
        assert "administrator" in body["error"] and "retry-after" not in reply.headers


# -- /2fa/disable and /2fa/backup-codes ----------------------------------------------------------


def test_disable_refusals_then_success(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    assert "not enabled" in assert_error(client.post("/2fa/disable", {"password": PASSWORD, "code": "123456"}), 400)
    _, codes = enable(client)
    assert_error(client.post("/2fa/disable", {"code": codes[0]}), 400)
    assert_error(client.post("/2fa/disable", {"password": PASSWORD, "code": "abc"}), 400)
    assert_error(client.post("/2fa/disable", {"password": "not the password", "code": codes[0]}), 400)
    reply = client.post("/2fa/disable", {"password": PASSWORD, "code": codes[0]})  # not used up by the wrong password
    body = reply.json()
    assert reply.status == 200 and set(body) == {"success", "message"} and body["success"] is True, body
    assert isinstance(body["message"], str) and body["message"]
    assert status(client) == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


def test_regenerate_refusals_then_success(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    assert_error(client.post("/2fa/backup-codes", {"password": PASSWORD, "code": "123456"}), 400)
    secret, old_codes = enable(client)
    assert_error(client.post("/2fa/backup-codes", {"password": PASSWORD, "code": wrong_code(secret)}), 400)
    reply = client.post("/2fa/backup-codes", {"password": PASSWORD, "code": code_for(secret, 1)})
    body = reply.json()
    assert reply.status == 200 and set(body) == {"backupCodes"} and len(set(body["backupCodes"])) == 10, body
    assert "no-store" in reply.headers["cache-control"]
    assert not set(body["backupCodes"]) & set(old_codes)
    assert status(client) == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    assert_error(client.post("/2fa/backup-codes", {"password": PASSWORD, "code": old_codes[1]}), 400)


# -- S6: the per-IP limit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status_before"),
    [
        ("/2fa/validate", {"code": "123456"}, 401),
        ("/login", ["not", "an", "object"], 400),
        ("/register", {"username": "x", "password": "y"}, 400),
    ],
)
def test_per_ip_limit_answers_429_with_retry_after(
    server: LiveServer, path: str, body: dict[str, str], status_before: int
) -> None:
    client = new_client(server)
    client.read_token()
    assert [client.post(path, body).status for _ in range(LIMIT)] == [status_before] * LIMIT
    assert_too_many(client.post(path, body))


# -- S14: input that cannot be a code or a password ----------------------------------------------

BAD_CODES = ["", "abc", "12345", "1234567", "1" * 10_000, "12\x003456", "١٢٣٤٥٦", 123456, None, ["123456"], {"a": 1}]


def test_bad_codes_at_validate_are_400_and_do_not_count(server: LiveServer) -> None:
    client, _, (secret, _) = awaiting_code(server)
    for bad in BAD_CODES:
        assert_refused_code(client.post("/2fa/validate", {"code": bad}), 400)
    assert_refused_code(client.post("/2fa/validate", ["123456"]), 400)
    assert client.post("/2fa/validate", {"code": code_for(secret, 1)}).status == 200  # none was counted


def test_bad_input_at_disable_is_400_and_changes_nothing(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    _, codes = enable(client)
    for bad in [*BAD_CODES[:7], 123456, None, ["x"]]:
        assert_error(client.post("/2fa/disable", {"password": PASSWORD, "code": bad}), 400)
    for password in ["", "p" * 10_000, "pass\x00word", 12345678]:
        assert_error(client.post("/2fa/disable", {"password": password, "code": codes[0]}), 400)
    assert_error(client.post("/2fa/disable", "not an object"), 400)
    assert status(client) == {"enabled": True, "pending": False, "backupCodesRemaining": 10}


def test_bad_codes_at_verify_are_400_and_change_nothing(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    secret = set_up(client)
    for bad in [*BAD_CODES, "ABCD-EFGH-JKMN-PQRS"]:  # a backup code cannot confirm setup
        assert_error(client.post("/2fa/verify", {"code": bad}), 400)
    assert status(client) == {"enabled": False, "pending": True, "backupCodesRemaining": 0}
    clear_of_step_boundary()
    assert client.post("/2fa/verify", {"code": code_for(secret)}).status == 200


# -- response forms: htmx fragments, plain forms, Accept ----------------------------------------


def test_htmx_gets_fragments_on_the_settings_page(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    assert_fragment(client.htmx("GET", "/2fa/status"), "tf-status")
    assert_fragment(client.htmx("GET", "/2fa/settings"), "tf-status")
    setup = client.htmx("POST", "/2fa/setup")
    assert_fragment(setup, "tf-setup")
    assert "no-store" in setup.headers["cache-control"]
    secret = shown_secret(client, setup)
    assert_fragment(client.htmx("GET", "/2fa/settings"), "tf-setup")
    assert_fragment(client.htmx("POST", "/2fa/verify", {"code": wrong_code(secret)}), "tf-setup", 400)
    clear_of_step_boundary()
    codes_panel = client.htmx("POST", "/2fa/verify", {"code": code_for(secret)})
    assert_fragment(codes_panel, "tf-codes")
    assert "no-store" in codes_panel.headers["cache-control"]
    codes = shown_codes(client, codes_panel)
    regenerated = client.htmx("POST", "/2fa/backup-codes", {"password": PASSWORD, "code": codes[0]})
    assert_fragment(regenerated, "tf-codes")
    assert "no-store" in regenerated.headers["cache-control"]
    new_codes = shown_codes(client, regenerated)
    assert_fragment(client.htmx("POST", "/2fa/disable", {"password": PASSWORD, "code": new_codes[0]}), "tf-status")
    assert status(client) == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


def test_htmx_login_challenge(server: LiveServer) -> None:
    client, _, (secret, _) = awaiting_code(server)
    assert_fragment(client.htmx("GET", "/2fa/challenge"), "tf-challenge")
    for _ in range(4):
        assert_fragment(client.htmx("POST", "/2fa/validate", {"code": wrong_code(secret)}), "tf-challenge", 401)
    throttled = client.htmx("POST", "/2fa/validate", {"code": code_for(secret, 1)})
    assert_fragment(throttled, "tf-challenge", 429)
    # The fragment keeps the typed code and carries the wait for the countdown.
    assert f'value="{code_for(secret, 1)}"' in throttled.text and 'data-retry-after="1"' in throttled.text
    time.sleep(int(throttled.headers["retry-after"]))
    done = client.htmx("POST", "/2fa/validate", {"code": code_for(secret, 1)})
    assert done.status == 200 and done.headers["hx-redirect"] == "/"


def test_forms_without_javascript(server: LiveServer) -> None:
    client = new_client(server)
    client.read_token("/register")
    assert_see_other(client.submit("/register", {"username": new_name(), "password": PASSWORD}), "/2fa/settings")
    client.read_token("/2fa/settings")
    assert_see_other(client.submit("/2fa/setup"), "/2fa/settings")
    page = client.page("/2fa/settings")
    assert_page(page)
    secret = shown_secret(client, page)
    assert "no-store" in page.headers["cache-control"]
    clear_of_step_boundary()
    verified = client.submit("/2fa/verify", {"code": code_for(secret)})
    assert_page(verified)
    assert "no-store" in verified.headers["cache-control"]
    codes = shown_codes(client, verified)
    regenerated = client.submit("/2fa/backup-codes", {"password": PASSWORD, "code": codes[0]})
    assert_page(regenerated)
    assert "no-store" in regenerated.headers["cache-control"]
    new_codes = shown_codes(client, regenerated)
    assert not set(new_codes) & set(codes)
    assert_see_other(client.submit("/2fa/disable", {"password": PASSWORD, "code": new_codes[0]}), "/2fa/settings")
    assert_see_other(client.submit("/logout"), "/login")


def test_login_challenge_without_javascript(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    secret, _ = enable(client)
    log_out(client)
    assert_see_other(client.submit("/login", {"username": name, "password": PASSWORD}), "/2fa/challenge")
    client.read_token("/2fa/challenge")
    for _ in range(4):
        assert_page(client.submit("/2fa/validate", {"code": wrong_code(secret)}), 401)
    throttled = client.submit("/2fa/validate", {"code": code_for(secret, 1)})
    assert_page(throttled, 429)
    assert "Wait 1 second, then try again." in throttled.text
    time.sleep(int(throttled.headers["retry-after"]))
    assert_see_other(client.submit("/2fa/validate", {"code": code_for(secret, 1)}), "/")
    assert_page(client.page("/"))


def test_a_browser_gets_pages(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    for path in ("/2fa/status", "/2fa/settings", "/"):
        assert_page(client.page(path))


def test_accept_json_with_a_form_body_gets_json(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    reply = client.request("POST", "/2fa/setup", form={"csrf_token": client.token})
    assert reply.status == 200 and set(reply.json()) == {"qrCode", "secret", "otpauthUri"}
    client.saw_secret(reply.json()["secret"])


def test_a_json_body_gets_json_whatever_the_accept_header(server: LiveServer) -> None:
    client = new_client(server)
    register(client)
    reply = client.request("POST", "/2fa/setup", {}, headers={"Accept": "*/*"})  # fetch()'s default
    assert reply.status == 200 and set(reply.json()) == {"qrCode", "secret", "otpauthUri"}
    client.saw_secret(reply.json()["secret"])


def test_error_pages_carry_the_security_headers(server: LiveServer) -> None:
    client = new_client(server)
    assert client.page("/no-such-page").status == 404
    assert client.page("/2fa/validate").status == 405
    assert client.get("/2fa/no-such-route").status == 404


# -- sessions (§6b, S17) -----------------------------------------------------------------------------


def sign_in_again(server: LiveServer, name: str, remember: bool = False) -> Client:
    """Return another client (another browser) where ``name``, without 2FA, signed in with the password."""
    other = new_client(server)
    other.read_token("/login")
    reply = other.post("/login", {"username": name, "password": PASSWORD, "remember": remember})
    assert reply.status == 200 and reply.json() == {"ok": True, "twoFactorRequired": False}, reply.text
    other.read_token("/2fa/settings")
    return other


def test_sessions_are_listed_and_signed_out_over_json_htmx_and_forms(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    other = sign_in_again(server, name)
    listed = client.get("/2fa/sessions").json()
    assert set(listed) == {"sessions", "browsers"} and listed["browsers"] == []
    assert [item["current"] for item in listed["sessions"]] == [True, False]
    for item in listed["sessions"]:
        assert set(item) == {"id", "current", "createdAt", "lastSeenAt", "ipAddress", "browser", "method"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["createdAt"]) and item["method"] == "password"
    assert listed["sessions"][1]["ipAddress"] == other.source_ip
    assert_fragment(client.htmx("GET", "/2fa/sessions"), "tf-sessions")
    assert_fragment(client.htmx("POST", f"/2fa/sessions/{listed['sessions'][1]['id']}/revoke"), "tf-sessions")
    assert_error(other.get("/2fa/status"), 401)
    assert_error(client.post(f"/2fa/sessions/{listed['sessions'][1]['id']}/revoke"), 404)

    other = sign_in_again(server, name)
    assert_see_other(client.submit("/2fa/sessions/revoke-others"), "/2fa/settings")
    assert "Signed out everywhere else (1 session)." in client.page("/2fa/settings").text
    assert_error(other.get("/2fa/status"), 401)
    assert client.post("/2fa/sessions/revoke-others").json() == {"success": True, "revoked": 0}


def test_remember_me_cookies_are_set_together_and_deleted_at_logout(server: LiveServer) -> None:
    client = new_client(server)
    name = register(client)
    log_out(client)
    remembered = sign_in_again(server, name, remember=True)
    assert {"remember_token", "two_factor_session"} <= set(remembered.cookies)
    kept = dict(remembered.cookies)
    log_out(remembered)
    assert not {"remember_token", "two_factor_session"} & set(remembered.cookies)
    thief = new_client(server)
    thief.cookies = {name: value for name, value in kept.items() if name != "session"}
    assert_error(thief.get("/2fa/status"), 401)
