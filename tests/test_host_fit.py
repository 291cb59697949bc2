"""Fitting into a host app: CSRF without app-wide protection, and security headers that follow the host's."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask, Response, request
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Mapped, mapped_column

from tests.second_host.in_tree import ROOT  # noqa: F401  (makes flask_two_factor importable)

# isort: split
from flask_two_factor import TwoFactor, testing
from flask_two_factor.protection import HOST_LAYOUT_CSP
from flask_two_factor.responses import STRICT_CSP

host_db = SQLAlchemy()
# A layout like many real apps have: a CDN stylesheet, an inline style, no csrf-token meta.
CDN_LAYOUT = """<!doctype html><html lang="en"><head><title>{% block title %}{% endblock %}</title>
<link rel="stylesheet" href="https://cdn.example/bootstrap.min.css">{% block head %}{% endblock %}</head>
<body style="margin:0"><nav>Reader</nav>{% block content %}{% endblock %}</body></html>"""
META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Reader(UserMixin, host_db.Model):
    """The host's own user."""

    id: Mapped[int] = mapped_column(primary_key=True)
    password: Mapped[str]

    def check_password(self, password: str) -> bool:
        return password == self.password


HostHook = Callable[[Flask], None]


def make_host(
    tmp_path: Path,
    csrf: bool = False,
    layout: bool = True,
    before: HostHook | None = None,
    after: HostHook | None = None,
    **config: object,
) -> Flask:
    """Return a small host app: its own layout (or none), CSRF app-wide or not, hooks around init_app."""
    templates = tmp_path / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    if layout:
        (templates / "base.html").write_text(CDN_LAYOUT)
    app = Flask(__name__, template_folder=str(templates))
    app.config.update(
        SECRET_KEY="host-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'host.db'}",
        TWO_FACTOR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        RATELIMIT_ENABLED=False,
        **config,
    )
    host_db.init_app(app)
    login_manager = LoginManager(app)
    login_manager.user_loader(lambda user_id: host_db.session.get(Reader, int(user_id)))
    if csrf:
        CSRFProtect(app)
    if before:
        before(app)
    # No check_password=: the product uses Reader.check_password, the Flask-Login convention.
    two_factor = TwoFactor(app)
    if after:
        after(app)

    @app.post("/login")
    def login() -> Response:
        # The whole change to a host's login view, once its own password check passed:
        user = host_db.session.get(Reader, 1)
        return two_factor.login(user, remember=request.form.get("remember") == "on", next_url=request.args.get("next"))

    @app.post("/api/token")
    def token() -> tuple[dict[str, str], int]:
        # An entry point that takes a password alone (HTTP Basic): a 2FA user must also send a code.
        auth = request.authorization
        user = host_db.session.get(Reader, 1)
        if auth is None or auth.password != user.password:
            return {"error": "The name or password is not correct."}, 401
        if two_factor.is_enabled(user) and not two_factor.verify_code(user, request.headers.get("X-OTP")):
            return {"error": "This account uses two-factor authentication: send a current code in X-OTP."}, 401
        return {"token": "t0ken"}, 200

    @app.post("/api/echo")
    def echo() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/sign-in-for-tests")
    def sign_in() -> str:
        login_user(host_db.session.get(Reader, 1))
        return "signed in"

    with app.app_context():
        host_db.create_all()
        host_db.session.add(Reader(id=1, password="pw"))
        host_db.session.commit()
    return app


def signed_in(app: Flask):
    client = app.test_client()
    assert client.get("/sign-in-for-tests").status_code == 200
    return client


def token_of(client) -> str:
    match = META.search(client.get("/2fa/settings").get_data(as_text=True))
    assert match, "no csrf-token meta on the settings page"
    return match.group(1)


# -- CSRF without app-wide protection ----------------------------------------------------------


def test_every_2fa_post_needs_the_token_without_csrfprotect(tmp_path: Path) -> None:
    client = signed_in(make_host(tmp_path))
    for headers in ({}, {"X-CSRFToken": "forged"}):
        refused = client.post("/2fa/setup", json={}, headers=headers)
        assert refused.status_code == 400 and "security token" in refused.get_json()["error"]
    assert client.post("/2fa/setup", data={}).status_code == 400
    token = token_of(client)
    assert client.post("/2fa/setup", json={}, headers={"X-CSRFToken": token}).status_code == 200
    assert client.post("/2fa/setup/cancel", data={"csrf_token": token}).status_code == 303


def test_the_hosts_own_endpoints_stay_free_of_csrf(tmp_path: Path) -> None:
    client = signed_in(make_host(tmp_path))
    assert client.post("/api/echo", json={}).get_json() == {"ok": True}


def test_with_csrfprotect_everything_works_as_before(tmp_path: Path) -> None:
    client = signed_in(make_host(tmp_path, csrf=True))
    assert client.post("/2fa/setup", json={}).status_code == 400
    assert client.post("/api/echo", json={}).status_code == 400  # the host chose app-wide protection
    assert client.post("/2fa/setup", json={}, headers={"X-CSRFToken": token_of(client)}).status_code == 200


def test_wtf_csrf_enabled_false_turns_the_check_off(tmp_path: Path) -> None:
    client = signed_in(make_host(tmp_path, WTF_CSRF_ENABLED=False))
    assert client.post("/2fa/setup", json={}).status_code == 200


def test_pages_in_the_hosts_layout_carry_the_token(tmp_path: Path) -> None:
    page = signed_in(make_host(tmp_path)).get("/2fa/settings").get_data(as_text=True)
    token = META.search(page)
    assert token and f'hx-headers=\'{{"X-CSRFToken": "{token.group(1)}"}}\'' in page
    assert "https://cdn.example/bootstrap.min.css" in page  # it is the host's layout


# -- security headers that follow the host -----------------------------------------------------


def test_the_hosts_layout_gets_a_policy_that_limits_no_sources(tmp_path: Path) -> None:
    response = signed_in(make_host(tmp_path)).get("/2fa/settings")
    assert response.headers["Content-Security-Policy"] == HOST_LAYOUT_CSP
    assert "default-src" not in HOST_LAYOUT_CSP and "style-src" not in HOST_LAYOUT_CSP
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


def test_the_standalone_layout_keeps_the_strict_policy(tmp_path: Path) -> None:
    response = signed_in(make_host(tmp_path, layout=False)).get("/2fa/settings")
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert 'class="tf-layout"' in response.get_data(as_text=True)


HOST_POLICY = "default-src 'self' https://cdn.example; style-src 'self' 'unsafe-inline' https://cdn.example"


def _setdefault_hook(app: Flask) -> None:
    @app.after_request
    def policy(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", HOST_POLICY)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response


def _assigning_hook(app: Flask) -> None:
    @app.after_request
    def policy(response: Response) -> Response:  # what Flask-Talisman does
        response.headers["Content-Security-Policy"] = HOST_POLICY
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response


@pytest.mark.parametrize(
    "where",
    [
        {"before": _setdefault_hook},
        {"after": _setdefault_hook},
        {"before": _assigning_hook},
        {"after": _assigning_hook},
    ],
    ids=["setdefault before init_app", "setdefault after", "assigned before", "assigned after"],
)
@pytest.mark.parametrize("layout", [True, False], ids=["host layout", "standalone layout"])
def test_a_hosts_own_headers_are_never_overwritten(tmp_path: Path, where: dict, layout: bool) -> None:
    response = signed_in(make_host(tmp_path, layout=layout, **where)).get("/2fa/settings")
    assert response.headers["Content-Security-Policy"] == HOST_POLICY
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers.getlist("Content-Security-Policy") == [HOST_POLICY]


@pytest.mark.parametrize(
    ("setting", "header"),
    [
        ("default-src 'self' https://cdn.example", "default-src 'self' https://cdn.example"),
        ({"default-src": ["'self'", "https://cdn.example"], "frame-ancestors": "'none'"},
         "default-src 'self' https://cdn.example; frame-ancestors 'none'"),
        (None, None),
    ],
    ids=["string", "dict", "none"],
)
def test_the_policy_setting_decides_for_the_hosts_layout(tmp_path: Path, setting: object, header: str | None) -> None:
    app = make_host(tmp_path, TWO_FACTOR_CONTENT_SECURITY_POLICY=setting)
    assert signed_in(app).get("/2fa/settings").headers.get("Content-Security-Policy") == header


# -- one call in the host's login view ---------------------------------------------------------


def test_one_call_signs_in_a_user_without_2fa_and_honours_next(tmp_path: Path) -> None:
    client = make_host(tmp_path, WTF_CSRF_ENABLED=False).test_client()
    response = client.post("/login?next=/2fa/settings", data={})
    assert response.status_code == 303 and response.headers["Location"] == "/2fa/settings"
    assert client.get("/2fa/settings").status_code == 200
    other = make_host(tmp_path / "other", WTF_CSRF_ENABLED=False).test_client()
    assert other.post("/login?next=//evil.example/", data={}).headers["Location"] == "/"


def test_one_call_starts_the_challenge_for_a_user_with_2fa(tmp_path: Path) -> None:
    app = make_host(tmp_path, TESTING=True)
    with app.app_context():
        testing.enable(host_db.session.get(Reader, 1))
    client = app.test_client()
    response = client.post("/login?next=/2fa/settings", data={"remember": "on"})
    assert response.status_code == 303 and response.headers["Location"] == "/2fa/challenge"
    assert client.get("/2fa/settings").status_code == 401  # not signed in until the code
    answer = client.post("/login", json={})
    assert answer.get_json() == {"ok": True, "twoFactorRequired": True}


# -- entry points that take a password alone ---------------------------------------------------


def test_a_password_alone_gets_no_token_for_a_2fa_user(tmp_path: Path) -> None:
    app = make_host(tmp_path, TESTING=True)
    client = app.test_client()
    basic = ("reader", "pw")
    assert client.post("/api/token", auth=basic).status_code == 200  # 2FA off: the password is enough
    with app.app_context():
        reader = host_db.session.get(Reader, 1)
        testing.enable(reader)
    assert client.post("/api/token", auth=basic).status_code == 401
    assert client.post("/api/token", auth=basic, headers={"X-OTP": "000000"}).status_code == 401
    with app.app_context():
        code = testing.current_code(host_db.session.get(Reader, 1))
    assert client.post("/api/token", auth=basic, headers={"X-OTP": code}).get_json() == {"token": "t0ken"}
    assert client.post("/api/token", auth=basic, headers={"X-OTP": code}).status_code == 401  # used once


def test_the_password_check_is_the_user_models_own_by_convention(tmp_path: Path) -> None:
    client = signed_in(make_host(tmp_path))
    token = {"X-CSRFToken": token_of(client)}
    assert client.post("/2fa/reauth", json={"password": "not it"}, headers=token).status_code == 400
    assert client.post("/2fa/reauth", json={"password": "pw"}, headers=token).get_json()["success"] is True
