"""Settings of reply delivery, mixed into the one `bot.settings.Settings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class DeliverySettings(BaseSettings):
    # Sends one channel may have in flight in one worker process; 0: half of
    # WORKER_CONCURRENCY (at least 1). A channel whose platform hangs then holds at most
    # this many worker slots, and the other channels keep the rest. A reply that finds its
    # channel's sends all busy goes back to the queue for DELIVERY_BUSY_RETRY_S instead of
    # waiting in a worker slot.
    delivery_sends_per_channel: int = Field(default=0, ge=0)
    delivery_busy_retry_s: float = Field(default=1.0, gt=0)
    # A send the platform refused for now (429, 5xx, unreachable) is tried again later
    # from the queue, never by waiting in a worker slot: after Retry-After when the
    # platform gives one, at least DELIVERY_RETRY_BASE_S doubled per attempt, at most
    # DELIVERY_RETRY_MAX_WAIT_S; after DELIVERY_MAX_ATTEMPTS tries the reply is failed
    # and reported (staff see it during a handoff).
    delivery_retry_base_s: float = Field(default=0.5, gt=0)
    delivery_retry_max_wait_s: float = Field(default=300.0, gt=0)
    delivery_max_attempts: int = Field(default=12, ge=1)

    def sends_per_channel(self, worker_concurrency: int) -> int:
        return self.delivery_sends_per_channel or max(1, worker_concurrency // 2)
