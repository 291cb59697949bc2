"""S16 re-authentication: binding a factor needs a recent proof of who holds the session, through the HTTP API."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code
from tests.test_rules_replay_throttle import account_failures, failures, pending_login

pytestmark = pytest.mark.both_backends

TTL = 900


def stale(clock: FrozenClock) -> None:
    """Let the last re-authentication (the login) run out."""
    clock.advance(TTL + 1)


def form(api: Api, path: str, fields: dict[str, str] | None = None, **headers: str):
    """POST as a browser form does (no JavaScript), or as htmx with ``HX_Request``."""
    data = {"csrf_token": api.token, **(fields or {})}
    extra = {"HX-Request": "true", "X-CSRFToken": api.token} if headers.get("htmx") else {}
    return api.client.post(path, data=data, headers=extra)


def secrets(app) -> list[TwoFactorSecret]:
    with app.app_context():
        return list(db.session.scalars(select(TwoFactorSecret)))


# -- the reproduction: a stolen session, no password --------------------------------------------


def test_a_stolen_session_without_the_password_cannot_turn_on_2fa(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    response = api.post("/2fa/setup")
    assert response.status_code == 403
    body = response.get_json()
    assert body["reauthenticate"] is True and set(body) == {"error", "reauthenticate"} and body["error"]
    assert secrets(app) == []
    assert api.post("/2fa/verify", {"code": "123456"}).status_code == 403


def test_a_pending_setup_cannot_be_confirmed_once_the_window_is_over(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    stale(clock)
    response = api.post("/2fa/verify", {"code": totp_now(api.secret, clock)})
    assert response.status_code == 403 and response.get_json()["reauthenticate"] is True
    assert api.get("/2fa/status").get_json()["enabled"] is False


# -- what counts as a re-authentication, and for how long --------------------------------------


def test_a_completed_login_counts_as_one(api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    assert api.login().status_code == 200
    clock.advance(TTL - 1)
    assert api.setup().status_code == 200


def test_the_password_reauthenticates_for_the_ttl(api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    response = api.post("/2fa/reauth", {"password": PASSWORD})
    until = (clock.now + timedelta(seconds=TTL)).isoformat().replace("+00:00", "Z")
    assert response.status_code == 200 and response.get_json() == {"success": True, "reauthenticatedUntil": until}
    assert api.setup().status_code == 200
    clock.advance(TTL - 1)
    assert api.post("/2fa/verify", {"code": totp_now(api.secret, clock)}).status_code == 200


def test_a_wrong_password_does_not_reauthenticate(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    response = api.post("/2fa/reauth", {"password": "not the password"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "That password isn't right. Check it and try again."
    assert api.post("/2fa/setup").status_code == 403
    assert api.post("/2fa/reauth", {}).status_code == 400  # no password at all


@pytest.mark.parametrize("code", ["totp", "backup"])
def test_with_2fa_on_it_takes_the_password_and_a_code(app, enabled: Api, clock: FrozenClock, code: str) -> None:
    stale(clock)
    right = totp_now(enabled.secret, clock) if code == "totp" else enabled.backup_codes[0]
    assert enabled.post("/2fa/reauth", {"password": PASSWORD}).status_code == 400
    assert enabled.post("/2fa/reauth", {"password": "not the password", "code": right}).status_code == 400
    bad = wrong_code(enabled.secret, clock)
    assert enabled.post("/2fa/reauth", {"password": PASSWORD, "code": bad}).status_code == 400
    response = enabled.post("/2fa/reauth", {"password": PASSWORD, "code": right})
    assert response.status_code == 200 and response.get_json()["success"] is True
    if code == "backup":
        assert enabled.get("/2fa/status").get_json()["backupCodesRemaining"] == 9


def test_failures_count_in_the_account_scope(app, enabled: Api, clock: FrozenClock) -> None:
    stale(clock)
    bad = wrong_code(enabled.secret, clock)
    statuses = [enabled.post("/2fa/reauth", {"password": PASSWORD, "code": bad}).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    assert account_failures(app) == 4 and failures(app) == 0
    # Someone guessing in a stolen session never slows down the owner's sign-in.
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_every_reauthentication_is_audited(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    api.post("/2fa/reauth", {"password": "not the password"})
    api.post("/2fa/reauth", {"password": PASSWORD})
    with app.app_context():
        rows = db.session.scalars(select(TwoFactorAttempt).order_by(TwoFactorAttempt.success)).all()
    assert [(row.purpose, row.method, row.success) for row in rows] == [
        ("reauth", "password", False),
        ("reauth", "password", True),
    ]


LIMITED = {"RATELIMIT_ENABLED": True, "TWO_FACTOR_REAUTH_RATE_LIMIT": "3 per minute"}


@pytest.mark.parametrize("config_overrides", [LIMITED])
def test_password_guesses_are_limited_per_account(api: Api, clock: FrozenClock) -> None:
    api.register()
    statuses = [
        api.post("/2fa/reauth", {"password": "wrong password"}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code
        for i in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]


# -- the forms: JSON 403, htmx in place, a page POST and back -----------------------------------


def test_htmx_gets_the_form_in_place_and_setup_resumes(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    asked = form(api, "/2fa/setup", htmx="yes")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 403 and 'id="tf-reauth"' in html and 'name="then" value="setup"' in html
    assert secrets(app) == []
    resumed = form(api, "/2fa/reauth", {"password": PASSWORD, "then": "setup", "next": "/2fa/settings"}, htmx="yes")
    html = resumed.get_data(as_text=True)
    assert resumed.status_code == 200 and 'id="tf-setup"' in html and 'class="tf-qr"' in html
    assert len(secrets(app)) == 1


def test_a_page_post_goes_to_the_form_and_comes_back(app, api: Api, clock: FrozenClock) -> None:
    api.register()
    stale(clock)
    asked = form(api, "/2fa/setup")
    assert asked.status_code == 303
    location = urlsplit(asked.headers["Location"])
    assert location.path == "/2fa/reauth"
    assert parse_qs(location.query) == {"next": ["/2fa/settings"], "then": ["setup"]}
    page = api.client.get(f"{location.path}?{location.query}").get_data(as_text=True)
    assert 'name="then" value="setup"' in page and 'name="next" value="/2fa/settings"' in page
    back = form(api, "/2fa/reauth", {"password": PASSWORD, "then": "setup", "next": "/2fa/settings"})
    assert back.status_code == 303 and back.headers["Location"] == "/2fa/settings"
    assert 'class="tf-qr"' in api.client.get("/2fa/settings").get_data(as_text=True)


@pytest.mark.parametrize("next_url", ["//evil.example/", "https://evil.example/", "///evil.example"])
def test_after_reauthentication_next_stays_on_this_site(api: Api, next_url: str) -> None:
    api.register()
    back = form(api, "/2fa/reauth", {"password": PASSWORD, "next": next_url})
    assert back.status_code == 303 and back.headers["Location"] == "/2fa/settings"


def test_only_known_actions_are_resumed(app, api: Api) -> None:
    api.register()
    back = form(api, "/2fa/reauth", {"password": PASSWORD, "then": "disable"})
    assert back.status_code == 303 and secrets(app) == []


def test_a_pending_secret_is_shown_again_only_inside_the_window(api: Api, clock: FrozenClock) -> None:
    api.register()
    api.setup()
    assert api.secret[:4] in api.client.get("/2fa/settings").get_data(as_text=True)
    stale(clock)
    page = api.client.get("/2fa/settings").get_data(as_text=True)
    assert api.secret[:4] not in page and 'class="tf-qr"' not in page and 'id="tf-reauth"' in page
    fragment = api.client.get("/2fa/settings", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert api.secret[:4] not in fragment and 'id="tf-reauth"' in fragment
    assert form(api, "/2fa/reauth", {"password": PASSWORD}).status_code == 303
    assert api.secret[:4] in api.client.get("/2fa/settings").get_data(as_text=True)
