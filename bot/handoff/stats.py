"""Handoff numbers for the admin view, from the handoff records themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.db import handoffs
from bot.db.pool import Conn


@dataclass(frozen=True)
class HandoffStats:
    """Handoffs since a moment: counts by trigger and intent, median seconds to claim
    and to resolve (None until one happened), and how many still wait."""

    total: int
    waiting: int
    by_trigger: dict[str, int]
    by_intent: dict[str, int]
    median_claim_s: float | None
    median_resolve_s: float | None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def handoff_stats(conn: Conn, since: datetime) -> HandoffStats:
    """Read with the login role (handoffs of every contact)."""
    groups, medians = await handoffs.counts_and_medians(conn, since)
    by_trigger: dict[str, int] = {}
    by_intent: dict[str, int] = {}
    for g in groups:
        by_trigger[g["trigger"]] = by_trigger.get(g["trigger"], 0) + int(g["n"])
        by_intent[g["intent"]] = by_intent.get(g["intent"], 0) + int(g["n"])
    return HandoffStats(
        total=sum(by_trigger.values()), waiting=sum(int(g["waiting"]) for g in groups),
        by_trigger=by_trigger, by_intent=by_intent,
        median_claim_s=_float(medians.get("claim")),
        median_resolve_s=_float(medians.get("resolve")))
