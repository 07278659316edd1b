"""Debian's Chromium driven by Playwright, for the page tests (CI installs it with scripts/install-browser.sh).

Never lets Playwright download a browser of its own: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]


def chromium_available() -> bool:
    return CHROMIUM.is_file()


@contextlib.contextmanager
def chromium():
    """Yields a launched Playwright Browser; closes it afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, width: int = 1280, height: int = 800):
    """A fresh page and the list that collects its page errors and console errors."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    return page, errors


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 800):
    """Yields (page, errors) in a browser of its own."""
    with chromium() as browser:
        yield open_page(browser, width, height)
