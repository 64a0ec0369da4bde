"""/metrics covers what operators watch, and no label carries personal data."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.app import create_app
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for
from tests.handoff.test_flow import KeywordClassifier


async def test_metrics_cover_turns_stages_queue_handoffs_and_hooks_without_personal_data(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    settings = make_settings()
    async with runtime_factory(classifier=KeywordClassifier(), settings=settings) as rt:
        r = await rt.ingest(inbound(text="a person please, I am +15557654321",
                                    sender_id="+15557654321"))

        async def handed_off() -> bool:
            return await rt.handoffs.open_handoff(r.conversation_id) is not None

        await wait_for(handed_off)
        app = create_app(settings, runtime=rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bot.test") as client:
            async def delivered() -> bool:
                text = (await client.get("/metrics")).text
                return 'bot_turn_seconds_count{stage="deliver"}' in text
            await wait_for(delivered)
            text = (await client.get("/metrics")).text
    for name in ('bot_inbound_messages_total{channel="web"}',
                 'bot_turn_seconds_bucket{le="0.005",stage="classify"}',
                 'bot_turn_seconds_count{stage="respond"}', 'bot_turn_seconds_count{stage="total"}',
                 "bot_queue_jobs", "bot_queue_oldest_job_age_seconds", "bot_rate_limited_total",
                 "bot_security_events_total", 'bot_handoffs_total{intent="human_handoff"',
                 "bot_handoff_claim_seconds", "bot_turn_retries_total",
                 "bot_hook_deliveries_total", "bot_llm_cost_today_usd"):
        assert name in text, name
    assert "5557654321" not in text and str(r.contact_id) not in text
