"""A Chromium tab for the web chat page's tests (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.admin.browser import CHROMIUM, LAUNCH_ARGS, ensure_chromium


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    pytest.importorskip("playwright", reason="playwright is a dev extra: pip install -e '.[dev]'")
    problem = ensure_chromium()
    if problem is not None:
        pytest.skip(f"the chat page test needs chromium: {problem}")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=LAUNCH_ARGS)
        try:
            tab = await browser.new_page()
            tab.set_default_timeout(20_000)
            yield tab
        finally:
            await browser.close()
