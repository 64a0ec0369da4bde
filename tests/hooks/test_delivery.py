"""Event hooks: signed, retried, recorded, and never in a conversation's way."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response

from bot.db.pool import Database
from bot.hooks import EventHooks, HookEvent
from bot.hooks.build import build_hooks
from bot.hooks.signing import verify
from bot.hooks.sinks import WebhookSink
from bot.models import InboundMessage, OutboundReply
from bot.observability import Metrics
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.settings import Settings
from testing.loopback import dead_url, serve
from tests.conftest import RuntimeFactory, wait_for
from tests.handoff.test_flow import KeywordClassifier, outbound

SECRET = "hook-secret-for-tests"


class Receiver:
    """A loopback receiver that checks signatures and answers with scripted codes."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = codes or []
        self.calls: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.hold = False
        self.app = FastAPI()
        self.app.post("/hook")(self.handle)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        header = request.headers["X-Bot-Signature"]
        self.calls.append({"body": json.loads(body), "verified": verify(SECRET, body, header),
                           "header": header, "raw": body})
        if self.hold:
            await self.release.wait()
        code = self.codes.pop(0) if self.codes else 200
        return Response(status_code=code)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls if c["body"]["type"] == kind]


async def deliveries(db: Database, event_id: Any) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT * FROM app.hook_deliveries WHERE event_id = %s",
                                 (event_id,))
        return list(await cur.fetchall())


def quick(make_settings: Callable[..., Settings], url: str, **more: Any) -> Settings:
    values: dict[str, Any] = {"hook_retry_initial_s": 0.01, "hook_retry_max_s": 0.05, **more}
    return make_settings(hook_urls=url, hook_secret=SECRET, **values)


async def test_handoff_events_are_signed_so_a_receiver_can_verify_them(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    receiver = Receiver()
    async with serve(receiver.app) as base:
        settings = quick(make_settings, f"{base}/hook")
        async with runtime_factory(classifier=KeywordClassifier(), settings=settings) as rt:
            r = await rt.ingest(inbound(text="let me talk to a person"))
            await wait_for(lambda: _has(receiver, "handoff.created"))
            handoff = await rt.handoffs.open_handoff(r.conversation_id)
            assert handoff is not None
            assert (await rt.handoffs.claim(handoff.id, "maria")).ok
            assert (await rt.handoffs.finish(handoff.id, "maria", back_to_bot=False)).ok
            await wait_for(lambda: _has(receiver, "handoff.resolved"))

    assert all(c["verified"] for c in receiver.calls)
    # the scheme as documented: HMAC-SHA256 over "<t>." + body, hex
    call = receiver.calls[0]
    t, v1 = (p.split("=", 1)[1] for p in call["header"].split(","))
    assert v1 == hmac.new(SECRET.encode(), f"{t}.".encode() + call["raw"],
                          hashlib.sha256).hexdigest()
    assert not verify("another-secret", call["raw"], call["header"])
    assert not verify(SECRET, call["raw"] + b" ", call["header"])
    created = receiver.events("handoff.created")[0]
    assert created["data"]["conversation_id"] == str(r.conversation_id)
    assert receiver.events("handoff.claimed")[0]["data"]["staff"] == "maria"
    assert receiver.events("handoff.resolved")[0]["data"]["outcome"] == "resolved"
    assert "talk to a person" not in json.dumps(receiver.calls[0]["body"])  # no message text
    recorded = await deliveries(db, created["id"])
    assert [(d["status"], d["attempts"]) for d in recorded] == [("delivered", 1)]


async def _has(receiver: Receiver, kind: str) -> bool:
    return bool(receiver.events(kind))


async def test_a_500_is_retried_until_the_receiver_accepts(
    make_settings: Callable[..., Settings], db: Database,
) -> None:
    receiver = Receiver(codes=[500, 503])
    async with serve(receiver.app) as base:
        hooks = build_hooks(quick(make_settings, f"{base}/hook"), Metrics(), db)
        event = HookEvent(type="turn.failed", data={"attempts": 5})
        assert await hooks.deliver(event, hooks.sinks[0])
        await hooks.stop()
    assert len(receiver.calls) == 3
    assert all(c["verified"] and c["body"]["id"] == str(event.id) for c in receiver.calls)
    [row] = await deliveries(db, event.id)
    assert (row["status"], row["attempts"], row["status_code"]) == ("delivered", 3, 200)


async def test_gives_up_after_max_attempts_and_does_not_retry_a_client_error(
    make_settings: Callable[..., Settings], db: Database,
) -> None:
    receiver = Receiver(codes=[500, 500, 500, 400])
    async with serve(receiver.app) as base:
        hooks = build_hooks(quick(make_settings, f"{base}/hook", hook_max_attempts=3),
                            Metrics(), db)
        failing = HookEvent(type="security.event")
        assert not await hooks.deliver(failing, hooks.sinks[0])
        rejected = HookEvent(type="security.event")
        assert not await hooks.deliver(rejected, hooks.sinks[0])
        await hooks.stop()
    assert len(receiver.calls) == 4
    [row] = await deliveries(db, failing.id)
    assert (row["status"], row["attempts"], row["status_code"]) == ("failed", 3, 500)
    [row] = await deliveries(db, rejected.id)
    assert (row["status"], row["attempts"], row["status_code"]) == ("failed", 1, 400)


async def test_a_hanging_or_dead_receiver_does_not_delay_the_conversation(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    receiver = Receiver()
    receiver.hold = True  # accepts the connection, never answers until released
    async with serve(receiver.app) as base:
        settings = quick(make_settings, f"{base}/hook,{dead_url()}", hook_timeout_s=60.0,
                         hook_max_attempts=50, hook_retry_initial_s=1.0)
        async with runtime_factory(classifier=KeywordClassifier(), settings=settings) as rt:
            r = await rt.ingest(inbound(text="a person please"))

            async def answered() -> bool:
                rows = await outbound(db, r.contact_id, r.conversation_id)
                return bool(rows) and rows[0]["status"] == "sent"
            await wait_for(answered)
            # the reply went out while the receiver still holds the event
            assert receiver.calls and not receiver.release.is_set()
            assert await deliveries(db, receiver.calls[0]["body"]["id"]) == []
            receiver.release.set()
            await wait_for(lambda: _recorded(db, receiver.calls[0]["body"]["id"]))


async def _recorded(db: Database, event_id: Any) -> bool:
    return any(d["status"] == "delivered" for d in await deliveries(db, event_id))


class Broken:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        raise RuntimeError("model unavailable")


class Leaky:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text="my key is sk-ant-abcdefghijklmnopqrstuvwx, shh")


async def test_failed_turn_and_security_event_are_sent(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage],
) -> None:
    receiver = Receiver()
    async with serve(receiver.app) as base:
        settings = quick(make_settings, f"{base}/hook", turn_max_attempts=1)
        async with runtime_factory(router=Router(default=Broken()), settings=settings) as rt:
            r = await rt.ingest(inbound(text="hello"))
            await wait_for(lambda: _has(receiver, "turn.failed"))
        async with runtime_factory(router=Router(default=Leaky()), settings=settings) as rt:
            await rt.ingest(inbound(text="hello"))
            await wait_for(lambda: _has(receiver, "security.event"))
    failed = receiver.events("turn.failed")[0]["data"]
    assert failed == {"conversation_id": str(r.conversation_id), "channel": "web",
                      "message_id": r.message_id, "attempts": 1, "error": "RuntimeError"}
    security = receiver.events("security.event")[0]["data"]
    assert security["kind"].startswith("output_") and security["severity"] == "high"


async def test_without_receivers_emit_does_nothing(make_settings: Callable[..., Settings]) -> None:
    hooks = EventHooks(make_settings(), Metrics(), [])
    assert not hooks.enabled and hooks.emit("turn.failed") is None


async def test_a_full_queue_drops_and_counts_instead_of_waiting(
    make_settings: Callable[..., Settings],
) -> None:
    metrics = Metrics()
    settings = make_settings(hook_queue_size=1)
    sink = WebhookSink(dead_url(), SECRET, client=None)  # type: ignore[arg-type]
    hooks = EventHooks(settings, metrics, [sink])  # not started: nothing drains the queue
    hooks.emit("turn.failed")
    hooks.emit("turn.failed")
    assert metrics.hook_dropped.labels("turn.failed")._value.get() == 1
