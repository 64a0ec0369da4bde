"""The route stage: which responder answers a classified turn."""

from __future__ import annotations

from collections.abc import Callable

from bot.classify import Classification
from bot.definition import AgentRoute, BotDefinition, IntentSpec
from bot.intents.builtin import CLARIFY, OUT_OF_SCOPE
from bot.responders import Responder

AgentFactory = Callable[[IntentSpec, AgentRoute], Responder]


class Router:
    """Maps intents to responders, with a default for everything else."""

    def __init__(self, default: Responder, by_intent: dict[str, Responder] | None = None) -> None:
        self.default = default
        self.by_intent = dict(by_intent or {})

    def route(self, classification: Classification) -> Responder:
        return self.by_intent.get(classification.intent, self.default)


class UnknownHandlerError(ValueError):
    """A bot definition names a handler that does not exist."""


def build_router(definition: BotDefinition, handlers: dict[str, Responder],
                 agent: AgentFactory | None) -> Router:
    """Each intent's route: its direct handler, or the agent (offline fallback without LLM)."""

    def handler(name: str, intent: str) -> Responder:
        if name not in handlers:
            raise UnknownHandlerError(
                f"intent {intent!r} routes to unknown handler {name!r}; "
                f"known handlers: {', '.join(sorted(handlers))}")
        return handlers[name]

    by_intent: dict[str, Responder] = {CLARIFY: handler(CLARIFY, CLARIFY)}
    for intent in definition.intents:
        route = intent.route
        if isinstance(route, AgentRoute):
            by_intent[intent.name] = (agent(intent, route) if agent is not None
                                      else handler(route.offline_handler or "needs_ai",
                                                   intent.name))
        else:
            by_intent[intent.name] = handler(route.handler, intent.name)
    return Router(default=by_intent.get(OUT_OF_SCOPE) or handler(OUT_OF_SCOPE, OUT_OF_SCOPE),
                  by_intent=by_intent)
