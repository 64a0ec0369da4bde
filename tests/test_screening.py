"""The injection check, then the classifier (bot/screening.py)."""

from __future__ import annotations

import threading
import uuid
from typing import Literal

import pytest

from bot.agent.tracing import NoTracer
from bot.classify import Classification, LLMGate, TurnScope
from bot.safety.injection import InjectionVerdict
from bot.screening import Screened, screen_and_classify

SCOPE = TurnScope(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1)
WAIT_S = 10  # a generous bound: a failure ends the wait instead of hanging the suite


class Detector:
    """A fake detector whose verdict is given; it can wait for the classifier first."""

    def __init__(self, action: Literal["allow", "harden", "refuse"],
                 wait_for: threading.Event | None = None, fail: bool = False,
                 wait_s: float = WAIT_S) -> None:
        self.action = action
        self.wait_for = wait_for
        self.wait_s = wait_s
        self.fail = fail
        self.saw_classifier_first: bool | None = None

    def check(self, text: str) -> InjectionVerdict:
        if self.wait_for is not None:
            self.saw_classifier_first = self.wait_for.wait(self.wait_s)
        if self.fail:
            raise RuntimeError("detector broke")
        return InjectionVerdict(score=0.9 if self.action != "allow" else 0.1, rules=(),
                                action=self.action)


class GatedClassifier:
    """Predicts locally at once (and says so), then asks the gate as an LLM fallback would."""

    def __init__(self) -> None:
        self.predicted = threading.Event()
        self.gate_answers: list[bool] = []

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification:
        self.predicted.set()
        assert llm_gate is not None
        self.gate_answers.append(await llm_gate())
        return Classification("schedule", 0.4, "llm" if self.gate_answers[-1] else "clarified")


async def screen(detector: Detector, classifier: GatedClassifier, *,
                 refusal_ends_turn: bool = True) -> Screened:
    return await screen_and_classify(
        "when is yoga", detector=detector, classifier=classifier, tracer=NoTracer(),
        refusal_ends_turn=refusal_ends_turn, previous_intent=None, payload=None, scope=SCOPE)


async def test_the_check_finishes_before_the_classifier_starts() -> None:
    classifier = GatedClassifier()
    detector = Detector("allow", wait_for=classifier.predicted, wait_s=0.05)
    screened = await screen(detector, classifier)
    # one after the other: the classifier had not started while the check ran
    assert detector.saw_classifier_first is False
    assert screened.flag is None
    assert screened.classification is not None and screened.classification.method == "llm"
    assert classifier.gate_answers == [True]
    assert 0 <= screened.check_s <= screened.total_s


async def test_refused_text_never_reaches_the_llm_and_is_not_classified() -> None:
    classifier = GatedClassifier()
    screened = await screen(Detector("refuse"), classifier)
    assert screened.flag is not None and screened.flag.action == "refuse"
    assert screened.classification is None
    assert classifier.gate_answers == [] and not classifier.predicted.is_set()


async def test_refusal_during_a_handoff_is_still_classified_without_the_llm() -> None:
    classifier = GatedClassifier()
    screened = await screen(Detector("refuse"), classifier, refusal_ends_turn=False)
    assert screened.flag is not None and screened.classification is not None
    assert classifier.gate_answers == [False]
    assert screened.classification.method == "clarified"


async def test_hardened_text_may_use_the_llm() -> None:
    classifier = GatedClassifier()
    screened = await screen(Detector("harden"), classifier)
    assert screened.flag is not None and screened.flag.action == "harden"
    assert classifier.gate_answers == [True]


async def test_a_failing_check_fails_the_turn_before_any_classification() -> None:
    classifier = GatedClassifier()
    with pytest.raises(RuntimeError, match="detector broke"):
        await screen(Detector("allow", fail=True), classifier)
    assert not classifier.predicted.is_set()


async def test_no_detector_means_no_flag() -> None:
    classifier = GatedClassifier()
    screened = await screen_and_classify(
        "hi", detector=None, classifier=classifier, tracer=NoTracer(),
        refusal_ends_turn=True, previous_intent=None, payload=None, scope=SCOPE)
    assert screened.flag is None and classifier.gate_answers == [True]
