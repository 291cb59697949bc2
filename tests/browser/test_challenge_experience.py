"""The sign-in's hard moments in a browser: a typo, a phone clock that is off, a backup code used, a lost page."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import answer_challenge, enabled_user, log_in, next_code, wrong_code
from tests.browser.support import ErrorGuard, LiveServer

pytestmark = pytest.mark.browser


def test_the_challenge_names_the_account_and_hides_the_sign_in_links(any_page: Page, server: LiveServer) -> None:
    enabled_user(server, "paula")
    log_in(any_page, server, "paula")
    expect(any_page.get_by_text("Signing in as paula").first).to_be_visible()
    header = any_page.locator("header")
    expect(header.get_by_role("link", name="Log in")).to_have_count(0)
    expect(header.get_by_role("link", name="Register")).to_have_count(0)


def test_a_mistyped_code_says_why_and_the_right_one_signs_in(
    any_page: Page, server: LiveServer, guard: ErrorGuard
) -> None:
    guard.expect_status(401)
    secret, _ = enabled_user(server, "quinn")
    log_in(any_page, server, "quinn")
    answer_challenge(any_page, wrong_code(secret))
    alert = any_page.locator("#tf-code-messages").get_by_role("alert")
    expect(alert).to_contain_text("Codes change every 30 seconds")
    expect(any_page.get_by_label("6-digit code", exact=True)).to_be_focused()
    answer_challenge(any_page, next_code(secret))
    expect(any_page).to_have_url(server("/"))


def test_a_phone_clock_minutes_off_is_named(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401)
    secret, _ = enabled_user(server, "rosa")
    log_in(any_page, server, "rosa")
    answer_challenge(any_page, pyotp.TOTP(secret).at(time.time() - 150))  # five steps behind: a slow clock
    expect(any_page.locator("#tf-code-messages").get_by_role("alert")).to_contain_text("clock looks about")
    answer_challenge(any_page, next_code(secret))
    expect(any_page).to_have_url(server("/"))


def test_a_letter_in_the_code_field_gets_our_words(page: Page, server: LiveServer) -> None:
    enabled_user(server, "sami")
    log_in(page, server, "sami")
    field = page.get_by_label("6-digit code", exact=True)
    field.fill("12a456")
    page.get_by_role("button", name="Verify").click()
    message = field.evaluate("input => input.validationMessage")
    assert message == "Enter the 6 digits from your authenticator app, without letters."
    expect(page).to_have_url(server("/2fa/challenge"))


def test_a_backup_code_sign_in_says_how_many_are_left(any_page: Page, server: LiveServer) -> None:
    _, codes = enabled_user(server, "tara")
    log_in(any_page, server, "tara")
    any_page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    answer_challenge(any_page, codes[0])
    expect(any_page).to_have_url(server("/2fa/signed-in"))
    expect(any_page.get_by_role("status")).to_contain_text("You have 9 backup codes left.")
    any_page.get_by_role("link", name="Set up a new phone").click()
    expect(any_page).to_have_url(server("/2fa/settings#tf-status"))
    expect(any_page.get_by_role("heading", name="Security settings")).to_be_visible()


def test_a_backup_code_sign_in_continues_where_it_was_going(any_page: Page, server: LiveServer) -> None:
    _, codes = enabled_user(server, "uma")
    log_in(any_page, server, "uma")
    any_page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    answer_challenge(any_page, codes[1])
    any_page.get_by_role("link", name="Continue").click()
    expect(any_page).to_have_url(server("/"))


def test_a_mistyped_address_gets_a_styled_page(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(404)
    for path in ("/2fa/no-such-page", "/no-such-page"):
        any_page.goto(server(path))
        expect(any_page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(any_page.locator("link[rel=stylesheet]").first).to_be_attached()
