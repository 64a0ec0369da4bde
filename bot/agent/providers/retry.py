"""Retries of LLM calls with tenacity: exponential backoff with jitter, Retry-After honoured.

The SDK clients are built with max_retries=0, so these are the only retries. The
`sleep` callable is injectable so tests control time and can read the waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from bot.agent.errors import LLMTransientError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[LLMTransientError, float], None]


class RetryPolicy:
    """At most `attempts` tries; waits initial, 2×initial, 4×initial... plus jitter.

    A server's Retry-After longer than the computed wait wins; one longer than
    `max_wait_s` is not waited for in-process (the turn is retried by the queue).
    """

    def __init__(self, *, attempts: int, initial_s: float, jitter_s: float, max_wait_s: float,
                 sleep: Sleep = asyncio.sleep, on_retry: OnRetry | None = None) -> None:
        self.attempts = max(1, attempts)
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.on_retry = on_retry
        # initial_s, 2 × initial_s, 4 × … plus up to jitter_s: what wait_exponential_jitter
        # computes, without its `initial` argument (deprecated in tenacity 9, whose
        # replacement does not exist in the 8.x releases this project still accepts)
        self._backoff = (wait_exponential(multiplier=initial_s, max=max_wait_s)
                         + wait_random(0, jitter_s))

    def _should_retry(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, LLMTransientError):
            return False
        return (exc.retry_after_s or 0.0) <= self.max_wait_s

    def _wait(self, state: RetryCallState, notify: OnRetry | None) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after_s if isinstance(exc, LLMTransientError) else None
        wait = max(float(self._backoff(state)), retry_after or 0.0)
        wait = min(wait, self.max_wait_s)
        if isinstance(exc, LLMTransientError):
            for callback in (self.on_retry, notify):
                if callback is not None:
                    callback(exc, wait)
        return wait

    async def call(self, attempt: Callable[[], Awaitable[T]],
                   on_retry: OnRetry | None = None) -> T:
        """Run `attempt` under the policy; `on_retry` also hears of each retry of this call."""
        retrying = AsyncRetrying(stop=stop_after_attempt(self.attempts),
                                 wait=lambda state: self._wait(state, on_retry),
                                 retry=self._should_retry, sleep=self.sleep, reraise=True)
        async def once() -> T:  # tenacity awaits only coroutine functions
            return await attempt()
        return await retrying(once)
