"""Rate limits and request sizes, mixed into the one `bot.settings.Settings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class LimitSettings(BaseSettings):
    # rate-limit counters shared by several processes (unset: in memory, per process)
    redis_url: str | None = None
    # "N/second|minute|hour|day"
    rate_limit_user: str = "20/minute"
    rate_limit_session: str = "150/hour"
    rate_limit_ip: str = "120/minute"
    rate_limit_global: str = "600/minute"  # per channel
    # largest request body on any route, in bytes (413 beyond it, refused while read)
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
