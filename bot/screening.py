"""The injection check, then the intent classifier, for one turn's text.

The two share the message's embedding (an `EmbeddingMemo` held by the runtime), so the
classifier's encoder pass is usually free. They run one after the other, not side by side:
in parallel they saved ~0.5 ms of a turn here but took both cores at once, and a worker
doing that delayed the web process's acknowledgements (docs/benchmarks.md, fourth round).
A refused text never reaches an LLM: the classifier's fallback is gated on the verdict.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from bot.agent.tracing import Tracer
from bot.classify import Classification, Classifier, TurnScope
from bot.safety.injection import InjectionVerdict


class InjectionCheck(Protocol):
    """The prompt-injection detector as the turn uses it (blocking; run in a thread)."""

    def check(self, text: str) -> InjectionVerdict: ...


@dataclass(frozen=True)
class Screened:
    """What the two checks found: `classification` is None when the text is refused."""

    flag: InjectionVerdict | None
    classification: Classification | None
    #: seconds of the injection check, and of both stages together
    check_s: float
    total_s: float


async def screen_and_classify(
    text: str, *, detector: InjectionCheck | None, classifier: Classifier, tracer: Tracer,
    refusal_ends_turn: bool, previous_intent: str | None, payload: str | None,
    scope: TurnScope,
) -> Screened:
    """Check `text` for prompt injection, then classify it.

    `flag` is the detector's verdict when it flags the text (harden or refuse), else None.
    When it refuses and `refusal_ends_turn`, the text is not classified at all; when it
    refuses during a handoff, it is classified without the LLM.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    flag = await injection_check(detector, text)
    check_s = loop.time() - started
    refused = flag is not None and flag.action == "refuse"
    if refused and refusal_ends_turn:
        return Screened(flag, None, check_s, check_s)

    async def llm_gate() -> bool:
        return not refused

    async with tracer.child("classify", run_type="chain", inputs={"text": text}) as run:
        result = await classifier.classify(text, previous_intent=previous_intent,
                                           payload=payload, scope=scope, llm_gate=llm_gate)
        run.set_outputs({"intent": result.intent, "method": result.method,
                         "confidence": result.confidence})
    return Screened(flag, result, check_s, loop.time() - started)


async def injection_check(detector: InjectionCheck | None,
                          text: str) -> InjectionVerdict | None:
    """The detector's verdict when it flags the text (harden or refuse), else None."""
    if detector is None or not text:
        return None
    # Rules and model cost a few milliseconds for a chat message and more for a
    # maximum-length paste: keep them off the event loop.
    verdict = await asyncio.to_thread(detector.check, text)
    return None if verdict.action == "allow" else verdict
