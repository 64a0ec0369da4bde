"""Faults outside the bot: platform redeliveries, failing sends, a failing LLM."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.chaos.harness import (
    channel_settings,
    chaos_bot,
    check_exactly_once,
    running_fakes,
    stored_replies,
    wait_all_answered,
)
from tests.conftest import RuntimeFactory

pytestmark = pytest.mark.chaos

#: the LLM outage; CHAOS_LLM_OUTAGE_S=30 is the full-length variant (slower, same checks)
LLM_OUTAGE_S = float(os.environ.get("CHAOS_LLM_OUTAGE_S", "4"))


async def test_redelivered_webhooks_are_answered_once(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db_url: str,
) -> None:
    async with running_fakes() as fakes:
        settings = make_settings(**channel_settings(fakes))
        async with chaos_bot(runtime_factory, settings) as (_rt, platforms):
            platforms.slack_redeliveries = 3  # X-Slack-Retry-Num 1, 2, 3
            platforms.twilio_redeliveries = 1
            await platforms.run(conversations=4, per_conversation=4)
            assert all(s < 300 for s in platforms.statuses)
            await wait_all_answered(db_url, platforms.sent)
        check_exactly_once(db_url, platforms.sent, fakes)


async def test_one_send_in_five_failing_loses_and_repeats_nothing(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db_url: str,
) -> None:
    async with running_fakes() as fakes:
        fakes.twilio.fail_rate = fakes.slack.fail_rate = 0.2
        settings = make_settings(**channel_settings(fakes), whatsapp_send_attempts=1,
                                 turn_max_attempts=20)
        async with chaos_bot(runtime_factory, settings) as (_rt, platforms):
            await platforms.run(conversations=4, per_conversation=4)
            await wait_all_answered(db_url, platforms.sent, timeout_s=100)
        failed = [r for r in fakes.twilio.requests if not r.ok]
        assert failed, "the fault was injected"
        check_exactly_once(db_url, platforms.sent, fakes)


@pytest.mark.timeout(300)
async def test_llm_rate_limited_half_the_time_then_down_recovers(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db_url: str,
) -> None:
    async with running_fakes() as fakes:
        llm = fakes.llm.llm
        llm.error_rate = 0.5
        settings = make_settings(**channel_settings(fakes), turn_max_attempts=30)
        async with chaos_bot(runtime_factory, settings) as (_rt, platforms):
            sending = asyncio.create_task(
                platforms.run(conversations=3, per_conversation=4, pause_s=0.3))
            await asyncio.sleep(1.0)
            llm.down = True  # every call 503
            await asyncio.sleep(LLM_OUTAGE_S)
            llm.down = False
            await sending
            await wait_all_answered(db_url, platforms.sent, timeout_s=110 + 2 * LLM_OUTAGE_S)
        assert len(llm.requests) > len(platforms.sent), "failed calls were retried"
        check_exactly_once(db_url, platforms.sent, fakes)
        texts = {m["replies"][0][3] for msgs in stored_replies(db_url, platforms.sent).values()
                 for m in msgs}
        assert texts == {"Yoga is at 7 pm."}, "every turn got the model's answer in the end"
