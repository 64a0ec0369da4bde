"""An open-loop load generator: requests start on schedule, whatever the server does.

A closed loop (send, wait, send) hides slow acknowledgements by sending less; here
each request starts at its planned time, so latency under a given rate is honest.
Bounded in count and time, loopback only.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    """Acknowledgement latencies and outcomes of one run."""

    planned: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    wall_s: float = 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> dict[str, float]:
        ok = sum(n for code, n in self.statuses.items() if 200 <= code < 300)
        return {
            "planned": self.planned, "acknowledged": ok, "errors": self.errors,
            "non_2xx": sum(n for code, n in self.statuses.items() if not 200 <= code < 300),
            "ack_per_s": ok / self.wall_s if self.wall_s else 0.0,
            "p50_ms": self.percentile(50), "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "mean_ms": statistics.fmean(self.latencies_ms) if self.latencies_ms else 0.0,
        }


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"refusing to load {host!r}: load runs target loopback only")


async def run_open_loop(base_url: str, request: Request, *, rate: float, duration_s: float,
                        max_requests: int = 100_000, timeout_s: float = 10.0) -> LoadResult:
    """Start `rate` requests per second for `duration_s` seconds against `base_url`."""
    require_loopback(base_url)
    total = min(max_requests, int(rate * duration_s))
    result = LoadResult(planned=total)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:
        async def one(i: int) -> None:
            started = time.perf_counter()
            try:
                response = await request(client, i)
            except httpx.HTTPError:
                result.errors += 1
                return
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[response.status_code] = result.statuses.get(response.status_code,
                                                                         0) + 1

        t0 = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - t0
    return result
