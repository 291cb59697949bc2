"""S7 backup codes (120 bits, older codes, keyed hashes, ASCII input) and S8 the pending login, through the HTTP API."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.two_factor import codes
from app.two_factor.models import TwoFactorBackupCode
from tests.conftest import ENCRYPTION_KEY
from tests.support import PASSWORD, START, Api, FrozenClock, totp_now
from tests.test_rules_replay_throttle import failures, pending_login

pytestmark = pytest.mark.both_backends

# -- S7: backup codes --------------------------------------------------------------------------


def test_backup_code_works_once(enabled: Api, clock: FrozenClock) -> None:
    code = enabled.backup_codes[3]
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": code}).status_code == 200
    pending_login(enabled)
    clock.advance(5)
    assert enabled.post("/2fa/validate", {"code": code}).status_code == 401


def test_backup_code_input_is_normalised(enabled: Api) -> None:
    typed = " " + enabled.backup_codes[0].lower().replace("-", " ") + " "
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": typed}).status_code == 200


def test_only_keyed_hashes_are_stored(app, enabled: Api) -> None:
    with app.app_context():
        stored = {row.code_hash for row in db.session.scalars(select(TwoFactorBackupCode))}
    assert len(stored) == 10
    plain = [code.replace("-", "") for code in enabled.backup_codes]
    assert not set(plain) & stored
    # Computed here, not with the product's helpers: HMAC-SHA256 under a key derived (HKDF) from the
    # encryption key, so the database alone never lets anyone test a guess.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"flask-two-factor/backup-code-hmac/v1").derive(
        ENCRYPTION_KEY.encode()
    )
    assert stored == {hmac.new(key, code.encode(), hashlib.sha256).hexdigest() for code in plain}
    assert not stored & {hashlib.sha256(code.encode()).hexdigest() for code in plain}


def test_issued_codes_are_six_groups_of_four(enabled: Api) -> None:
    assert all(re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){5}[0-9A-HJKMNP-TV-Z]{4}", c) for c in enabled.backup_codes)


def give_code(app, display: str) -> None:
    """Store one more unused code for the only user, hashed as the product hashes codes."""
    with app.app_context():
        user_id = db.session.scalar(select(TwoFactorBackupCode.user_id))
        key = app.extensions["two_factor"].keys.newest_code_key
        digest = codes.keyed_hash(key.key, codes.normalize(display) or "")
        db.session.add(TwoFactorBackupCode(user_id=user_id, code_hash=digest, key_id=key.key_id, created_at=START))
        db.session.commit()


def test_older_80_bit_codes_work_until_regenerated(app, enabled: Api, clock: FrozenClock) -> None:
    give_code(app, "ABCD-EFGH-JKMN-PQRS")
    give_code(app, "TVWX-YZ01-2345-6789")
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": "abcd efgh jkmn pqrs"}).status_code == 200
    enabled.refresh_token()  # the session was re-established at sign-in
    clock.advance(30)
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": "TVWX-YZ01-2345-6789"}).status_code == 401


def test_letters_that_only_look_ascii_are_not_a_code(app, enabled: Api) -> None:
    give_code(app, "SSSS-SSSS-SSSS-SSSS-SSSS-SSSS")
    pending_login(enabled)
    # "ſ" (U+017F) upper-cases to "S": read before the ASCII check, it signed in.
    response = enabled.post("/2fa/validate", {"code": "ſSSS-SSSS-SSSS-SSSS-SSSS-SSSS"})
    assert response.status_code == 400
    assert failures(app) == 0
    assert enabled.post("/2fa/validate", {"code": "ssss-ssss-ssss-ssss-ssss-ssss"}).status_code == 200


def test_a_code_padded_past_64_characters_is_refused_uncounted(app, enabled: Api) -> None:
    pending_login(enabled)
    for padded in (enabled.backup_codes[0] + "-" * 10_000, enabled.backup_codes[0][::-1] + " " * 100):
        response = enabled.post("/2fa/validate", {"code": padded})
        assert response.status_code == 400
    assert failures(app) == 0
    assert enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).status_code == 200


def test_regenerating_invalidates_the_old_codes(enabled: Api, clock: FrozenClock) -> None:
    old = enabled.backup_codes[0]
    response = enabled.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    new = response.get_json()["backupCodes"]
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": old}).status_code == 401
    clock.advance(1)
    assert enabled.post("/2fa/validate", {"code": new[0]}).status_code == 200


def test_codes_are_shown_once(enabled: Api, client) -> None:
    page = client.get("/2fa/settings").get_data(as_text=True)
    status = enabled.get("/2fa/status").get_data(as_text=True)
    for code in enabled.backup_codes:
        assert code not in page and code not in status


def test_codes_are_issued_only_when_2fa_becomes_active(app, api: Api) -> None:
    api.register()
    api.setup()
    with app.app_context():
        assert db.session.scalar(select(TwoFactorBackupCode)) is None
    assert api.get("/2fa/status").get_json()["backupCodesRemaining"] == 0


# -- S8: the pending login ---------------------------------------------------------------------


def test_no_protected_view_while_pending(enabled: Api, client) -> None:
    pending_login(enabled)
    assert client.get("/").status_code == 302
    assert client.get("/2fa/settings").status_code == 302
    assert enabled.get("/2fa/status").status_code == 401


def test_pending_session_holds_only_user_id_and_time(enabled: Api, client) -> None:
    pending_login(enabled)
    with client.session_transaction() as session:
        pending = session["_two_factor_pending"]
        assert "_user_id" not in session
    assert set(pending) <= {"user_id", "issued_at", "next", "remember"}


def test_challenge_expires_after_ttl(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    clock.advance(301)
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 401 and "expired" in response.get_json()["error"]
    assert enabled.client.get("/2fa/challenge").status_code == 302


def test_challenge_within_ttl_succeeds(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    clock.advance(299)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).status_code == 200


def test_session_is_re_established_after_validation(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    old_token = enabled.token
    enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    with enabled.client.session_transaction() as session:
        assert "_two_factor_pending" not in session
        assert "csrf_token" not in session  # the old token died with the old session
    assert enabled.refresh_token() != old_token


def test_a_user_deleted_while_pending_is_not_signed_in(app, enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    app.extensions["two_factor"].load_user = lambda user_id: None
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 401
    assert response.get_json() == {"valid": False, "required": True, "error": "Sign in again."}
    assert enabled.get("/2fa/status").status_code == 401
    with enabled.client.session_transaction() as session:
        assert "_two_factor_pending" not in session


def test_an_account_made_inactive_while_pending_is_not_signed_in(
    enabled: Api, clock: FrozenClock, monkeypatch
) -> None:
    pending_login(enabled)
    monkeypatch.setattr(User, "is_active", property(lambda user: False))
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.status_code == 401
    assert response.get_json() == {"valid": False, "required": True, "error": "This account cannot sign in."}
    monkeypatch.undo()
    assert enabled.get("/2fa/status").status_code == 401


def test_next_is_honoured_for_same_site_paths(enabled: Api, clock: FrozenClock) -> None:
    enabled.logout()
    enabled.refresh_token()
    enabled.post("/login?next=/2fa/settings", {"username": "alice", "password": PASSWORD})
    enabled.refresh_token()
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
    assert response.get_json()["redirect"] == "/2fa/settings"


def test_next_to_another_site_is_ignored(enabled: Api, clock: FrozenClock) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        enabled.logout()
        enabled.refresh_token()
        enabled.post(f"/login?next={target}", {"username": "alice", "password": PASSWORD})
        enabled.refresh_token()
        response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)})
        assert response.get_json()["redirect"] == "/", target
        clock.advance(30)


# Browsers read each of these as //evil.example: extra slashes, a backslash, a tab they strip.
OFF_SITE_PATHS = ("///evil.example", "////evil.example/", "/\\evil.example", "\\/evil.example", "/\t/evil.example")


def validate_and_follow(api: Api, code: str, htmx: bool) -> str:
    """Send the code as a JSON client or as htmx; return where the answer sends the browser."""
    if not htmx:
        return api.post("/2fa/validate", {"code": code}).get_json()["redirect"]
    form = {"code": code, "csrf_token": api.token}
    return api.client.post("/2fa/validate", data=form, headers={"HX-Request": "true"}).headers["HX-Redirect"]


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
@pytest.mark.parametrize("target", OFF_SITE_PATHS)
def test_next_that_browsers_read_as_another_site_is_ignored(
    enabled: Api, clock: FrozenClock, target: str, htmx: bool
) -> None:
    enabled.logout()
    enabled.post(f"/login?next={quote(target, safe='')}", {"username": "alice", "password": PASSWORD})
    enabled.refresh_token()
    assert validate_and_follow(enabled, totp_now(enabled.secret, clock), htmx) == "/"


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
def test_validate_checks_next_even_if_the_host_did_not(enabled: Api, clock: FrozenClock, htmx: bool) -> None:
    pending_login(enabled)
    with enabled.client.session_transaction() as session:  # as if the host passed next on unchecked
        session["_two_factor_pending"] = {**session["_two_factor_pending"], "next": "///evil.example"}
    assert validate_and_follow(enabled, totp_now(enabled.secret, clock), htmx) == "/"


def test_browser_challenge_redirects_with_303(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    page = enabled.client.get("/2fa/challenge")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    response = enabled.client.post(
        "/2fa/validate", data={"code": totp_now(enabled.secret, clock), "csrf_token": enabled.token}
    )
    assert response.status_code == 303 and response.location == "/"
    assert enabled.client.get("/").status_code == 200


def test_challenge_page_after_expiry_says_why(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    clock.advance(301)
    page = enabled.client.get("/2fa/challenge")
    assert page.status_code == 401 and "expired" in page.get_data(as_text=True)


def test_signed_out_form_post_comes_back_to_the_settings_page(client, api: Api) -> None:
    api.refresh_token()
    response = client.post("/2fa/disable", data={"csrf_token": api.token, "password": "x", "code": "123456"})
    assert response.status_code in (302, 303)
    assert response.location.startswith("/login") and "next=%2F2fa%2Fsettings" in response.location


def test_signed_out_htmx_post_redirects_the_whole_page(client, api: Api) -> None:
    api.refresh_token()
    response = client.post("/2fa/setup", headers={"HX-Request": "true", "X-CSRFToken": api.token})
    assert response.headers["HX-Redirect"].startswith("/login")


def test_disable_without_javascript_shows_the_notice_after_the_redirect(enabled: Api, clock: FrozenClock) -> None:
    form = {"csrf_token": enabled.token, "password": PASSWORD, "code": totp_now(enabled.secret, clock)}
    response = enabled.client.post("/2fa/disable", data=form)
    assert response.status_code == 303
    page = enabled.client.get(response.location).get_data(as_text=True)
    assert "Two-factor authentication is off." in page
