"""The injection check and the intent classifier, run side by side.

Both are CPU work in their own threads (onnxruntime releases the GIL), so running them
together costs a turn the longer of the two instead of their sum. The classifier's local
model never waits for the check; its LLM fallback does, so a refused text never reaches
a model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

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
    #: seconds until the injection verdict was known, and until both were
    check_s: float
    total_s: float


async def screen_and_classify(
    text: str, *, detector: InjectionCheck | None, classifier: Classifier, tracer: Tracer,
    refusal_ends_turn: bool, previous_intent: str | None, payload: str | None,
    scope: TurnScope,
) -> Screened:
    """Check `text` for prompt injection while classifying it.

    `flag` is the detector's verdict when it flags the text (harden or refuse), else None.
    When it refuses and `refusal_ends_turn`, the classification is abandoned.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    checking = asyncio.ensure_future(injection_check(detector, text))

    async def llm_gate() -> bool:
        flag = await checking
        return flag is None or flag.action != "refuse"

    async def classify() -> Classification:
        async with tracer.child("classify", run_type="chain", inputs={"text": text}) as run:
            result = await classifier.classify(text, previous_intent=previous_intent,
                                               payload=payload, scope=scope,
                                               llm_gate=llm_gate)
            run.set_outputs({"intent": result.intent, "method": result.method,
                             "confidence": result.confidence})
        return result

    classifying = asyncio.ensure_future(classify())
    try:
        flag = await checking
    except BaseException:
        await _cancel(classifying)
        raise
    check_s = loop.time() - started
    if flag is not None and flag.action == "refuse" and refusal_ends_turn:
        await _cancel(classifying)
        return Screened(flag, None, check_s, loop.time() - started)
    classification = await classifying
    return Screened(flag, classification, check_s, loop.time() - started)


async def injection_check(detector: InjectionCheck | None,
                          text: str) -> InjectionVerdict | None:
    """The detector's verdict when it flags the text (harden or refuse), else None."""
    if detector is None or not text:
        return None
    # Rules and model cost a few milliseconds for a chat message and more for a
    # maximum-length paste: keep them off the event loop.
    verdict = await asyncio.to_thread(detector.check, text)
    return None if verdict.action == "allow" else verdict


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel a side task and wait for it to end; its outcome no longer matters."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the turn itself is being cancelled
    except Exception:
        pass
