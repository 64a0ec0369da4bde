"""The prompt-injection screen: allow, harden (the turn goes on, its text treated as
quoted data) or refuse (a fixed answer, no classifier or model call).

During a handoff a refused message is still relayed to staff (a person reads it, no
model does): the turn goes on, and the classifier's model fallback is gated off.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

from bot.db.pool import Conn
from bot.handoff.policy import INJECTION_REFUSED
from bot.hooks import EventHooks
from bot.models import OutboundReply
from bot.observability import Metrics
from bot.safety.audit import injection_event
from bot.safety.injection import InjectionVerdict
from bot.turn.stage import Answer, Outcome, Turn, guarded

log = structlog.get_logger(__name__)

# The answer to a message the injection detector refuses (no LLM sees it).
INJECTION_REFUSED_TEXT = (
    "Sorry, I can't help with that message. If you have a question about your account, "
    "a booking or our services, just ask it in your own words."
)


class InjectionCheck(Protocol):
    """The prompt-injection detector as the turn uses it (blocking; run in a thread)."""

    def check(self, text: str) -> InjectionVerdict: ...


async def injection_check(detector: InjectionCheck | None,
                          text: str) -> InjectionVerdict | None:
    """The detector's verdict when it flags the text (harden or refuse), else None."""
    if detector is None or not text:
        return None
    # Rules and model cost a few milliseconds for a chat message and more for a
    # maximum-length paste: keep them off the event loop.
    verdict = await asyncio.to_thread(detector.check, text)
    return None if verdict.action == "allow" else verdict


class InjectionScreen:
    def __init__(self, detector: InjectionCheck | None, metrics: Metrics,
                 hooks: EventHooks | None) -> None:
        self.detector = detector
        self.metrics = metrics
        self.hooks = hooks

    async def run(self, turn: Turn) -> Outcome | None:
        started = time.perf_counter()
        flag = await injection_check(self.detector, turn.text)
        self.metrics.stage_took("injection", time.perf_counter() - started)
        if flag is None:
            return None
        last = turn.last
        turn.injection = flag
        self.metrics.security_events.labels("prompt_injection").inc()
        text = turn.text

        async def write(conn: Conn) -> None:  # kept whatever the turn's outcome
            await injection_event(conn, contact_id=last.contact_id, message_id=last.id,
                                  verdict=flag, text=text, hooks=self.hooks)
        turn.unit.write(write)
        if flag.action == "refuse" and turn.session.status != "escalated":
            log.warning("injection_refused", score=flag.score, rules=list(flag.rules),
                        message_id=last.id)
            return Answer(OutboundReply(text=INJECTION_REFUSED_TEXT), guarded(INJECTION_REFUSED))
        if flag.action == "harden":
            log.warning("injection_hardened", score=flag.score, rules=list(flag.rules),
                        message_id=last.id)
        return None
