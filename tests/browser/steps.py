"""What a person does on the demo app, step by step; each step works with JavaScript on or off."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.browser.support import LiveServer, read_qr, secret_of
from tests.support import PASSWORD, Api, FrozenClock


def register(page: Page, server: LiveServer, username: str) -> None:
    """Create an account; the app then shows the security settings."""
    page.goto(server("/register"))
    page.get_by_label("Name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(server("/2fa/settings"))


def log_in(page: Page, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    """Submit the password step."""
    page.goto(server("/login"))
    page.get_by_label("Name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page, server: LiveServer) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server("/login"))


def start_setup(page: Page) -> str:
    """Begin setup; return the secret read from the QR code in a screenshot, checked against the text key."""
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.locator("#tf-setup")).to_be_visible()
    expect(page.locator("img.tf-qr")).to_have_js_property("complete", True)
    uri = read_qr(page)
    assert uri.startswith("otpauth://totp/"), uri
    secret = secret_of(uri)
    # The key typed by hand is folded under the QR code: read from the page, opened or not.
    shown = " ".join((page.locator("#tf-secret").text_content() or "").split())
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown), shown
    assert shown.replace(" ", "") == secret
    return secret


def submit_setup_code(page: Page, code: str) -> None:
    page.get_by_label("Enter the 6-digit code the app shows").fill(code)
    page.get_by_role("button", name="Turn on").click()


def turn_on(page: Page, secret: str) -> list[str]:
    """Confirm setup with the app's current code; return the backup codes shown once."""
    submit_setup_code(page, pyotp.TOTP(secret).now())
    expect(page.locator("#tf-codes")).to_be_visible()
    codes = page.locator("#tf-code-list code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){5}", code) for code in codes), codes
    return codes


def download_codes(page: Page) -> str:
    """Click the download button; return the text of the file the browser saved."""
    with page.expect_download() as info:
        page.get_by_role("link", name="Download .txt").click()
    download = info.value
    assert download.suggested_filename == "test-issuer-backup-codes.txt"  # named after TWO_FACTOR_ISSUER
    assert download.failure() is None
    return Path(download.path()).read_text(encoding="utf-8")


def confirm_saved(page: Page) -> None:
    """Leave the backup-codes panel the only way it allows: confirming the codes are saved."""
    page.get_by_label("I have saved my backup codes").check()
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#tf-status")).to_be_visible()


def walk_to_2fa_on(page: Page, server: LiveServer, username: str, check: Callable[[Page], None]) -> None:
    """Run ``check`` on the sign-up and sign-in pages, then after each step of turning 2FA on."""
    for path in ("/register", "/login"):
        page.goto(server(path))
        check(page)
    register(page, server, username)
    check(page)
    secret = start_setup(page)
    check(page)
    turn_on(page, secret)
    check(page)
    confirm_saved(page)


def next_code(secret: str) -> str:
    """Return the code of the next 30-s step: accepted (window T+1) and newer than any step used so far."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def wrong_code(secret: str) -> str:
    """Return a well-formed code that no step near now accepts."""
    totp, now = pyotp.TOTP(secret), time.time()
    valid = {totp.at(now + 30 * offset) for offset in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


def answer_challenge(page: Page, code: str) -> None:
    label = "Backup code" if "-" in code else "6-digit code"
    page.get_by_label(label, exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()


def answer_until_throttled(page: Page, server: LiveServer, secret: str) -> str:
    """Type wrong codes until the throttle refuses one; return that code.

    Three failures are free, then each doubles the wait, so slow machines get there too.
    """
    for _ in range(8):
        code = wrong_code(secret)
        with page.expect_response(server("/2fa/validate")) as answer:
            answer_challenge(page, code)
        if answer.value.status == 429:
            return code
    raise AssertionError("eight wrong codes in a row, and the throttle refused none")


def enabled_user(server: LiveServer, username: str) -> tuple[str, list[str]]:
    """Create a user with 2FA on through the JSON API, quicker than the browser; return secret and codes."""
    api = Api(server.app.test_client())
    assert api.register(username).status_code == 201
    codes = api.enable(FrozenClock(datetime.now(UTC)))
    return api.secret, codes
