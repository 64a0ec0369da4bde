"""A Chromium tab for the web chat page's tests (Debian's chromium, driven by Playwright),
and the handoff of a web chat session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.web import WebChatAdapter
from bot.handoff.console import HandoffView
from bot.runtime import Runtime
from tests.admin.browser import CHROMIUM, LAUNCH_ARGS, ensure_chromium
from tests.conftest import wait_for


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


async def handoff_of(rt: Runtime, session: str) -> HandoffView:
    """The open handoff of the web chat session (other tests' stay open beside it)."""
    web = rt.adapters["web"]
    assert isinstance(web, WebChatAdapter)
    found = await web.store.find(session)
    assert found is not None
    mine: list[HandoffView] = []

    async def handed_over() -> bool:
        mine[:] = [h for h in await rt.handoffs.list_open() if h.conversation_id == found.id]
        return len(mine) == 1
    await wait_for(handed_over)
    return mine[0]
