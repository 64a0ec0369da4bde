"""Rate limits per person, per session and in all: one polite notice per window, no model
work; further messages in the window are stored and skipped."""

from __future__ import annotations

import structlog

from bot.models import OutboundReply
from bot.observability import Metrics
from bot.safety.ratelimit import RATE_LIMITED_TEXT, RateLimits
from bot.turn.stage import Answer, Outcome, Skip, Turn, guarded

log = structlog.get_logger(__name__)


class RateLimit:
    def __init__(self, limits: RateLimits, metrics: Metrics) -> None:
        self.limits = limits
        self.metrics = metrics

    async def run(self, turn: Turn) -> Outcome | None:
        last = turn.last
        limit = await self.limits.check_message(str(last.contact_id), str(turn.session.id),
                                                channel=last.channel)
        if limit.allowed:
            return None
        self.metrics.rate_limited.labels(limit.scope or "unknown").inc()
        log.info("rate_limited", scope=limit.scope, message_id=last.id, notify=limit.notify)
        if not limit.notify:
            return Skip("rate_limited")
        reply = OutboundReply(text=RATE_LIMITED_TEXT.format(seconds=limit.retry_after_s))
        return Answer(reply, guarded("rate_limited"))
