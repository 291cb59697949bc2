"""The product in a second, existing app: integer ids, its own login and layout, admins required to use 2FA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.second_host.browser import PASSWORD, Browser
from tests.second_host.in_tree import ANN, ROOT, db, drop, make_test_app, models, two_factor
from tests.support import FrozenClock, totp_now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def host(tmp_path, clock: FrozenClock) -> Iterator[Flask]:
    app = make_test_app(tmp_path / "ledger.db")
    app.extensions["two_factor"].clock = clock
    yield app
    drop(app)


@pytest.fixture
def visitor(host: Flask) -> Browser:
    return Browser(host.test_client())


@pytest.fixture
def code(clock: FrozenClock):
    """Return the current TOTP code for a secret; each call moves the clock one step on (no replays)."""

    def current(secret: str) -> str:
        clock.advance(30)
        return totp_now(secret, clock)

    return current


@pytest.fixture
def ann(visitor: Browser, code) -> Browser:
    """Ann, signed in with 2FA enabled."""
    assert visitor.sign_in(ANN).status_code == 303
    visitor.enable(code)
    return visitor


# -- the core flow ------------------------------------------------------------------------------


def test_sign_in_without_2fa_goes_straight_home(visitor: Browser) -> None:
    response = visitor.sign_in(ANN)
    assert response.status_code == 303 and response.location == "/"
    assert "Signed in as ann@example.com" in visitor.client.get("/").get_data(as_text=True)


def test_settings_page_renders_inside_the_host_layout(visitor: Browser) -> None:
    visitor.sign_in(ANN)
    page = visitor.client.get("/2fa/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<body data-host="ledger">' in html and "Security settings · Ledger" in html
    assert 'name="htmx-config"' in html and "/2fa/static/htmx.min.js" in html and "/2fa/static/two_factor.css" in html
    assert '"X-CSRFToken": "' in html


def test_setup_and_verify_enable_2fa_for_an_integer_id(visitor: Browser, code) -> None:
    visitor.sign_in(ANN)
    codes = visitor.enable(code)
    assert len(codes) == 10
    assert visitor.get_json("/2fa/status").get_json() == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    with visitor.client.application.app_context():
        stored = db.session.execute(db.text("SELECT user_id FROM two_factor_secrets")).scalar_one()
    assert stored == "1"


def test_otpauth_label_is_the_host_users_email(visitor: Browser) -> None:
    visitor.sign_in(ANN)
    uri = visitor.post_json("/2fa/setup").get_json()["otpauthUri"]
    assert uri.startswith("otpauth://totp/Ledger:ann%40example.com?")


def test_sign_in_with_2fa_stops_at_the_challenge(ann: Browser) -> None:
    ann.sign_out()
    response = ann.sign_in(ANN)
    assert response.status_code == 303 and response.location == "/2fa/challenge"
    assert ann.client.get("/").location.startswith("/account/sign-in")
    assert "Two-factor sign-in · Ledger" in ann.client.get("/2fa/challenge").get_data(as_text=True)


def test_challenge_accepts_totp_and_follows_next(ann: Browser, code) -> None:
    ann.sign_out()
    ann.sign_in(ANN, next_url="/reports")
    response = ann.post_json("/2fa/validate", {"code": code(ann.secret)})
    assert response.get_json() == {"valid": True, "required": True, "redirect": "/reports"}
    assert ann.client.get("/reports").status_code == 200


def test_challenge_form_without_javascript_answers_303(ann: Browser, code) -> None:
    ann.sign_out()
    ann.sign_in(ANN)
    response = ann.client.post("/2fa/validate", data={"csrf_token": ann.token(), "code": code(ann.secret)})
    assert response.status_code == 303 and response.location == "/"
    assert ann.client.get("/").status_code == 200


def test_challenge_accepts_a_backup_code_once(ann: Browser) -> None:
    backup = ann.backup_codes[0]
    ann.sign_out()
    ann.sign_in(ANN)
    assert ann.post_json("/2fa/validate", {"code": backup.lower()}).get_json()["valid"] is True
    assert ann.get_json("/2fa/status").get_json()["backupCodesRemaining"] == 9
    ann.sign_out()
    ann.sign_in(ANN)
    assert ann.post_json("/2fa/validate", {"code": backup}).status_code == 401


def test_disable_needs_the_password_and_a_code(ann: Browser, code) -> None:
    wrong = ann.post_json("/2fa/disable", {"password": "not it", "code": code(ann.secret)})
    assert wrong.status_code == 400
    response = ann.post_json("/2fa/disable", {"password": PASSWORD, "code": code(ann.secret)})
    assert response.status_code == 200 and response.get_json()["success"] is True
    ann.sign_out()
    assert ann.sign_in(ANN).location == "/"


def test_signals_carry_the_host_app_and_the_string_id(visitor: Browser, code, clock: FrozenClock) -> None:
    import flask_two_factor

    seen: list[tuple[str, object, dict]] = []
    receivers = {
        name: (lambda sender, _name=name, **kwargs: seen.append((_name, sender, kwargs)))
        for name in ("two_factor_enabled", "backup_code_used", "two_factor_failed")
    }
    for name, receiver in receivers.items():
        getattr(flask_two_factor, name).connect(receiver)
    try:
        visitor.sign_in(ANN)
        visitor.enable(code)
        visitor.post_json("/2fa/disable", {"password": "wrong password", "code": code(visitor.secret)})
        visitor.sign_out()
        visitor.sign_in(ANN)
        clock.advance(30)
        visitor.post_json("/2fa/validate", {"code": visitor.backup_codes[0]})
    finally:
        for name, receiver in receivers.items():
            getattr(flask_two_factor, name).disconnect(receiver)
    app = visitor.client.application
    assert [(name, sender) for name, sender, _ in seen] == [
        ("two_factor_enabled", app),
        ("two_factor_failed", app),
        ("backup_code_used", app),
    ]
    assert seen[0][2] == {"user_id": "1"}
    assert seen[1][2] == {"user_id": "1", "purpose": "disable", "failures": 1, "scope": "account"}
    assert seen[2][2] == {"user_id": "1", "purpose": "login", "remaining": 9}


def test_cli_reset_finds_the_user_by_email(ann: Browser) -> None:
    result = ann.client.application.test_cli_runner().invoke(args=["two-factor", "reset", ANN])
    assert result.exit_code == 0, result.output
    ann.sign_out()
    assert ann.sign_in(ANN).location == "/"


# -- enforcement: admins must use 2FA -----------------------------------------------------------


def test_required_user_without_2fa_is_sent_to_the_settings_page(visitor: Browser) -> None:
    assert visitor.sign_in(ROOT).location == "/"
    response = visitor.client.get("/")
    assert response.status_code == 303 and response.location == "/2fa/settings"
    page = visitor.client.get("/2fa/settings").get_data(as_text=True)
    assert "Your account requires two-factor authentication" in page


def test_required_user_gets_403_json_with_the_setup_url(visitor: Browser) -> None:
    visitor.sign_in(ROOT)
    response = visitor.get_json("/")
    assert response.status_code == 403
    assert response.get_json()["setupUrl"] == "/2fa/settings" and response.get_json()["error"]


def test_required_user_gets_an_htmx_redirect(visitor: Browser) -> None:
    visitor.sign_in(ROOT)
    response = visitor.client.get("/reports", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/2fa/settings"


def test_required_user_can_still_sign_out_and_reach_2fa_routes(visitor: Browser) -> None:
    visitor.sign_in(ROOT)
    assert visitor.get_json("/2fa/status").status_code == 200
    assert visitor.client.get("/2fa/static/htmx.min.js").status_code == 200
    assert visitor.client.get("/account/sign-in").status_code == 200
    assert visitor.sign_out().location == "/account/sign-in"


def test_required_user_reaches_the_app_once_2fa_is_on(visitor: Browser, code) -> None:
    visitor.sign_in(ROOT)
    visitor.enable(code)
    assert visitor.client.get("/").status_code == 200
    assert "requires two-factor" not in visitor.client.get("/2fa/settings").get_data(as_text=True)


def test_required_user_goes_on_to_the_page_they_wanted_once_codes_are_saved(visitor: Browser, code) -> None:
    visitor.sign_in(ROOT)
    stopped = visitor.client.get("/reports?month=3")
    assert stopped.status_code == 303 and stopped.location == "/2fa/settings"
    early = visitor.client.get("/2fa/settings?saved=on")  # nothing is enabled yet: the page's clean address
    assert early.status_code == 303 and early.location == "/2fa/settings"
    visitor.enable(code)
    done = visitor.client.get("/2fa/settings?saved=on")  # "Done" under the codes, JavaScript off
    assert done.status_code == 303 and done.location == "/reports?month=3"
    again = visitor.client.get("/2fa/settings?saved=on")  # only once, then the page's clean address
    assert again.status_code == 303 and again.location == "/2fa/settings"


def test_required_user_goes_on_to_the_page_they_wanted_with_htmx(visitor: Browser, code) -> None:
    visitor.sign_in(ROOT)
    visitor.client.get("/reports")
    visitor.enable(code)
    done = visitor.client.get("/2fa/status?saved=on", headers={"HX-Request": "true"})
    assert done.status_code == 200 and done.headers["HX-Redirect"] == "/reports"


def test_required_user_with_2fa_signs_in_through_the_challenge(visitor: Browser, code) -> None:
    visitor.sign_in(ROOT)
    visitor.enable(code)
    visitor.sign_out()
    assert visitor.sign_in(ROOT).location == "/2fa/challenge"
    visitor.post_json("/2fa/validate", {"code": code(visitor.secret)})
    assert visitor.client.get("/").status_code == 200


def test_users_not_required_are_left_alone(visitor: Browser) -> None:
    visitor.sign_in(ANN)
    assert visitor.client.get("/").status_code == 200
    assert "requires two-factor" not in visitor.client.get("/2fa/settings").get_data(as_text=True)


def test_decorated_view_needs_2fa_whoever_the_user_is(visitor: Browser, code) -> None:
    visitor.sign_in(ANN)
    assert visitor.client.get("/reports").location == "/2fa/settings"
    assert visitor.get_json("/reports").status_code == 403
    visitor.enable(code)
    assert visitor.client.get("/reports").status_code == 200


def test_decorated_view_sends_anonymous_users_to_sign_in(visitor: Browser) -> None:
    response = visitor.client.get("/reports")
    assert response.status_code == 302 and response.location.startswith("/account/sign-in")


# -- deleting an account ------------------------------------------------------------------------


def test_a_deleted_accounts_2fa_is_forgotten_before_its_id_is_reused(host: Flask, visitor: Browser, code) -> None:
    visitor.sign_in(ROOT)
    visitor.enable(code)
    visitor.sign_out()
    with host.app_context():
        root = db.session.execute(db.select(models.User).filter_by(email=ROOT)).scalar_one()
        two_factor.forget(root)
        db.session.delete(root)
        db.session.commit()
        newcomer = models.add_user("new@example.com", PASSWORD)
        assert newcomer.id == 2  # SQLite hands the deleted id out again
        for table in ("two_factor_secrets", "two_factor_backup_codes", "two_factor_attempts"):
            assert db.session.execute(db.text(f"SELECT count(*) FROM {table} WHERE user_id = '2'")).scalar() == 0
    response = visitor.sign_in("new@example.com")
    assert response.status_code == 303 and response.location == "/"
