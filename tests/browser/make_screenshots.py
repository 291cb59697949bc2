"""Screenshots of the 2FA pages at 375 px and 1280 px, light and dark, English and German, for docs/screenshots.

Run: .venv/bin/python -m tests.browser.make_screenshots [DIRECTORY]   (default: docs/screenshots)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pyotp
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.steps import wrong_code
from tests.browser.support import ErrorGuard, LiveServer, launch_chromium, serve
from tests.support import PASSWORD, Api

ROOT = Path(__file__).resolve().parents[2]
HEIGHTS = {375: 812, 1280: 800}
# (width, colour scheme, language) of each run; the dark runs show the panels whose look differs most.
RUNS = (
    (375, "light", "en"),
    (1280, "light", "en"),
    (1280, "dark", "en"),
    (375, "light", "de"),
    (1280, "light", "de"),
    (375, "dark", "de"),
)
DARK_SHOTS = {"settings-setup", "settings-status-on", "challenge", "signed-in-backup"}
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"

SHOTS = (
    "login",
    "settings-status-off",
    "settings-setup",
    "settings-setup-error",
    "settings-codes",
    "settings-status-on",
    "challenge",
    "challenge-error",
    "challenge-backup",
    "signed-in-backup",
    "settings-sessions",
    "settings-replace",
    "reauth",
)


def _suffix(width: int, scheme: str, language: str) -> str:
    return ("-de" if language == "de" else "") + ("-dark" if scheme == "dark" else "") + f"-{width}"


def shot_names() -> list[str]:
    """Return the file names one complete run writes."""
    return [
        f"{shot}{_suffix(width, scheme, language)}.png"
        for width, scheme, language in RUNS
        for shot in SHOTS
        if scheme == "light" or shot in DARK_SHOTS
    ]


class Camera:
    """Saves full-page screenshots of one run under ``directory``."""

    def __init__(self, page: Page, directory: Path, width: int, scheme: str, language: str) -> None:
        self.page, self.directory, self.scheme = page, directory, scheme
        self.suffix = _suffix(width, scheme, language)

    def __call__(self, shot: str) -> None:
        assert shot in SHOTS, shot
        if self.scheme == "dark" and shot not in DARK_SHOTS:
            return
        # Settle focus rings and fonts; caret="initial" leaves the DOM untouched.
        self.page.wait_for_timeout(150)
        path = self.directory / f"{shot}{self.suffix}.png"
        self.page.screenshot(path=path, full_page=True, caret="initial")
        _shrink(path)


def _shrink(path: Path) -> None:
    """Keep the committed PNGs small: flat UI colours fit a 256-colour palette without visible loss."""
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _submit(page: Page, form: str) -> None:
    page.locator(f"{form} [type=submit]").first.click()


def _password_step(page: Page, server: LiveServer, path: str, username: str) -> None:
    """Fill the demo's register or login form (by field, so that it works in every language)."""
    page.goto(server(path))
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    _submit(page, "main form")


def _code(page: Page, field: str, form: str, code: str) -> None:
    page.locator(field).fill(code)
    _submit(page, form)


def capture(browser: Browser, server: LiveServer, directory: Path, width: int, scheme: str, language: str) -> None:
    """Walk through every panel and the challenge, photographing each (by selectors: any language)."""
    guard = ErrorGuard()
    guard.expect_status(400, 401)  # the wrong codes typed on purpose below
    context = guard.watch(
        browser.new_context(
            viewport={"width": width, "height": HEIGHTS[width]}, color_scheme=scheme, locale=language,
            extra_http_headers={"Accept-Language": language},
        )
    )
    page = context.new_page()
    snap = Camera(page, directory, width, scheme, language)
    username = f"ada-{language}-{scheme}-{width}"

    page.goto(server("/login"))
    snap("login")
    _password_step(page, server, "/register", username)
    expect(page).to_have_url(server("/2fa/settings"))
    snap("settings-status-off")
    _submit(page, "#tf-status form")
    expect(page.locator("img.tf-qr")).to_have_js_property("complete", True)
    secret = "".join((page.locator("#tf-secret").text_content() or "").split())
    snap("settings-setup")
    _code(page, "#tf-verify-code", "#tf-setup form", wrong_code(secret))
    expect(page.locator("#tf-verify-messages .tf-error")).to_be_visible()
    snap("settings-setup-error")
    _code(page, "#tf-verify-code", "#tf-setup form", pyotp.TOTP(secret).now())  # a typo costs no wait
    expect(page.locator("#tf-codes")).to_be_visible()
    codes = page.locator("#tf-code-list code").all_inner_texts()
    snap("settings-codes")
    page.locator("#tf-saved").check()
    _submit(page, ".tf-done")
    expect(page.locator("#tf-status")).to_be_visible()
    snap("settings-status-on")

    _submit(page, "form[action='/logout']")
    _password_step(page, server, "/login", username)
    expect(page.locator("#tf-challenge")).to_be_visible()
    snap("challenge")
    _code(page, "#tf-code", "#tf-challenge form", wrong_code(secret))
    expect(page.locator("#tf-challenge .tf-error")).to_be_visible()
    snap("challenge-error")
    page.locator("a[href*='method=backup']").click()
    expect(page.locator("input[name=method][value=backup]")).to_be_attached()
    snap("challenge-backup")
    _code(page, "#tf-code", "#tf-challenge form", codes[0])
    expect(page).to_have_url(server("/2fa/signed-in"))
    snap("signed-in-backup")

    sign_in_elsewhere(server, username, codes[1])
    page.goto(server("/2fa/settings"))
    expect(page.locator("#tf-sessions .tf-session")).to_have_count(2)
    snap("settings-sessions")
    _submit(page, "form[action='/2fa/replace']")  # the sign-in just now counts as confirming
    expect(page.locator("#tf-replace img.tf-qr")).to_be_visible()
    snap("settings-replace")
    page.goto(server("/2fa/reauth?next=/2fa/settings"))
    expect(page.locator("#tf-reauth-password")).to_be_visible()
    snap("reauth")
    context.close()
    guard.check()


def sign_in_elsewhere(server: LiveServer, username: str, backup_code: str) -> None:
    """Sign the user in from a second browser (Firefox on Windows), for the list of sessions."""
    other = Api(server.app.test_client())
    other.client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    assert other.login(username).get_json()["twoFactorRequired"] is True
    assert other.post("/2fa/validate", {"code": backup_code}).status_code == 200


def make_screenshots(browser: Browser, directory: Path) -> list[Path]:
    """Write every screenshot into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "screenshots.db") as server:
        for width, scheme, language in RUNS:
            capture(browser, server, directory, width, scheme, language)
    return [directory / name for name in shot_names()]


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for path in make_screenshots(browser, directory):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        browser.close()


if __name__ == "__main__":
    main()
