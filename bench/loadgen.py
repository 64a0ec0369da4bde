"""An open-loop load generator: requests start on schedule, whatever the server does.

A closed loop (send, wait, send) hides slow acknowledgements by sending less; here
each request starts at its planned time, so latency under a given rate is honest.
`run_closed_loop` is the other tool: as fast as `concurrency` senders can go, to
find a server's capacity. Bounded in count and time, loopback only.

While requests are timed the generator holds its own cyclic garbage collector off: a
full collection of this process's heap (the fakes' records live here too) took 60–90 ms
and every request in flight looked that much slower. Its event loop's lag is measured
through each run and reported beside the latencies, so a run the client distorted shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import aiohttp

from bench.traffic import Outgoing

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Sent:
    """One request: when it started, how long the answer took, what it was."""

    outgoing: Outgoing
    started: float  # time.monotonic()
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class LoopLag:
    """How late this process's event loop woke up, sampled every `interval_s` during a run."""

    interval_s: float = 0.002
    lags_ms: list[float] = field(default_factory=list)

    async def sample(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(self.interval_s)
            self.lags_ms.append((time.monotonic() - start - self.interval_s) * 1000)


@contextlib.asynccontextmanager
async def steady_client() -> AsyncIterator[LoopLag]:
    """No cyclic garbage collection in this process while requests are timed (it runs
    once before), and the event loop's lag measured throughout. Nested runs (web chat
    beside the webhooks) leave the collector to the outer one."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect()
        gc.disable()
    lag = LoopLag()
    sampler = asyncio.create_task(lag.sample())
    try:
        yield lag
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        if was_enabled:
            gc.enable()


@dataclass
class LoadResult:
    """Every request of one run, its wall time, and the client's own event-loop lag."""

    planned: int
    sent: list[Sent] = field(default_factory=list)
    wall_s: float = 0.0
    client_lag_ms: list[float] = field(default_factory=list)

    def summary(self, channel: str | None = None) -> dict[str, float]:
        rows = [s for s in self.sent if channel is None or s.outgoing.channel == channel]
        latencies = [s.latency_ms for s in rows if s.latency_ms is not None]
        ok = sum(1 for s in rows if s.acknowledged)
        return {
            "sent": len(rows), "acknowledged": ok,
            "errors": sum(1 for s in rows if s.error is not None),
            "non_2xx": sum(1 for s in rows if s.status is not None and not s.acknowledged),
            "ack_per_s": ok / self.wall_s if self.wall_s else 0.0,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies, default=float("nan")),
            "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
            "client_lag_p99_ms": percentile(self.client_lag_ms, 99),
            "client_lag_max_ms": max(self.client_lag_ms, default=float("nan")),
        }


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"refusing to load {host!r}: load runs target loopback only")


def client_for(base_url: str, timeout_s: float) -> aiohttp.ClientSession:
    """aiohttp, not httpx: on this 2-core machine httpx's client tops out near 300
    requests/s and its own overhead would be measured as the server's latency."""
    require_loopback(base_url)
    return aiohttp.ClientSession(base_url=base_url,
                                 connector=aiohttp.TCPConnector(limit=512),
                                 timeout=aiohttp.ClientTimeout(total=timeout_s))


async def send_one(client: aiohttp.ClientSession, item: Outgoing) -> Sent:
    record = Sent(item, time.monotonic())
    try:
        async with client.post(item.path, data=item.body, headers=item.headers) as response:
            await response.read()
            record.status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        record.error = type(exc).__name__
    record.latency_ms = (time.monotonic() - record.started) * 1000
    return record


async def run_open_loop(base_url: str, make: Callable[[int], Outgoing], *, rate: float,
                        duration_s: float, max_requests: int = 100_000,
                        timeout_s: float = 10.0) -> LoadResult:
    """Start `rate` requests per second for `duration_s` seconds against `base_url`."""
    total = min(max_requests, int(rate * duration_s))
    result = LoadResult(planned=total)
    async with client_for(base_url, timeout_s) as client, steady_client() as lag:
        result.client_lag_ms = lag.lags_ms
        t0 = time.monotonic()
        tasks = []
        for i in range(total):
            item = make(i)  # built (and signed) before its slot, not inside the timing
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send_one(client, item)))
        result.sent = list(await asyncio.gather(*tasks))
        result.wall_s = time.monotonic() - t0
    return result


async def run_closed_loop(base_url: str, make: Callable[[int], Outgoing], *, concurrency: int,
                          duration_s: float, max_requests: int = 100_000,
                          timeout_s: float = 10.0) -> LoadResult:
    """`concurrency` senders, each sending its next request as soon as one is answered."""
    result = LoadResult(planned=max_requests)
    counter = iter(range(max_requests))
    async with client_for(base_url, timeout_s) as client, steady_client() as lag:
        result.client_lag_ms = lag.lags_ms
        t0 = time.monotonic()
        deadline = t0 + duration_s

        async def sender() -> None:
            for i in counter:
                if time.monotonic() >= deadline:
                    return
                result.sent.append(await send_one(client, make(i)))

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.wall_s = time.monotonic() - t0
    return result
