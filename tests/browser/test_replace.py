"""Replacing the authenticator app in Chromium (a new phone), with JavaScript on and off."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.two_factor.models import TwoFactorSecret
from tests.browser.steps import answer_challenge, enabled_user, log_in, log_out, next_code
from tests.browser.support import ErrorGuard, LiveServer, read_qr, secret_of
from tests.browser.test_accessibility import Audit

pytestmark = pytest.mark.browser

NEW_CODE_LABEL = "Enter the 6-digit code the new app shows"


def signed_in_with_2fa(page: Page, server: LiveServer, username: str) -> str:
    """Sign in a user who has 2FA on and open the security settings; return the old app's secret."""
    secret, _codes = enabled_user(server, username)
    log_in(page, server, username)
    answer_challenge(page, next_code(secret))
    expect(page).to_have_url(server("/"))
    page.goto(server("/2fa/settings"))
    return secret


def start_replacing(page: Page) -> str:
    """Open the replace panel; return the new secret read from the QR code, checked against the text key."""
    page.get_by_role("button", name="Replace authenticator app").click()
    panel = page.locator("#tf-replace")
    expect(panel.get_by_role("heading", name="Replace your authenticator app")).to_be_visible()
    expect(panel).to_contain_text("Your current app keeps working until you confirm a code from the new one.")
    expect(panel.locator("img.tf-qr")).to_have_js_property("complete", True)
    secret = secret_of(read_qr(page))
    shown = " ".join((page.locator("#tf-replace-secret").text_content() or "").split())
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown) and shown.replace(" ", "") == secret
    return secret


def test_replace_the_app_then_only_the_new_one_signs_in(any_page: Page, server: LiveServer, guard: ErrorGuard) -> None:
    guard.expect_status(400, 401)
    page = any_page
    old = signed_in_with_2fa(page, server, "rosa")
    audit = Audit(page)
    new = start_replacing(page)
    assert new != old
    audit("replace panel")

    # A code from the old app is not the new app's: refused, and the panel stays with the error.
    page.get_by_label(NEW_CODE_LABEL).fill(next_code(old))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#tf-replace-messages .tf-error")).to_be_visible()
    expect(page.get_by_label(NEW_CODE_LABEL)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(NEW_CODE_LABEL)).to_be_focused()
    audit("replace panel with an error")
    audit.check("replace panel", "replace panel with an error")

    page.get_by_label(NEW_CODE_LABEL).fill(pyotp.TOTP(new).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#tf-status")).to_contain_text("Your new authenticator app is set up.")
    expect(page.locator("#tf-replace")).to_have_count(0)

    log_out(page, server)
    log_in(page, server, "rosa")
    answer_challenge(page, next_code(old))
    expect(page.locator(".tf-error")).to_be_visible()  # the old app no longer signs in
    answer_challenge(page, next_code(new))
    expect(page).to_have_url(server("/"))


def test_cancel_keeps_the_current_app(any_page: Page, server: LiveServer) -> None:
    page = any_page
    old = signed_in_with_2fa(page, server, "sami")
    start_replacing(page)
    page.locator("#tf-replace").get_by_role("button", name="Cancel").click()
    expect(page.locator("#tf-status")).to_contain_text("Your current authenticator app keeps working.")
    expect(page.locator("#tf-replace")).to_have_count(0)
    expect(page.get_by_role("button", name="Replace authenticator app")).to_be_visible()
    with server.app.app_context():
        row = db.session.scalars(select(TwoFactorSecret)).one()
        assert row.replacement_secret is None
        assert server.app.extensions["two_factor"].keys.decrypt(row.secret) == old
