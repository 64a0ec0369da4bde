"""LangSmith tracing: a trace per turn with LLM and tool child runs, identifiers masked,
and nothing loaded when tracing is off."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import CollectorRegistry

from bot.agent.service import build_agent_services
from bot.agent.tracing import build_tracer, mask
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from bot.tracing import NoTracer
from testing.classifiers import ScheduleIntent
from testing.langsmith_server import FakeLangSmith
from testing.llm_server import FakeLLM
from tests.agent.conftest import Conversation, Events
from tests.agent.tools_for_tests import TestTools
from tests.conftest import ROOT, RuntimeFactory, wait_for
from tests.turn.test_pipeline import replies_of


def test_mask_hides_phone_numbers_and_email_addresses() -> None:
    value = {"text": "I'm jo.doe+x@mail.example.com, call +44 20 7946 0958 or 555-123-4567",
             "items": ["order 12345", ("whatsapp:+14155238886",)]}
    masked = mask(value)
    assert masked == {"text": "I'm [email], call [phone] or [phone]",
                      "items": ["order 12345", ["whatsapp:[phone]"]]}


def test_tracing_off_loads_nothing() -> None:
    code = ("import sys; import bot.runtime, bot.agent.service, bot.agent.tracing;"
            "print(sorted(m for m in ('langsmith', 'anthropic', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_tracer_is_a_no_op_unless_key_and_switch_are_set(
    make_settings: Callable[..., Settings],
) -> None:
    assert isinstance(build_tracer(make_settings()), NoTracer)
    assert isinstance(build_tracer(make_settings(langsmith_api_key="k")), NoTracer)


@pytest.fixture
async def langsmith() -> AsyncIterator[FakeLangSmith]:
    server = FakeLangSmith()
    await server.start()
    yield server
    await server.stop()


async def test_turn_is_traced_with_llm_and_tool_runs_and_masked_data(
    agent_settings: Callable[..., Settings], fake_llm: FakeLLM, langsmith: FakeLangSmith,
    db: Database, conversation: Callable[[], Conversation],
) -> None:
    settings = agent_settings(langsmith_api_key="ls-key", langsmith_tracing=True,
                              langsmith_endpoint=langsmith.url)
    services = build_agent_services(settings, db, CollectorRegistry(), TestTools().registry)
    assert services is not None
    fake_llm.tool_use(("weather", {"city": "Oslo"})).reply("Sunny, jo@example.com!")
    turn = await conversation().turn("weather? I'm jo@example.com, +1 415 555 0100")
    try:
        reply = await services.responder().respond(turn, Events())
    finally:
        await services.aclose()
    assert reply.text == "Sunny, jo@example.com!"
    runs = langsmith.runs()
    root = runs["agent_turn"]
    assert {"channel:web", "intent:question"} <= set(root["tags"])
    assert root["inputs"] == {"text": "weather? I'm [email], [phone]"}
    llm_runs = [r for r in runs.values() if r.get("run_type") == "llm"]
    assert [r["name"] for r in llm_runs] == ["ChatAnthropic"]  # wrap_anthropic's run
    assert "weather?" in str(llm_runs[0]["inputs"]["messages"])  # shown as a chat
    assert llm_runs[0]["trace_id"] == root["id"]
    assert runs["weather"]["parent_run_id"] == root["id"]
    everything = b"".join(langsmith.raw)
    assert b"jo@example.com" not in everything and b"415 555 0100" not in everything


async def test_pipeline_traces_the_turn_with_classification_and_the_agent_inside(
    agent_settings: Callable[..., Settings], fake_llm: FakeLLM, langsmith: FakeLangSmith,
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    settings = agent_settings(langsmith_api_key="ls-key", langsmith_tracing=True,
                              langsmith_endpoint=langsmith.url)
    fake_llm.reply("Yoga is at 9.")
    async with runtime_factory(settings=settings, classifier=ScheduleIntent()) as rt:
        r = await rt.ingest(inbound(text="when is yoga? mail me at jo@example.com"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
    runs = langsmith.runs()
    root, classify, agent = runs["turn"], runs["classify"], runs["agent_turn"]
    assert "channel:web" in root["tags"]
    assert classify["parent_run_id"] == root["id"] and agent["parent_run_id"] == root["id"]
    assert classify["outputs"]["intent"] == "class_schedule"
    assert b"jo@example.com" not in b"".join(langsmith.raw)
