"""Intent classification: the local model, the model fallback when it is unsure.

A tapped option's payload names its intent; a text the injection screen refused never
reaches a model (the classifier's fallback is gated on the verdict).
"""

from __future__ import annotations

import time

from bot.intents.contract import Classifier
from bot.observability import Metrics
from bot.tracing import Tracer
from bot.turn.stage import Outcome, Turn


class Classify:
    def __init__(self, classifier: Classifier, tracer: Tracer, metrics: Metrics) -> None:
        self.classifier = classifier
        self.tracer = tracer
        self.metrics = metrics

    async def run(self, turn: Turn) -> Outcome | None:
        started = time.perf_counter()
        refused = turn.injection is not None and turn.injection.action == "refuse"

        async def llm_gate() -> bool:
            return not refused

        async with self.tracer.child("classify", run_type="chain",
                                     inputs={"text": turn.text}) as run:
            result = await self.classifier.classify(
                turn.text, previous_intent=turn.previous_intent, payload=turn.payload,
                scope=turn.scope(), llm_gate=llm_gate)
            run.set_outputs({"intent": result.intent, "method": result.method,
                             "confidence": result.confidence})
        turn.classification = result
        self.metrics.stage_took("classify", time.perf_counter() - started)
        return None
