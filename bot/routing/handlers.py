"""Direct handlers: answers that need no LLM (built-in intents and offline fallbacks)."""

from __future__ import annotations

from bot.contacts import set_opted_out
from bot.db.conversations import close_conversation_session
from bot.db.pool import Database
from bot.definition import BotDefinition
from bot.definition.builtin import (
    BACK_TO_BOT,
    CLARIFY,
    GREETING,
    HELP,
    HUMAN_HANDOFF,
    OPT_IN,
    OPT_OUT,
    OUT_OF_SCOPE,
    RESET,
    THANKS_GOODBYE,
)
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.intents.hybrid import INTENT_PAYLOAD
from bot.models import Option, OutboundReply, QuickReplies, short_title
from bot.routing.responder import Emit, Responder, TurnContext, UnhelpfulAnswers

NEEDS_AI = "needs_ai"


def menu_reply(definition: BotDefinition, text: str) -> OutboundReply:
    options = [Option(title=m.title, payload=m.payload, description=m.description)
               for m in definition.menu]
    return OutboundReply(text=text, parts=[QuickReplies(options=options)] if options else [])


class GreetingHandler:
    """Hello plus the main menu."""

    def __init__(self, definition: BotDefinition) -> None:
        self.definition = definition

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return menu_reply(self.definition, self.definition.welcome_text)


class HelpHandler:
    """What the bot can do, as the main menu."""

    def __init__(self, definition: BotDefinition) -> None:
        self.definition = definition

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        topics = [i.display_title for i in self.definition.intents
                  if i.name not in {GREETING, HELP, RESET, OPT_IN, OPT_OUT, THANKS_GOODBYE,
                                    OUT_OF_SCOPE, BACK_TO_BOT}]
        listing = "\n".join(f"- {t}" for t in topics)
        return menu_reply(self.definition, f"Here's what I can help with:\n{listing}")


class HandoffRequestHandler:
    """The user asked for a person: open a handoff and say plainly what happens next."""

    def __init__(self, db: Database, handoffs: HandoffService) -> None:
        self.db = db
        self.handoffs = handoffs

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        async with self.db.as_user(turn.contact_id) as conn:
            return await self.handoffs.start(
                conn, contact_id=turn.contact_id, conversation_id=turn.conversation_id,
                session_id=turn.session.id, trigger="intent", reason="asked for a person",
                intent=turn.classification.intent, history=turn.history)


class BackToBotHandler:
    """The user asks to go back to the bot (during a handoff, or when already there)."""

    def __init__(self, handoffs: HandoffService) -> None:
        self.handoffs = handoffs

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        if await self.handoffs.back_to_bot_by_customer(turn.contact_id, turn.conversation_id,
                                                       turn.session.id):
            return OutboundReply(text="Okay, you're back with the automated assistant. "
                                      "What can I help you with?")
        return OutboundReply(text="You're already talking to the automated assistant. "
                                  "What can I help you with?")


class ResetHandler:
    """Closes the session so the next message starts fresh."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        async with self.db.as_user(turn.contact_id) as conn:
            await close_conversation_session(conn, turn.conversation_id, "user_reset")
        return OutboundReply(text="Done, let's start fresh. What can I help you with?")


class OptHandler:
    """Opt out of or back into messages from the bot (said in words, not a keyword)."""

    def __init__(self, db: Database, opt_out: bool, hooks: EventHooks | None) -> None:
        self.db = db
        self.opt_out = opt_out
        self.hooks = hooks

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        async with self.db.as_user(turn.contact_id) as conn:
            await set_opted_out(conn, turn.contact_id, self.opt_out, actor="contact",
                                channel=turn.channel, hooks=self.hooks)
        # A compliance notice: sent even though the contact has just opted out.
        if self.opt_out:
            return OutboundReply(text="You won't get any more messages from us. "
                                      "Send START any time to turn them back on.",
                                 compliance_notice=True)
        return OutboundReply(text="Welcome back! Messages are on again.",
                             compliance_notice=True)


class ThanksHandler:
    """A short, friendly close."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text="You're welcome! Message me any time.")


class OutOfScopeHandler(UnhelpfulAnswers):
    """Says what the bot can do instead of guessing."""

    unhelpful_answers = True

    def __init__(self, definition: BotDefinition) -> None:
        self.definition = definition

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return menu_reply(self.definition, (
            "Sorry, that's not something I can help with. Here's what I can do — "
            "or say \"talk to a person\" and someone from the team will help."))


class ClarifyHandler(UnhelpfulAnswers):
    """"Did you mean …?" with the top candidates as quick replies."""

    unhelpful_answers = True

    def __init__(self, definition: BotDefinition) -> None:
        self.definition = definition

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        options = []
        for name, _ in turn.classification.alternatives[:3]:
            intent = self.definition.intent(name)
            if intent is not None:
                options.append(Option(title=short_title(intent.display_title, 20),
                                      payload=f"{INTENT_PAYLOAD}{name}"))
        options.append(Option(title="Something else", payload=f"{INTENT_PAYLOAD}{HELP}"))
        return OutboundReply(text="I'm not sure I understood. Did you mean:",
                             parts=[QuickReplies(options=options)])


class NeedsAIHandler(UnhelpfulAnswers):
    """Honest answer for requests only the AI service can handle, when it is not set up."""

    unhelpful_answers = True

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=(
            "That's a question I'd need the AI service for, and it isn't switched on here, "
            "so I can't answer it properly. You can ask for a person, or type \"menu\" to see "
            "what I can do."))


#: the names `builtin_handlers` answers to (what a definition may route to without a plugin)
BUILTIN_HANDLER_NAMES = frozenset({GREETING, HELP, HUMAN_HANDOFF, BACK_TO_BOT, RESET, OPT_OUT,
                                   OPT_IN, THANKS_GOODBYE, OUT_OF_SCOPE, CLARIFY, NEEDS_AI})


def builtin_handlers(definition: BotDefinition, db: Database, handoffs: HandoffService,
                     hooks: EventHooks | None) -> dict[str, Responder]:
    """Every built-in direct handler by name."""
    return {
        GREETING: GreetingHandler(definition),
        HELP: HelpHandler(definition),
        HUMAN_HANDOFF: HandoffRequestHandler(db, handoffs),
        BACK_TO_BOT: BackToBotHandler(handoffs),
        RESET: ResetHandler(db),
        OPT_OUT: OptHandler(db, opt_out=True, hooks=hooks),
        OPT_IN: OptHandler(db, opt_out=False, hooks=hooks),
        THANKS_GOODBYE: ThanksHandler(),
        OUT_OF_SCOPE: OutOfScopeHandler(definition),
        CLARIFY: ClarifyHandler(definition),
        NEEDS_AI: NeedsAIHandler(),
    }
