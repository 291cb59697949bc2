"""S17 in Chromium: the settings page lists where you're signed in and signs other browsers out, with JS on and off."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.steps import log_in, register
from tests.browser.support import ErrorGuard, LiveServer

pytestmark = pytest.mark.browser

# Each other session's button is named after it ("Sign out Headless Chrome 131 on Linux (…), signed in …").
SIGN_OUT_ONE = re.compile(r"^Sign out (?!everywhere)")


@pytest.fixture
def other_browsers(browser: Browser, guard: ErrorGuard) -> Iterator[list[Page]]:
    """Two more browsers (contexts with their own cookies), as a laptop and a phone would be."""
    contexts = [guard.watch(browser.new_context()) for _ in range(2)]
    yield [context.new_page() for context in contexts]
    for context in contexts:
        context.close()


def test_sign_other_browsers_out(any_page: Page, other_browsers: list[Page], server: LiveServer) -> None:
    page = any_page
    register(page, server, "lena")
    for other in other_browsers:
        log_in(other, server, "lena")
        expect(other).to_have_url(server("/"))
    page.reload()
    panel = page.locator("#tf-sessions")
    expect(panel.locator(".tf-session")).to_have_count(3)
    expect(panel.locator(".tf-session").first).to_contain_text("This browser")

    panel.get_by_role("button", name=SIGN_OUT_ONE).first.click()
    expect(panel.get_by_role("status")).to_have_text("That session is signed out.")
    expect(panel.locator(".tf-session")).to_have_count(2)
    signed_out = [other for other in other_browsers if _is_signed_out(other, server)]
    assert len(signed_out) == 1

    panel.get_by_role("button", name="Sign out everywhere else").click()
    expect(panel.get_by_role("status")).to_have_text("Signed out everywhere else (1 session).")
    expect(panel.locator(".tf-session")).to_have_count(1)
    expect(panel).to_contain_text("You're signed in only in this browser.")
    assert all(_is_signed_out(other, server) for other in other_browsers)
    page.goto(server("/"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()  # this browser stays signed in


def _is_signed_out(page: Page, server: LiveServer) -> bool:
    """Open the home page: a signed-out browser is sent to the login page."""
    page.goto(server("/"))
    return page.url.startswith(server("/login"))


def test_focus_stays_in_the_panel_after_signing_out(page: Page, other_browsers: list[Page], server: LiveServer) -> None:
    register(page, server, "nina")
    log_in(other_browsers[0], server, "nina")
    page.reload()
    page.locator("#tf-sessions").get_by_role("button", name=SIGN_OUT_ONE).click()
    expect(page.locator("#tf-sessions-first")).to_be_focused()  # this browser's entry, first in the new list
