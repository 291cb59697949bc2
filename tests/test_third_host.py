"""A third host, shaped like the microblog tutorial app, wired by following docs/integration.md alone.

Form-level CSRF only (FlaskForm, no CSRFProtect), a token API with HTTP Basic and Bearer tokens,
remember-me, integer ids, its own Bootstrap layout. These tests run it in-tree (Flask of the dev
venv); tests/browser/test_third_host.py runs the whole flow in Chromium on Flask 3.0 from the wheel.
"""

from __future__ import annotations

import re
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from tests.second_host import in_tree  # noqa: F401  (flask_two_factor is this tree's app/two_factor)
from tests.support import FrozenClock

# isort: split
from flask_two_factor import testing

from tests.third_host import create_app, db
from tests.third_host.models import User

HOST = Path(__file__).resolve().parent / "third_host"
PASSWORD = "cat in the hat"
FORM_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
BOOTSTRAP_CSS = "https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css"
MARK = re.compile(r"  # 2FA\b|\{# 2FA #\}")  # the host's marker of each line written or changed for 2FA
HOST_LAYOUT_CSP = "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def host(tmp_path: Path, clock: FrozenClock) -> Iterator[Flask]:
    app = create_app(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'microblog.db'}",
        TWO_FACTOR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        RATELIMIT_ENABLED=False,
    )
    app.extensions["two_factor"].clock = clock
    with app.app_context():
        db.create_all()
        susan = User(username="susan", email="susan@example.com")
        susan.set_password(PASSWORD)
        db.session.add(susan)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(host: Flask) -> FlaskClient:
    return host.test_client()


def enable_2fa(host: Flask) -> str:
    """Turn 2FA on for Susan (id 1); return her secret."""
    with host.app_context():
        secret, _codes = testing.enable(db.session.get(User, 1))
    return secret


def current_code(host: Flask, clock: FrozenClock) -> str:
    clock.advance(30)
    with host.app_context():
        return testing.current_code(db.session.get(User, 1))


def log_in(client: FlaskClient, remember: bool = False, next_url: str | None = None, password: str = PASSWORD):
    token = FORM_TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "username": "susan", "password": password}
    if remember:
        form["remember_me"] = "y"
    return client.post("/auth/login" + (f"?next={next_url}" if next_url else ""), data=form)


def basic(password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"susan:{password}".encode()).decode()}


def cookie_names(response) -> set[str]:
    return {header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie")}


# -- the host as it was: form-level CSRF, its login form ----------------------------------------


def test_the_host_protects_only_its_forms(host: Flask, client: FlaskClient) -> None:
    assert "csrf" not in host.extensions  # no CSRFProtect(app), before or after adoption
    refused = client.post("/auth/login", data={"username": "susan", "password": PASSWORD})
    assert refused.status_code == 200 and "Sign In" in refused.get_data(as_text=True)
    assert client.get("/index").status_code == 302


def test_a_wrong_password_stays_on_the_hosts_form(client: FlaskClient) -> None:
    response = log_in(client, password="not it")
    assert response.status_code == 302 and response.location == "/auth/login"


def test_without_2fa_the_login_view_signs_in_with_remember_me(client: FlaskClient) -> None:
    response = log_in(client, remember=True, next_url="/index")
    assert response.status_code == 303 and response.location == "/index"
    assert {"remember_token", "two_factor_session"} <= cookie_names(response)
    assert "Hi, susan!" in client.get("/index").get_data(as_text=True)


# -- the 2FA pages in the host's layout -----------------------------------------------------------


def test_2fa_pages_use_the_hosts_layout_its_cdn_and_carry_the_token(client: FlaskClient) -> None:
    log_in(client)
    page = client.get("/2fa/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="host-navbar"' in html and f'href="{BOOTSTRAP_CSS}"' in html
    assert META_TOKEN.search(html) and '"X-CSRFToken": "' in html
    assert page.headers["Content-Security-Policy"] == HOST_LAYOUT_CSP  # limits no sources: the CDN loads


def test_2fa_json_posts_need_the_token_the_page_carries(client: FlaskClient) -> None:
    log_in(client)
    assert client.post("/2fa/setup", json={}).status_code == 400
    token = META_TOKEN.search(client.get("/2fa/settings").get_data(as_text=True)).group(1)
    assert client.post("/2fa/setup", json={}, headers={"X-CSRFToken": token}).status_code == 200


# -- signing in with 2FA on, remember-me, logout --------------------------------------------------


def test_with_2fa_the_login_view_starts_the_challenge_and_keeps_next_and_remember(
    host: Flask, client: FlaskClient, clock: FrozenClock
) -> None:
    enable_2fa(host)
    response = log_in(client, remember=True, next_url="/index")
    assert response.status_code == 303 and response.location == "/2fa/challenge"
    assert client.get("/index").status_code == 302  # not signed in while the code is pending
    token = META_TOKEN.search(client.get("/2fa/challenge").get_data(as_text=True)).group(1)
    done = client.post("/2fa/validate", data={"csrf_token": token, "code": current_code(host, clock)})
    assert done.status_code == 303 and done.location == "/index"
    assert {"remember_token", "two_factor_session"} <= cookie_names(done)
    assert "Hi, susan!" in client.get("/index").get_data(as_text=True)


def test_remember_me_restores_the_session_until_logout(host: Flask, client: FlaskClient) -> None:
    log_in(client, remember=True)
    client.delete_cookie("session")  # the browser was closed
    assert client.get("/index").status_code == 200
    logout = client.get("/auth/logout")  # microblog's view, unchanged: logout_user() alone
    assert logout.status_code == 302
    assert {"remember_token", "two_factor_session"} <= cookie_names(logout)  # deleted
    client.delete_cookie("session")
    assert client.get("/index").status_code == 302


# -- the token API: no CSRF, and a password alone is not enough with 2FA on ---------------------


def test_the_api_works_without_csrf_tokens(client: FlaskClient) -> None:
    token = client.post("/api/tokens", headers=basic())
    assert token.status_code == 200
    bearer = {"Authorization": "Bearer " + token.get_json()["token"]}
    updated = client.put("/api/users/1", json={"about_me": "hello"}, headers=bearer)
    assert updated.status_code == 200 and updated.get_json()["about_me"] == "hello"
    assert client.get("/api/users/1", headers=bearer).get_json()["about_me"] == "hello"


def test_the_token_endpoint_refuses_a_2fa_user_without_a_code(host: Flask, client: FlaskClient) -> None:
    enable_2fa(host)
    refused = client.post("/api/tokens", headers=basic())
    assert refused.status_code == 401 and "X-OTP" in refused.get_json()["error"]
    assert client.post("/api/tokens", headers={**basic(), "X-OTP": "000000"}).status_code == 401
    assert client.post("/api/tokens", headers=basic("wrong password")).status_code == 401


def test_the_token_endpoint_accepts_a_current_code_once(host: Flask, client: FlaskClient, clock: FrozenClock) -> None:
    enable_2fa(host)
    code = current_code(host, clock)
    accepted = client.post("/api/tokens", headers={**basic(), "X-OTP": code})
    assert accepted.status_code == 200 and accepted.get_json()["token"]
    assert client.post("/api/tokens", headers={**basic(), "X-OTP": code}).status_code == 401  # replayed


# -- the adoption itself --------------------------------------------------------------------------


def test_the_adoption_took_at_most_15_host_lines() -> None:
    """Every host line written or changed for 2FA is marked; serve.py is test scaffolding, not the host."""
    marked = [
        f"{path.relative_to(HOST)}: {line.strip()}"
        for path in sorted(HOST.rglob("*"))
        if path.suffix in {".py", ".html"} and path.name != "serve.py"
        for line in path.read_text().splitlines()
        if MARK.search(line)
    ]
    assert 0 < len(marked) <= 15, "\n".join(marked)
