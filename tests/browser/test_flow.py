"""The whole 2FA life cycle in Chromium, with htmx swapping panels and with JavaScript disabled."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, Response, expect

from tests.browser.steps import (
    answer_challenge,
    confirm_saved,
    download_codes,
    log_in,
    log_out,
    next_code,
    register,
    start_setup,
    turn_on,
)
from tests.browser.support import LiveServer

pytestmark = pytest.mark.browser

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class ResponseLog:
    """Every HTML page and htmx fragment the browser received from the app."""

    def __init__(self, context: BrowserContext, server: LiveServer) -> None:
        self.server = server
        self.responses: list[Response] = []
        context.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        if response.url.startswith(self.server.url) and response.request.resource_type in ("document", "fetch", "xhr"):
            self.responses.append(response)

    def check_headers(self) -> None:
        assert self.responses
        for response in self.responses:
            headers = response.all_headers()
            where = f"{response.request.method} {response.url} ({response.status})"
            assert headers.get("content-security-policy") == CSP, where
            assert headers.get("x-content-type-options") == "nosniff", where
            assert headers.get("referrer-policy"), where
            if "/2fa/" in response.url:
                # Every 2FA answer may show a secret, a QR code, backup codes or account state.
                assert "no-store" in headers.get("cache-control", ""), where


def _mark(page: Page) -> None:
    page.evaluate("window.tfMark = 'still here'")


def _assert_same_document(page: Page) -> None:
    """The panel was swapped by htmx: the document (and its JS state) survived."""
    assert page.evaluate("window.tfMark") == "still here"


def _assert_no_inline_styles(page: Page) -> None:
    found = page.evaluate("Array.from(document.querySelectorAll('[style], style')).map(e => e.outerHTML.slice(0, 200))")
    assert found == []


def _leaving_is_questioned(page: Page) -> None:
    """Unconfirmed backup codes: leaving the page asks first (the person stays if they say no)."""
    dialogs: list[str] = []

    def stay(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("link", name="Security").click()
    expect(page.locator("#tf-codes")).to_be_visible()
    assert dialogs == ["beforeunload"]


def _prints_only_the_codes(page: Page) -> None:
    page.emulate_media(media="print")
    expect(page.locator("#tf-code-list")).to_be_visible()
    for hidden in ("header.site", "#tf-codes .tf-buttons", "#tf-codes .tf-done", "#tf-heading"):
        expect(page.locator(hidden)).to_be_hidden()
    page.emulate_media(media="screen")


def test_life_cycle_with_htmx(context: BrowserContext, page: Page, server: LiveServer) -> None:
    log = ResponseLog(context, server)
    register(page, server, "alice")
    expect(page.locator("#tf-status .tf-badge")).to_have_text("Off")
    _mark(page)

    secret = start_setup(page)
    _assert_same_document(page)
    code_field = page.get_by_label("Enter the 6-digit code the app shows")
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    page.get_by_text("Can’t scan it? Enter the key by hand").click()
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    codes = turn_on(page, secret)
    _assert_same_document(page)
    assert page.url == server("/2fa/settings")
    expect(page.locator("#tf-codes-heading")).to_be_focused()
    _leaving_is_questioned(page)
    _prints_only_the_codes(page)
    text = download_codes(page)
    assert [line for line in text.splitlines() if line.count("-") == 5] == codes
    page.get_by_role("button", name="Copy", exact=True).click()
    assert page.evaluate("navigator.clipboard.readText()").split() == codes
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#tf-codes")).to_be_visible()  # the box must be ticked first
    confirm_saved(page)
    _assert_same_document(page)
    _assert_no_inline_styles(page)

    page.reload()
    expect(page.locator("#tf-status .tf-badge")).to_have_text("On")
    expect(page.locator("#tf-status .tf-factor").nth(1)).to_contain_text("10 of 10 left")
    first_event = page.locator(".tf-event").first
    expect(first_event).to_contain_text("Two-factor authentication was turned on.")
    expect(first_event).to_contain_text("127.0.0.1")
    expect(first_event).to_contain_text("Chrome")

    sign_in_with_a_code_then_a_backup_code(page, server, "alice", secret, codes[0])

    page.goto(server("/2fa/settings"))
    expect(page.locator("#tf-status .tf-factor").nth(1)).to_contain_text("9 of 10 left")
    _mark(page)
    page.get_by_text("Make new backup codes").click()
    page.locator("#regenerate-password").fill("correct horse battery")
    page.locator("#regenerate-code").fill(codes[1])
    page.get_by_role("button", name="Make new codes").click()
    expect(page.locator("#tf-codes")).to_be_visible()
    new_codes = page.locator("#tf-code-list code").all_inner_texts()
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    confirm_saved(page)
    expect(page.locator("#tf-status .tf-factor").nth(1)).to_contain_text("10 of 10 left")

    page.locator("#disable-password").fill("correct horse battery")
    page.locator("#disable-code").fill(new_codes[2].lower().replace("-", " "))
    page.get_by_role("button", name="Turn off", exact=True).click()
    expect(page.locator("#tf-status .tf-badge")).to_have_text("Off")
    expect(page.locator("#tf-status .tf-notice")).to_contain_text("Two-factor authentication is off.")
    _assert_same_document(page)
    _assert_no_inline_styles(page)
    log.check_headers()


def test_life_cycle_without_javascript(nojs_page: Page, server: LiveServer) -> None:
    page = nojs_page
    log = ResponseLog(page.context, server)
    register(page, server, "bob")
    expect(page.get_by_role("button", name="Copy key")).to_have_count(0)

    secret = start_setup(page)
    assert page.url == server("/2fa/settings")  # the POST answered 303 to the page
    expect(page.get_by_role("button", name="Copy key")).to_be_hidden()

    codes = turn_on(page, secret)
    assert page.url == server("/2fa/verify")  # the new codes cannot survive a redirect
    text = download_codes(page)
    assert all(code in text for code in codes)
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    confirm_saved(page)

    page.reload()
    expect(page.locator("#tf-status .tf-badge")).to_have_text("On")

    sign_in_with_a_code_then_a_backup_code(page, server, "bob", secret, codes[0])

    page.goto(server("/2fa/settings"))
    page.get_by_text("Make new backup codes").click()
    page.locator("#regenerate-password").fill("correct horse battery")
    page.locator("#regenerate-code").fill(codes[1])
    page.get_by_role("button", name="Make new codes").click()
    expect(page).to_have_url(server("/2fa/backup-codes"))
    new_codes = page.locator("#tf-code-list code").all_inner_texts()
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    confirm_saved(page)

    page.locator("#disable-password").fill("correct horse battery")
    page.locator("#disable-code").fill(new_codes[0])
    page.get_by_role("button", name="Turn off", exact=True).click()
    expect(page).to_have_url(server("/2fa/settings"))
    expect(page.locator("#tf-status .tf-badge")).to_have_text("Off")
    log.check_headers()


def sign_in_with_a_code_then_a_backup_code(page: Page, server: LiveServer, name: str, secret: str, code: str) -> None:
    """Sign out and in through the challenge twice: with the app's next code, then with ``code``."""
    log_out(page, server)
    log_in(page, server, name)
    expect(page).to_have_url(server("/2fa/challenge"))
    answer_challenge(page, next_code(secret))
    expect(page).to_have_url(server("/"))
    expect(page.locator("main")).to_contain_text("Two-factor authentication is on")
    log_out(page, server)
    log_in(page, server, name)
    page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    answer_challenge(page, code)
    expect(page).to_have_url(server("/2fa/signed-in"))  # says how many codes are left, once
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(server("/"))
