"""The load generator keeps its own pauses out of the latencies it reports."""

from __future__ import annotations

import asyncio
import gc
import time

from bench.bare_app import create_bare_app
from bench.loadgen import run_closed_loop, run_open_loop, steady_client
from bench.traffic import Outgoing
from testing.loopback import serve


def _ping(_: int) -> Outgoing:
    return Outgoing("web", "c", "/ping", b"{}", {"Content-Type": "application/json"})


async def test_the_collector_is_off_while_timing_and_back_after() -> None:
    assert gc.isenabled()
    async with steady_client():
        assert not gc.isenabled()
        async with steady_client():  # web chat beside the webhooks
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner run leaves it to the outer one
    assert gc.isenabled()


async def test_a_blocked_client_loop_is_measured_as_client_lag() -> None:
    async with steady_client() as lag:
        await asyncio.sleep(0.01)
        time.sleep(0.05)  # noqa: ASYNC251 (blocking on purpose: a full collection did this)
        await asyncio.sleep(0.01)
    assert max(lag.lags_ms) >= 40
    assert len(lag.lags_ms) >= 2


async def test_open_and_closed_loops_report_the_clients_lag() -> None:
    async with serve(create_bare_app()) as url:
        opened = await run_open_loop(url, _ping, rate=100, duration_s=0.2)
        closed = await run_closed_loop(url, _ping, concurrency=4, duration_s=0.2)
    for result in (opened, closed):
        summary = result.summary()
        assert summary["acknowledged"] == summary["sent"] > 0
        assert 0 <= summary["client_lag_p99_ms"] <= summary["client_lag_max_ms"]
    assert gc.isenabled()
