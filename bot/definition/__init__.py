"""The bot definition: persona, intents with examples, and where each intent goes.

A YAML file (format in docs/bot-definition.md). Built-in intents every bot gets are
merged in; a definition overrides one by declaring an intent of the same name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from bot.definition.builtin import BUILTIN_INTENT_DATA, OUT_OF_SCOPE

INTENT_NAME = r"^[a-z][a-z0-9_]{0,63}$"
#: tapped Yes/No of a tool confirmation: `confirm_tool:<intent>:yes|no`
CONFIRM_PAYLOAD_PREFIX = "confirm_tool:"


def confirm_payload_prefix(intent: str) -> str:
    """The payload prefix of an intent's confirmation buttons."""
    return f"{CONFIRM_PAYLOAD_PREFIX}{intent}:"


class DirectRoute(BaseModel):
    """Answered by a named handler without the LLM."""

    type: Literal["direct"] = "direct"
    handler: str
    #: with an LLM configured, a turn right after an agent-routed one goes to that
    #: intent's agent instead (a "yes" or "no" answering the agent's question)
    agent_followup: bool = False


class AgentRoute(BaseModel):
    """Answered by the tool-calling agent within a budget."""

    type: Literal["agent"] = "agent"
    tier: Literal["fast", "strong"] = "fast"
    tools: list[str] = Field(default_factory=list)
    max_iterations: int = Field(default=3, ge=1, le=20)
    max_tokens: int = Field(default=1024, ge=64, le=16_000)
    #: direct handler used when no LLM is configured (or its budget is spent)
    offline_handler: str | None = None
    #: tools that act only after the person confirms with Yes/No quick replies
    confirm: list[str] = Field(default_factory=list)


Route = Annotated[DirectRoute | AgentRoute, Field(discriminator="type")]


class IntentSpec(BaseModel):
    """One thing users come to the bot for."""

    name: str = Field(pattern=INTENT_NAME)
    title: str = ""
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    route: Route
    #: interactive payload prefixes (e.g. "book:") that mean this intent when tapped
    payloads: list[str] = Field(default_factory=list)
    #: whether a short unsure follow-up may inherit this intent ("what about Sunday?")
    inheritable: bool = True

    @model_validator(mode="after")
    def _confirmations_come_back(self) -> IntentSpec:
        # The Yes/No buttons of a confirmation must route back to this intent.
        if isinstance(self.route, AgentRoute) and self.route.confirm:
            prefix = confirm_payload_prefix(self.name)
            if prefix not in self.payloads:
                self.payloads.append(prefix)
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


class MenuItem(BaseModel):
    """An entry of the main menu shown by greeting and help."""

    title: str
    payload: str
    description: str | None = None


class ClassifierSettings(BaseModel):
    """Thresholds of the hybrid classifier."""

    #: at or above: route directly on the local classifier's answer
    confidence_threshold: float = Field(default=0.55, ge=0, le=1)
    #: below: out of scope (between the two: ask the LLM, else a clarifying question)
    out_of_scope_threshold: float = Field(default=0.25, ge=0, le=1)
    #: longest message (in words) that may inherit the previous intent
    followup_max_words: int = Field(default=6, ge=1)


class BotDefinition(BaseModel):
    """A whole bot: what it is, what it understands, how it answers."""

    name: str = "Assistant"
    persona: str = "You are a friendly, concise assistant."
    #: how the bot sounds, added to the agent's instructions ("warm and brief, no emoji")
    tone: str | None = None
    #: the first thing a new conversation shows (the web chat) and the greeting's answer
    welcome: str | None = None
    intents: list[IntentSpec] = Field(default_factory=list)
    out_of_scope_examples: list[str] = Field(default_factory=list)
    menu: list[MenuItem] = Field(default_factory=list)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    knowledge_dir: str | None = None
    #: a module or package beside this file adding handlers, tools, commands and a start-up
    #: step (docs/bot-definition.md, "Plugin"; loaded by bot/plugins.py)
    plugin: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*$")
    #: a folder of the bot's own SQL migrations, applied after the platform's
    migrations: str | None = None
    #: the YAML file this was read from (None when built in code)
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def welcome_text(self) -> str:
        return self.welcome or f"Hi! I'm {self.name}. What can I do for you?"

    @property
    def agent_persona(self) -> str:
        """The persona as the agent's instructions open: with the bot's name and tone."""
        parts = [self.persona.strip()]
        if self.name.lower() not in self.persona.lower():
            parts.append(f"Your name is {self.name}.")
        if self.tone:
            parts.append(f"Tone: {self.tone.strip()}")
        return "\n".join(parts)

    @property
    def home(self) -> Path | None:
        """The folder of the YAML file: the plugin and relative folders are found there."""
        return None if self._source is None else self._source.parent

    @model_validator(mode="after")
    def _unique_names(self) -> BotDefinition:
        names = [i.name for i in self.intents]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"intent names must be unique: {sorted(duplicates)}")
        return self

    def intent(self, name: str) -> IntentSpec | None:
        return next((i for i in self.intents if i.name == name), None)

    def training_data(self) -> tuple[list[str], list[str]]:
        """(texts, labels) for the local classifier, out-of-scope examples included.

        An intent's description is one more example of it: with the usual 10-20 examples
        per intent it raised accuracy (measured in docs/benchmarks-intents.md)."""
        texts: list[str] = []
        labels: list[str] = []
        for intent in self.intents:
            if intent.name == OUT_OF_SCOPE:
                continue
            texts.extend(intent.examples)
            labels.extend([intent.name] * len(intent.examples))
        oos_intent = self.intent(OUT_OF_SCOPE)
        oos = self.out_of_scope_examples + (oos_intent.examples if oos_intent else [])
        texts.extend(oos)
        labels.extend([OUT_OF_SCOPE] * len(oos))
        for intent in self.intents:
            if intent.name != OUT_OF_SCOPE and intent.description.strip():
                texts.append(intent.description.strip())
                labels.append(intent.name)
        return texts, labels


def with_builtins(definition: BotDefinition) -> BotDefinition:
    """The definition plus every built-in intent it does not override."""
    own = {i.name for i in definition.intents}
    builtins = [IntentSpec.model_validate(data) for data in BUILTIN_INTENT_DATA]
    merged = [*definition.intents, *(i for i in builtins if i.name not in own)]
    return definition.model_copy(update={"intents": merged})


def load_definition(path: Path | None) -> BotDefinition:
    """Read a YAML bot definition (or none: built-ins only) and merge the built-ins."""
    if path is None:
        return with_builtins(BotDefinition())
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    definition = BotDefinition.model_validate(data)
    definition._source = path.absolute()
    home = definition._source.parent
    if definition.knowledge_dir and not Path(definition.knowledge_dir).is_absolute():
        definition.knowledge_dir = str((home / definition.knowledge_dir).resolve())
    if definition.migrations and not Path(definition.migrations).is_absolute():
        definition.migrations = str((home / definition.migrations).resolve())
    return with_builtins(definition)
