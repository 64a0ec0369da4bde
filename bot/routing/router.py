"""The route stage: which responder answers a classified turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bot.definition import AgentRoute, BotDefinition, DirectRoute, IntentSpec
from bot.definition.builtin import CLARIFY, OUT_OF_SCOPE
from bot.intents.contract import Classification
from bot.models import OutboundReply
from bot.routing.responder import Emit, Responder, TurnContext

AgentFactory = Callable[[IntentSpec, AgentRoute], Responder]
# The session's previous classified intent, skipping the given ones.
PreviousIntent = Callable[[TurnContext, frozenset[str]], Awaitable[str | None]]


class Router:
    """Maps intents to responders, with a default for everything else."""

    def __init__(self, default: Responder, by_intent: dict[str, Responder] | None = None) -> None:
        self.default = default
        self.by_intent = dict(by_intent or {})

    def route(self, classification: Classification) -> Responder:
        return self.by_intent.get(classification.intent, self.default)


class AgentFollowUp:
    """A "yes" or "no" right after an agent turn goes back to that turn's agent.

    The agent asked the question ("Shall I book it?"), so the agent with that intent's
    budget and tools hears the answer; otherwise the intent's direct handler does.
    Follow-up intents are skipped when looking back, so "yes" twice stays with the agent.
    """

    def __init__(self, direct: Responder, agents: Mapping[str, Responder],
                 previous: PreviousIntent, followups: frozenset[str]) -> None:
        self.direct = direct
        self.agents = agents
        self.previous = previous
        self.followups = followups

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        before = await self.previous(turn, self.followups)
        return await self.agents.get(before or "", self.direct).respond(turn, emit)


class UnknownHandlerError(ValueError):
    """A bot definition names a handler that does not exist."""


def build_router(definition: BotDefinition, handlers: dict[str, Responder],
                 agent: AgentFactory | None, previous: PreviousIntent | None = None) -> Router:
    """Each intent's route: its direct handler, or the agent (offline fallback without LLM).

    With the agent and `previous`, direct routes marked `agent_followup` answer through
    `AgentFollowUp`.
    """

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
    if agent is not None and previous is not None:
        agents = {i.name: by_intent[i.name] for i in definition.intents
                  if isinstance(i.route, AgentRoute)}
        followups = frozenset(i.name for i in definition.intents
                              if isinstance(i.route, DirectRoute) and i.route.agent_followup)
        for name in followups:
            by_intent[name] = AgentFollowUp(by_intent[name], agents, previous, followups)
    return Router(default=by_intent.get(OUT_OF_SCOPE) or handler(OUT_OF_SCOPE, OUT_OF_SCOPE),
                  by_intent=by_intent)
