"""Hybrid routing on a small fixture bot, with a scripted local model and LLM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from bot.definition import BotDefinition, load_definition, with_builtins
from bot.intents.contract import TurnScope
from bot.intents.hybrid import HybridClassifier, looks_like_followup


@dataclass(frozen=True)
class Score:
    label: str
    confidence: float


class ScriptedModel:
    """A local model whose answers are given per text (a fake model, not a mock)."""

    def __init__(self, answers: dict[str, list[tuple[str, float]]]) -> None:
        self.answers = answers

    def predict(self, text: str, k: int = 3) -> Sequence[Score]:
        return [Score(label, c) for label, c in self.answers[text]][:k]

    def close(self) -> None:
        return None


class ScriptedLLM:
    def __init__(self, choice: str | None, fail: bool = False) -> None:
        self.choice = choice
        self.fail = fail
        self.asked: list[tuple[str, list[str]]] = []

    async def choose_intent(self, text: str, options: Sequence[tuple[str, str]], *,
                            scope: TurnScope | None = None) -> str | None:
        self.asked.append((text, [name for name, _ in options]))
        if self.fail:
            raise TimeoutError("llm down")
        return self.choice


FIXTURE = with_builtins(BotDefinition.model_validate({
    "name": "Fixture",
    "intents": [
        {"name": "schedule", "title": "Class schedule", "examples": ["when is yoga"],
         "route": {"type": "agent", "tools": ["list_schedule"], "max_iterations": 3}},
        {"name": "book_class", "title": "Book a class", "examples": ["book me in"],
         "payloads": ["book:"], "route": {"type": "direct", "handler": "book"}},
    ],
}))

ANSWERS = {
    "when is yoga on saturday": [("schedule", 0.93), ("book_class", 0.04), ("help", 0.01)],
    "yoga thing maybe": [("schedule", 0.41), ("book_class", 0.35), ("help", 0.1)],
    "what about sunday?": [("book_class", 0.3), ("schedule", 0.28), ("greeting", 0.1)],
    "quantum chromodynamics": [("out_of_scope", 0.7), ("help", 0.1), ("schedule", 0.05)],
    "zzzz": [("schedule", 0.12), ("help", 0.1), ("greeting", 0.05)],
}


def classifier(llm: ScriptedLLM | None = None) -> HybridClassifier:
    return HybridClassifier(FIXTURE, ScriptedModel(ANSWERS), llm)


async def test_confident_goes_straight_to_the_local_answer() -> None:
    llm = ScriptedLLM("book_class")
    result = await classifier(llm).classify("when is yoga on saturday")
    assert (result.intent, result.method) == ("schedule", "local")
    assert llm.asked == []
    assert result.alternatives[0] == ("schedule", 0.93) and len(result.alternatives) == 3


async def test_unsure_with_llm_takes_the_llm_answer_constrained_to_intents() -> None:
    llm = ScriptedLLM("book_class")
    result = await classifier(llm).classify("yoga thing maybe")
    assert (result.intent, result.method) == ("book_class", "llm")
    assert "schedule" in llm.asked[0][1] and "out_of_scope" in llm.asked[0][1]


async def test_llm_answer_outside_the_intent_list_is_ignored() -> None:
    result = await classifier(ScriptedLLM("delete_database")).classify("yoga thing maybe")
    assert result.method == "clarified"


async def test_closed_llm_gate_keeps_the_text_from_the_llm() -> None:
    llm = ScriptedLLM("schedule")
    opened: list[bool] = []

    async def gate(answer: bool) -> bool:
        opened.append(answer)
        return answer

    shut = await classifier(llm).classify("yoga thing maybe", llm_gate=lambda: gate(False))
    assert (shut.method, llm.asked) == ("clarified", [])
    sure = await classifier(llm).classify("when is yoga on saturday",
                                          llm_gate=lambda: gate(False))
    assert sure.method == "local" and opened == [False]  # a confident answer never waits
    let_through = await classifier(llm).classify("yoga thing maybe", llm_gate=lambda: gate(True))
    assert let_through.method == "llm" and len(llm.asked) == 1


async def test_unsure_without_llm_asks_with_top_candidates() -> None:
    result = await classifier(None).classify("yoga thing maybe")
    assert (result.intent, result.method) == ("clarify", "clarified")
    assert [name for name, _ in result.alternatives][:2] == ["schedule", "book_class"]


async def test_failing_llm_falls_back_to_clarifying() -> None:
    result = await classifier(ScriptedLLM(None, fail=True)).classify("yoga thing maybe")
    assert result.method == "clarified"


async def test_short_unsure_followup_inherits_previous_intent() -> None:
    result = await classifier(None).classify("what about sunday?", previous_intent="schedule")
    assert (result.intent, result.method) == ("schedule", "inherited")


async def test_non_inheritable_previous_intent_is_not_inherited() -> None:
    result = await classifier(None).classify("what about sunday?", previous_intent="greeting")
    assert result.method != "inherited"


async def test_out_of_scope_by_label_and_by_low_confidence() -> None:
    assert (await classifier(None).classify("quantum chromodynamics")).intent == "out_of_scope"
    assert (await classifier(None).classify("zzzz")).intent == "out_of_scope"


async def test_tapped_payload_decides_the_intent() -> None:
    c = classifier(None)
    assert (await c.classify("3", payload="intent:schedule")).intent == "schedule"
    tapped = await c.classify("Book", payload="book:42")
    assert (tapped.intent, tapped.method) == ("book_class", "payload")


@pytest.mark.parametrize(("text", "expected"), [
    ("what about building 5?", True), ("and on sunday", True), ("sunday?", True),
    ("I would like to know every class you run on sunday mornings", False), ("", False),
])
def test_followup_shape(text: str, expected: bool) -> None:
    assert looks_like_followup(text, 6) is expected


def test_builtins_are_merged_and_overridable(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "bot.yaml"
    path.write_text(
        "name: T\nintents:\n"
        "  - name: greeting\n    examples: [yo]\n    route: {type: direct, handler: help}\n")
    definition = load_definition(path)
    greeting = definition.intent("greeting")
    assert greeting is not None and greeting.examples == ["yo"]
    assert definition.intent("human_handoff") is not None


def test_scaffolded_bot_loads(tmp_path: object) -> None:
    from pathlib import Path

    from bot.cli.authoring import scaffold_bot

    path = scaffold_bot("Corner Bakery", Path(str(tmp_path)))
    definition = load_definition(path)
    assert definition.name == "Corner Bakery"
    assert definition.intent("opening_hours") is not None
    assert definition.knowledge_dir and Path(definition.knowledge_dir, "faq.md").exists()


def test_studio_definition_loads() -> None:
    from tests.conftest import ROOT

    definition = load_definition(ROOT / "bots/studio/bot.yaml")
    texts, labels = definition.training_data()
    assert len(set(labels)) >= 14 and len(texts) > 150
    # Descriptions are examples too (out_of_scope's is not).
    schedule = definition.intent("class_schedule")
    assert schedule is not None and schedule.description
    assert (schedule.description, "class_schedule") in zip(texts, labels, strict=True)
