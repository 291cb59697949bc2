"""S16 in Chromium: an old session is asked to confirm it's you before setup, then setup goes on (JS on and off)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import register, submit_setup_code
from tests.browser.support import ErrorGuard, LiveServer
from tests.support import PASSWORD

pytestmark = pytest.mark.browser


class ShiftedClock:
    """The server's clock, moved forward on demand: a session can grow old without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_reauthentication_interrupts_setup_and_resumes_it(
    any_page: Page, server: LiveServer, guard: ErrorGuard
) -> None:
    guard.expect_status(400, 403)
    clock = ShiftedClock()
    server.app.extensions["two_factor"].clock = clock
    register(any_page, server, "rita")
    clock.offset = timedelta(seconds=901)  # the login no longer counts as a recent proof
    any_page.get_by_role("button", name="Set up two-factor authentication").click()
    heading = any_page.get_by_role("heading", name="Confirm it’s you")
    expect(heading).to_be_visible()
    expect(any_page.locator("img.tf-qr")).to_have_count(0)
    any_page.get_by_label("Your password").fill("not the password")
    any_page.get_by_role("button", name="Continue").click()
    expect(any_page.locator("#tf-reauth-messages")).to_have_text("That password isn't right. Check it and try again.")
    any_page.get_by_label("Your password").fill(PASSWORD)
    any_page.get_by_role("button", name="Continue").click()
    # Setup resumes where it was stopped: the new key is shown at once.
    expect(any_page.locator("img.tf-qr")).to_be_visible()
    secret = "".join((any_page.locator("#tf-secret").text_content() or "").split())  # folded under the QR code
    submit_setup_code(any_page, pyotp.TOTP(secret).at(clock()))
    expect(any_page.locator("#tf-codes")).to_be_visible()
