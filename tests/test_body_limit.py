"""Bodies over HTTP_MAX_BODY_BYTES: 413 on every route, refused while read, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.app import create_app
from bot.settings import Settings
from testing.slack_api import serve_fake_slack
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, message, signed_headers
from tests.conftest import RuntimeFactory

LIMIT = 4096


async def chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked), as a client may stream one."""
    for _ in range(total // size):
        yield b"x" * size


@pytest.fixture
async def settings(make_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    async with serve_fake_slack() as slack:
        yield make_settings(http_max_body_bytes=LIMIT, slack_signing_secret=SIGNING_SECRET,
                            slack_bot_token="xoxb-test", slack_api_base_url=slack.url)


@pytest.mark.parametrize("path", ["/api/chat", "/slack/events", "/webhooks/web",
                                  "/admin/login", "/nowhere"])
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    runtime_factory: RuntimeFactory, settings: Settings, path: str,
) -> None:
    async with runtime_factory(settings=settings, worker=False) as rt:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.post(path, content=b"{" + b" " * (LIMIT * 4) + b"}",
                                       headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["max_bytes"] == LIMIT


async def test_a_streamed_body_over_the_limit_is_refused_and_nothing_is_stored(
    runtime_factory: RuntimeFactory, settings: Settings,
) -> None:
    async with runtime_factory(settings=settings, worker=False) as rt:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            chat = await client.post("/api/chat", content=chunks(LIMIT * 4),
                                     headers={"content-type": "application/json"})
            big = event_body(message("1700000000.000100", text="x" * LIMIT * 2,
                                     channel="DBIG", channel_type="im"), event_id="EvBig")
            slack = await client.post("/slack/events", content=big, headers=signed_headers(big))
            small = event_body(message("1700000000.000200", text="hello", channel="DSMALL",
                                       channel_type="im"), event_id="EvSmall")
            fine = await client.post("/slack/events", content=small,
                                     headers=signed_headers(small))
        async with rt.db.as_system() as conn:
            cur = await conn.execute("SELECT external_id FROM app.messages WHERE channel ="
                                     " 'slack' AND external_id LIKE 'T1:D%%'")
            stored = [r["external_id"] for r in await cur.fetchall()]
    assert chat.status_code == 413
    assert slack.status_code == 413, "a signed Slack event is no exception"
    assert fine.status_code == 200
    assert "T1:DSMALL:1700000000.000200" in stored and not any("DBIG" in s for s in stored)
