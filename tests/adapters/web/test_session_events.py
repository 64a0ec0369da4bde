"""GET /api/sessions/{id}/events over real HTTP: every message sent into the conversation
with its id, the handoff's changes, and a reconnect with Last-Event-ID gets what it
missed once, then the rest live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from bot.app import create_app
from testing.loopback import serve
from tests.adapters.web.conftest import handoff_of
from tests.conftest import RuntimeFactory, wait_for


async def events(http: httpx.AsyncClient, url: str, last: int | None,
                 seen: list[dict[str, Any]]) -> None:
    """Read the stream into `seen` (event, id, data) until cancelled."""
    headers = {"last-event-id": str(last)} if last is not None else {}
    async with http.stream("GET", url, headers=headers) as answer:
        assert answer.status_code == 200
        event: dict[str, Any] = {}
        async for line in answer.aiter_lines():
            if line.startswith("event:"):
                event["event"] = line[6:].strip()
            elif line.startswith("id:"):
                event["id"] = int(line[3:].strip())
            elif line.startswith("data:"):
                event["data"] = json.loads(line[5:].strip())
            elif not line and event:
                seen.append(event)
                event = {}


async def staff_texts(seen: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["reply"]["text"] for e in seen
            if e.get("event") == "message" and e["data"]["from_human"]]


async def test_the_stream_resumes_without_gaps_or_repeats(runtime_factory: RuntimeFactory) -> None:
    async with runtime_factory() as rt, serve(create_app(rt.settings, runtime=rt)) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as http:
        first = (await http.post("/api/chat", json={"text": "I want to talk to a person"})).json()
        session = first["session_id"]
        handoff = (await handoff_of(rt, session)).id
        url = f"/api/sessions/{session}/events"

        seen: list[dict[str, Any]] = []
        reader = asyncio.create_task(events(http, url, None, seen))
        await wait_for(lambda: _ready(seen))
        await rt.handoffs.reply(handoff, "Maria", "one")

        async def got_one() -> bool:
            return await staff_texts(seen) == ["one"]
        await wait_for(got_one)
        assert any(e.get("event") == "handoff"
                   and e["data"] == {"status": "claimed", "staff": "Maria"} for e in seen)
        one_id = next(e["id"] for e in seen if e.get("event") == "message")
        reader.cancel()

        # while nobody listens, two more; the reconnect names the last it had
        await rt.handoffs.reply(handoff, "Maria", "two")
        await rt.handoffs.reply(handoff, "Maria", "three")
        resumed: list[dict[str, Any]] = []
        reader = asyncio.create_task(events(http, url, one_id, resumed))

        async def caught_up() -> bool:
            return await staff_texts(resumed) == ["two", "three"]
        await wait_for(caught_up)
        await rt.handoffs.reply(handoff, "Maria", "four")

        async def live() -> bool:
            return await staff_texts(resumed) == ["two", "three", "four"]
        await wait_for(live)
        ids = [e["id"] for e in resumed if e.get("event") == "message"]
        assert ids == sorted(set(ids)) and min(ids) > one_id
        await rt.handoffs.finish(handoff, "Maria", back_to_bot=True)

        async def returned() -> bool:
            return any(e.get("event") == "handoff" and e["data"]["status"] == "returned"
                       for e in resumed)
        await wait_for(returned)
        reader.cancel()


async def _ready(seen: list[dict[str, Any]]) -> bool:
    return any(e.get("event") == "ready" for e in seen)
