"""Who writes in the web chat is the server's to know: a visitor of a cookie it issued,
or a website's user verified by user_hash. Nobody reaches another's session, reply or
idempotency key, and the database refuses a message in another person's conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import psycopg
import pytest

from adapters.web.identity import VISITOR_COOKIE, user_hash
from bot.app import create_app
from bot.db import messages
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from tests.conftest import ROOT, RuntimeFactory

SECRET = "identity-secret-for-tests-0123456789"


@pytest.fixture
async def app(runtime_factory: RuntimeFactory,
              make_settings: Callable[..., Settings]) -> AsyncIterator[object]:
    async with runtime_factory(settings=make_settings(web_identity_secret=SECRET)) as rt:
        yield create_app(rt.settings, runtime=rt)


def client(app: object) -> httpx.AsyncClient:
    """A browser of its own (its own cookies)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                             base_url="http://test", timeout=30)


async def stored(db: Database) -> int:
    async with db.as_system() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM app.messages")).fetchone()
    return int(row["n"]) if row else 0


async def test_a_visitor_is_the_cookie_the_server_issued(app: object, db: Database) -> None:
    async with client(app) as alice, client(app) as mallory:
        first = await alice.post("/api/chat", json={"text": "hello"})
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(VISITOR_COOKIE + "=") and "HttpOnly" in cookie
        session = first.json()["session_id"]
        again = await alice.post("/api/chat", json={"text": "thanks", "session_id": session})
        assert again.status_code == 200 and "set-cookie" not in again.headers
        assert (await alice.get(f"/api/sessions/{session}")).status_code == 200

        # another browser knows the session id: it is as if it did not exist
        before = await stored(db)
        theirs = await mallory.post("/api/chat", json={"text": "hi", "session_id": session})
        assert theirs.status_code == 404
        assert await stored(db) == before
        assert (await mallory.get(f"/api/sessions/{session}")).status_code == 404
        assert (await mallory.delete(f"/api/sessions/{session}")).status_code == 404
        assert (await mallory.get(f"/api/sessions/{session}/events")).status_code == 404


async def test_an_idempotency_key_is_its_senders_own(app: object) -> None:
    async with client(app) as alice, client(app) as mallory:
        mine = (await alice.post("/api/chat", json={
            "text": "I want to talk to a person", "message_id": "shared-key-1234"})).json()
        theirs = (await mallory.post("/api/chat", json={
            "text": "hello", "message_id": "shared-key-1234"})).json()
        assert theirs["message_id"] != mine["message_id"]
        assert theirs["session_id"] != mine["session_id"]
        assert theirs["reply"]["text"] != mine["reply"]["text"]
        # a retry by the same sender is the same message, answered once
        again = (await alice.post("/api/chat", json={
            "text": "I want to talk to a person", "message_id": "shared-key-1234",
            "session_id": mine["session_id"]})).json()
        assert again["message_id"] == mine["message_id"]


async def test_a_named_user_needs_the_websites_hash(app: object, db: Database) -> None:
    async with client(app) as browser, client(app) as phone:
        before = await stored(db)
        for body in ({"text": "hi", "user": "customer-42"},
                     {"text": "hi", "user": "customer-42", "user_hash": "0" * 64},
                     {"text": "hi", "user": "customer-42",
                      "user_hash": user_hash(SECRET, "customer-43")}):
            refused = await browser.post("/api/chat", json=body)
            assert refused.status_code == 401, body
        assert await stored(db) == before

        signed = {"user": "customer-42", "user_hash": user_hash(SECRET, "customer-42")}
        first = await browser.post("/api/chat", json={"text": "hello", **signed})
        assert first.status_code == 200
        session = first.json()["session_id"]
        # the same user on another device: the same person, so the same conversation
        assert (await phone.get(f"/api/sessions/{session}", params=signed)).status_code == 200
        assert (await phone.get(f"/api/sessions/{session}")).status_code == 404


async def test_without_a_secret_a_named_user_is_refused_with_the_reason(
    runtime_factory: RuntimeFactory, db: Database,
) -> None:
    async with runtime_factory() as rt, client(create_app(rt.settings, runtime=rt)) as browser:
        before = await stored(db)
        refused = await browser.post("/api/chat", json={"text": "hi", "user": "customer-42"})
        assert refused.status_code == 400
        assert "WEB_IDENTITY_SECRET" in refused.json()["error"]
        assert await stored(db) == before


async def test_the_database_refuses_a_message_in_another_persons_conversation(
    db: Database, inbound: Callable[..., InboundMessage],
) -> None:
    [owner] = await messages.ingest(db, [(inbound(text="mine"), "t")])
    async with db.as_system() as conn:
        key = (await (await conn.execute(
            "SELECT conversation_key FROM app.conversations WHERE id = %s",
            (owner.conversation_id,))).fetchone())
    assert key is not None
    stranger = inbound(text="not yours", conversation_key=key["conversation_key"])
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        await messages.ingest(db, [(stranger, "t")])


def test_the_documented_server_snippet_computes_the_hash_the_bot_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (ROOT / "docs/web-chat.md").read_text(encoding="utf-8")
    snippet = text[text.index("```python\n") + 10:]
    snippet = snippet[:snippet.index("```")]
    monkeypatch.setenv("WEB_IDENTITY_SECRET", SECRET)
    scope: dict[str, object] = {}
    exec(snippet, scope)  # the docs' own code, as a website would run it
    compute = scope["chat_user_hash"]
    assert callable(compute) and compute("customer-42") == user_hash(SECRET, "customer-42")
