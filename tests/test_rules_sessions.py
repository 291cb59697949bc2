"""S17 revocable sessions: every signed-in session has a record, and a session without one is signed out."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask, session
from flask_login import current_user, logout_user
from sqlalchemy import select, text

from app.extensions import db, two_factor
from app.two_factor.models import TwoFactorSession
from app.two_factor.sessions import SESSION_KEY
from tests.support import PASSWORD, Api, FrozenClock, totp_now

pytestmark = pytest.mark.both_backends

REMEMBER_COOKIES = ("remember_token", "two_factor_session")
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def browser(app: Flask) -> Api:
    """Return a new browser (its own cookies) that has not signed in yet."""
    return Api(app.test_client())


def copy_of(api: Api) -> Api:
    """Return another client holding a copy of ``api``'s session cookie, as a thief would."""
    thief = Api(api.client.application.test_client(), token=api.token)
    thief.client.set_cookie("session", api.client.get_cookie("session").value)
    return thief


def signed_in(api: Api) -> bool:
    return api.get("/2fa/status").status_code == 200


def signed_in_with_code(app: Flask, clock: FrozenClock, secret: str) -> Api:
    """Return a new browser where alice passed the password and the current code (the clock then moves on)."""
    other = browser(app)
    assert other.login().get_json()["twoFactorRequired"] is True
    assert other.post("/2fa/validate", {"code": totp_now(secret, clock)}).status_code == 200
    other.refresh_token()
    clock.advance(30)
    return other


def records(app: Flask) -> list[TwoFactorSession]:
    with app.app_context():
        return list(db.session.scalars(select(TwoFactorSession)))


def remember_cookies(api: Api) -> dict[str, str]:
    found = {name: api.client.get_cookie(name) for name in REMEMBER_COOKIES}
    return {name: cookie.value for name, cookie in found.items() if cookie is not None}


def with_cookies(app: Flask, cookies: dict[str, str]) -> Api:
    """Return a new browser holding only these cookies (no session)."""
    other = browser(app)
    for name, value in cookies.items():
        other.client.set_cookie(name, value)
    return other


def remembered_login(api: Api, username: str = "alice"):
    api.refresh_token()
    response = api.post("/login", {"username": username, "password": PASSWORD, "remember": True})
    api.refresh_token()
    return response


# -- a session whose record is gone is signed out ----------------------------------------------


def test_a_copied_cookie_is_signed_out_by_logout(api: Api) -> None:
    api.register()
    thief = copy_of(api)
    assert signed_in(thief)
    api.logout()
    assert not signed_in(thief) and not signed_in(api)


def test_enabling_2fa_signs_out_every_other_session(app: Flask, clock: FrozenClock) -> None:
    laptop = browser(app)
    laptop.register()
    thief = copy_of(laptop)
    phone = browser(app)
    phone.login()
    phone.enable(clock)
    assert not signed_in(thief) and not signed_in(laptop)
    assert signed_in(phone)


def test_disabling_2fa_signs_out_every_other_session(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    thief = copy_of(laptop)
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    assert not signed_in(thief) and not signed_in(laptop)
    assert signed_in(enabled)


def test_new_backup_codes_sign_out_every_other_session(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    thief = copy_of(laptop)
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": enabled.backup_codes[0]})
    assert response.status_code == 200
    assert not signed_in(thief) and not signed_in(laptop)
    assert signed_in(enabled)


def test_a_failed_change_signs_nobody_out(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    assert enabled.post("/2fa/disable", {"password": "wrong password", "code": "123456"}).status_code == 400
    assert signed_in(laptop)


def test_a_hosts_plain_logout_user_ends_the_record(app: Flask, api: Api) -> None:
    def host_logout() -> str:
        logout_user()
        session.clear()  # the order many hosts write: it wipes Flask-Login's own remember marker
        return ""

    app.add_url_rule("/host-logout", view_func=host_logout, methods=["POST"])
    api.register()
    thief = copy_of(api)
    assert api.post("/host-logout").status_code == 200
    assert records(app) == []
    assert not signed_in(thief)


def test_a_session_signed_in_before_records_existed_is_signed_out(app: Flask, api: Api) -> None:
    api.register()
    with api.client.session_transaction() as stored:
        del stored[SESSION_KEY]  # what a session from before the upgrade looks like
    assert not signed_in(api)
    with api.client.session_transaction() as stored:
        assert "_user_id" not in stored


def test_the_request_loader_is_left_alone(app: Flask, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """API tokens and headers are not sessions: no record is asked for, and none is made."""
    api.register()
    api.logout()
    with app.app_context():
        alice = db.session.scalar(text("SELECT id FROM users WHERE username = 'alice'"))
    loader = app.extensions["two_factor"].load_user
    monkeypatch.setattr(app.login_manager, "_request_callback", lambda request: loader(alice))
    assert records(app) == []
    assert signed_in(browser(app))


# -- the record ------------------------------------------------------------------------------


def test_only_the_hash_of_the_token_is_stored(app: Flask, api: Api) -> None:
    api.register()
    with api.client.session_transaction() as stored:
        token = stored[SESSION_KEY]
    assert len(token) >= 43  # 256 bits
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM two_factor_sessions")).all()
    assert len(rows) == 1
    assert not any(token in str(value) for value in rows[0])
    assert records(app)[0].token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_the_record_says_who_where_and_how(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    laptop = browser(app)
    laptop.client.environ_base["HTTP_USER_AGENT"] = CHROME
    laptop.login()
    laptop.post("/2fa/validate", {"code": enabled.backup_codes[0]})
    listed = laptop.get("/2fa/sessions").get_json()
    assert listed["browsers"] == []
    mine = [item for item in listed["sessions"] if item["current"]]
    assert len(listed["sessions"]) == 2 and len(mine) == 1
    assert mine[0] == {
        "id": mine[0]["id"],
        "current": True,
        "createdAt": "2026-01-01T12:00:30Z",
        "lastSeenAt": "2026-01-01T12:00:30Z",
        "ipAddress": "127.0.0.1",
        "browser": "Chrome 131 on Linux",
        "method": "password+backup_code",
    }
    other = next(item for item in listed["sessions"] if not item["current"])
    assert other["method"] == "password"  # registering signs in with the password alone


def test_last_seen_is_written_at_most_once_a_minute(app: Flask, api: Api, clock: FrozenClock) -> None:
    api.register()
    start, later = clock.now, clock.now + timedelta(seconds=61)
    for advance, last_seen in ((30, start), (29, start), (2, later), (59, later)):
        clock.advance(advance)
        assert signed_in(api)
        assert records(app)[0].last_seen_at == last_seen


# -- remember me -----------------------------------------------------------------------------


def test_logout_deletes_the_remember_cookies_and_the_old_ones_sign_nobody_in(app: Flask, api: Api) -> None:
    api.register()
    api.logout()
    assert remembered_login(api).status_code == 200
    kept = remember_cookies(api)
    assert set(kept) == set(REMEMBER_COOKIES)
    api.logout()
    assert remember_cookies(api) == {}
    assert not signed_in(api)
    assert not signed_in(with_cookies(app, kept))


def test_a_previous_users_remember_cookie_never_comes_back(app: Flask, api: Api, clock: FrozenClock) -> None:
    bob = browser(app)
    bob.register("bob")
    bob.enable(clock)
    clock.advance(30)
    api.register()
    api.logout()
    remembered_login(api)
    kept = remember_cookies(api)
    api.client.delete_cookie("session")  # alice closed the browser; her remember-me stays
    assert signed_in(api)
    api.client.delete_cookie("session")
    assert api.login("bob").get_json()["twoFactorRequired"] is True  # bob stops at the challenge
    assert not signed_in(api)
    assert not signed_in(with_cookies(app, kept))


def test_remember_me_restores_a_session_only_while_its_record_exists(app: Flask, api: Api) -> None:
    api.register()
    api.logout()
    remembered_login(api)
    kept = remember_cookies(api)
    restored = with_cookies(app, kept)
    assert signed_in(restored)
    other = browser(app)
    other.login()
    remembered = next(item for item in other.get("/2fa/sessions").get_json()["sessions"] if not item["current"])
    assert other.post(f"/2fa/sessions/{remembered['id']}/revoke").get_json() == {"success": True}
    assert not signed_in(with_cookies(app, kept))
    assert not signed_in(restored) and not signed_in(api)


def test_a_copied_remember_cookie_expires_with_the_remember_duration(app: Flask, api: Api, clock: FrozenClock) -> None:
    """Flask-Login's cookie carries no time; the record bounds it as an honest browser's copy is bounded."""
    api.register()
    api.logout()
    remembered_login(api)
    kept = remember_cookies(api)
    clock.advance(timedelta(days=365).total_seconds() - 60)
    assert signed_in(with_cookies(app, kept))
    clock.advance(120)
    assert not signed_in(with_cookies(app, kept))


def test_the_remember_cookie_alone_restores_nothing(app: Flask, api: Api) -> None:
    api.register()
    api.logout()
    remembered_login(api)
    assert not signed_in(with_cookies(app, {"remember_token": remember_cookies(api)["remember_token"]}))


def test_the_remember_cookie_restores_only_its_own_user(app: Flask, api: Api) -> None:
    api.register()
    api.logout()
    remembered_login(api)
    alices = remember_cookies(api)
    bob = browser(app)
    bob.register("bob")
    bob.logout()
    remembered_login(bob, "bob")
    mixed = {**remember_cookies(bob), "remember_token": alices["remember_token"]}
    assert not signed_in(with_cookies(app, mixed))


# -- signing sessions out --------------------------------------------------------------------


def test_sign_out_one_session(app: Flask, api: Api) -> None:
    api.register()
    laptop = browser(app)
    laptop.login()
    listed = api.get("/2fa/sessions").get_json()["sessions"]
    assert [item["current"] for item in listed] == [True, False]
    assert api.post(f"/2fa/sessions/{listed[1]['id']}/revoke").get_json() == {"success": True}
    assert not signed_in(laptop) and signed_in(api)
    assert len(api.get("/2fa/sessions").get_json()["sessions"]) == 1


def test_signing_out_this_session_signs_you_out(app: Flask, api: Api) -> None:
    api.register()
    mine = api.get("/2fa/sessions").get_json()["sessions"][0]
    assert api.post(f"/2fa/sessions/{mine['id']}/revoke").get_json() == {"success": True}
    assert not signed_in(api) and records(app) == []


def test_sign_out_everywhere_else(app: Flask, api: Api) -> None:
    api.register()
    others = [browser(app) for _ in range(2)]
    for other in others:
        other.login()
    assert api.post("/2fa/sessions/revoke-others").get_json() == {"success": True, "revoked": 2}
    assert signed_in(api) and not any(signed_in(other) for other in others)
    assert api.post("/2fa/sessions/revoke-others").get_json() == {"success": True, "revoked": 0}


@pytest.mark.parametrize("session_id", ["bobs", "0" * 37, "x" * 1000, "' OR 1=1 --", "%00"])
def test_another_users_session_or_a_malformed_id_is_404(app: Flask, api: Api, session_id: str) -> None:
    bob = browser(app)
    bob.register("bob")
    if session_id == "bobs":
        session_id = bob.get("/2fa/sessions").get_json()["sessions"][0]["id"]
    api.register()
    response = api.post(f"/2fa/sessions/{session_id}/revoke")
    assert response.status_code == 404 and "error" in response.get_json()
    assert signed_in(bob) and signed_in(api)


def test_the_sessions_routes_need_a_signed_in_user(api: Api) -> None:
    api.refresh_token()
    assert api.get("/2fa/sessions").status_code == 401
    assert api.post("/2fa/sessions/revoke-others").status_code == 401
    assert api.post("/2fa/sessions/anything/revoke").status_code == 401


def test_end_other_sessions_for_a_password_change(app: Flask, api: Api) -> None:
    def change_password() -> str:
        return str(two_factor.end_other_sessions(current_user))

    app.add_url_rule("/host-password", view_func=change_password, methods=["POST"])
    api.register()
    laptop = browser(app)
    laptop.login()
    assert api.post("/host-password").get_data(as_text=True) == "1"
    assert signed_in(api) and not signed_in(laptop)
    with app.app_context():  # outside a request of the user (a command, an admin): every session ends
        user = app.extensions["two_factor"].load_user(records(app)[0].user_id)
        assert two_factor.end_other_sessions(user) == 1
    assert not signed_in(api)


def test_admin_reset_ends_every_session_and_unlock_none(app: Flask, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["two-factor", "reset", "--unlock", "alice"]).exit_code == 0
    assert signed_in(enabled) and signed_in(laptop)
    assert runner.invoke(args=["two-factor", "reset", "alice"]).exit_code == 0
    assert not signed_in(enabled) and not signed_in(laptop)


def test_forget_deletes_the_users_sessions(app: Flask, api: Api) -> None:
    api.register()
    with app.app_context():
        two_factor.forget(records(app)[0].user_id)
        db.session.commit()
    assert records(app) == []


def test_the_page_reloads_its_list_after_a_change_that_signed_others_out(app: Flask, enabled: Api, clock) -> None:
    htmx = {"HX-Request": "true", "Accept": "text/html"}
    body = {"password": PASSWORD, "code": totp_now(enabled.secret, clock)}
    response = enabled.post("/2fa/backup-codes", body, headers=htmx)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "tf-sessions-changed"
    panel = enabled.client.get("/2fa/sessions", headers=htmx).get_data(as_text=True)
    assert panel.startswith('<div id="tf-sessions"') and 'hx-trigger="tf-sessions-changed from:body"' in panel
    assert "autofocus" not in panel  # a reload in the background leaves focus where the user is
