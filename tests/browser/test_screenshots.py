"""The committed screenshots are the set make_screenshots.py writes; UPDATE_SCREENSHOTS=1 rewrites them."""

from __future__ import annotations

import os

import pytest
from PIL import Image
from playwright.sync_api import Browser

from tests.browser.make_screenshots import ROOT, make_screenshots, shot_names

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "docs" / "screenshots"


def test_committed_screenshots_are_complete(browser: Browser) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        make_screenshots(browser, SCREENSHOTS)
    committed = sorted(path.name for path in SCREENSHOTS.glob("*.png"))
    assert committed == sorted(shot_names()), "run: .venv/bin/python -m tests.browser.make_screenshots"
    for name in committed:
        with Image.open(SCREENSHOTS / name) as image:
            assert image.width == int(name.rsplit("-", 1)[1].removesuffix(".png")), name
