"""What the dashboard is built from."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.pool import Database
from bot.handoff.service import HandoffService
from bot.observability import Metrics
from bot.safety.ratelimit import RateLimits
from bot.settings import Settings


@dataclass(frozen=True)
class AdminDeps:
    settings: Settings
    db: Database
    metrics: Metrics
    handoffs: HandoffService
    rate_limits: RateLimits
