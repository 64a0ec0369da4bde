"""Routing: a yes or no after an agent turn goes back to that agent (with an LLM only)."""

from __future__ import annotations

from uuid import uuid4

from bot.db.conversations import SessionInfo
from bot.definition import BotDefinition, with_builtins
from bot.intents.contract import Classification
from bot.models import OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import AgentFollowUp, build_router

DEFINITION = with_builtins(BotDefinition.model_validate({"intents": [
    {"name": "book_class", "examples": ["book me in"],
     "route": {"type": "agent", "tools": [], "offline_handler": "help"}},
    {"name": "affirm", "examples": ["yes"],
     "route": {"type": "direct", "handler": "confirm", "agent_followup": True}},
]}))


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=self.name)


def handlers() -> dict[str, Named]:
    names = ["help", "confirm", "clarify", "out_of_scope", "greeting", "human_handoff",
             "back_to_bot", "reset", "opt_out", "opt_in", "thanks_goodbye"]
    return {n: Named(n) for n in names}


def turn() -> TurnContext:
    return TurnContext(
        contact_id=uuid4(), conversation_id=uuid4(), channel="web", message_ids=[1],
        text="yes", payload=None, session=SessionInfo(id=uuid4(), status="active", summary="",
                                                      is_new=False, inbound_count=2),
        classification=Classification("affirm", 0.99, "local"))


async def no_events(event: str, data: dict[str, object]) -> None:
    """Routing emits nothing."""


async def answer(previous: str | None, *, agent: bool = True) -> str:
    asked: list[frozenset[str]] = []

    async def lookup(turn: TurnContext, skip: frozenset[str]) -> str | None:
        asked.append(skip)
        return previous

    router = build_router(DEFINITION, dict(handlers()),
                          agent=(lambda intent, route: Named("agent:" + intent.name))
                          if agent else None, previous=lookup)
    responder = router.route(Classification("affirm", 0.99, "local"))
    assert isinstance(responder, AgentFollowUp) == agent
    reply = await responder.respond(turn(), no_events)
    assert asked in ([], [frozenset({"affirm"})])
    return reply.text


async def test_a_yes_after_an_agent_turn_goes_to_that_agent() -> None:
    assert await answer("book_class") == "agent:book_class"


async def test_a_yes_after_a_direct_turn_or_none_stays_with_its_handler() -> None:
    assert await answer("greeting") == "confirm"
    assert await answer(None) == "confirm"


async def test_without_the_agent_the_yes_is_the_direct_handlers() -> None:
    assert await answer("book_class", agent=False) == "confirm"
