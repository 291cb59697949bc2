"""The third host (microblog-shaped) in Chromium, on Flask 3.0: the wheel in the lowest-dependency venv.

The host runs as a subprocess of that venv (tests/wheel_venvs.py, shared with tests/test_wheel.py);
its Bootstrap CDN URLs are answered by Playwright's routing, so nothing leaves the machine. The whole
flow (register, log in, set up 2FA, backup codes, log out, the challenge, remember-me) must raise no
CSP violation and no console error, and the host's stylesheet must style the 2FA pages too; then its
token API (HTTP Basic, no CSRF) refuses the password alone and accepts it with a code.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import DESKTOP
from tests.browser.steps import confirm_saved, next_code
from tests.browser.support import ErrorGuard, LiveServer

HOST = Path(__file__).resolve().parents[1] / "third_host"
CDN = "https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/**"
NAVBAR_COLOUR = "rgb(13, 110, 253)"
BOOTSTRAP = ".navbar { background-color: rgb(13, 110, 253); } .container { max-width: 960px; }"
PASSWORD = "cat in the hat"


@pytest.fixture
def microblog(wheel_venv: Callable[[str], Path], tmp_path: Path) -> Iterator[LiveServer]:
    """Serve the third host from the lowest-dependency venv (Flask 3.0) until the test ends."""
    python = wheel_venv("lowest")
    shutil.copytree(HOST, tmp_path / "run" / "third_host", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "third-host-secret",
        "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    log = tmp_path / "server.log"
    # -E -s: no PYTHONPATH, no user site; only the venv and the copied host are importable.
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(python), "-E", "-s", "-m", "third_host.serve", str(tmp_path / "microblog.db")],
            cwd=tmp_path / "run",
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line, f"the third host did not start:\n{log.read_text()[-3000:]}"
        started = json.loads(line)
        assert started["versions"]["flask"].startswith("3.0."), started["versions"]
        assert Path(started["product"]).is_relative_to(python.parent.parent)
        yield LiveServer(None, f"http://127.0.0.1:{started['port']}")  # type: ignore[arg-type]
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no error the browser could not see
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, guard: ErrorGuard) -> Iterator[Page]:
    context = guard.watch(browser.new_context(viewport=DESKTOP))
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.route(CDN, _cdn)
    yield page
    context.close()


def _cdn(route: Route) -> None:
    """Answer the layout's Bootstrap URLs with a tiny stand-in, as the CDN would (no network)."""
    css = route.request.url.endswith(".css")
    route.fulfill(
        status=200,
        content_type="text/css" if css else "text/javascript",
        body=BOOTSTRAP if css else "window.bootstrapLoaded = true;",
    )


def _log_in(page: Page, server: LiveServer, remember: bool = False) -> None:
    page.goto(server("/auth/login"))
    page.get_by_label("Username").fill("susan")
    page.get_by_label("Password").fill(PASSWORD)
    if remember:
        page.get_by_label("Remember me").check()
    page.get_by_role("button", name="Sign In").click()


def _log_out(page: Page, server: LiveServer) -> None:
    page.get_by_role("link", name="Logout").click()
    expect(page).to_have_url(server("/auth/login?next=%2Findex"))


def _host_styles_apply(page: Page) -> None:
    page.wait_for_load_state()  # a page that is still loading has not run the layout's scripts yet
    expect(page.locator("#host-navbar")).to_have_css("background-color", NAVBAR_COLOUR)
    expect(page.locator("html")).to_have_attribute("data-host-script", "ran")  # its inline script ran
    page.wait_for_function("window.bootstrapLoaded === true")  # its CDN script ran


def test_the_whole_flow_in_the_third_host_on_flask_3_0(page: Page, microblog: LiveServer, guard: ErrorGuard) -> None:
    server = microblog
    page.goto(server("/auth/register"))
    page.get_by_label("Username").fill("susan")
    page.get_by_label("Email").fill("susan@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(server("/auth/login"))

    _log_in(page, server)
    expect(page.get_by_role("heading", name="Hi, susan!")).to_be_visible()
    page.get_by_role("link", name="Security").click()
    expect(page).to_have_url(server("/2fa/settings"))
    _host_styles_apply(page)

    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = "".join((page.locator("#tf-secret").text_content() or "").split())  # folded under the QR code
    assert len(secret) == 32, secret
    page.get_by_label("Enter the 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#tf-codes")).to_be_visible()
    backup_codes = page.locator("#tf-code-list code").all_inner_texts()
    assert len(backup_codes) == 10
    confirm_saved(page)
    _host_styles_apply(page)
    _log_out(page, server)

    # The password alone now leads to the challenge; a backup code answers it.
    _log_in(page, server)
    expect(page).to_have_url(server("/2fa/challenge"))
    _host_styles_apply(page)
    page.get_by_role("link", name="Lost your phone? Use a backup code").click()
    page.get_by_label("Backup code", exact=True).fill(backup_codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("You have 9 backup codes left.")
    _host_styles_apply(page)
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", name="Hi, susan!")).to_be_visible()
    _log_out(page, server)

    # Remember me, through the challenge: closing the browser (the session cookie gone) keeps her signed in.
    _log_in(page, server, remember=True)
    expect(page).to_have_url(server("/2fa/challenge"))
    page.get_by_label("6-digit code", exact=True).fill(next_code(secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hi, susan!")).to_be_visible()
    page.context.clear_cookies(name="session")
    page.goto(server("/index"))
    expect(page.get_by_role("heading", name="Hi, susan!")).to_be_visible()

    # Logging out ends remember-me too.
    _log_out(page, server)
    page.context.clear_cookies(name="session")
    page.goto(server("/index"))
    expect(page).to_have_url(server("/auth/login?next=%2Findex"))
    guard.check()

    # Its token API on Flask 3.0: no CSRF token anywhere, and with 2FA on a password alone gets no token.
    basic = {"Authorization": "Basic " + b64encode(f"susan:{PASSWORD}".encode()).decode()}
    assert page.request.post(server("/api/tokens"), headers=basic).status == 401
    token = page.request.post(server("/api/tokens"), headers={**basic, "X-OTP": backup_codes[1]})
    assert token.status == 200, token.text()
    bearer = {"Authorization": "Bearer " + token.json()["token"]}
    updated = page.request.put(server("/api/users/1"), data={"about_me": "hi"}, headers=bearer)
    assert updated.status == 200 and updated.json()["about_me"] == "hi"
