"""The dashboard in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import pytest

from bot.db.pool import Database
from bot.models import InboundMessage
from testing.loopback import serve
from tests.admin.browser import CHROMIUM, LAUNCH_ARGS, ensure_chromium
from tests.admin.conftest import ADMIN_TOKEN, AdminRuntime
from tests.conftest import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def chromium() -> str:
    pytest.importorskip("playwright", reason="playwright is a dev extra: pip install -e '.[dev]'")
    problem = ensure_chromium()
    if problem is not None:
        pytest.skip(f"dashboard browser tests need chromium: {problem}")
    return str(CHROMIUM)


@pytest.fixture
async def browser_page(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True,
                                          args=LAUNCH_ARGS)
        try:
            page = await browser.new_page()
            # generous: the suite shares two cores with PostgreSQL and subprocess workers
            page.set_default_timeout(60_000)
            yield page
        finally:
            await browser.close()


async def out_count(db: Database, conversation_id: Any, **where: str) -> int:
    extra = "".join(f" AND {k} = %s" for k in where)
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.messages WHERE conversation_id"
                                 " = %s AND direction = 'out' AND status = 'sent'" + extra,
                                 (conversation_id, *where.values()))
        row = await cur.fetchone()
        return int(row["n"]) if row else 0


async def test_log_in_see_conversations_transcript_charts_and_work_the_handoff_queue(
    admin_runtime: AdminRuntime, inbound: Callable[..., InboundMessage], db: Database,
    browser_page: Any,
) -> None:
    page = browser_page
    async with admin_runtime() as (rt, app), serve(app) as base:
        # a name no other test uses, so the row is found among everyone else's
        name = f"Browser {uuid4().hex[:8]}"
        chat = await rt.ingest(inbound(text="hello", sender_id="+15550001111", sender_name=name))
        wanted = await rt.ingest(inbound(text="can I talk to a person?", sender_id="+15550002222"))

        async def both_answered() -> bool:
            return (await out_count(db, chat.conversation_id) == 1
                    and await out_count(db, wanted.conversation_id) == 1)
        await wait_for(both_answered)

        # not logged in: the dashboard sends you to the login form
        await page.goto(f"{base}/admin")
        assert page.url.endswith("/admin/login")
        await page.fill("input[name=staff]", "Dana")
        await page.fill("input[name=token]", ADMIN_TOKEN)
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-loaded=true]")
        assert ADMIN_TOKEN not in page.url

        # live conversations: masked identities, last intent
        row = page.locator("#conversation-table tr", has_text=name)
        await row.wait_for()
        assert "+***11" in await row.inner_text()
        assert "greeting" in await row.inner_text()
        assert "5550001111" not in await page.content()

        # charts drawn from the JSON API, with data
        bars = page.locator("#chart-messages svg rect")
        assert await bars.count() > 0
        assert int(await page.get_attribute("#chart-messages svg", "data-points") or 0) > 0
        assert await page.locator("#chart-intents svg rect").count() > 0
        assert await page.locator("#chart-response svg circle").count() > 0
        assert "cap" in await page.locator("#chart-costs").inner_text()
        # the time range selector redraws the charts with finer buckets
        assert "per hour" in await page.locator("#chart-messages h3").inner_text()
        await page.select_option("#range-preset", "1h")
        await page.locator("#chart-messages h3", has_text="per 5 min").wait_for()
        assert "range=1h" in page.url
        assert await page.locator("#chart-messages svg rect").count() > 0

        # a transcript with its intents
        await row.get_by_role("link", name="transcript").click()
        await page.wait_for_selector("#transcript")
        transcript = await page.locator("#transcript").inner_text()
        assert "hello" in transcript and "greeting" in transcript

        # the handoff queue: claim, then answer the customer on their channel
        await page.click("text=Handoff queue")
        handoff = await rt.handoffs.open_handoff(wanted.conversation_id)
        assert handoff is not None
        item = page.locator(f"tr[data-handoff='{handoff.id}']")
        await item.wait_for()
        assert "waiting" in await item.inner_text()
        await item.get_by_role("button", name="Claim").click()
        await page.wait_for_selector("#status:has-text('Claimed by Dana')")
        await page.locator(f"tr[data-handoff='{handoff.id}'] td",
                           has_text="claimed by Dana").wait_for()
        await page.locator(f"tr[data-handoff='{handoff.id}'] textarea").fill(
            "Hi, Dana from the team here.")
        await page.locator(f"tr[data-handoff='{handoff.id}']").get_by_role(
            "button", name="Send reply").click()
        await page.wait_for_selector("#status:has-text('Sent to the customer')")

        async def staff_reply_sent() -> bool:
            return await out_count(db, wanted.conversation_id, author="Dana") == 1
        await wait_for(staff_reply_sent)
        current = await rt.handoffs.view(handoff.id)
        assert (current.status, current.staff) == ("claimed", "Dana")
