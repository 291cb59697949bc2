"""The settings page as a person meets it: two setup steps, the factors, a danger zone, errors under the wrong
field, backup codes that say whose they are, recent activity in sentences, and code fields that explain themselves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import User
from app.two_factor.models import TwoFactorAttempt
from tests.browser.steps import (
    answer_challenge,
    confirm_saved,
    download_codes,
    enabled_user,
    log_in,
    next_code,
    register,
    start_setup,
    turn_on,
    wrong_code,
)
from tests.browser.support import ErrorGuard, LiveServer, wait_until_settled
from tests.support import PASSWORD

pytestmark = pytest.mark.browser

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
WIDTH = "(el) => el.getBoundingClientRect().width"


def signed_in_with_two_factor(page: Page, server: LiveServer, username: str) -> tuple[str, list[str]]:
    """Create a user with 2FA on, sign in with the app's code and open the settings; return secret and codes."""
    secret, codes = enabled_user(server, username)
    log_in(page, server, username)
    answer_challenge(page, next_code(secret))
    expect(page).to_have_url(server("/"))
    page.goto(server("/2fa/settings"))
    return secret, codes


def add_attempts(server: LiveServer, username: str, rows: list[tuple[str, str, bool, str | None]]) -> None:
    """Write audited attempts straight into the table, each an hour older than the one before."""
    with server.app.app_context():
        user_id = str(db.session.query(User).filter_by(username=username).one().id)
        start = datetime.now(UTC) - timedelta(days=1)
        for age, (purpose, method, success, reason) in enumerate(rows):
            db.session.add(
                TwoFactorAttempt(
                    user_id=user_id, purpose=purpose, method=method, success=success, reason=reason,
                    ip_address="203.0.113.7", user_agent=FIREFOX, attempted_at=start - timedelta(hours=age),
                )
            )
        db.session.commit()


# -- 1. setup in two steps ------------------------------------------------------------------------


def test_setup_is_two_steps_with_the_key_folded_under_the_qr_code(any_page: Page, server: LiveServer) -> None:
    register(any_page, server, "amal")
    start_setup(any_page)
    steps = any_page.locator("#tf-setup .tf-steps > li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("Scan the QR code")
    expect(steps.nth(1)).to_contain_text("Enter the 6-digit code the app shows")
    expect(any_page.locator("#tf-setup")).to_contain_text("Any authenticator app works, such as Google Authenticator")
    manual = any_page.locator("#tf-manual")
    expect(manual.locator("#tf-secret")).to_be_hidden()
    manual.get_by_text("Can’t scan it? Enter the key by hand").click()
    expect(manual.locator("#tf-secret")).to_be_visible()
    expect(manual).to_contain_text("Account")
    expect(manual.locator("dd").first).to_have_text("amal")
    expect(manual).to_contain_text("Test Issuer")
    expect(manual).to_contain_text("Time-based")


def test_copy_buttons_keep_their_width_when_they_say_copied(page: Page, server: LiveServer) -> None:
    register(page, server, "bram")
    secret = start_setup(page)
    page.get_by_text("Can’t scan it? Enter the key by hand").click()
    button = page.get_by_role("button", name="Copy key")
    before = button.evaluate(WIDTH)
    button.click()
    button = page.locator("#tf-setup .tf-copy")  # its name is now "Copied"
    expect(button.locator(".tf-copy-done")).to_be_visible()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert button.evaluate(WIDTH) == before
    assert page.evaluate("navigator.clipboard.readText()") == secret
    expect(button.locator(".tf-copy-idle")).to_be_visible(timeout=4000)  # back after two seconds

    turn_on(page, secret)
    copy = page.locator("#tf-codes .tf-copy")
    before = copy.evaluate(WIDTH)
    copy.click()
    expect(copy.locator(".tf-copy-done")).to_be_visible()
    assert copy.evaluate(WIDTH) == before


# -- 2. the factors and the danger zone ----------------------------------------------------------


def test_the_factors_and_a_separate_danger_zone(page: Page, server: LiveServer) -> None:
    signed_in_with_two_factor(page, server, "cleo")
    factors = page.locator("#tf-status .tf-factor")
    expect(factors).to_have_count(2)
    expect(factors.nth(0)).to_contain_text("Authenticator app")
    expect(factors.nth(0).get_by_role("button", name="Replace authenticator app")).to_be_visible()
    expect(factors.nth(1)).to_contain_text("Backup codes")
    expect(factors.nth(1)).to_contain_text("10 of 10 left")
    expect(factors.nth(1).locator("#regenerate-password")).to_be_hidden()  # folded until asked for
    zone = page.locator("#tf-status .tf-danger-zone")
    expect(zone.get_by_role("heading", name="Turn off two-factor authentication")).to_be_visible()
    expect(zone).to_contain_text("Signing in will ask only for your password")
    # Red-bordered, with a red button: the host's error colour (or ours), whatever it is, and reddish.
    border = zone.evaluate("(el) => getComputedStyle(el).borderTopColor")
    turn_off = zone.get_by_role("button", name="Turn off", exact=True)
    assert turn_off.evaluate("(el) => getComputedStyle(el).backgroundColor") == border
    red, green, blue = map(int, re.findall(r"\d+", border)[:3])
    assert red > 2 * green and red > 2 * blue, border
    regenerate = page.locator("#tf-status .tf-factor").nth(1).locator("button[type=submit]")  # folded: not a role
    assert regenerate.evaluate("(el) => getComputedStyle(el).backgroundColor") != border
    # The danger zone comes last: after the factors and the recent activity.
    assert zone.evaluate("(el) => el.compareDocumentPosition(document.querySelector('.tf-activity')) & 2") == 2


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_turning_off_ends_in_a_neutral_notice_and_an_offer_to_turn_it_back_on(
    any_page: Page, server: LiveServer, scheme: str
) -> None:
    any_page.emulate_media(color_scheme=scheme)
    _, codes = signed_in_with_two_factor(any_page, server, "dina")
    any_page.locator("#disable-password").fill(PASSWORD)
    any_page.locator("#disable-code").fill(codes[0])
    any_page.get_by_role("button", name="Turn off", exact=True).click()
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("Off")
    notice = any_page.locator("#tf-status .tf-notice")
    expect(notice).to_contain_text("Two-factor authentication is off.")
    expect(notice).to_have_class(re.compile(r"\btf-notice-neutral\b"))
    colour = notice.evaluate("(el) => getComputedStyle(el).color")
    assert colour not in ("rgb(6, 118, 71)", "rgb(111, 220, 156)"), "a turned-off 2FA is no green success"
    expect(any_page.get_by_role("button", name="Set up two-factor authentication")).to_be_visible()
    expect(any_page.locator(".tf-danger-zone")).to_have_count(0)


# -- 3. errors under the field that was wrong ---------------------------------------------------


def test_a_wrong_password_keeps_the_code_and_says_so_under_the_password(
    any_page: Page, server: LiveServer, guard: ErrorGuard
) -> None:
    guard.expect_status(400)
    secret, _ = signed_in_with_two_factor(any_page, server, "emil")
    typed = wrong_code(secret)
    any_page.locator("#disable-password").fill("not the password")
    any_page.locator("#disable-code").fill(typed)
    any_page.get_by_role("button", name="Turn off", exact=True).click()
    password = any_page.locator("#disable-password")
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "disable-messages")
    error = any_page.locator(".tf-field:has(#disable-password) #disable-messages").get_by_role("alert")
    expect(error).to_contain_text("password")
    expect(any_page.locator("#disable-code")).to_have_value(typed)
    expect(any_page.locator("#disable-code")).not_to_have_attribute("aria-invalid", "true")
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("On")


def test_a_right_password_and_a_wrong_code_asks_only_for_the_code(
    any_page: Page, server: LiveServer, guard: ErrorGuard
) -> None:
    guard.expect_status(400)
    secret, codes = signed_in_with_two_factor(any_page, server, "fern")
    any_page.locator("#disable-password").fill(PASSWORD)
    any_page.locator("#disable-code").fill(wrong_code(secret))
    any_page.get_by_role("button", name="Turn off", exact=True).click()
    zone = any_page.locator(".tf-danger-zone")
    expect(zone.get_by_text("Password confirmed")).to_be_visible()
    expect(any_page.locator("#disable-password")).to_have_count(0)
    code = any_page.locator("#disable-code")
    expect(code).to_be_focused()
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_have_value("")
    expect(any_page.locator(".tf-field:has(#disable-code) #disable-messages").get_by_role("alert")).to_be_visible()
    # The regenerate form, untouched, still asks for its password.
    expect(any_page.locator("#regenerate-password")).to_have_count(1)
    code.fill(codes[0])
    any_page.get_by_role("button", name="Turn off", exact=True).click()
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("Off")


# -- 4. backup codes that say whose they are ----------------------------------------------------


def test_the_codes_file_and_printout_say_account_site_and_date(page: Page, server: LiveServer) -> None:
    register(page, server, "gus")
    secret = start_setup(page)
    codes = turn_on(page, secret)
    text = download_codes(page)
    host = server.url.removeprefix("http://")
    today = datetime.now(UTC).strftime("%B %-d, %Y")
    assert text.startswith("Test Issuer backup codes\n"), text
    assert "Account: gus\n" in text and f"Site: Test Issuer ({host})\n" in text and today in text, text
    assert [line for line in text.splitlines() if line.count("-") == 5] == codes

    header = page.locator("#tf-codes .tf-print-header")
    expect(header).to_be_hidden()
    page.emulate_media(media="print")
    expect(header).to_be_visible()
    expect(header).to_contain_text("Account: gus")
    expect(header).to_contain_text(host)
    expect(header).to_contain_text(today)
    page.emulate_media(media="screen")
    confirm_saved(page)


# -- 5. recent activity -----------------------------------------------------------------------------


def test_activity_reads_as_sentences_and_shows_more_without_javascript(any_page: Page, server: LiveServer) -> None:
    signed_in_with_two_factor(any_page, server, "hale")
    rows = [
        ("login", "totp", False, "wrong_code"),
        ("login", "backup_code", True, None),
        ("login", "totp", False, "locked"),
        ("disable", "totp", False, "wrong_password"),
        ("regenerate", "backup_code", True, None),
        ("reauth", "password", True, None),
        ("login", "totp", False, None),
    ]
    add_attempts(server, "hale", rows)
    any_page.reload()
    activity = any_page.locator(".tf-activity")
    shown = activity.locator("> .tf-events > .tf-event")
    expect(shown).to_have_count(5)
    expect(shown.first).to_contain_text("You signed in with a code from your authenticator app.")
    expect(activity).to_contain_text("Someone entered a wrong code while signing in.")
    expect(activity).to_contain_text("A backup code was used to sign in.")
    expect(activity).to_contain_text("A sign-in was blocked: too many attempts.")
    expect(shown.nth(1)).to_contain_text("Two-factor authentication was turned on.")
    expect(shown.nth(2)).to_contain_text("Firefox 133 on Windows")
    expect(shown.nth(2)).to_contain_text("203.0.113.7")

    more = activity.locator("details.tf-more")
    hidden = more.locator(".tf-event")
    expect(hidden).to_have_count(4)  # turning on and signing in, then the 7 added: 9 in all
    expect(hidden.first).to_be_hidden()
    more.locator("summary").click()
    expect(more.locator("summary")).to_have_text("Show 4 more events")
    expect(hidden.last).to_be_visible()
    expect(hidden.last).to_contain_text("A sign-in with two-factor authentication failed.")


def test_activity_times_are_utc_without_javascript_and_local_with_it(
    page: Page, nojs_page: Page, server: LiveServer
) -> None:
    signed_in_with_two_factor(nojs_page, server, "iker")
    plain = nojs_page.locator(".tf-event time").first
    expect(plain).to_have_text(re.compile(r"\d.* UTC$"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", plain.get_attribute("datetime") or "")

    signed_in_with_two_factor(page, server, "ines")
    local = page.locator(".tf-event time").first
    expect(local).to_have_attribute("title", re.compile(r"UTC$"))
    expected = local.evaluate(
        """(el) => new Intl.DateTimeFormat(document.documentElement.lang, {dateStyle: "medium", timeStyle: "short"})
            .format(new Date(el.getAttribute("datetime")))"""
    )
    expect(local).to_have_text(expected)


# -- 6. code fields that say what they want ---------------------------------------------------------


def test_a_code_field_says_what_it_wants(page: Page, server: LiveServer) -> None:
    register(page, server, "jana")
    start_setup(page)
    field = page.get_by_label("Enter the 6-digit code the app shows")
    expect(field).to_have_attribute("title", "Enter the 6 digits your app shows, without letters.")
    field.fill("12a456")
    page.get_by_role("button", name="Turn on").click()
    assert field.evaluate("(el) => el.validationMessage") == "Enter the 6 digits your app shows, without letters."
    expect(page.locator("#tf-setup")).to_be_visible()
    field.fill("123456")
    assert field.evaluate("(el) => el.validity.valid") is True


def test_not_you_signs_out_everywhere_else(any_page: Page, server: LiveServer) -> None:
    signed_in_with_two_factor(any_page, server, "kemal")
    activity = any_page.locator(".tf-activity")
    expect(activity).to_contain_text("Not you?")
    expect(activity).to_contain_text("change your password")
    activity.get_by_role("button", name="Sign out everywhere else").click()
    wait_until_settled(any_page)
    # The API client that turned 2FA on is the other session.
    expect(any_page.locator("#tf-sessions-messages")).to_contain_text("Signed out everywhere else")
