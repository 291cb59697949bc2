"""S14 (and S10) against hostile input: property-based, over every POST endpoint, JSON and form.

Every generated request must get a 4xx with a clear message (a JSON {"error": ...} when the client
speaks JSON, a page or fragment with an alert otherwise), never a 5xx, and must change nothing: the
rows of every table are compared with a snapshot taken before the first example. Inputs that could
be a code are filtered out, because a well-formed wrong code legitimately counts as a failure.

Runs on SQLite; 10,000 generated requests in total (EXAMPLES), plus the named cases.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.auth import USERNAME
from app.two_factor.outcomes import parse_code
from tests.helpers_real import pending_client, snapshot
from tests.support import PASSWORD, Api, FrozenClock, totp_now

EXAMPLES = {"json": 3000, "form": 2000, "raw": 3000, "csrf": 2000}  # 10,000 generated requests
MAX_BODY = 64 * 1024  # the demo host's MAX_CONTENT_LENGTH

CODE_ENDPOINTS = ["/2fa/verify", "/2fa/disable", "/2fa/backup-codes", "/2fa/validate", "/2fa/reauth"]
FIELD_ENDPOINTS = [*CODE_ENDPOINTS, "/register", "/login"]
ALL_ENDPOINTS = [*FIELD_ENDPOINTS, "/2fa/setup", "/2fa/setup/cancel", "/logout"]
FIELDS = ["code", "password", "username"]


@pytest.fixture
def config_overrides() -> dict[str, object]:
    return {"MAX_CONTENT_LENGTH": MAX_BODY}


@dataclass
class World:
    """Alice logged in with 2FA on, alice half-way through a login, and a stranger; all with tokens."""

    app: Flask
    alice: Api
    pending: Api
    stranger: Api
    foreign_token: str
    good_code: str

    def client_for(self, endpoint: str) -> Api:
        if endpoint == "/2fa/validate":
            return self.pending
        if endpoint in ("/register", "/login"):
            return self.stranger
        return self.alice


@pytest.fixture
def world(app: Flask, enabled: Api, clock: FrozenClock) -> World:
    stranger = Api(app.test_client())
    stranger.refresh_token()
    foreigner = Api(app.test_client())
    foreigner.refresh_token()
    return World(app, enabled, pending_client(app), stranger, foreigner.token, totp_now(enabled.secret, clock))


def assert_sessions_intact(world: World) -> None:
    assert world.alice.get("/2fa/status").status_code == 200  # still logged in
    assert world.pending.client.get("/2fa/challenge").status_code == 200  # still awaiting the code
    assert world.stranger.get("/2fa/status").status_code == 401  # still nobody


# -- strategies -------------------------------------------------------------------------------

UNICODE_DIGITS = ["١٢٣٤٥٦", "۱۲۳۴۵۶", "１２３４５６", "१२३४५६", "𝟏𝟐𝟑𝟒𝟓𝟔", "12345６", "١٢٣ ٤٥٦", "๑๒๓๔๕๖"]
TRICKY = [
    "",
    " ",
    "\t",
    "\n",
    "0",
    "12345",
    "1234567",
    "123 45",
    "12345\n6",
    "123456\x00",
    "\x00123456",
    "-123456",
    "+123456",
    "123456.0",
    "1e5",
    "0x1E240",
    "null",
    "true",
    "[]",
    "{}",
    "ABCD-EFGH-JKMN",
    "ABCD-EFGH-JKMN-PQRST",
    "ABCD_EFGH_JKMN_PQRS",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "\u202e654321",
    "\ufeff",
    "\u200b",
]


def repeated(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Huge strings (10^3 .. 1.2×10^4 characters), cheap to generate."""
    return st.builds(lambda chunk, n: chunk * n, alphabet, st.integers(1_000, 12_000))


NEAR_CODE_ALPHABET = "0123456789 -ABCDEFGHJKMNPQRSTVWXYZ abcdefghijklmnopqrstuvwxyz ILOU _.٠١٢３\x00\t\n\u200b"
FORM_TEXT = st.one_of(
    st.sampled_from(TRICKY + UNICODE_DIGITS),
    st.text(max_size=24),  # any unicode (no surrogates: those come with JSON)
    st.text(alphabet=NEAR_CODE_ALPHABET, max_size=24),  # almost codes: wrong length, letters, separators
    st.integers(min_value=0, max_value=10**15).map(str),
    repeated(st.sampled_from(["1", "A", "é", "\x00", "١", "🙂", " "])),
)
# JSON can also carry lone surrogates ("\ud800"), which no form or database can encode.
JSON_TEXT = st.one_of(FORM_TEXT, st.sampled_from(["\ud800", "\udfff", "1\ud83d23456", "\udc00" * 6]))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), JSON_TEXT)
JSON_VALUES = st.one_of(  # scalars, and one level of lists and objects (wrong JSON types for a field)
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["code", "", "0", "$ne"]), JSON_SCALARS, max_size=2),
)
JSON_BODIES = st.one_of(
    st.fixed_dictionaries({}, optional={name: JSON_VALUES for name in FIELDS}),
    JSON_VALUES,  # any JSON at the top level: lists, numbers, null, strings
)
ACCEPTS = st.sampled_from([None, "application/json", "text/html", "*/*", "application/json;q=0.1, text/html"])
HTMX = st.sampled_from([{}, {"HX-Request": "true"}])
RAW_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/vnd.api+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "text/html",
    "application/xml",
    "application/octet-stream",
    "image/png",
    "*/*",
    "garbage",
]
RAW_BODIES = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=200).map(lambda text: text.encode("utf-8")),
    st.sampled_from([b"", b"{", b"[1,2", b'{"code": }', b"null", b"\xff\xfe\x00", b'{"code": "\\ud800"}', b"code"]),
    st.builds(lambda chunk, n: chunk * n, st.sampled_from([b"{", b"[", b"a", b"\x00", b"%"]), st.integers(10, 20_000)),
    st.builds(
        lambda boundary, name, value: (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        ),
        st.sampled_from(["xyz", "", "-"]),
        st.sampled_from([*FIELDS, "csrf_token", ""]),
        st.binary(max_size=64),
    ),
)


def could_succeed(endpoint: str, fields: dict[str, Any]) -> bool:
    """True if ``fields`` might be accepted or counted: a parseable code, or a valid registration."""
    code, password, username = (fields.get(name) for name in FIELDS)
    if endpoint in CODE_ENDPOINTS:
        return isinstance(code, str) and "\x00" not in code and parse_code(code) is not None
    if endpoint == "/register":
        return (
            isinstance(username, str)
            and USERNAME.fullmatch(username.strip()) is not None
            and isinstance(password, str)
            and 8 <= len(password) <= 1024
        )
    return endpoint == "/login" and password == PASSWORD


# -- the checks -------------------------------------------------------------------------------

ALERT = re.compile(r'role="alert"[^>]*>\s*([^<\s][^<]*)<')


def speaks_json(content_type: str | None, accept: str | None) -> bool:
    """The request is JSON (by its body's type) or prefers a JSON answer."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return True
    return accept == "application/json"


def assert_refused(response: Any, json_client: bool, where: str) -> None:
    """A 4xx with a clear message in the client's form."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert 400 <= status < 500, f"{where}: {status} {text[:300]}"
    if json_client:
        assert response.mimetype == "application/json", f"{where}: {status} not JSON: {text[:200]}"
        body = response.get_json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), where
    elif response.mimetype == "application/json":
        assert response.get_json()["error"].strip(), where
    else:
        assert ALERT.search(text), f"{where}: {status} page without an alert: {text[:300]}"


def post(client: FlaskClient, endpoint: str, body: bytes, content_type: str | None, headers: dict[str, str]) -> Any:
    sent = {k: v for k, v in headers.items() if v is not None}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return client.post(endpoint, data=body, headers=sent)


def run_examples(count: int, test: Callable[..., None], *strategies: st.SearchStrategy[Any]) -> int:
    """Run ``test`` over ``count`` generated examples; return how many ran."""
    ran = 0

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(st.tuples(*strategies))
    def check(args: tuple[Any, ...]) -> None:
        nonlocal ran
        test(*args)
        ran += 1

    check()
    return ran


# -- the properties ---------------------------------------------------------------------------


def test_hostile_json_bodies(world: World) -> None:
    before = snapshot(world.app)

    def one(endpoint: str, body: Any, accept: str | None, htmx: dict[str, str]) -> None:
        assume(not (isinstance(body, dict) and could_succeed(endpoint, body)))
        api = world.client_for(endpoint)
        raw = json.dumps(body).encode()
        assume(len(raw) <= MAX_BODY)
        response = post(
            api.client, endpoint, raw, "application/json", {"X-CSRFToken": api.token, "Accept": accept, **htmx}
        )
        assert_refused(response, True, f"{endpoint} {raw[:120]!r}")
        assert snapshot(world.app) == before, f"{endpoint} {raw[:120]!r} changed the database"

    ran = run_examples(EXAMPLES["json"], one, st.sampled_from(FIELD_ENDPOINTS), JSON_BODIES, ACCEPTS, HTMX)
    assert ran >= EXAMPLES["json"]
    assert_sessions_intact(world)


def test_hostile_form_fields(world: World) -> None:
    before = snapshot(world.app)
    form_fields = st.fixed_dictionaries(
        {}, optional={name: st.lists(FORM_TEXT, min_size=1, max_size=2) for name in [*FIELDS, "csrf_token", "next"]}
    )

    def one(endpoint: str, fields: dict[str, list[str]], accept: str | None, htmx: dict[str, str]) -> None:
        assume(not could_succeed(endpoint, {name: values[0] for name, values in fields.items()}))
        api = world.client_for(endpoint)
        raw = urllib.parse.urlencode(fields, doseq=True).encode()
        assume(len(raw) <= MAX_BODY)
        response = post(
            api.client,
            endpoint,
            raw,
            "application/x-www-form-urlencoded",
            {"X-CSRFToken": api.token, "Accept": accept, **htmx},
        )
        assert_refused(response, accept == "application/json", f"{endpoint} {raw[:120]!r}")
        assert snapshot(world.app) == before, f"{endpoint} {raw[:120]!r} changed the database"

    ran = run_examples(EXAMPLES["form"], one, st.sampled_from(FIELD_ENDPOINTS), form_fields, ACCEPTS, HTMX)
    assert ran >= EXAMPLES["form"]
    assert_sessions_intact(world)


def test_hostile_raw_bodies_and_content_types(world: World) -> None:
    before = snapshot(world.app)

    def one(endpoint: str, body: bytes, content_type: str | None, accept: str | None) -> None:
        if content_type and content_type.startswith("application/x-www-form-urlencoded"):
            parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            assume(not could_succeed(endpoint, {name: values[0] for name, values in parsed.items()}))
        api = world.client_for(endpoint)
        response = post(api.client, endpoint, body, content_type, {"X-CSRFToken": api.token, "Accept": accept})
        assert_refused(response, speaks_json(content_type, accept), f"{endpoint} {content_type} {body[:120]!r}")
        assert snapshot(world.app) == before, f"{endpoint} {content_type} {body[:120]!r} changed the database"

    ran = run_examples(
        EXAMPLES["raw"], one, st.sampled_from(FIELD_ENDPOINTS), RAW_BODIES, st.sampled_from(RAW_TYPES), ACCEPTS
    )
    assert ran >= EXAMPLES["raw"]
    assert_sessions_intact(world)


def test_missing_or_forged_csrf_token_blocks_even_a_valid_request(world: World) -> None:
    """Bodies that would succeed (right password, current code, fresh name) are refused without the token."""
    before = snapshot(world.app)
    valid_bodies = {
        "/2fa/setup": {},
        "/2fa/setup/cancel": {},
        "/2fa/verify": {"code": world.good_code},
        "/2fa/disable": {"password": PASSWORD, "code": world.good_code},
        "/2fa/backup-codes": {"password": PASSWORD, "code": world.good_code},
        "/2fa/validate": {"code": world.good_code},
        "/2fa/reauth": {"password": PASSWORD, "code": world.good_code},
        "/register": {"username": "mallory", "password": "a long enough password"},
        "/login": {"username": "alice", "password": PASSWORD},
        "/logout": {},
    }
    tokens = st.one_of(
        st.sampled_from(["<missing>", "", " ", "null", "\x00", world.foreign_token, world.foreign_token[:-2]]),
        st.sampled_from([world.alice.token, world.pending.token]).map(lambda token: token[::-1]),
        st.text(max_size=120).filter(lambda token: "\r" not in token and "\n" not in token),
        repeated(st.sampled_from(["A", "."])).map(lambda token: token[:5000]),
    )

    def one(endpoint: str, token: str, as_json: bool, where: str, accept: str | None) -> None:
        api = world.client_for(endpoint)
        body = valid_bodies[endpoint]
        headers: dict[str, str | None] = {"Accept": accept}
        if as_json:  # a token inside a JSON body is not where Flask-WTF looks: it counts as missing
            raw = json.dumps({**body, "csrf_token": token} if where == "field" else body).encode()
            content_type = "application/json"
        else:
            form = {**body, "csrf_token": token} if where == "field" else body
            raw, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        if token != "<missing>" and where == "header":
            headers["X-CSRFToken"] = token
        if where == "wrong-header":
            headers["X-CSRF-Token-Typo"] = api.token
        try:
            response = post(api.client, endpoint, raw, content_type, headers)  # type: ignore[arg-type]
        except ValueError:  # a header value Werkzeug itself refuses to send (not a request at all)
            assume(False)
        assert_refused(response, speaks_json(content_type, accept), f"{endpoint} {where} {token[:60]!r}")
        assert snapshot(world.app) == before, f"{endpoint} {where} {token[:60]!r} changed the database"

    ran = run_examples(
        EXAMPLES["csrf"],
        one,
        st.sampled_from(ALL_ENDPOINTS),
        tokens,
        st.booleans(),
        st.sampled_from(["header", "field", "wrong-header"]),
        ACCEPTS,
    )
    assert ran >= EXAMPLES["csrf"]
    assert_sessions_intact(world)


# -- deterministic cases ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS)
def test_a_body_over_the_limit_is_413_in_the_clients_form(world: World, endpoint: str) -> None:
    before = snapshot(world.app)
    api = world.client_for(endpoint)
    huge = json.dumps({"code": "1" * (MAX_BODY + 10), "password": PASSWORD}).encode()
    response = post(api.client, endpoint, huge, "application/json", {"X-CSRFToken": api.token})
    assert response.status_code == 413
    assert_refused(response, True, endpoint)
    form = urllib.parse.urlencode({"code": "1" * (MAX_BODY + 10)}).encode()
    page = post(api.client, endpoint, form, "application/x-www-form-urlencoded", {"X-CSRFToken": api.token})
    assert page.status_code == 413
    assert snapshot(world.app) == before


@pytest.mark.parametrize("endpoint", CODE_ENDPOINTS)
@pytest.mark.parametrize("code", [*UNICODE_DIGITS, "1" * 10_000, "123456" + "\x00", "\ud800" * 6])
def test_named_hostile_codes(world: World, endpoint: str, code: str) -> None:
    """The inputs S14 names, one by one, with the right password where one is asked."""
    before = snapshot(world.app)
    api = world.client_for(endpoint)
    response = post(
        api.client,
        endpoint,
        json.dumps({"code": code, "password": PASSWORD}).encode(),
        "application/json",
        {"X-CSRFToken": api.token},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert snapshot(world.app) == before
