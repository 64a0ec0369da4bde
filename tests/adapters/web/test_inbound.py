"""The web chat API end to end, through the ASGI app, on real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.web import ChatRequest, to_inbound
from bot.app import create_app
from tests.conftest import RuntimeFactory


@pytest.fixture
async def client(runtime_factory: RuntimeFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with runtime_factory() as rt:
        app = create_app(rt.settings, runtime=rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     timeout=30) as c:
            yield c


def test_to_inbound_is_pure_and_uses_the_session_as_conversation() -> None:
    msg = to_inbound(ChatRequest(text="hi", message_id="m-12345678"), "sess-12345678",
                     "visitor:abc")
    # the idempotency key is the sender's own
    assert (msg.channel, msg.conversation_key, msg.sender_id, msg.external_id) == (
        "web", "sess-12345678", "visitor:abc", "visitor:abc:m-12345678")


async def test_two_messages_with_one_session_land_in_one_history(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/api/chat", json={"text": "hello"})
    assert first.status_code == 200
    body = first.json()
    session_id = body["session_id"]
    assert body["reply"]["text"] and body["status"] == "answered"
    second = await client.post("/api/chat", json={"text": "again", "session_id": session_id})
    assert second.json()["session_id"] == session_id
    history = (await client.get(f"/api/sessions/{session_id}")).json()
    assert [m["direction"] for m in history["messages"]] == ["in", "out", "in", "out"]
    assert [m["text"] for m in history["messages"] if m["direction"] == "in"] == ["hello", "again"]


async def test_retry_with_same_client_message_id_is_answered_once(
    client: httpx.AsyncClient,
) -> None:
    payload = {"text": "once", "message_id": "client-msg-0001"}
    a = (await client.post("/api/chat", json=payload)).json()
    b = (await client.post("/api/chat", json=payload | {"session_id": a["session_id"]})).json()
    assert a["message_id"] == b["message_id"] and a["reply"] == b["reply"]
    history = (await client.get(f"/api/sessions/{a['session_id']}")).json()
    assert len(history["messages"]) == 2


async def test_stream_sends_status_delta_and_done_events(client: httpx.AsyncClient) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    async with client.stream("POST", "/api/chat/stream", json={"text": "stream"}) as res:
        assert res.status_code == 200
        event = ""
        async for line in res.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
    names = [e for e, _ in events]
    assert names[0] == "status" and names[-1] == "done"
    assert "text_delta" in names
    assert events[-1][1]["reply"]


async def test_delete_closes_the_session_and_keeps_history(client: httpx.AsyncClient) -> None:
    session_id = (await client.post("/api/chat", json={"text": "bye"})).json()["session_id"]
    closed = await client.delete(f"/api/sessions/{session_id}")
    assert closed.json() == {"session_id": session_id, "closed": True}
    assert len((await client.get(f"/api/sessions/{session_id}")).json()["messages"]) == 2


async def test_bad_inputs_get_clear_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/sessions/unknown-session-id")).status_code == 404
    assert (await client.post("/api/chat", json={"text": "x", "session_id": "../../etc"})
            ).status_code == 422
    assert (await client.post("/api/chat", content=b"not json",
                              headers={"content-type": "application/json"})).status_code == 422


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    await client.post("/api/chat", json={"text": "count me"})
    metrics = (await client.get("/metrics")).text
    assert 'bot_inbound_messages_total{channel="web"}' in metrics
    assert "bot_queue_jobs" in metrics


async def test_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "New conversation" in page.text
