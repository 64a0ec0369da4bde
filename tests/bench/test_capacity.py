"""Capacity is each server's best level of a sweep, measured alternately."""

from __future__ import annotations

import math

from bench.capacity import sweep
from bench.loadgen import LoadResult, Sent
from bench.traffic import Outgoing

_ITEM = Outgoing("web", "c", "/ping", b"{}", {})


def _result(acknowledged: int, wall_s: float = 1.0) -> LoadResult:
    return LoadResult(planned=acknowledged, wall_s=wall_s,
                      sent=[Sent(_ITEM, 0.0, latency_ms=1.0, status=200)
                            for _ in range(acknowledged)])


async def test_each_server_is_rated_at_its_own_best_level() -> None:
    calls: list[tuple[str, int]] = []
    bare_rates = {32: 6000, 64: 5800, 128: 5500}
    bot_rates = {32: 2000, 64: 2400, 128: 2600}

    async def bare(senders: int) -> LoadResult:
        calls.append(("bare", senders))
        return _result(bare_rates[senders])

    async def bot(senders: int) -> LoadResult:
        calls.append(("bot", senders))
        return _result(bot_rates[senders])

    report = (await sweep([32, 64, 128], bare, bot)).report()

    assert calls == [("bare", 32), ("bot", 32), ("bare", 64), ("bot", 64),
                     ("bare", 128), ("bot", 128)]
    assert report["bare_capacity"]["senders"] == 32
    assert report["bot_capacity"]["senders"] == 128
    assert math.isclose(report["throughput_ratio"], 2600 / 6000)
    equal = report["ratio_at_equal_senders"]
    assert math.isclose(equal[32], 2000 / 6000)
    assert math.isclose(equal[128], 2600 / 5500)


async def test_failed_requests_do_not_count_as_throughput() -> None:
    async def bare(senders: int) -> LoadResult:
        return _result(1000)

    async def bot(senders: int) -> LoadResult:
        result = _result(500)
        result.sent += [Sent(_ITEM, 0.0, latency_ms=1.0, status=503) for _ in range(500)]
        return result

    report = (await sweep([8], bare, bot)).report()
    assert math.isclose(report["throughput_ratio"], 0.5)
    assert report["bot_capacity"]["non_2xx"] == 500


async def test_a_bare_endpoint_that_answered_nothing_gives_no_ratio() -> None:
    async def nothing(senders: int) -> LoadResult:
        return _result(0)

    report = (await sweep([8], nothing, nothing)).report()
    assert math.isnan(report["throughput_ratio"])
