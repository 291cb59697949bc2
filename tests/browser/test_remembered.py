"""S18 in Chromium: "don't ask for a code on this browser" skips the code until forgotten, with JS on and off."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import answer_challenge, enabled_user, log_in, log_out, next_code
from tests.browser.support import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return {"TWO_FACTOR_REMEMBER_DAYS": 30}


def test_a_remembered_browser_skips_the_code_until_forgotten(any_page: Page, server: LiveServer) -> None:
    page = any_page
    secret, _ = enabled_user(server, "rita")
    log_in(page, server, "rita")
    expect(page).to_have_url(server("/2fa/challenge"))
    page.get_by_label("Don't ask for a code on this browser for 30 days").check()
    answer_challenge(page, next_code(secret))
    expect(page).to_have_url(server("/"))

    log_out(page, server)
    log_in(page, server, "rita")
    expect(page).to_have_url(server("/"))  # the password was asked, the code was not

    page.goto(server("/2fa/settings"))
    panel = page.locator("#tf-sessions")
    expect(panel.locator(".tf-remembered")).to_have_count(1)
    expect(panel.locator(".tf-remembered")).to_contain_text("This browser")
    panel.get_by_role("button", name="Forget all").click()
    expect(panel.get_by_role("status")).to_have_text("Every remembered browser will be asked for a code again.")
    expect(panel.locator(".tf-remembered")).to_have_count(0)

    page.goto(server("/"))
    log_out(page, server)
    log_in(page, server, "rita")
    expect(page).to_have_url(server("/2fa/challenge"))
