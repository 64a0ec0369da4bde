"""The web chat page renders reply Markdown safely (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bot.app import create_app
from bot.models import Card, OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from testing.loopback import serve
from tests.conftest import RuntimeFactory

pytestmark = pytest.mark.slow

REPLY = ("Our **plans**:\n- *Drop-in*: $25\n- __Unlimited__: `$149`\n\n"
         "Details at https://example.com/plans. <img src=x onerror=alert(1)>\n"
         "[bad](javascript:alert(1)) and [good](https://example.com/a?b=1&c=2)\n"
         "_Source: Policies › Cancellation policy (policies.md)_ and snake_case_name")


class MarkdownReply:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=REPLY, parts=[Card(title="Intro", body="Seven days\n• Tour")])


async def test_reply_markdown_is_rendered_and_html_stays_text(
    runtime_factory: RuntimeFactory, page: Any,
) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: alerts.append(dialog.message))
    async with runtime_factory(router=Router(MarkdownReply())) as rt, \
            serve(create_app(rt.settings, runtime=rt)) as base:
        await page.goto(base + "/")
        # the bot's name and welcome, from its definition
        assert await page.title() == "Fixture Bot"
        welcome = page.locator(".msg.bot.welcome")
        assert await welcome.inner_text() == "Hi! I'm Fixture Bot. What can I do for you?"
        await page.fill("#text", "plans?")
        await page.press("#text", "Enter")
        bot = page.locator(".msg.bot:not(.welcome)")
        await page.locator(".msg.bot .card").wait_for()
        assert await bot.locator("strong").all_inner_texts() == ["plans", "Unlimited", "Intro"]
        assert await bot.locator("ul > li").count() == 2 + 1  # the card body's bullet too
        assert await bot.locator("li em").inner_text() == "Drop-in"
        assert await bot.locator("code").inner_text() == "$149"
        links = await bot.locator("a").evaluate_all("as => as.map(a => a.href)")
        assert links == ["https://example.com/plans", "https://example.com/a?b=1&c=2"]
        assert await bot.locator("img").count() == 0
        text = await bot.inner_text()
        assert "<img src=x onerror=alert(1)>" in text and "[bad](javascript:alert(1))" in text
        source = await bot.locator("em").last.inner_text()
        assert source == "Source: Policies › Cancellation policy (policies.md)"
        assert "snake_case_name" in text
        assert alerts == []
        rendered = await page.evaluate("t => window.chatMarkdown(t)", "a\nb\n\n1. one\n2. two")
        assert rendered == "a<br>b<br><ol><li>one</li><li>two</li></ol>"
        if shots := os.environ.get("BOT_SCREENSHOTS"):  # to look at the page by eye
            await page.screenshot(path=f"{shots}/web-chat.png", full_page=True)
