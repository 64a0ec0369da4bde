"""A web chat handed to a person: the message is answered at once as sent to the team (no
30-second wait), and the person's replies appear live on the open page, marked as theirs,
and in the history (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from bot.app import create_app
from testing.loopback import serve
from tests.adapters.web.conftest import handoff_of
from tests.conftest import RuntimeFactory

pytestmark = pytest.mark.slow


async def test_a_staff_reply_appears_live_on_the_page(
    runtime_factory: RuntimeFactory, page: Any,
) -> None:
    async with runtime_factory() as rt, serve(create_app(rt.settings, runtime=rt)) as base:
        await page.goto(base + "/")
        await page.fill("#text", "I want to talk to a person")
        await page.press("#text", "Enter")
        await page.locator(".msg.bot:not(.welcome)").wait_for()
        session = await page.evaluate("localStorage.getItem('chat.session')")
        handoff = await handoff_of(rt, session)
        # while it waits for a person, a message goes to the team and says so at once
        await page.fill("#text", "it's about my membership")
        await page.press("#text", "Enter")
        await page.get_by_text("Sent to our team; their reply will appear here.").wait_for(
            timeout=5_000)

        await rt.handoffs.reply(handoff.id, "Maria", "Hi, Maria here. Let me look.")
        staff = page.locator(".msg.staff")
        await staff.wait_for()
        await page.get_by_text("Maria from the team joined.").wait_for()
        assert await staff.inner_text() == "Hi, Maria here. Let me look."
        assert await page.locator(".author").inner_text() == "Maria · team"
        if shots := os.environ.get("BOT_SCREENSHOTS"):
            await page.screenshot(path=f"{shots}/web-chat-staff.png", full_page=True)
        # and after a reload, from the history, still marked as the person's
        await page.reload()
        await page.locator(".msg.staff").wait_for()
        assert await page.locator(".author").inner_text() == "Maria · team"


async def test_the_chat_api_answers_at_once_when_a_person_has_the_conversation(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory() as rt:
        app = create_app(rt.settings, runtime=rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=10) as client:
            first = (await client.post("/api/chat", json={
                "text": "I want to talk to a person"})).json()
            session = first["session_id"]
            await handoff_of(rt, session)
            # settings give the page 15 s; a relayed message must not wait for them
            relayed = (await client.post("/api/chat", json={
                "text": "hello?", "session_id": session})).json()
    assert relayed["status"] == "queued" and relayed["reply"] is None
