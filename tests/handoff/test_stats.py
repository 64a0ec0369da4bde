"""Handoff numbers: Prometheus metrics fed by the staff paths, and the admin summary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from bot.db.pool import Database
from bot.handoff.console import HandoffView
from bot.models import InboundMessage
from tests.conftest import RuntimeFactory, wait_for
from tests.handoff.test_flow import RecordingConsole, handoff_runtime


async def test_claim_and_resolve_times_per_trigger_and_intent(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    console = RecordingConsole()
    since = datetime.now(UTC)
    async with handoff_runtime(runtime_factory, console) as rt:
        first = await rt.ingest(inbound(text="a person please"))
        second = await rt.ingest(inbound(text="person!"))
        views: list[HandoffView] = []

        async def both() -> bool:
            found = [await rt.handoffs.open_handoff(r.conversation_id) for r in (first, second)]
            views[:] = [v for v in found if v is not None]
            return len(views) == 2
        await wait_for(both)
        one, other = views
        assert (await rt.handoffs.claim(one.id, "li", now=one.created_at
                                        + timedelta(seconds=60))).ok
        assert (await rt.handoffs.finish(one.id, "li", back_to_bot=False,
                                         now=one.created_at + timedelta(seconds=600))).ok
        # replying to a waiting handoff claims it, and that counts as a claim too
        assert (await rt.handoffs.reply(other.id, "sam", "Hello!",
                                        now=other.created_at + timedelta(seconds=120))).ok
        assert console.notices[-1] == "Claimed by sam."

        stats = await rt.handoffs.stats(since)
        assert stats.total == 2 and stats.waiting == 0
        assert stats.by_trigger == {"intent": 2} and stats.by_intent == {"human_handoff": 2}
        assert stats.median_claim_s == 90.0 and stats.median_resolve_s == 600.0

        def sample(name: str, **labels: str) -> float | None:
            return rt.metrics.registry.get_sample_value(name, labels)
        assert sample("bot_handoffs_total", trigger="intent", intent="human_handoff") == 2
        assert sample("bot_handoff_claim_seconds_count") == 2
        assert sample("bot_handoff_claim_seconds_sum") == 180
        assert sample("bot_handoff_resolve_seconds_count") == 1


def test_bot_handoffs_stats_prints_the_summary(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    for name, value in {"DATABASE_URL": db_url, "DATA_DIR": str(tmp_path),
                        "RUN_MIGRATIONS_ON_START": "false"}.items():
        monkeypatch.setenv(name, value)
    logging_config = structlog.get_config()  # the CLI logs to this test's captured stdout
    try:
        assert main(["handoffs", "stats", "--days", "1"]) == 0
    finally:
        structlog.configure(**logging_config)
    out = capsys.readouterr().out
    assert "last 1 days:" in out and "median time to claim" in out and "by trigger:" in out
