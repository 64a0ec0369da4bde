"""Workers killed with SIGKILL mid-turn, again and again; each time a new one starts."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from bot.settings import Settings
from tests.chaos.harness import (
    channel_settings,
    chaos_bot,
    check_exactly_once,
    environment,
    running_fakes,
    wait_all_answered,
)
from tests.conftest import RuntimeFactory, StartWorker, wait_for

pytestmark = pytest.mark.chaos

KILLS = int(os.environ.get("CHAOS_KILLS", "4"))


async def test_workers_killed_mid_turn_lose_and_repeat_nothing(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db_url: str,
    start_worker: StartWorker,
) -> None:
    # Slack only: its sends are confirmed by metadata after a crash. A WhatsApp part whose
    # SID was not yet recorded when the process died is sent again (Twilio has no
    # idempotency key; adapters/whatsapp.py `was_sent`), a window of one database write.
    async with running_fakes(llm_delay_s=0.4) as fakes:
        overrides = channel_settings(fakes)
        settings = make_settings(**overrides, turn_max_attempts=20)
        env = environment(overrides)
        async with chaos_bot(runtime_factory, settings, worker=False) as (_rt, platforms):
            sending = asyncio.create_task(platforms.run(
                conversations=6, per_conversation=5, pause_s=0.2, channels=("slack",)))
            llm = fakes.llm.llm
            for _ in range(KILLS):
                worker = start_worker(**env)
                seen = len(llm.requests)

                async def mid_turn(seen: int = seen) -> bool:
                    return len(llm.requests) > seen  # a turn waits on the model right now
                await wait_for(mid_turn, timeout=60, interval=0.02)
                os.kill(worker.pid, signal.SIGKILL)
                await asyncio.to_thread(worker.wait)
            start_worker(**env)
            await sending
            await wait_all_answered(db_url, platforms.sent, timeout_s=100)
        check_exactly_once(db_url, platforms.sent, fakes)
