"""Errors and notices appear where the person looks, in a live region, with JavaScript on or off."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import (
    answer_challenge,
    answer_until_throttled,
    enabled_user,
    log_in,
    next_code,
    register,
    start_setup,
    submit_setup_code,
    wrong_code,
)
from tests.browser.support import ErrorGuard, LiveServer

pytestmark = pytest.mark.browser



def test_wrong_setup_code_is_shown_beside_the_field(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400)
    register(any_page, server, "carol")
    secret = start_setup(any_page)
    submit_setup_code(any_page, wrong_code(secret))
    region = any_page.locator("#tf-verify-messages")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region.get_by_role("alert")).to_contain_text("That code didn't work.")
    field = any_page.get_by_label("Enter the 6-digit code the app shows")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(any_page.locator("img.tf-qr")).to_be_visible()  # still the setup panel, same secret
    assert "".join((any_page.locator("#tf-secret").text_content() or "").split()) == secret


def test_a_typo_at_sign_in_then_the_right_code(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401)
    secret, _ = enabled_user(server, "dave")
    log_in(any_page, server, "dave")
    answer_challenge(any_page, wrong_code(secret))
    alert = any_page.locator("#tf-code-messages").get_by_role("alert")
    expect(alert).to_contain_text("That code didn't work.")
    answer_challenge(any_page, next_code(secret))  # a typo costs no wait
    expect(any_page).to_have_url(server("/"))


def test_the_wait_keeps_the_code_and_counts_down(
    any_page: Page, server: LiveServer, guard: ErrorGuard, request: pytest.FixtureRequest
) -> None:
    guard.expect_status(401, 429)
    javascript = request.node.callspec.params["any_page"] == "javascript"
    secret, _ = enabled_user(server, "dana")
    log_in(any_page, server, "dana")
    typed = answer_until_throttled(any_page, server, secret)
    message = any_page.locator("#tf-code-messages p.tf-error")
    expect(message).to_have_text(re.compile(r"Too many attempts\. Wait (1 second|\d+ seconds), then try again\."))
    expect(any_page.get_by_label("6-digit code", exact=True)).to_have_value(typed)
    button = any_page.get_by_role("button", name="Verify")
    if javascript:
        expect(button).to_be_disabled()
        expect(message).to_have_text("You can try again now.", timeout=20_000)
        expect(button).to_be_enabled()
    else:
        expect(button).to_be_enabled()  # no script: the words say how long, the server refuses until then
        time.sleep(int(re.search(r"Wait (\d+) second", message.inner_text()).group(1)) + 0.2)
    answer_challenge(any_page, next_code(secret))
    expect(any_page).to_have_url(server("/"))


def test_backup_code_field_stays_after_a_wrong_backup_code(
    any_page: Page, server: LiveServer, guard: ErrorGuard
) -> None:
    guard.expect_status(401)
    enabled_user(server, "erin")
    log_in(any_page, server, "erin")
    any_page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    answer_challenge(any_page, "AAAA-BBBB-CCCC-DDDD")
    expect(any_page.locator("#tf-code-messages").get_by_role("alert")).to_contain_text("That code didn't work.")
    expect(any_page.get_by_label("Backup code", exact=True)).to_be_visible()
    expect(any_page.get_by_role("link", name="Use a code from your authenticator app instead")).to_be_visible()


# The pending login's age is counted from a whole second, so a 1-s TTL could end before the page loads.
@pytest.mark.parametrize("server_overrides", [{"TWO_FACTOR_CHALLENGE_TTL": 2}])
def test_expired_sign_in_says_so_and_leads_back(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401)
    secret, _ = enabled_user(server, "frank")
    log_in(any_page, server, "frank")
    expect(any_page).to_have_url(server("/2fa/challenge"))
    time.sleep(2.2)
    answer_challenge(any_page, next_code(secret))
    expect(any_page.get_by_role("alert")).to_have_text("Your sign-in expired. Sign in again.")
    expect(any_page.get_by_label("6-digit code")).to_have_count(0)
    any_page.get_by_role("link", name="Sign in again").click()
    expect(any_page).to_have_url(server("/login"))


def test_wrong_password_on_disable_reopens_that_form(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400)
    secret, _ = enabled_user(server, "gina")
    log_in(any_page, server, "gina")
    answer_challenge(any_page, next_code(secret))
    expect(any_page).to_have_url(server("/"))
    any_page.goto(server("/2fa/settings"))
    any_page.get_by_text("Turn off two-factor authentication").click()
    any_page.locator("#disable-password").fill("not the password")
    any_page.locator("#disable-code").fill(wrong_code(secret))
    any_page.get_by_role("button", name="Turn off", exact=True).click()
    # Said under the password, the field that was wrong (the typed code is kept).
    expect(any_page.locator(".tf-field:has(#disable-password) #disable-messages").get_by_role("alert")).to_have_text(
        "That password isn't right. Check it and try again."
    )
    expect(any_page.locator("#disable-password")).to_be_focused()
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("On")


def test_setup_can_be_cancelled(any_page: Page, server: LiveServer) -> None:
    register(any_page, server, "hana")
    start_setup(any_page)
    any_page.get_by_role("button", name="Cancel setup").click()
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("Off")
    any_page.reload()
    expect(any_page.locator("#tf-status .tf-badge")).to_have_text("Off")


def test_a_server_failure_is_said_in_the_panel(page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(503)
    register(page, server, "iris")
    page.route(server("/2fa/setup"), lambda route: route.fulfill(status=503, body="unavailable"))
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.locator("#tf-status").get_by_role("alert")).to_contain_text("nothing was changed")
    expect(page.locator("#tf-status .tf-badge")).to_have_text("Off")
