"""The injection screen, then the classifier: the two stages in the order the turn runs them."""

from __future__ import annotations

import threading
from typing import Literal

import pytest

from bot.intents.contract import Classification, LLMGate, TurnScope
from bot.observability import Metrics
from bot.safety.injection import InjectionVerdict
from bot.tracing import NoTracer
from bot.turn.stage import Answer, Outcome, Turn
from bot.turn.stages.classify import Classify
from bot.turn.stages.injection_screen import InjectionCheck, InjectionScreen
from tests.turn.turns import make_turn

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


async def screen(detector: InjectionCheck | None, classifier: GatedClassifier, *,
                 during_handoff: bool = False,
                 text: str = "when is yoga") -> tuple[Turn, Outcome | None]:
    """Both stages in turn order; the outcome that ended the turn there, if any."""
    metrics = Metrics()
    turn = make_turn(text, session_status="escalated" if during_handoff else "active")
    for stage in (InjectionScreen(detector, metrics, None),
                  Classify(classifier, NoTracer(), metrics)):
        outcome = await stage.run(turn)
        if outcome is not None:
            return turn, outcome
    return turn, None


async def test_the_check_finishes_before_the_classifier_starts() -> None:
    classifier = GatedClassifier()
    detector = Detector("allow", wait_for=classifier.predicted, wait_s=0.05)
    turn, ended = await screen(detector, classifier)
    # one after the other: the classifier had not started while the check ran
    assert detector.saw_classifier_first is False
    assert turn.injection is None and ended is None
    assert turn.classification is not None and turn.classification.method == "llm"
    assert classifier.gate_answers == [True]
    assert turn.unit.rows == [], "nothing to record for an allowed message"


async def test_refused_text_never_reaches_the_llm_and_is_not_classified() -> None:
    classifier = GatedClassifier()
    turn, ended = await screen(Detector("refuse"), classifier)
    assert turn.injection is not None and turn.injection.action == "refuse"
    assert isinstance(ended, Answer) and ended.classification.intent == "injection_refused"
    assert turn.classification is None
    assert classifier.gate_answers == [] and not classifier.predicted.is_set()
    assert len(turn.unit.rows) == 1, "the flagged message is recorded with the turn"


async def test_refusal_during_a_handoff_is_still_classified_without_the_llm() -> None:
    classifier = GatedClassifier()
    turn, ended = await screen(Detector("refuse"), classifier, during_handoff=True)
    assert turn.injection is not None and ended is None
    assert turn.classification is not None
    assert classifier.gate_answers == [False]
    assert turn.classification.method == "clarified"


async def test_hardened_text_may_use_the_llm() -> None:
    classifier = GatedClassifier()
    turn, _ = await screen(Detector("harden"), classifier)
    assert turn.injection is not None and turn.injection.action == "harden"
    assert classifier.gate_answers == [True]
    assert turn.context().untrusted, "the responder treats the text as quoted data"


async def test_a_failing_check_fails_the_turn_before_any_classification() -> None:
    classifier = GatedClassifier()
    with pytest.raises(RuntimeError, match="detector broke"):
        await screen(Detector("allow", fail=True), classifier)
    assert not classifier.predicted.is_set()


async def test_no_detector_means_no_flag() -> None:
    classifier = GatedClassifier()
    turn, ended = await screen(None, classifier, text="hi")
    assert turn.injection is None and ended is None and classifier.gate_answers == [True]
