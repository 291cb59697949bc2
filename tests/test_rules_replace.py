"""Replacing the authenticator app (a new phone) without turning 2FA off, through the HTTP API with a frozen clock."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.two_factor import notifications
from app.two_factor.models import TwoFactorAttempt, TwoFactorSecret
from tests.helpers_real import release_together
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code
from tests.test_rules_reauth import form, stale
from tests.test_rules_replay_throttle import account_failures, failures, pending_login
from tests.test_rules_sessions import copy_of, signed_in, signed_in_with_code

pytestmark = pytest.mark.both_backends


def begin(api: Api) -> str:
    """Start a replacement; return the new app's secret."""
    response = api.post("/2fa/replace")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"qrCode", "secret", "otpauthUri"} and body["qrCode"].startswith("data:image/svg+xml")
    assert body["secret"] in body["otpauthUri"] and body["secret"] != api.secret
    return body["secret"]


def confirm(api: Api, code: str):
    return api.post("/2fa/replace/verify", {"code": code})


def signs_in_with(api: Api, code: str) -> bool:
    """Sign out, pass the password, and say whether ``code`` passes the challenge."""
    pending_login(api)
    status = api.post("/2fa/validate", {"code": code}).status_code
    api.refresh_token()
    return status == 200


def stored(app: Flask) -> TwoFactorSecret:
    with app.app_context():
        return db.session.scalars(select(TwoFactorSecret)).one()


def attempts(app: Flask, purpose: str) -> list[tuple[bool, str | None]]:
    with app.app_context():
        query = select(TwoFactorAttempt).where(TwoFactorAttempt.purpose == purpose)
        return [(row.success, row.reason) for row in db.session.scalars(query.order_by(TwoFactorAttempt.attempted_at))]


# -- re-authentication (S16) -------------------------------------------------------------------


def test_replacing_needs_a_recent_reauthentication(app, enabled: Api, clock: FrozenClock) -> None:
    stale(clock)
    response = enabled.post("/2fa/replace")
    assert response.status_code == 403 and response.get_json()["reauthenticate"] is True
    assert stored(app).replacement_secret is None
    assert confirm(enabled, totp_now(enabled.secret, clock)).status_code == 403


def test_a_pending_replacement_cannot_be_confirmed_once_the_window_is_over(enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    stale(clock)
    response = confirm(enabled, totp_now(new, clock))
    assert response.status_code == 403 and response.get_json()["reauthenticate"] is True
    assert signs_in_with(enabled, totp_now(enabled.secret, clock))


def test_without_2fa_there_is_nothing_to_replace(app, api: Api) -> None:
    api.register()
    response = api.post("/2fa/replace")
    assert response.status_code == 400 and response.get_json()["error"]
    assert api.get("/2fa/status").get_json() == {"enabled": False, "pending": False, "backupCodesRemaining": 0}


# -- the old app works until the new one is confirmed -------------------------------------------


def test_the_old_app_signs_in_while_the_replacement_is_pending(enabled: Api, clock: FrozenClock) -> None:
    begin(enabled)
    assert signs_in_with(enabled, totp_now(enabled.secret, clock))


def test_a_code_from_the_new_app_does_not_sign_in_before_confirmation(enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    assert not signs_in_with(enabled, totp_now(new, clock))


def test_a_code_from_the_old_app_cannot_confirm(app, enabled: Api, clock: FrozenClock) -> None:
    old = enabled.secret
    new = begin(enabled)
    response = confirm(enabled, totp_now(old, clock))
    assert response.status_code == 400 and response.get_json()["error"]
    assert stored(app).replacement_secret is not None  # still pending
    assert account_failures(app) == 1 and failures(app) == 0
    assert attempts(app, "replace") == [(False, "wrong_code")]
    assert confirm(enabled, totp_now(new, clock)).status_code == 200  # the new app's code still does


def test_a_wrong_code_counts_in_the_account_scope(app, enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    bad = wrong_code(new, clock)
    statuses = [confirm(enabled, bad).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    assert account_failures(app) == 4 and failures(app) == 0


def test_only_a_code_from_the_app_confirms(app, enabled: Api, clock: FrozenClock) -> None:
    begin(enabled)
    response = confirm(enabled, enabled.backup_codes[0])
    assert response.status_code == 400 and account_failures(app) == 0
    assert enabled.get("/2fa/status").get_json()["backupCodesRemaining"] == 10


# -- after confirming --------------------------------------------------------------------------


def test_after_confirming_only_the_new_app_signs_in(app, enabled: Api, clock: FrozenClock) -> None:
    old = enabled.secret
    new = begin(enabled)
    response = confirm(enabled, totp_now(new, clock))
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True and body["message"]
    assert stored(app).replacement_secret is None
    clock.advance(30)
    assert not signs_in_with(enabled, totp_now(old, clock))
    assert signs_in_with(enabled, totp_now(new, clock))


def test_the_confirming_code_cannot_sign_in_again(enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    code = totp_now(new, clock)
    assert confirm(enabled, code).status_code == 200
    pending_login(enabled)
    response = enabled.post("/2fa/validate", {"code": code})
    assert response.status_code == 401 and "already used" in response.get_json()["error"]


def test_the_backup_codes_are_kept(enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    assert confirm(enabled, totp_now(new, clock)).status_code == 200
    assert enabled.get("/2fa/status").get_json() == {"enabled": True, "pending": False, "backupCodesRemaining": 10}
    assert signs_in_with(enabled, enabled.backup_codes[0])
    assert enabled.get("/2fa/status").get_json()["backupCodesRemaining"] == 9


def test_confirming_is_audited_as_replace(app, enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    confirm(enabled, wrong_code(new, clock))
    confirm(enabled, totp_now(new, clock))
    assert attempts(app, "replace") == [(False, "wrong_code"), (True, None)]


def test_confirming_signs_out_every_other_session(app, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    thief = copy_of(laptop)
    new = begin(enabled)
    assert confirm(enabled, totp_now(new, clock)).status_code == 200
    assert not signed_in(thief) and not signed_in(laptop)
    assert signed_in(enabled)


def test_a_failed_confirmation_signs_nobody_out(app, enabled: Api, clock: FrozenClock) -> None:
    laptop = signed_in_with_code(app, clock, enabled.secret)
    new = begin(enabled)
    assert confirm(enabled, wrong_code(new, clock)).status_code == 400
    assert signed_in(laptop)


def test_confirming_notifies_the_user(app, enabled: Api, clock: FrozenClock) -> None:
    received = []
    app.extensions["two_factor"].notify = lambda user, notice: received.append(notice)
    new = begin(enabled)
    assert received == []  # nothing changed yet
    assert confirm(enabled, totp_now(new, clock)).status_code == 200
    notifications.wait()
    [notice] = received
    assert notice.event == "authenticator_replaced"
    assert notice.subject.startswith("Your authenticator app was replaced")
    assert "backup codes stay the same" in notice.text and "backup codes" in notice.html
    assert new not in notice.text and new not in notice.html


@pytest.mark.postgres  # real concurrency: PostgreSQL only
@pytest.mark.parametrize("config_overrides", [{"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 12, "max_overflow": 4}}])
def test_of_parallel_confirmations_with_one_code_exactly_one_wins(
    app, enabled: Api, clock: FrozenClock, backend: str
) -> None:
    new = begin(enabled)
    code = totp_now(new, clock)
    statuses = release_together([copy_of(enabled) for _ in range(10)], lambda api: confirm(api, code).status_code)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 400, 429}, statuses
    assert [success for success, _ in attempts(app, "replace")].count(True) == 1
    assert stored(app).replacement_secret is None


# -- starting again, cancelling ------------------------------------------------------------------


def test_cancel_keeps_the_old_app(app, enabled: Api, clock: FrozenClock) -> None:
    new = begin(enabled)
    response = enabled.post("/2fa/replace/cancel")
    assert response.status_code == 200 and response.get_json()["success"] is True
    assert stored(app).replacement_secret is None
    refused = confirm(enabled, totp_now(new, clock))
    assert refused.status_code == 400 and "Replace authenticator app" in refused.get_json()["error"]
    assert not signs_in_with(enabled, totp_now(new, clock))
    assert signs_in_with(enabled, totp_now(enabled.secret, clock))


def test_starting_again_makes_a_new_secret(enabled: Api, clock: FrozenClock) -> None:
    first = begin(enabled)
    second = begin(enabled)
    assert first != second
    assert confirm(enabled, totp_now(first, clock)).status_code == 400
    assert confirm(enabled, totp_now(second, clock)).status_code == 200


def test_turning_2fa_off_drops_a_pending_replacement(app, enabled: Api, clock: FrozenClock) -> None:
    begin(enabled)
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(TwoFactorSecret)).all() == []


# -- the page: htmx in place, and without JavaScript ---------------------------------------------


def test_htmx_gets_the_replace_panel_and_then_the_status(app, enabled: Api, clock: FrozenClock) -> None:
    started = form(enabled, "/2fa/replace", htmx="yes")
    html = started.get_data(as_text=True)
    assert started.status_code == 200 and 'id="tf-replace"' in html and 'class="tf-qr"' in html
    new = stored_replacement(app)
    wrong = form(enabled, "/2fa/replace/verify", {"code": wrong_code(new, clock)}, htmx="yes")
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and 'id="tf-replace"' in html and 'class="tf-error"' in html
    done = form(enabled, "/2fa/replace/verify", {"code": totp_now(new, clock)}, htmx="yes")
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="tf-status"' in html and "Codes from the old one no longer work" in html
    assert done.headers["HX-Trigger"] == "tf-sessions-changed"


def test_without_javascript_the_settings_page_shows_the_pending_replacement(
    app, enabled: Api, clock: FrozenClock
) -> None:
    started = form(enabled, "/2fa/replace")
    assert started.status_code == 303 and started.headers["Location"] == "/2fa/settings"
    new = stored_replacement(app)
    page = enabled.client.get("/2fa/settings").get_data(as_text=True)
    assert 'id="tf-replace"' in page and new[:4] in page
    wrong = form(enabled, "/2fa/replace/verify", {"code": wrong_code(new, clock)})
    assert wrong.status_code == 400 and 'id="tf-replace"' in wrong.get_data(as_text=True)
    done = form(enabled, "/2fa/replace/verify", {"code": totp_now(new, clock)})
    assert done.status_code == 303 and done.headers["Location"] == "/2fa/settings"
    page = enabled.client.get("/2fa/settings").get_data(as_text=True)
    assert 'id="tf-replace"' not in page and "Codes from the old one no longer work" in page


def test_a_pending_replacement_is_shown_again_only_inside_the_window(app, enabled: Api, clock: FrozenClock) -> None:
    begin(enabled)
    new = stored_replacement(app)
    assert new[:4] in enabled.client.get("/2fa/settings").get_data(as_text=True)
    stale(clock)
    page = enabled.client.get("/2fa/settings").get_data(as_text=True)
    assert new[:4] not in page and 'id="tf-replace"' not in page and 'id="tf-status"' in page


def test_cancel_without_javascript_goes_back_to_the_settings(app, enabled: Api) -> None:
    begin(enabled)
    cancelled = form(enabled, "/2fa/replace/cancel")
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == "/2fa/settings"
    page = enabled.client.get("/2fa/settings").get_data(as_text=True)
    assert 'id="tf-status"' in page and "Your current authenticator app keeps working" in page


def stored_replacement(app: Flask) -> str:
    """Return the pending replacement's secret in the clear, as the page shows it."""
    encrypted = stored(app).replacement_secret
    assert encrypted is not None
    with app.app_context():
        return app.extensions["two_factor"].keys.decrypt(encrypted)
