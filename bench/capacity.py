"""Capacity: each server's throughput at its plateau, found by a sweep of closed loops.

A server that commits in groups (the bot stores the webhooks waiting together, one
statement and one commit per batch) reaches its plateau only with enough requests in
flight: with 32 closed-loop senders the bot's process and its database left a quarter of
the machine idle, while more senders filled it (docs/benchmarks-history.md). One
fixed number of senders measures one point of each curve, not the capacity. So each
level of `levels` runs against the bare endpoint and then the bot, and each server's
capacity is its best level; the ratio at each equal level is reported beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bench.loadgen import LoadResult

#: closed-loop senders per level of the sweep
DEFAULT_LEVELS = (16, 32, 64, 128, 256)


@dataclass
class Sweep:
    """Acknowledged messages per second of the bare endpoint and of the bot, per level."""

    bare: dict[int, dict[str, float]] = field(default_factory=dict)
    bot: dict[int, dict[str, float]] = field(default_factory=dict)

    def peak(self, side: dict[int, dict[str, float]]) -> tuple[int, float]:
        """The level with the most acknowledged messages per second, and that rate."""
        level = max(side, key=lambda n: side[n]["ack_per_s"])
        return level, side[level]["ack_per_s"]

    def ratio_at(self, level: int) -> float:
        bare = self.bare[level]["ack_per_s"]
        return self.bot[level]["ack_per_s"] / bare if bare else float("nan")

    def report(self) -> dict[str, object]:
        bare_level, bare_rate = self.peak(self.bare)
        bot_level, bot_rate = self.peak(self.bot)
        return {
            "levels": sorted(self.bare),
            "bare_capacity": {**self.bare[bare_level], "senders": bare_level},
            "bot_capacity": {**self.bot[bot_level], "senders": bot_level},
            "throughput_ratio": bot_rate / bare_rate if bare_rate else float("nan"),
            "ratio_at_equal_senders": {n: self.ratio_at(n) for n in sorted(self.bare)},
            "bare_by_senders": self.bare,
            "bot_by_senders": self.bot,
        }


Loop = Callable[[int], Awaitable[LoadResult]]


async def sweep(levels: Sequence[int], bare: Loop, bot: Loop) -> Sweep:
    """Run `bare(senders)` then `bot(senders)` at each level, alternating so that a change
    in what else the machine does falls on both servers alike."""
    found = Sweep()
    for senders in levels:
        found.bare[senders] = (await bare(senders)).summary()
        found.bot[senders] = (await bot(senders)).summary()
    return found
