"""The demo host's sign-in: the same work for every name, a password cap, a per-account limit, headers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response
from sqlalchemy import event

from app.extensions import db
from app.models import User, passwords
from app.two_factor.refusals import too_many
from app.two_factor.responses import add_security_headers
from tests.support import PASSWORD, Api

MARK = "Zq7!"
TOO_LONG = MARK * 1250  # 5,000 characters: over the 1,024 cap, and over passlib's own 4,096
TOO_LONG_ERROR = {"error": "That password is too long."}
WRONG = {"error": "The name or password is not correct."}
NOT_IT = "not the password"
LIMITS_ON = {"RATELIMIT_ENABLED": True, "TWO_FACTOR_RATE_LIMIT": "1000 per minute"}
limits_on = pytest.mark.parametrize("config_overrides", [LIMITS_ON], ids=["limits-on"])


@dataclass
class Work:
    """What the server did for one request: the hash parameters it verified, and its SQL statements."""

    verified: list[str] = field(default_factory=list)
    queries: int = 0


@pytest.fixture
def accounts(api: Api) -> Api:
    """alice and bob are registered; nobody is signed in."""
    for name in ("alice", "bob"):
        assert api.register(name).status_code == 201
        api.logout()
    return api


@pytest.fixture
def work(app: Flask, accounts: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Work]:
    """Record every password hash verification (dummy_verify goes through verify too) and SQL statement."""
    seen = Work()
    real_verify = passwords.verify

    def verify(secret: str, stored: str, **kwargs: Any) -> bool:
        seen.verified.append(stored.rsplit("$", 2)[0])  # "$argon2id$v=19$m=…,t=…,p=…": what it costs
        return real_verify(secret, stored, **kwargs)

    def count(*args: object) -> None:
        seen.queries += 1

    monkeypatch.setattr(passwords, "verify", verify)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def alice_cost(app: Flask, accounts: Api) -> str:
    """The parameters of alice's stored hash: the cost of checking her real password."""
    with app.app_context():
        return db.session.scalar(db.select(User.password_hash).filter_by(username="alice")).rsplit("$", 2)[0]


def attempt(api: Api, work: Work, name: str, password: str) -> tuple[int, Any, list[str], int]:
    """Post one login; return its status, body, and the work it took."""
    work.verified.clear()
    work.queries = 0
    response = api.post("/login", {"username": name, "password": password})
    return response.status_code, response.get_json(), list(work.verified), work.queries


def guess(api: Api, name: str, ip: str, password: str = NOT_IT) -> Any:
    return api.post("/login", {"username": name, "password": password}, environ_base={"REMOTE_ADDR": ip})


# -- the same work whether the name exists or not -----------------------------------------------


@pytest.mark.parametrize("password", ["", NOT_IT, "x" * 1024, TOO_LONG], ids=["empty", "wrong", "1024", "5000"])
def test_existing_and_missing_names_get_the_same_answer_for_the_same_work(
    accounts: Api, work: Work, password: str
) -> None:
    assert attempt(accounts, work, "alice", password) == attempt(accounts, work, "nobody", password)


@pytest.mark.parametrize("name", ["alice", "nobody", ""])
@pytest.mark.parametrize("password", ["", NOT_IT], ids=["empty", "wrong"])
def test_every_refused_password_costs_one_verification_at_a_real_hash_cost(
    accounts: Api, work: Work, alice_cost: str, name: str, password: str
) -> None:
    status, body, verified, _ = attempt(accounts, work, name, password)
    assert (status, body, verified) == (401, WRONG, [alice_cost])


def test_the_right_password_costs_the_same_one_verification(accounts: Api, work: Work, alice_cost: str) -> None:
    status, _, verified, _ = attempt(accounts, work, "alice", PASSWORD)
    assert status == 200 and verified == [alice_cost]


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_an_over_long_password_is_refused_before_any_lookup_or_hash(accounts: Api, work: Work, name: str) -> None:
    assert attempt(accounts, work, name, TOO_LONG) == (400, TOO_LONG_ERROR, [], 0)


# -- the password cap: a clear 400, never a 500, never logged -----------------------------------


@pytest.mark.parametrize("name", ["alice", "nobody"])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "form"])
def test_an_over_long_password_is_a_400_and_is_never_logged(
    accounts: Api, caplog: pytest.LogCaptureFixture, name: str, as_json: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"username": name, "password": TOO_LONG}
    if as_json:
        response = accounts.post("/login", body)
    else:
        response = accounts.client.post("/login", data=body, headers={"X-CSRFToken": accounts.token})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "That password is too long." in text
    assert MARK not in caplog.text and MARK not in text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_the_cap_is_the_one_register_uses(accounts: Api) -> None:
    assert accounts.post("/login", {"username": "alice", "password": "x" * 1024}).status_code == 401
    assert accounts.post("/login", {"username": "alice", "password": "x" * 1025}).status_code == 400
    assert accounts.post("/register", {"username": "carol", "password": "x" * 1025}).status_code == 400


# -- the per-account limit -----------------------------------------------------------------------


@limits_on
def test_per_account_limit_stops_guesses_spread_over_many_ips(accounts: Api) -> None:
    statuses = [guess(accounts, "alice", f"10.0.0.{i}").status_code for i in range(1, 11)]
    refused = guess(accounts, "alice", "10.0.0.11")
    body = refused.get_json()
    assert statuses == [401] * 10 and refused.status_code == 429
    assert body["retryAfter"] == int(refused.headers["Retry-After"]) > 0
    assert body["error"] == too_many(body["retryAfter"])
    # The trade-off: for the rest of the minute alice's own right password is refused too.
    assert guess(accounts, "alice", "10.0.0.12", PASSWORD).status_code == 429
    # Another name, from an IP that took part, is untouched.
    assert guess(accounts, "bob", "10.0.0.1", PASSWORD).status_code == 200


@limits_on
@pytest.mark.parametrize("variant", ["ALICE", " alice ", "Alice\t"])
def test_per_account_limit_counts_the_name_stripped_and_lowercased(accounts: Api, variant: str) -> None:
    for i in range(1, 11):
        guess(accounts, variant if i % 2 else "alice", f"10.0.1.{i}")
    assert guess(accounts, "alice", "10.0.1.11").status_code == 429


@pytest.mark.parametrize("config_overrides", [{**LIMITS_ON, "TWO_FACTOR_RATE_LIMIT": "3 per minute"}])
def test_guesses_the_per_ip_limit_refuses_do_not_spend_the_account_budget(accounts: Api) -> None:
    one_ip = [guess(accounts, "alice", "10.0.2.1").status_code for _ in range(5)]
    assert one_ip == [401, 401, 401, 429, 429]
    # 3 of alice's 10 are spent, not 5: seven more from other IPs are judged, the next is refused.
    others = [guess(accounts, "alice", f"10.0.3.{i}").status_code for i in range(1, 9)]
    assert others == [401] * 7 + [429]


@pytest.mark.parametrize("config_overrides", [{**LIMITS_ON, "LOGIN_ACCOUNT_RATE_LIMIT": "1 per minute"}])
def test_a_refused_name_is_not_written_to_the_log(accounts: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    typed = "my password typed into the name box"
    guess(accounts, typed, "10.0.4.1")
    assert guess(accounts, typed, "10.0.4.2").status_code == 429
    assert "exceeded" in caplog.text and typed not in caplog.text and typed.lower() not in caplog.text


# -- no-store on the sign-in pages and answers ----------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_sign_in_pages_are_not_cached(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


ANSWERS: dict[str, tuple[Callable[[Api], Any], int]] = {
    "login ok": (lambda api: api.post("/login", {"username": "alice", "password": PASSWORD}), 200),
    "login form 303": (
        lambda api: api.client.post(
            "/login", data={"username": "alice", "password": PASSWORD}, headers={"X-CSRFToken": api.token}
        ),
        303,
    ),
    "login wrong": (lambda api: api.post("/login", {"username": "alice", "password": "wrong"}), 401),
    "login too long": (lambda api: api.post("/login", {"username": "alice", "password": TOO_LONG}), 400),
    "login bad json": (lambda api: api.post("/login", ["not", "an", "object"]), 400),
    "login no csrf": (lambda api: api.client.post("/login", json={"username": "alice"}), 400),
    "register ok": (lambda api: api.post("/register", {"username": "carol", "password": PASSWORD}), 201),
    "register invalid": (lambda api: api.post("/register", {"username": "c", "password": PASSWORD}), 400),
    "register taken": (lambda api: api.post("/register", {"username": "alice", "password": PASSWORD}), 409),
    "logout": (lambda api: api.post("/logout"), 200),
}


@pytest.mark.parametrize("case", ANSWERS)
def test_every_answer_to_a_sign_in_post_is_not_cached(accounts: Api, case: str) -> None:
    send, status = ANSWERS[case]
    response = send(accounts)
    assert response.status_code == status and response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("config_overrides", [{**LIMITS_ON, "LOGIN_ACCOUNT_RATE_LIMIT": "1 per minute"}])
def test_a_refused_sign_in_is_not_cached(accounts: Api) -> None:
    guess(accounts, "alice", "10.0.5.1")
    response = guess(accounts, "alice", "10.0.5.2")
    assert response.status_code == 429 and response.headers["Cache-Control"] == "no-store"


# -- Strict-Transport-Security ---------------------------------------------------------------------


def test_hsts_is_sent_over_https(client) -> None:
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_hsts_is_never_sent_over_plain_http(client) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_hsts_set_by_the_host_is_kept() -> None:
    host = Flask(__name__)
    chosen = "max-age=63072000; includeSubDomains; preload"

    @host.get("/")
    def page() -> Response:
        return Response("ok", headers={"Strict-Transport-Security": chosen})

    host.after_request(add_security_headers)
    response = host.test_client().get("/", base_url="https://localhost")
    assert response.headers.getlist("Strict-Transport-Security") == [chosen]
