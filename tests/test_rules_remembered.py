"""S18 remembered browsers: "don't ask for a code on this browser" skips only the code, until forgotten."""

from __future__ import annotations

import hashlib
import html

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorBrowser
from tests.support import PASSWORD, Api, FrozenClock, totp_now

pytestmark = pytest.mark.both_backends

COOKIE = "two_factor_browser"
DAY = 86400


@pytest.fixture
def config_overrides() -> dict[str, object]:
    return {"TWO_FACTOR_REMEMBER_DAYS": 30}


def browser(app: Flask) -> Api:
    return Api(app.test_client())


def challenged(api: Api, username: str = "alice") -> bool:
    """Log out, then give the password again: True when the code is asked."""
    api.logout()
    response = api.login(username)
    assert response.status_code == 200, response.get_json()
    return bool(response.get_json()["twoFactorRequired"])


def pass_code(api: Api, clock: FrozenClock, remember: object = True) -> object:
    """At the challenge: give the current code, asking (or not) to remember this browser."""
    body = (
        {"code": totp_now(api.secret, clock)}
        if remember is None
        else {"code": totp_now(api.secret, clock), "remember": remember}
    )
    response = api.post("/2fa/validate", body)
    assert response.status_code == 200, response.get_json()
    clock.advance(30)
    api.refresh_token()
    return response


@pytest.fixture
def remembered(enabled: Api, clock: FrozenClock) -> Api:
    """alice with 2FA on, in a browser she asked to remember at the challenge."""
    assert challenged(enabled) is True
    pass_code(enabled, clock)
    assert enabled.client.get_cookie(COOKIE) is not None
    return enabled


def rows(app: Flask) -> list[TwoFactorBrowser]:
    with app.app_context():
        return list(db.session.scalars(select(TwoFactorBrowser)))


def register_bob(app: Flask, clock: FrozenClock) -> Api:
    bob = browser(app)
    assert bob.register("bob").status_code == 201
    bob.enable(clock)
    clock.advance(30)
    return bob


# -- the skip ----------------------------------------------------------------------------------


def test_a_remembered_browser_skips_the_code_after_the_password(remembered: Api) -> None:
    assert challenged(remembered) is False
    assert remembered.get("/2fa/status").status_code == 200  # signed in


def test_the_password_is_still_asked(remembered: Api) -> None:
    remembered.logout()
    assert remembered.post("/login", {"username": "alice", "password": "wrong password"}).status_code == 401
    assert remembered.get("/2fa/status").status_code == 401


def test_the_checkbox_value_on_from_a_form_remembers_too(enabled: Api, clock: FrozenClock) -> None:
    assert challenged(enabled) is True
    pass_code(enabled, clock, remember="on")
    assert challenged(enabled) is False


def test_without_remember_the_browser_is_asked_again(enabled: Api, clock: FrozenClock, app: Flask) -> None:
    assert challenged(enabled) is True
    pass_code(enabled, clock, remember=None)
    assert enabled.client.get_cookie(COOKIE) is None and rows(app) == []
    assert challenged(enabled) is True


def test_another_browser_is_still_asked(remembered: Api, app: Flask) -> None:
    other = browser(app)
    assert other.login().get_json()["twoFactorRequired"] is True


def test_an_expired_browser_is_asked_and_loses_its_cookie(remembered: Api, clock: FrozenClock) -> None:
    clock.advance(30 * DAY + 1)
    assert challenged(remembered) is True
    assert remembered.client.get_cookie(COOKIE) is None


def test_a_tampered_token_is_asked(remembered: Api) -> None:
    token = remembered.client.get_cookie(COOKIE).value
    remembered.client.set_cookie(COOKIE, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert challenged(remembered) is True
    assert remembered.client.get_cookie(COOKIE) is None


def test_another_users_token_is_asked(remembered: Api, app: Flask, clock: FrozenClock) -> None:
    register_bob(app, clock)
    # bob signs in on alice's remembered browser: her token does not skip his code.
    assert challenged(remembered, "bob") is True


def test_the_skip_is_audited_and_the_session_says_so(remembered: Api, app: Flask) -> None:
    assert challenged(remembered) is False
    with app.app_context():
        attempt = db.session.scalars(select(TwoFactorAttempt).order_by(TwoFactorAttempt.attempted_at.desc())).first()
    assert (attempt.method, attempt.purpose, attempt.success) == ("remembered", "login", True)
    current = next(item for item in remembered.get("/2fa/sessions").get_json()["sessions"] if item["current"])
    assert current["method"] == "password+remembered"


def test_a_skip_over_a_signed_in_session_says_so_too(remembered: Api) -> None:
    # The password step again without logging out: the old session ends, the new one records the skip.
    assert remembered.login().get_json()["twoFactorRequired"] is False
    current = next(item for item in remembered.get("/2fa/sessions").get_json()["sessions"] if item["current"])
    assert current["method"] == "password+remembered"


def test_a_use_is_noted_as_last_used(remembered: Api, clock: FrozenClock) -> None:
    clock.advance(DAY)
    assert challenged(remembered) is False
    listed = remembered.get("/2fa/sessions").get_json()["browsers"]
    assert listed[0]["lastUsedAt"] != listed[0]["createdAt"]


# -- stored and carried ------------------------------------------------------------------------


def test_only_the_hash_of_the_token_is_stored(remembered: Api, app: Flask) -> None:
    token = remembered.client.get_cookie(COOKIE).value
    (row,) = rows(app)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in vars(row).values()}


def test_the_cookie_is_http_only_lax_and_lasts_the_configured_days(enabled: Api, clock: FrozenClock) -> None:
    assert challenged(enabled) is True
    header = next(h for h in pass_code(enabled, clock).headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert f"Max-Age={30 * DAY}" in header and "Secure" not in header


def test_with_secure_cookies_the_cookie_is_secure_and_host_prefixed(
    enabled: Api, app: Flask, clock: FrozenClock
) -> None:
    assert challenged(enabled) is True
    app.config["SESSION_COOKIE_SECURE"] = True
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock), "remember": True})
    header = next(h for h in response.headers.getlist("Set-Cookie") if "two_factor_browser=" in h)
    assert header.startswith("__Host-two_factor_browser=") and "Secure" in header and "Domain" not in header


def test_when_off_remember_is_ignored(enabled: Api, app: Flask, clock: FrozenClock) -> None:
    app.config["TWO_FACTOR_REMEMBER_DAYS"] = 0
    assert challenged(enabled) is True
    assert "tf-remember" not in enabled.client.get("/2fa/challenge").get_data(as_text=True)
    response = pass_code(enabled, clock)
    assert not any(COOKIE in header for header in response.headers.getlist("Set-Cookie"))
    assert rows(app) == []


def test_the_challenge_offers_the_checkbox_with_the_configured_days(enabled: Api, app: Flask) -> None:
    enabled.logout()
    enabled.login()
    page = html.unescape(enabled.client.get("/2fa/challenge").get_data(as_text=True))
    assert 'name="remember"' in page and "Don't ask for a code on this browser for 30 days" in page
    app.config["TWO_FACTOR_REMEMBER_DAYS"] = 1
    assert "for 1 day<" in enabled.client.get("/2fa/challenge").get_data(as_text=True)


# -- listed and forgotten ----------------------------------------------------------------------


def test_sessions_lists_the_remembered_browsers(remembered: Api) -> None:
    (item,) = remembered.get("/2fa/sessions").get_json()["browsers"]
    assert set(item) == {"id", "current", "createdAt", "lastUsedAt", "expiresAt", "ipAddress", "browser"}
    assert item["current"] is True


def test_forgetting_one_asks_for_the_code_again(remembered: Api) -> None:
    (item,) = remembered.get("/2fa/sessions").get_json()["browsers"]
    assert remembered.post(f"/2fa/browsers/{item['id']}/forget").get_json() == {"success": True}
    assert challenged(remembered) is True


def test_forgetting_all_asks_for_the_code_again(remembered: Api) -> None:
    assert remembered.post("/2fa/browsers/forget-all").get_json() == {"success": True}
    assert challenged(remembered) is True


@pytest.mark.parametrize("browser_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_forgetting_an_unknown_browser_is_404(remembered: Api, browser_id: str) -> None:
    assert remembered.post(f"/2fa/browsers/{browser_id}/forget").status_code == 404


def test_another_users_browser_cannot_be_forgotten(remembered: Api, app: Flask, clock: FrozenClock) -> None:
    (item,) = remembered.get("/2fa/sessions").get_json()["browsers"]
    bob = register_bob(app, clock)
    assert bob.get("/2fa/sessions").get_json()["browsers"] == []
    assert bob.post(f"/2fa/browsers/{item['id']}/forget").status_code == 404
    assert challenged(remembered) is False


def test_the_panel_lists_them_with_forget_buttons(remembered: Api) -> None:
    page = remembered.client.get("/2fa/settings").get_data(as_text=True)
    assert "Remembered browsers" in page and "/2fa/browsers/forget-all" in page and "/forget" in page


def test_forget_without_javascript_redirects_with_a_notice(remembered: Api) -> None:
    response = remembered.client.post("/2fa/browsers/forget-all", data={"csrf_token": remembered.token})
    assert response.status_code == 303
    assert "asked for a code again" in remembered.client.get(response.headers["Location"]).get_data(as_text=True)


# -- forgotten with the factor and the sessions --------------------------------------------------


def test_disabling_forgets_every_browser(remembered: Api, clock: FrozenClock, app: Flask) -> None:
    body = {"password": PASSWORD, "code": totp_now(remembered.secret, clock)}
    assert remembered.post("/2fa/disable", body).status_code == 200
    assert rows(app) == []


def test_admin_reset_forgets_every_browser(remembered: Api, app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"])
    assert result.exit_code == 0, result.output
    assert rows(app) == []


def test_signing_out_everywhere_else_forgets_every_browser(remembered: Api, app: Flask) -> None:
    token = remembered.client.get_cookie(COOKIE).value
    assert remembered.post("/2fa/sessions/revoke-others").status_code == 200
    assert rows(app) == []
    remembered.client.set_cookie(COOKIE, token)  # even a copy of the token kept elsewhere
    assert challenged(remembered) is True
