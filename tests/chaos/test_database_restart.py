"""PostgreSQL restarted under load: webhooks during the outage get a 5xx (the platform
retries them), health says 503, and nothing acknowledged is lost or answered twice."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pgcluster import ThrowawayCluster, find_pg_bin
from bot.db.migrate import apply_migrations
from tests.chaos.harness import (
    channel_settings,
    chaos_bot,
    check_exactly_once,
    running_fakes,
    wait_all_answered,
)
from tests.conftest import RuntimeFactory, build_test_settings

pytestmark = [pytest.mark.chaos,
              pytest.mark.skipif(find_pg_bin() is None, reason="needs initdb and pg_ctl")]


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    with ThrowawayCluster() as server:
        yield server


async def test_database_restart_loses_nothing(
    cluster: ThrowawayCluster, runtime_factory: RuntimeFactory, tmp_path: Path,
) -> None:
    url = cluster.create_database("chaos_" + secrets.token_hex(3))
    await apply_migrations(url)
    async with running_fakes() as fakes:
        settings = build_test_settings(url, tmp_path, **channel_settings(fakes),
                                       db_connect_timeout_s=1.0, turn_max_attempts=30)
        async with chaos_bot(runtime_factory, settings) as (_rt, platforms):
            platforms.retry_interval_s = 0.3
            sending = asyncio.create_task(
                platforms.run(conversations=3, per_conversation=6, pause_s=0.2))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.stop, "immediate")
            during = len(platforms.statuses)
            health = await platforms.client.get("/healthz")
            await asyncio.sleep(3.0)
            refused = [s for s in platforms.statuses[during:] if s >= 500]
            await asyncio.to_thread(cluster.start)
            await sending
            assert health.status_code == 503
            assert refused, "webhooks during the outage were refused with a 5xx"
            await wait_all_answered(url, platforms.sent, timeout_s=100)
            assert (await platforms.client.get("/healthz")).status_code == 200
        check_exactly_once(url, platforms.sent, fakes)
