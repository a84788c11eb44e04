"""A real browser on the console: Debian's Chromium driven by Playwright (launched by its
path: no browser is downloaded), against the demo served by uvicorn on a loopback port.

Each page a test visits can be checked by axe-core for what an automated check finds of
accessibility (labels, contrast, landmarks, names), and photographed for the README
(``CSLEDGER_SCREENSHOTS=docs/console``: ``make screenshots``)."""

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from app.console import links
from app.core.config import Settings
from app.core.db import Database, create_engine
from tests.conftest import IN_CI, blocking
from tests.served import Served, serving

CHROMIUM = Path(os.environ.get("CSLEDGER_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("CSLEDGER_SCREENSHOTS")
TABLET: ViewportSize = {"width": 1024, "height": 768}
"""A tablet held landscape at a nurse's station."""


def launch() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def demo_served(settings: Settings) -> Iterator[Served]:
    with serving(settings) as served:
        yield served


def sign_in(browser: Browser, served: Served, settings: Settings, claims: dict[str, Any]) -> Page:
    """A new browser context (cookies of its own) signed in as ``claims``."""

    async def mint() -> str:
        database = Database(create_engine(settings))
        try:
            return await links.mint(database, settings, claims, now=_now())
        finally:
            await database.dispose()

    context = browser.new_context(viewport=TABLET, base_url=served.url)
    page = context.new_page()
    page.goto(blocking(mint()))
    return page


def _now() -> datetime:
    return datetime.now(UTC)


def accessible(page: Page) -> None:
    """No violation axe-core finds on the page as it stands."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def photograph(page: Page, name: str, tmp_path: Path) -> Path:
    """The page, whole, as a PNG: in ``CSLEDGER_SCREENSHOTS`` when set (the README's)."""
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, Path(SCREENSHOTS) / f"{name}.png")
    return target
