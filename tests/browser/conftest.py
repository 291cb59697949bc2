"""Fixtures for the browser tests: Debian's Chromium, the demo app on a server thread, guarded contexts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser.support import ErrorGuard, LiveServer, launch_chromium, missing_chromium, serve

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole run; a missing /usr/bin/chromium fails every test, never skips."""
    problem = missing_chromium()
    if problem:
        pytest.fail(problem, pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    """Configuration a test module changes for its server."""
    return {}


@pytest.fixture
def server(tmp_path: Path, server_overrides: dict[str, Any]) -> Iterator[LiveServer]:
    with serve(tmp_path / "browser.db", **server_overrides) as live:
        yield live


@pytest.fixture
def guard() -> Iterator[ErrorGuard]:
    """Fails the test on any console error, uncaught exception or CSP violation."""
    errors = ErrorGuard()
    yield errors
    errors.check()


def _context(browser: Browser, guard: ErrorGuard, server: LiveServer, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True, **options)
    context.set_default_timeout(10_000)
    return guard.watch(context)


@pytest.fixture
def context(browser: Browser, guard: ErrorGuard, server: LiveServer) -> Iterator[BrowserContext]:
    """A JavaScript-enabled context that may use the clipboard."""
    context = _context(browser, guard, server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def nojs_page(browser: Browser, guard: ErrorGuard, server: LiveServer) -> Iterator[Page]:
    """A page in a context with JavaScript disabled: plain forms, 303s and full pages."""
    context = _context(browser, guard, server, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture(params=["javascript", "no-javascript"])
def any_page(request: pytest.FixtureRequest) -> Page:
    """The same test with htmx swapping fragments, then with plain forms and full pages."""
    return request.getfixturevalue("page" if request.param == "javascript" else "nojs_page")
