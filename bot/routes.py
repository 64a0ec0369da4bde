"""The route stage: which responder answers a classified turn."""

from __future__ import annotations

from bot.classify import Classification
from bot.responders import Responder


class Router:
    """Maps intents to responders, with a default for everything else."""

    def __init__(self, default: Responder, by_intent: dict[str, Responder] | None = None) -> None:
        self.default = default
        self.by_intent = dict(by_intent or {})

    def route(self, classification: Classification) -> Responder:
        return self.by_intent.get(classification.intent, self.default)
