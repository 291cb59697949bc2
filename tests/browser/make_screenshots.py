"""Screenshots of the 2FA pages at 360 px and 1280 px (and one run in dark mode) for docs/screenshots.

Run: .venv/bin/python -m tests.browser.make_screenshots [DIRECTORY]   (default: docs/screenshots)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.steps import (
    answer_challenge,
    confirm_saved,
    log_in,
    log_out,
    register,
    start_setup,
    submit_setup_code,
    turn_on,
    wrong_code,
)
from tests.browser.support import ErrorGuard, LiveServer, launch_chromium, serve
from tests.support import Api

ROOT = Path(__file__).resolve().parents[2]
HEIGHTS = {360: 740, 1280: 800}
# (width, colour scheme) of each run; the dark run shows the panels whose look differs most.
RUNS = ((360, "light"), (1280, "light"), (1280, "dark"))
DARK_SHOTS = {"settings-setup", "settings-status-on", "challenge"}
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
    "settings-sessions",
    "reauth",
)


def shot_names() -> list[str]:
    """Return the file names one complete run writes."""
    names = []
    for width, scheme in RUNS:
        suffix = f"-dark-{width}" if scheme == "dark" else f"-{width}"
        for shot in SHOTS:
            if scheme == "light" or shot in DARK_SHOTS:
                names.append(f"{shot}{suffix}.png")
    return names


class Camera:
    """Saves full-page screenshots of one run under ``directory``."""

    def __init__(self, page: Page, directory: Path, width: int, scheme: str) -> None:
        self.page, self.directory, self.scheme = page, directory, scheme
        self.suffix = f"-dark-{width}" if scheme == "dark" else f"-{width}"

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


def capture(browser: Browser, server: LiveServer, directory: Path, width: int, scheme: str) -> None:
    """Walk through every panel and the challenge, photographing each."""
    guard = ErrorGuard()
    guard.expect_status(400, 401)  # the wrong codes typed on purpose below
    context = guard.watch(
        browser.new_context(viewport={"width": width, "height": HEIGHTS[width]}, color_scheme=scheme)
    )
    page = context.new_page()
    snap = Camera(page, directory, width, scheme)
    username = f"ada-{scheme}-{width}"

    page.goto(server("/login"))
    snap("login")
    register(page, server, username)
    snap("settings-status-off")
    secret = start_setup(page)
    snap("settings-setup")
    submit_setup_code(page, wrong_code(secret))
    expect(page.locator("#tf-verify-messages .tf-error")).to_be_visible()
    snap("settings-setup-error")
    codes = turn_on(page, secret)  # a typo costs no wait
    snap("settings-codes")
    confirm_saved(page)
    snap("settings-status-on")

    log_out(page, server)
    log_in(page, server, username)
    expect(page.locator("#tf-challenge")).to_be_visible()
    snap("challenge")
    answer_challenge(page, wrong_code(secret))
    expect(page.locator("#tf-challenge .tf-error")).to_be_visible()
    snap("challenge-error")
    page.get_by_role("link", name="Use a backup code instead").click()
    expect(page.get_by_label("Backup code", exact=True)).to_be_visible()
    snap("challenge-backup")
    answer_challenge(page, codes[0])
    expect(page).to_have_url(server("/"))

    sign_in_elsewhere(server, username, codes[1])
    page.goto(server("/2fa/settings"))
    expect(page.locator("#tf-sessions .tf-session")).to_have_count(2)
    snap("settings-sessions")
    page.goto(server("/2fa/reauth?next=/2fa/settings"))
    expect(page.get_by_role("heading", name="Confirm it’s you")).to_be_visible()
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
        for width, scheme in RUNS:
            capture(browser, server, directory, width, scheme)
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
