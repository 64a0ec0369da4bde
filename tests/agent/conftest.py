"""Fixtures of the agent tests: the fake provider, agents pointed at it, real turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from bot.agent.budget import AgentBudget
from bot.agent.providers.base import LLMProvider
from bot.agent.providers.factory import build_provider
from bot.agent.responder import AgentResponder
from bot.agent.service import AgentServices
from bot.agent.tools import ToolRegistry
from bot.db import messages
from bot.db.conversations import open_session
from bot.db.pool import Database
from bot.intents.contract import Classification
from bot.models import InboundMessage, OutboundReply, StoredInbound
from bot.routing.responder import TurnContext
from bot.settings import Settings
from testing.llm_server import FakeLLM, FakeLLMServer


@pytest.fixture(scope="session")
async def llm_server() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def fake_llm(llm_server: FakeLLMServer) -> FakeLLM:
    llm_server.llm.reset()
    return llm_server.llm


class RecordedSleep:
    """An injectable sleep that records the waits and returns at once (or never)."""

    def __init__(self, *, blocks: bool = False) -> None:
        self.waits: list[float] = []
        self.blocks = blocks

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.blocks:  # stands for a wait longer than any deadline in the test
            await asyncio.Event().wait()


@pytest.fixture
def agent_settings(make_settings: Callable[..., Settings],
                   llm_server: FakeLLMServer) -> Callable[..., Settings]:
    def build(provider: str = "anthropic", **overrides: Any) -> Settings:
        values: dict[str, Any] = {"llm_retry_jitter_s": 0.0, "llm_stream": False,
                                  "tool_retry_wait_s": 0.0}
        if provider == "anthropic":
            values.update(llm_provider="anthropic", anthropic_api_key="test-key",
                          anthropic_base_url=llm_server.url)
        else:
            values.update(llm_provider="openai", openai_api_key="test-key",
                          openai_base_url=llm_server.url + "/v1")
        values.update(overrides)
        return make_settings(**values)
    return build


class Agent:
    """An agent wired to the fake provider, with its recorded sleeps and metrics."""

    def __init__(self, services: AgentServices, sleep: RecordedSleep,
                 metrics: CollectorRegistry) -> None:
        self.services = services
        self.sleep = sleep
        self.metrics = metrics

    def responder(self, **budget: Any) -> AgentResponder:
        return self.services.responder(AgentBudget(**budget))

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def make_agent(agent_settings: Callable[..., Settings],
                     db: Database) -> AsyncIterator[Callable[..., Agent]]:
    made: list[LLMProvider] = []

    def build(provider: str = "anthropic", tools: ToolRegistry | None = None,
              sleep_blocks: bool = False, **overrides: Any) -> Agent:
        settings = agent_settings(provider, **overrides)
        llm = build_provider(settings)
        assert llm is not None
        made.append(llm)
        sleep, registry = RecordedSleep(blocks=sleep_blocks), CollectorRegistry()
        return Agent(AgentServices(settings, db, llm, registry=registry, tools=tools,
                                   sleep=sleep), sleep, registry)
    yield build
    for llm in made:
        await llm.aclose()


class Events:
    """Collects the events a responder emits."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event: str, data: dict[str, Any]) -> None:
        self.items.append((event, data))

    def names(self) -> list[str]:
        return [name for name, _ in self.items]


class Conversation:
    """A real contact, conversation and session in the database, turn by turn."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sender = "user-" + uuid4().hex[:10]

    async def turn(self, text: str = "hello") -> TurnContext:
        message = InboundMessage(channel="web", external_id=uuid4().hex, sender_id=self.sender,
                                 conversation_key="conv-" + self.sender, text=text)
        (stored,) = await messages.ingest(self.db, [(message, "t")])
        async with self.db.as_user(stored.contact_id) as conn:
            session = await open_session(conn, conversation_id=stored.conversation_id,
                                         contact_id=stored.contact_id,
                                         at=message.received_at, inactivity=timedelta(hours=7))
        batch = await messages.read_unanswered(self.db, stored.contact_id, stored.conversation_id)
        self.last_batch: list[StoredInbound] = batch
        return TurnContext(contact_id=stored.contact_id, conversation_id=stored.conversation_id,
                           channel="web", message_ids=[m.id for m in batch], text=text,
                           payload=None, session=session,
                           classification=Classification("question", 0.9, "test"))

    async def answer(self, turn: TurnContext, reply: OutboundReply) -> None:
        async with self.db.as_user(turn.contact_id) as conn:
            await messages.save_reply(conn, inbound=self.last_batch, session_id=turn.session.id,
                                      reply=reply)

    async def rows(self, turn: TurnContext, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with self.db.as_user(turn.contact_id) as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())


@pytest.fixture
async def conversation(db: Database) -> AsyncIterator[Callable[[], Conversation]]:
    made: list[Conversation] = []

    def build() -> Conversation:
        made.append(Conversation(db))
        return made[-1]
    yield build
    # Turns answered without storing a reply would otherwise be picked up by the
    # workers of later tests' runtimes.
    async with db.as_system() as conn:
        await conn.execute(
            "UPDATE app.messages m SET status = 'skipped' FROM app.channel_identities ci"
            " WHERE ci.contact_id = m.contact_id AND ci.external_id = ANY(%s)"
            " AND m.direction = 'in' AND m.status = 'received'",
            ([c.sender for c in made],))
