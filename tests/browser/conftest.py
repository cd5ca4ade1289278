"""A real browser for the Temporal Web UI tests: Debian's chromium driven by playwright (both optional).

No browser is downloaded: playwright (a dev extra) drives the system's `chromium`. Without either, or when the
browser cannot start (no display libraries, a locked-down sandbox), the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no `chromium` on PATH (Debian: apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed (dev extra)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium's sandbox refuses to run as root
    async with playwright_api.async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(executable_path=chromium, headless=True, args=args)
        except playwright_api.Error as error:
            pytest.skip(f"chromium at {chromium} did not start: {str(error).splitlines()[0]}")
        try:
            yield launched
        finally:
            await launched.close()
