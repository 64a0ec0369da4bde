"""The conversation test file (`bot test`): YAML, one or more tests of a few turns each.

    tests:
      - name: books a yoga class
        steps:
          - say: when is yoga on Saturday?
            expect:
              intent: schedule
              reply_contains: Yoga classes on Saturday
              buttons_include: [Book a class]
          - tap: Yes, book it            # a button of the last reply, by title or payload
            model:                       # what the model says at this step (scripted)
              - tool: book_class
                arguments: {class_id: 3}
              - text: You're booked.
            expect:
              tools: [{name: book_class, arguments: {class_id: 3}}]
              handoff: waiting

Unknown keys are errors, so a misspelt expectation never passes unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

HandoffStatus = Literal["none", "waiting", "claimed", "resolved", "returned"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelAnswer(_Strict):
    """One answer of the scripted model: a text, or a tool call with its arguments."""

    text: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> ModelAnswer:
        if (self.text is None) == (self.tool is None):
            raise ValueError("a model answer is either `text` or `tool`")
        return self


class ToolExpectation(_Strict):
    name: str
    #: the call's arguments must include these (others may be there too)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Expectations(_Strict):
    intent: str | None = None
    #: the whole reply, exactly
    reply: str | None = None
    reply_contains: str | list[str] | None = None
    reply_excludes: str | list[str] | None = None
    #: a regular expression searched in the reply
    reply_matches: str | None = None
    #: the buttons offered, exactly and in order (titles)
    buttons: list[str] | None = None
    buttons_include: list[str] | None = None
    #: the tools called during the step, in order ([] for none)
    tools: list[ToolExpectation] | None = None
    #: the conversation's latest handoff ("none": there is none)
    handoff: HandoffStatus | None = None
    #: remembered facts about the customer: key -> value
    context: dict[str, Any] | None = None


class Step(_Strict):
    say: str | None = None
    tap: str | None = None
    #: the scripted model's answers during this step, in order
    model: list[ModelAnswer] = Field(default_factory=list)
    #: what the intent classifier's LLM fallback answers, when it is asked
    model_intent: str | None = None
    expect: Expectations = Field(default_factory=Expectations)

    @model_validator(mode="after")
    def _one_message(self) -> Step:
        if (self.say is None) == (self.tap is None):
            raise ValueError("a step either says a text or taps a button")
        return self


class ConversationTest(_Strict):
    name: str
    steps: list[Step] = Field(min_length=1)

    @property
    def scripted(self) -> bool:
        """Whether the test runs with the scripted model (else with no model at all)."""
        return any(s.model or s.model_intent for s in self.steps)


class ConversationFile(_Strict):
    tests: list[ConversationTest] = Field(min_length=1)


class ConversationFileError(ValueError):
    """A test file that cannot be read, with its path and the places of its problems."""


def load_conversation_file(path: Path) -> ConversationFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ConversationFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConversationFileError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        places = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"]
                           for e in exc.errors())
        raise ConversationFileError(f"{path}: {places}") from exc
