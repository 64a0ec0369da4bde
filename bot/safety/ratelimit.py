"""Rate limits with the `limits` library: in memory by default, Redis when REDIS_URL is set.

Messaging users are never refused at the door (their message is stored): a user over
the limit gets one polite notice per window and no LLM work; further messages in that
window are stored and skipped. The HTTP chat API answers 429 per client IP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.settings import Settings

Scope = Literal["user", "session", "global", "ip"]


@dataclass(frozen=True)
class RateDecision:
    """Whether to go on; if not, which limit, whether to tell the user, and when to retry."""

    allowed: bool
    scope: Scope | None = None
    notify: bool = False
    retry_after_s: int = 0


class RateLimits:
    """All limits of one process (or of every process sharing the Redis storage)."""

    def __init__(self, settings: Settings) -> None:
        uri = "async+" + (settings.redis_url or "memory://")
        storage = storage_from_string(uri)
        assert isinstance(storage, Storage)
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.user = parse(settings.rate_limit_user)
        self.session = parse(settings.rate_limit_session)
        self.global_ = parse(settings.rate_limit_global)
        self.ip = parse(settings.rate_limit_ip)

    async def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        stats = await self.limiter.get_window_stats(item, *key)
        return max(1, int(stats.reset_time - time.time() + 0.999))

    async def _notice_due(self, item: RateLimitItem, key: str) -> bool:
        # One notice per window of the limit that was hit.
        notice = type(item)(1, item.multiples)
        return await self.limiter.hit(notice, "notice", key)

    async def check_message(self, contact_id: str, session_id: str,
                            channel: str) -> RateDecision:
        """Count one inbound message against the user, session and channel limits.

        The ceiling over all users is per channel: a flood of web chat visitors (each a
        new identity) fills the web chat's bucket, never WhatsApp's or Slack's."""
        checks: list[tuple[Scope, RateLimitItem, str]] = [
            ("user", self.user, contact_id), ("session", self.session, session_id),
            ("global", self.global_, f"channel:{channel}"),
        ]
        for scope, item, key in checks:
            if not await self.limiter.hit(item, scope, key):
                return RateDecision(
                    False, scope, notify=await self._notice_due(item, f"{scope}:{contact_id}"),
                    retry_after_s=await self._retry_after(item, scope, key))
        return RateDecision(True)

    async def check_ip(self, ip: str) -> RateDecision:
        """Count one HTTP chat request against its client IP and the global limit."""
        for scope, item, key in (("ip", self.ip, ip), ("global", self.global_, "http")):
            if not await self.limiter.hit(item, scope, key):
                return RateDecision(False, scope,  # type: ignore[arg-type]
                                    retry_after_s=await self._retry_after(item, scope, key))
        return RateDecision(True)


RATE_LIMITED_TEXT = (
    "You're sending messages faster than I can answer. Give me a moment and try again "
    "in about {seconds} seconds."
)
