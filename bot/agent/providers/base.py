"""The provider protocol and what the provider modules share."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Protocol

from bot.agent.budget import ModelTier
from bot.agent.messages import LLMRequest, LLMResponse, OnText

# Statuses worth another attempt; 529 is Anthropic's "overloaded".
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
TRANSIENT_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error",
                                   "timeout_error"})


class LLMProvider(Protocol):
    """One model API. `complete` makes exactly one attempt (retries are the caller's)."""

    name: str

    def model_for(self, tier: ModelTier) -> str: ...

    async def complete(self, request: LLMRequest, on_text: OnText | None) -> LLMResponse: ...

    async def aclose(self) -> None: ...


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms, retry-after (seconds or date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))
