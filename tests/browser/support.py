"""Browser-test helpers: Debian's Chromium, the demo app on a real server thread, and an error guard."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import zxingcpp
from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from tests.conftest import make_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Recorded into the page before any of its own scripts run; Chromium also logs each violation itself.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""
# The classes htmx puts on elements while a request, a swap or the settling after it is under way.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling"
# Chromium's line for any 4xx/5xx answer, and htmx's for a 5xx it does not swap.
FAILED_LOAD = re.compile(
    r"(?:Failed to load resource: the server responded with a status of|Response Status Error Code) (\d{3})"
)


def missing_chromium() -> str | None:
    """Return why Debian's Chromium cannot be used, or None if it is there."""
    if CHROMIUM.exists():
        return None
    return (
        f"{CHROMIUM} is missing: the browser tests need Debian's Chromium (apt-get install chromium); "
        "they never download a browser."
    )


def launch_chromium(playwright: Playwright) -> Browser:
    """Start Debian's Chromium; never a downloaded browser."""
    problem = missing_chromium()
    if problem:
        raise RuntimeError(problem)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@dataclass
class LiveServer:
    """The demo app served over real HTTP from a thread of the test process."""

    app: Flask
    url: str

    def __call__(self, path: str) -> str:
        return self.url + path


@contextmanager
def serve(database_path: Path, **overrides: Any) -> Iterator[LiveServer]:
    """Serve a fresh demo app on 127.0.0.1 with a free port until the block ends."""
    app = create_app(make_config(f"sqlite:///{database_path}", **overrides))
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@dataclass
class ErrorGuard:
    """Collects console errors, uncaught exceptions and CSP violations of every page of a context."""

    errors: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def watch(self, context: BrowserContext) -> BrowserContext:
        context.add_init_script(CSP_LISTENER)
        context.on("page", self._attach)
        for page in context.pages:
            self._attach(page)
        return context

    def expect_status(self, *statuses: int) -> None:
        """Allow the console lines of Chromium and htmx for these statuses, which a test provokes on purpose."""
        self.expected_statuses.update(statuses)

    def _attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed = FAILED_LOAD.search(message.text)
        if failed and int(failed.group(1)) in self.expected_statuses:
            return
        self.errors.append(f"console error on {message.location.get('url')}: {message.text}")

    def check(self) -> None:
        """Fail with every collected error, then start afresh."""
        errors, self.errors = self.errors, []
        assert not errors, "the browser reported errors:\n" + "\n".join(errors)


def read_qr(page: Page) -> str:
    """Return the text of the one QR code visible in a screenshot of the page."""
    # caret="initial": hiding the caret would leave style="" on every input, which htmx then settles.
    image = Image.open(io.BytesIO(page.screenshot(full_page=True, caret="initial")))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR code in the screenshot, found {len(found)}"
    return found[0].text


def secret_of(otpauth_uri: str) -> str:
    """Return the secret parameter of an otpauth URI."""
    parts = urlsplit(otpauth_uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp", otpauth_uri
    return parse_qs(parts.query)["secret"][0]


def wait_until_settled(page: Page) -> None:
    """Wait until htmx has finished swapping and settling (and so its afterSettle handlers ran); at once without it."""
    expect(page.locator(HTMX_BUSY)).to_have_count(0)
