"""The demo host's own pages: the header during the challenge, the sign-in prompt, error pages, one name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flask import Flask

from tests.support import Api, FrozenClock

REPO = Path(__file__).resolve().parent.parent
JSON = {"Accept": "application/json"}


def test_the_challenge_header_offers_neither_log_in_nor_log_out(api: Api, clock: FrozenClock) -> None:
    assert api.register("alice").status_code == 201
    api.enable(clock)
    api.logout()
    assert api.login("alice").get_json()["twoFactorRequired"] is True
    page = api.client.get("/2fa/challenge").get_data(as_text=True)
    header = page.split('<header class="site">', 1)[1].split("</header>", 1)[0]
    assert "Signing in as alice" in page.split("</header>", 1)[1]  # said once, by the challenge itself
    assert not [word for word in ("Signing in as", "Log in", "Register", "Log out") if word in header]


def test_the_header_offers_log_in_and_register_when_signed_out(client) -> None:
    header = client.get("/login").get_data(as_text=True).split("</header>", 1)[0]
    assert "Log in" in header and "Register" in header and "Signing in as" not in header


def test_a_page_that_needs_a_sign_in_says_so_on_the_login_page(client) -> None:
    response = client.get("/", follow_redirects=True)
    assert response.request.path == "/login"
    assert "Sign in to see that page." in response.get_data(as_text=True)
    # Said once: the message is gone on the next visit.
    assert "Sign in to see that page." not in client.get("/login").get_data(as_text=True)


def test_an_unknown_address_gets_a_page_in_the_demo_layout(client) -> None:
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "Page not found" in page and '<header class="site">' in page


def test_json_clients_get_json_errors(client) -> None:
    missing = client.get("/no-such-page", headers=JSON)
    assert missing.status_code == 404 and "no page at this address" in missing.get_json()["error"]
    wrong_method = client.delete("/login", headers=JSON)
    assert wrong_method.status_code == 405 and "kind of request" in wrong_method.get_json()["error"]
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_wrong_method_gets_a_page_and_keeps_the_allow_header(client) -> None:
    response = client.delete("/login")
    assert response.status_code == 405 and "Request refused" in response.get_data(as_text=True)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("config_overrides", [{"PROPAGATE_EXCEPTIONS": False}])
def test_a_failure_gets_a_page_in_the_demo_layout(app: Flask) -> None:
    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", "broken", broken)
    client = app.test_client()
    page = client.get("/broken")
    assert page.status_code == 500 and "Something went wrong" in page.get_data(as_text=True)
    answer = client.get("/broken", headers=JSON)
    assert answer.status_code == 500 and "Try again in a minute" in answer.get_json()["error"]


def test_the_site_has_one_name_everywhere(app: Flask, client) -> None:
    page = client.get("/login").get_data(as_text=True)
    issuer = app.config["TWO_FACTOR_ISSUER"]
    assert f"· {issuer}</title>" in page and f'class="brand" href="/">{issuer}</a>' in page
    # "[d]" so that this line does not match itself once committed.
    tracked = subprocess.run(["git", "grep", "-n", "-I", "Flask 2FA [d]emo"], cwd=REPO, capture_output=True, text=True)
    assert tracked.stdout == "", "spell it 'Flask 2FA Demo', the issuer's name"
