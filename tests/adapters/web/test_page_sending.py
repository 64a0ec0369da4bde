"""The chat page never loses or silently cuts what a person writes: a message over the
limit is refused before sending with the limit stated, and one the server refused
(rate limit) stays on screen marked as not sent, with a retry (Chromium via Playwright)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import create_app
from bot.settings import Settings
from testing.loopback import serve
from tests.conftest import RuntimeFactory

pytestmark = pytest.mark.slow


async def test_a_long_paste_is_refused_with_the_limit_and_kept(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], page: Any,
) -> None:
    async with runtime_factory(settings=make_settings(max_message_chars=300)) as rt, \
            serve(create_app(rt.settings, runtime=rt)) as base:
        await page.goto(base + "/")
        await page.fill("#text", "x" * 5000)
        await page.press("#text", "Enter")
        limit = page.locator("#limit")
        assert await limit.inner_text() == (
            "Your message is 5,000 characters; the limit is 300. Please shorten it.")
        assert await page.input_value("#text") == "x" * 5000  # kept, to be shortened
        assert await page.locator(".msg.me").count() == 0  # nothing sent
        await page.fill("#text", "hello")
        await page.press("#text", "Enter")
        await page.locator(".msg.bot:not(.welcome)").wait_for()
        assert await limit.inner_text() == ""


async def test_a_message_the_server_refused_stays_marked_with_a_retry(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], page: Any,
) -> None:
    settings = make_settings(rate_limit_ip="1/minute")
    async with runtime_factory(settings=settings) as rt, \
            serve(create_app(rt.settings, runtime=rt)) as base:
        await page.goto(base + "/")
        await page.fill("#text", "hello")
        await page.press("#text", "Enter")
        await page.locator(".msg.bot:not(.welcome)").wait_for()
        await page.fill("#text", "and my booking?")
        await page.press("#text", "Enter")
        unsent = page.locator(".msg.me.unsent")
        await unsent.wait_for()
        assert await unsent.inner_text() == "and my booking?"
        status = page.locator(".status")
        assert (await status.inner_text()).startswith("Not sent: You're sending messages too")
        if shots := os.environ.get("BOT_SCREENSHOTS"):
            await page.screenshot(path=f"{shots}/web-chat-not-sent.png", full_page=True)
        await page.locator(".retry").click()  # still limited: marked again, never lost
        await page.locator(".msg.me.unsent").wait_for()
        assert await page.locator(".msg.me").count() == 2
