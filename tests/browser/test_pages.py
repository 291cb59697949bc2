"""The pages themselves: headers, a strict CSP they really satisfy, phones, keyboards and dark mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.steps import enabled_user, log_in, walk_to_2fa_on
from tests.browser.support import ErrorGuard, LiveServer
from tests.browser.test_flow import CSP

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
LABELLED = """() => Array.from(document.querySelectorAll("input:not([type=hidden]):not([hidden])"))
    .filter((input) => input.labels.length === 0).map((input) => input.outerHTML)"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _check_page(page: Page) -> None:
    """Nothing wider than the screen, and a label on every field a person can fill."""
    assert page.evaluate(OVERFLOW) <= 0, f"{page.url} scrolls sideways"
    assert page.evaluate(LABELLED) == [], f"{page.url} has fields without a label"


def test_every_page_fits_a_phone_and_labels_its_fields(
    browser: Browser, server: LiveServer, guard: ErrorGuard
) -> None:
    context = guard.watch(browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True))
    page = context.new_page()
    walk_to_2fa_on(page, server, "ivy", _check_page)
    page.get_by_text("Make new backup codes").click()
    page.get_by_text("Turn off two-factor authentication").click()
    _check_page(page)
    page.goto(server("/"))
    _check_page(page)
    page.get_by_role("button", name="Log out").click()
    log_in(page, server, "ivy")
    expect(page).to_have_url(server("/2fa/challenge"))
    _check_page(page)
    page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    _check_page(page)
    context.close()


def test_login_error_is_announced(page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(401)
    log_in(page, server, "nobody", "wrong password")
    region = page.locator("#form-messages")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region.get_by_role("alert")).to_have_text("The name or password is not correct.")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")


def test_keyboard_focus_is_visible(page: Page, server: LiveServer) -> None:
    page.goto(server("/login"))
    for _ in range(3):
        page.keyboard.press("Tab")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", page.evaluate("() => document.activeElement.outerHTML")


def test_dark_mode_follows_the_system(browser: Browser, server: LiveServer, guard: ErrorGuard) -> None:
    context = guard.watch(browser.new_context(color_scheme="dark"))
    page = context.new_page()
    enabled_user(server, "joan")
    log_in(page, server, "joan")
    expect(page).to_have_url(server("/2fa/challenge"))
    page.wait_for_load_state()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    card = page.evaluate("() => getComputedStyle(document.querySelector('.tf-card')).backgroundColor")
    assert (background, card) == ("rgb(17, 20, 26)", "rgb(27, 31, 39)")
    context.close()


def test_headers_of_every_page(page: Page, server: LiveServer) -> None:
    for path in ("/login", "/register", "/2fa/challenge"):
        response = page.goto(server(path))
        assert response is not None
        headers = response.all_headers()
        assert headers["content-security-policy"] == CSP
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("javascript", [True, False])
def test_the_guard_sees_csp_violations(browser: Browser, server: LiveServer, javascript: bool) -> None:
    """The error guard itself works, with and without JavaScript: a page that breaks the CSP is caught."""
    guard = ErrorGuard()
    context = guard.watch(browser.new_context(java_script_enabled=javascript))

    def fulfil(route: Route) -> None:
        body = '<!doctype html><p style="color: red">inline style</p><script>console.log("inline")</script>'
        route.fulfill(status=200, body=body, headers={"Content-Type": "text/html", "Content-Security-Policy": CSP})

    context.route(server("/csp-probe"), fulfil)
    page = context.new_page()
    page.goto(server("/csp-probe"))
    page.wait_for_timeout(200)
    context.close()
    assert any("Content Security Policy" in error for error in guard.errors), guard.errors
