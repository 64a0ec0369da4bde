"""Workers killed with SIGKILL mid-turn, again and again; each time a new one starts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

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
from tests.conftest import ROOT, RuntimeFactory, wait_for

pytestmark = pytest.mark.chaos

KILLS = int(os.environ.get("CHAOS_KILLS", "4"))


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Callable[[dict[str, str]],
                                                                subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(extra: dict[str, str]) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_", "LLM_"))}
        env.update(extra)
        env.update(DATABASE_URL=db_url, DATA_DIR=str(tmp_path), RUN_MIGRATIONS_ON_START="false",
                   QUEUE_POLL_INTERVAL_S="0.05", QUEUE_HEARTBEAT_INTERVAL_S="0.5",
                   QUEUE_STALLED_AFTER_S="2", QUEUE_RECOVERY_INTERVAL_S="0.5",
                   LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT),
                   BOT_DEFINITION=str(ROOT / "tests/fixtures/bot.yaml"),
                   MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
                   RATE_LIMIT_USER="1000/minute", RATE_LIMIT_GLOBAL="10000/minute",
                   HANDOFF_HOURS="mon-sun 00:00-24:00")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=tmp_path,
                                env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_workers_killed_mid_turn_lose_and_repeat_nothing(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db_url: str,
    workers: Callable[[dict[str, str]], subprocess.Popen[bytes]],
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
                worker = workers(env)
                seen = len(llm.requests)

                async def mid_turn(seen: int = seen) -> bool:
                    return len(llm.requests) > seen  # a turn waits on the model right now
                await wait_for(mid_turn, timeout=60, interval=0.02)
                os.kill(worker.pid, signal.SIGKILL)
                await asyncio.to_thread(worker.wait)
            workers(env)
            await sending
            await wait_all_answered(db_url, platforms.sent, timeout_s=100)
        check_exactly_once(db_url, platforms.sent, fakes)
