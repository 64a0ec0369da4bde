"""Failures of the agent, split by what should happen next.

Provider modules turn SDK exceptions into `LLMTransientError` (retry) or
`LLMPermanentError` (do not retry; tell operators). The responder turns a
transient failure that outlived its retries into `AgentBusyError`, which the
pipeline retries later with backoff; its `user_text` is what the user gets if
every attempt fails. No exception text ever reaches the user.
"""

from __future__ import annotations

from bot.routing.responder import TurnRetryLater

BUSY_TEXT = "The AI service is temporarily busy, please try again."


class LLMError(Exception):
    """A call to the language model failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMTransientError(LLMError):
    """Worth retrying: 429, 5xx, 529 overloaded, connection errors and timeouts."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class LLMPermanentError(LLMError):
    """Not worth retrying (400, 401, 403, ...): a configuration or request problem."""


class AgentBusyError(TurnRetryLater):
    """The turn failed for a transient reason; the queue should run it again later."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason, retry_after_s=retry_after_s, user_text=BUSY_TEXT)
