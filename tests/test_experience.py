"""The hard moments in words and flow: a wrong code, a backup code used, a wrong field, a mistyped address."""

from __future__ import annotations

import re

import pytest

from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code
from tests.test_rules_replay_throttle import pending_login

pytestmark = pytest.mark.both_backends


def form_post(api: Api, path: str, fields: dict[str, str], **headers: str):
    """Post a form as a browser without JavaScript does (or htmx, with HX-Request)."""
    return api.client.post(path, data={"csrf_token": api.token, **fields}, headers=headers)


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_a_wrong_code_says_codes_change_and_to_check_the_clock(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    error = enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)}).get_json()["error"]
    assert "Codes change every 30 seconds" in error and "date and time automatically" in error


def test_a_mistyped_code_then_the_right_one_signs_in(enabled: Api, clock: FrozenClock) -> None:
    pending_login(enabled)
    assert enabled.post("/2fa/validate", {"code": wrong_code(enabled.secret, clock)}).status_code == 401
    clock.advance(1)
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock)}).get_json()["valid"] is True


@pytest.mark.parametrize(("steps", "words"), [(-4, "about 2 minutes slow"), (-2, "about 1 minute slow")])
def test_a_code_from_a_clock_a_few_minutes_off_says_so(
    enabled: Api, clock: FrozenClock, steps: int, words: str
) -> None:
    pending_login(enabled)
    clock.advance(31)
    response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock, offset_steps=steps)})
    assert response.status_code == 401 and words in response.get_json()["error"]


def test_a_code_from_a_fast_clock_is_not_named_at_sign_in(enabled: Api, clock: FrozenClock) -> None:
    # A code of a step ahead becomes valid soon: the generic words only, so a guesser learns nothing.
    pending_login(enabled)
    error = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock, 4)}).get_json()["error"]
    assert "clock looks" not in error and "Codes change every 30 seconds" in error


def test_the_challenge_names_the_account_signing_in(enabled: Api) -> None:
    pending_login(enabled)
    assert "Signing in as alice" in page_text(enabled.client.get("/2fa/challenge"))


def test_a_backup_code_sign_in_stops_on_a_page_with_the_count_left(enabled: Api) -> None:
    pending_login(enabled)
    response = form_post(enabled, "/2fa/validate", {"code": enabled.backup_codes[0]})
    assert response.status_code == 303 and response.location.endswith("/2fa/signed-in")
    page = enabled.client.get("/2fa/signed-in")
    text = page_text(page)
    assert "You have 9 backup codes left." in text and "Set up a new phone" in text
    assert 'href="/"' in page.get_data(as_text=True)  # Continue leads where the sign-in was going
    # Shown once: the page does not come back on a reload.
    assert enabled.client.get("/2fa/signed-in").status_code == 303


def test_the_last_backup_codes_are_called_out(enabled: Api, clock: FrozenClock) -> None:
    for code in enabled.backup_codes[:9]:
        pending_login(enabled)
        clock.advance(1)
        assert form_post(enabled, "/2fa/validate", {"code": code}).status_code == 303
    text = page_text(enabled.client.get("/2fa/signed-in"))
    assert "You have 1 backup code left." in text and "Make new backup codes now" in text


def test_json_clients_keep_the_contract_after_a_backup_code(enabled: Api) -> None:
    pending_login(enabled)
    body = enabled.post("/2fa/validate", {"code": enabled.backup_codes[0]}).get_json()
    assert body == {"valid": True, "required": True, "redirect": "/"}


def test_a_wrong_password_keeps_the_code_and_marks_the_password(enabled: Api, clock: FrozenClock) -> None:
    code = totp_now(enabled.secret, clock)
    response = form_post(enabled, "/2fa/disable", {"password": "not it", "code": code}, **{"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "That password isn&#39;t right." in html
    assert f'value="{code}"' in html


def test_a_right_password_and_a_wrong_code_ask_only_for_the_code(enabled: Api, clock: FrozenClock) -> None:
    fields = {"password": PASSWORD, "code": wrong_code(enabled.secret, clock)}
    response = form_post(enabled, "/2fa/disable", fields, **{"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and PASSWORD not in html
    assert 'id="disable-password"' not in html and "Password confirmed" in html  # it was right: not asked again
    clock.advance(31)
    response = form_post(enabled, "/2fa/disable", {"code": totp_now(enabled.secret, clock)}, **{"HX-Request": "true"})
    assert response.status_code == 200 and enabled.get("/2fa/status").get_json()["enabled"] is False


def test_the_confirmed_password_expires_and_is_bound_to_the_form(enabled: Api, clock: FrozenClock) -> None:
    form_post(enabled, "/2fa/disable", {"password": PASSWORD, "code": wrong_code(enabled.secret, clock)})
    clock.advance(31)
    # Another form than the one the password was given for still needs it.
    assert form_post(enabled, "/2fa/backup-codes", {"code": totp_now(enabled.secret, clock)}).status_code == 400
    clock.advance(301)
    assert form_post(enabled, "/2fa/disable", {"code": totp_now(enabled.secret, clock)}).status_code == 400
    assert enabled.get("/2fa/status").get_json()["enabled"] is True


def test_turning_off_is_said_neutrally(enabled: Api, clock: FrozenClock) -> None:
    fields = {"password": PASSWORD, "code": totp_now(enabled.secret, clock)}
    html = form_post(enabled, "/2fa/disable", fields, **{"HX-Request": "true"}).get_data(as_text=True)
    assert "tf-notice-neutral" in html and "Signing in now takes your password alone." in html


def test_done_without_javascript_leaves_a_clean_address(enabled: Api) -> None:
    response = enabled.client.get("/2fa/settings?saved=on")
    assert response.status_code == 303 and response.location.endswith("/2fa/settings")


def test_a_mistyped_address_under_the_prefix_gets_a_styled_page(api: Api) -> None:
    response = api.client.get("/2fa/no-such-page")
    assert response.status_code == 404 and "There is no page at this address." in page_text(response)
    assert api.get("/2fa/no-such-page").get_json()["error"].startswith("There is no page")
