"""Headless Chromium for the console's tests, driven by Playwright.

The browser is the system's Chromium (Debian's ``chromium``; ``TXFLOW_CHROMIUM``
names another binary), never one Playwright downloads. Where there is none the
browser tests skip, saying why, unless ``TXFLOW_REQUIRE_BROWSER=1`` (CI sets it
in ``.ci/run``, which installs Chromium), where they fail.

Screenshots go to ``tests/artifacts/console/`` (``TXFLOW_ARTIFACTS`` for another
directory; git-ignored); the run's summary lists them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("TXFLOW_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))
SCREENSHOTS = ARTIFACTS / "console"
saved: list[Path] = []


def chromium() -> str | None:
    """The Chromium to drive: ``TXFLOW_CHROMIUM`` if it names a program, else ``chromium``
    on PATH; ``None`` when there is none."""
    return shutil.which(os.environ.get("TXFLOW_CHROMIUM") or "chromium")


def unavailable(reason: str) -> None:
    """Skip, or fail where a browser is required (CI)."""
    if os.environ.get("TXFLOW_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TXFLOW_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def launched() -> Iterator[Browser]:
    executable = chromium()
    if executable is None:
        unavailable("no Chromium (apt-get install chromium, or set TXFLOW_CHROMIUM to one)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    saved.append(path)
    return path
